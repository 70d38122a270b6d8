"""restart-wazuh: restart the Wazuh service of this home (Wazuh's restart-wazuh.c).

Stateless: it sends no check_keys, so execd never adds it to the timeout list (spec 7.3 step 8),
and `add` and `delete` both restart. It runs `HOME/bin/wazuh-control restart`, as Wazuh does;
where the home has none, `systemctl restart wazuh-manager` (or wazuh-agent) when systemctl is on
the search path and that unit is installed; otherwise it logs "Wazuh not found; nothing
restarted" and ends with status 0. The restart's output is not captured: the daemons it starts
would hold the pipe open.

extra_args: --search-path, --lock-wait (see arconsole.scripts.options).
"""

from __future__ import annotations

import os

from arconsole.scripts.runner import Run, run_script

UNITS = ("wazuh-manager", "wazuh-agent")
UNIT_FOLDERS = ("/etc/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system")
RESTART_TIMEOUT = 120.0


def main(argv: list[str]) -> int:
    return run_script(argv, restart, key=None)


def restart(run: Run) -> int:
    argv = restart_command(run)
    if argv is None:
        run.log("Wazuh not found; nothing restarted")
        return run.end()
    outcome = run.system.change(argv, timeout=RESTART_TIMEOUT, capture=False)
    if not outcome.ok:
        return run.fail(f"Error executing '{' '.join(argv)}': exit code {outcome.returncode}"
                        + (f": {outcome.output}" if outcome.output else ""))
    return run.end()


def restart_command(run: Run) -> list[str] | None:
    control = os.path.join(run.session.home, "bin", "wazuh-control")
    if os.path.isfile(control):
        return [control, "restart"]
    systemctl = run.system.which("systemctl")
    if systemctl is None or systemctl == "systemctl":  # demo fallback names are not found
        return None
    for unit in UNITS:
        if any(os.path.isfile(os.path.join(folder, f"{unit}.service"))
               for folder in UNIT_FOLDERS):
            return [systemctl, "restart", unit]
    return None

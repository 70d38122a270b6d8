"""route-null: route the alert's srcip into a blackhole (Wazuh's route-null.c).

Key: srcip (spec 8.3). Add runs `ip -4 route add blackhole IP` (`ip -6` for IPv6), delete
`ip route del blackhole IP`. Wazuh runs `route add IP reject`, from net-tools, which modern
systems lack. A route that already exists makes the add fail, so that delete never removes a
route add did not make; one already gone at delete is logged, not an error. Runs are
serialised by the lock `route-null`.

check (see arconsole.scripts.protocol): in force when `ip -4 route show exact IP type
blackhole` (`-6` for IPv6) lists the route, missing when it lists nothing.

extra_args: --search-path, --lock-wait (see arconsole.scripts.options).
"""

from __future__ import annotations

from arconsole.scripts.protocol import EXIT_OK, CheckState, Command, ip_version
from arconsole.scripts.runner import Run, run_script
from arconsole.scripts.system import not_accessible

LOCK = "route-null"


def main(argv: list[str]) -> int:
    return run_script(argv, blackhole, key="srcip", check=True)


def blackhole(run: Run) -> int:
    ip_tool = run.system.which("ip")
    if ip_tool is None:
        run.log(not_accessible("ip"))
        return EXIT_OK
    family = f"-{ip_version(run.key)}"
    if run.command == Command.CHECK:
        with run.lock(LOCK):
            shown = run.system.query([ip_tool, family, "route", "show", "exact", run.key,
                                      "type", "blackhole"])
        assert shown is not None  # demo checks are answered before the action runs
        if not shown.ok:
            return run.fail(f"Unable to run ip route show (exit code {shown.returncode}): "
                            f"{shown.output}")
        if any(line.startswith("blackhole ") for line in shown.stdout.splitlines()):
            return run.answer(CheckState.IN_FORCE)
        return run.answer(CheckState.MISSING, f"no blackhole route for {run.key}")
    verb = "add" if run.command == Command.ADD else "del"
    with run.lock(LOCK):
        outcome = run.system.change([ip_tool, family, "route", verb, "blackhole", run.key])
    if outcome.ok:
        return run.end()
    if run.command == Command.DELETE and "No such process" in outcome.output:
        run.log(f"No blackhole route for {run.key}: nothing to delete")
        return run.end()
    return run.fail(f"Unable to run ip route {verb} (exit code {outcome.returncode}): "
                    f"{outcome.output}")

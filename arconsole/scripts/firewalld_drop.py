"""firewalld-drop: a firewalld rich rule dropping the alert's srcip (Wazuh's firewalld-drop.c).

Key: srcip (spec 8.3). Add runs `firewall-cmd --add-rich-rule 'rule family=ipv4 source
address=IP drop'` (ipv6 for IPv6), delete the same with `--remove-rich-rule`, retried up to
five times a second or more apart as in Wazuh. Runtime rules only, as in Wazuh: a firewalld
reload drops them. Without `firewall-cmd` on the search path the run logs so and ends with
status 0 (spec 8.7). The lock `fw-drop` is shared with firewall-drop.

extra_args: --search-path, --lock-wait (see arconsole.scripts.options).
"""

from __future__ import annotations

import time

from arconsole.scripts.firewall_drop import LOCK
from arconsole.scripts.protocol import EXIT_OK, Command, ip_version
from arconsole.scripts.runner import Run, run_script
from arconsole.scripts.system import not_accessible

ATTEMPTS = 5


def main(argv: list[str]) -> int:
    return run_script(argv, rich_rule, key="srcip")


def rich_rule(run: Run) -> int:
    firewall_cmd = run.system.which("firewall-cmd")
    if firewall_cmd is None:
        run.log(not_accessible("firewall-cmd"))
        return EXIT_OK
    flag = "--add-rich-rule" if run.command == Command.ADD else "--remove-rich-rule"
    rule = f"rule family=ipv{ip_version(run.key)} source address={run.key} drop"
    with run.lock(LOCK):
        for attempt in range(1, ATTEMPTS + 1):
            outcome = run.system.change([firewall_cmd, flag, rule])
            if outcome.ok:
                return run.end()
            if attempt < ATTEMPTS:
                time.sleep(attempt)
    return run.fail(f"Unable to run firewall-cmd, action: '{flag}', rule: '{rule}' "
                    f"(exit code {outcome.returncode}): {outcome.output}")

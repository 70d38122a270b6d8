"""disable-account: lock the local account named by the alert's dstuser (Wazuh's
disable-account.c).

Key: dstuser, accepted only when `is_valid_username` is (spec 8.3), so never `root`, never a
name that starts like an option. Add runs `passwd -l -- USER`, delete `passwd -u -- USER`
(`usermod -L`/`-U` where passwd is missing). A command that fails is logged with its first line
of output and the run ends with status 255, as in Wazuh. Runs are serialised by the lock
`disable-account`.

extra_args: --search-path, --lock-wait (see arconsole.scripts.options).
"""

from __future__ import annotations

from arconsole.scripts.protocol import Command
from arconsole.scripts.runner import Run, run_script
from arconsole.scripts.system import not_accessible

LOCK = "disable-account"


def main(argv: list[str]) -> int:
    return run_script(argv, lock_account, key="dstuser")


def lock_account(run: Run) -> int:
    add = run.command == Command.ADD
    passwd = run.system.which("passwd")
    if passwd is not None:
        argv = [passwd, "-l" if add else "-u", "--", run.key]
    else:
        usermod = run.system.which("usermod")
        if usermod is None:
            return run.fail(not_accessible("passwd"))
        argv = [usermod, "-L" if add else "-U", "--", run.key]
    with run.lock(LOCK):
        outcome = run.system.change(argv)
    if not outcome.ok:
        return run.fail(f"Command '{argv[0]}' failed to {'disable' if add else 'enable'} the "
                        f"account '{run.key}' (exit code {outcome.returncode}): "
                        f"{outcome.output}")
    return run.end()

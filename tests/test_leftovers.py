"""What a script leaves behind when it exits is killed (issue 11 item 4), for real.

A stray child in the script's process group gets SIGTERM when the script exits and SIGKILL
after the grace, without delaying the result. A child that calls setsid leaves the process
group: only a per-run cgroup (where cgroup v2 is writable) still finds it; those tests skip
with the reason where cgroups cannot be used.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from arconsole.engine import child as child_module
from arconsole.engine.cgroups import RunCgroups
from arconsole.engine.executor import Executor

CHECK_KEYS = (
    '{"version":1,"origin":{"name":"s","module":"active-response"},'
    '"command":"check_keys","parameters":{"keys":["1.2.3.4"]}}'
)
# Answers continue, leaves a child that ignores SIGTERM, exits 0 (the reproduction;
# the script waits until the child ignores SIGTERM, so the test does not race it).
STRAY = f"""#!/bin/sh
read -r message
echo '{CHECK_KEYS}'
read -r reply
( trap '' TERM; echo ready > stray.ready; exec sleep 300 ) &
echo $! > stray.pid
while [ ! -s stray.ready ]; do sleep 0.01; done
exit 0
"""
# The same, but the child detaches with setsid (and still ignores SIGTERM).
DETACHED = f"""#!/bin/sh
read -r message
echo '{CHECK_KEYS}'
read -r reply
setsid sh -c 'trap "" TERM; echo $$ > detached.pid; exec sleep 300' </dev/null >/dev/null 2>&1 &
while [ ! -s detached.pid ]; do sleep 0.01; done
exit 0
"""


def _cgroups_usable() -> str | None:
    pool, reason = RunCgroups.open()
    if pool is None:
        return reason
    pool.close()
    return None


NO_CGROUPS = _cgroups_usable()
needs_cgroups = pytest.mark.skipif(
    NO_CGROUPS is not None, reason=f"cgroup v2 not usable here: {NO_CGROUPS}"
)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "active-response" / "bin").mkdir(parents=True)
    return tmp_path


def install(home: Path, name: str, text: str) -> None:
    path = home / "active-response" / "bin" / name
    path.write_text(text)
    path.chmod(0o755)


def alive(pid: int) -> bool:
    """From /proc: a process that runs (a zombie waiting for init counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


async def gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        await asyncio.sleep(0.02)
    return not alive(pid)


async def continue_reply(line: bytes | None) -> bytes | None:
    return b"continue"


async def run_stray(home: Path, name: str, executor: Executor) -> tuple[float, int]:
    started = time.monotonic()
    result = await executor.run_json(name, b"{}", continue_reply)
    elapsed = time.monotonic() - started
    assert result.ok and result.first_line == CHECK_KEYS.encode() and not result.killed
    pid_file = "stray.pid" if (home / "stray.pid").exists() else "detached.pid"
    return elapsed, int((home / pid_file).read_text())


@pytest.mark.parametrize("cgroups", [False, True], ids=["process-group", "cgroup-if-any"])
async def test_a_stray_child_ignoring_sigterm_is_killed_after_the_grace(
    home: Path, cgroups: bool
) -> None:
    install(home, "stray", STRAY)
    executor = Executor(home, kill_grace=2.0, cgroups=cgroups)
    elapsed, stray = await run_stray(home, "stray", executor)
    try:
        assert elapsed < 2.0  # the result did not wait for the grace
        assert alive(stray)  # it ignores SIGTERM: it lives until the grace is over
        assert await gone_within(stray, 2.0 + 5.0)
    finally:
        if alive(stray):
            os.kill(stray, 9)
        await executor.aclose()


async def test_before_linux_6_9_the_group_id_is_signalled(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without pidfd process-group signals (Linux < 6.9) the sweep uses killpg.
    monkeypatch.setattr(child_module, "_PIDFD_GROUP_SIGNALS", False)
    install(home, "stray", STRAY)
    executor = Executor(home, kill_grace=0.3, cgroups=False)
    _, stray = await run_stray(home, "stray", executor)
    try:
        assert await gone_within(stray, 0.3 + 5.0)
    finally:
        if alive(stray):
            os.kill(stray, 9)
        await executor.aclose()


async def test_a_stray_child_that_obeys_sigterm_goes_at_once(home: Path) -> None:
    install(home, "stray", STRAY.replace("trap '' TERM; ", ""))
    executor = Executor(home, kill_grace=30, cgroups=False)
    _, stray = await run_stray(home, "stray", executor)
    assert await gone_within(stray, 10.0)  # long before the 30 s grace
    closing = time.monotonic()
    await executor.aclose()
    assert time.monotonic() - closing < 10.0  # the sweep ended when the group was empty


async def test_without_cgroups_a_setsid_child_escapes_as_documented(home: Path) -> None:
    install(home, "detach", DETACHED)
    executor = Executor(home, kill_grace=0.3, cgroups=False)
    _, detached = await run_stray(home, "detach", executor)
    await executor.aclose()
    try:
        assert executor.containment == "process groups only (cgroups turned off)"
        assert alive(detached)  # it left the process group: nothing of ours reaches it
    finally:
        os.kill(detached, 9)


@needs_cgroups
async def test_with_cgroups_a_setsid_child_is_killed_too(home: Path) -> None:
    install(home, "detach", DETACHED)
    executor = Executor(home, kill_grace=2.0)
    elapsed, detached = await run_stray(home, "detach", executor)
    try:
        assert executor.containment.startswith("process groups and one cgroup per run")
        assert elapsed < 2.0  # the result did not wait for the grace
        assert await gone_within(detached, 2.0 + 5.0)
    finally:
        if alive(detached):
            os.kill(detached, 9)
        await executor.aclose()


@needs_cgroups
async def test_restart_scripts_keep_their_daemons(home: Path) -> None:
    # restart-wazuh starts Wazuh's daemons, which detach: they must outlive the script.
    install(home, "restart-wazuh", DETACHED)
    executor = Executor(home, kill_grace=0.3)
    _, daemon = await run_stray(home, "restart-wazuh", executor)
    await executor.aclose()
    try:
        assert alive(daemon)
    finally:
        os.kill(daemon, 9)


@needs_cgroups
async def test_a_timed_out_script_takes_its_detached_children_with_it(home: Path) -> None:
    install(home, "hang", DETACHED.replace("exit 0", "exec sleep 300"))
    executor = Executor(home, time_limit=0.5, kill_grace=0.3)
    result = await executor.run_json("hang", b"{}", continue_reply)
    detached = int((home / "detached.pid").read_text())
    try:
        assert result.timed_out and result.killed
        assert await gone_within(detached, 5.0)
    finally:
        if alive(detached):
            os.kill(detached, 9)
        await executor.aclose()


@needs_cgroups
async def test_run_cgroups_are_reused_and_removed(home: Path) -> None:
    install(home, "ok", "#!/bin/sh\nexit 0\n")
    executor = Executor(home, max_concurrency=4)
    results = await asyncio.gather(*(executor.run_json_delete("ok", b"{}") for _ in range(40)))
    assert all(result.ok for result in results)
    pool = executor._cgroups
    assert pool is not None
    root = pool.root
    runs = [name for name in os.listdir(root) if name.startswith("run")]
    assert 1 <= len(runs) <= 4 + 1  # reused, not one per run
    await executor.aclose()
    assert not os.path.exists(root)


@needs_cgroups
async def test_a_script_has_its_message_only_inside_its_cgroup(home: Path) -> None:
    # Once it has its message, the script says which cgroup it is in: it gets the message
    # only once moved, so whatever it does about the message, a child it forks included,
    # happens inside. Runs are spaced out so that each move is a lone one, the slow kind (it
    # waits for an RCU grace period) that a message written before the move would outrun.
    install(home, "where", "#!/bin/sh\nread -r message\nexec grep ^0:: /proc/self/cgroup\n")
    executor = Executor(home)
    lines: list[bytes | None] = []

    async def keep(line: bytes | None) -> bytes | None:
        lines.append(line)
        return None

    try:
        for _ in range(8):
            result = await executor.run_json("where", b"{}", keep)
            assert result.ok, result
            await asyncio.sleep(0.05)
        assert executor.containment.startswith("process groups and one cgroup per run")
        pool = executor._cgroups
        assert pool is not None
        inside = os.path.basename(pool.root)
        assert all(line is not None and f"/{inside}/run".encode() in line for line in lines), lines
    finally:
        await executor.aclose()

"""How scripts are started: posix_spawn from the spawner thread (and the Popen fallback).

What a script must find when it starts, whatever started it: the home as working directory,
a session and process group of its own, no descriptor of the engine's beyond 0-2, SIGPIPE at
its default, a fixed environment; and the event loop keeps running while scripts start.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from arconsole.engine import spawn as spawn_module
from arconsole.engine.executor import SCRIPT_ENV, Executor
from arconsole.engine.spawn import Spawned, Spawner, SpawnRequest, _GlibcSpawn

PROBE = """
import json, os, signal, sys
fds = sorted(int(name) for name in os.listdir("/proc/self/fd"))
json.dump({
    "cwd": os.getcwd(), "argv": sys.argv, "pid": os.getpid(), "pgid": os.getpgid(0),
    "sid": os.getsid(0), "fds": fds, "signals": open("signals.txt").read().split(),
    "stdin": sys.stdin.read(), "env": dict(os.environ),
    "blocked": sorted(int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, [])),
}, open(os.path.join(os.environ.get("PROBE_OUT", "."), "probe.json"), "w"))
"""

METHODS = [pytest.param(False, id="posix_spawn"), pytest.param(True, id="popen")]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "active-response" / "bin"
    bin_dir.mkdir(parents=True)
    probe = bin_dir / "probe"
    # grep, started by the shell, shows the ignored signals the script got (Python would
    # ignore SIGPIPE by itself); Python shows the blocked ones.
    probe.write_text(
        "#!/bin/sh\ngrep -E '^SigIgn' /proc/self/status > signals.txt\n"
        f"exec {sys.executable} -c '{PROBE}' \"$0\"\n"
    )
    probe.chmod(0o755)
    return tmp_path


def test_glibc_spawn_is_available_here() -> None:
    # The machines arconsole is tested on have glibc >= 2.34: the fast path is the one tested.
    assert _GlibcSpawn.available()
    assert Spawner("/", {}).method == "posix_spawn"


@pytest.mark.parametrize("use_popen", METHODS)
async def test_a_script_starts_in_the_home_alone_and_with_default_signals(
    home: Path, use_popen: bool
) -> None:
    # An inheritable descriptor of the engine's must not reach the script (closefrom).
    leaked = os.open(os.devnull, os.O_RDONLY)
    os.set_inheritable(leaked, True)
    # The spawner thread is started under this mask; the script must not inherit it.
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP, signal.SIGUSR1})
    try:
        executor = Executor(home, use_popen=use_popen)
        result = await executor.run_json_delete("probe", b'{"command":"delete"}')
        await executor.aclose()
    finally:
        os.close(leaked)
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
    assert result.ok, result
    probe = json.loads((home / "probe.json").read_text())
    assert probe["cwd"] == str(home)
    assert probe["argv"] == ["-c", "active-response/bin/probe"]  # $0, handed on by the shell
    assert probe["pid"] == probe["pgid"] == probe["sid"] == result.pid
    assert probe["fds"] == [0, 1, 2, 3]  # 3: the directory listing itself
    signals = dict(zip(probe["signals"][::2], probe["signals"][1::2], strict=True))
    ignored = int(signals["SigIgn:"], 16)
    assert not ignored & (1 << (signal.SIGPIPE - 1))  # SIG_DFL, not the interpreter's SIG_IGN
    assert not ignored & (1 << (signal.SIGXFSZ - 1))
    if not use_popen:  # Popen hands on the starting thread's mask
        assert probe["blocked"] == []
    assert probe["stdin"] == '{"command":"delete"}\n'
    # The fixed environment, plus what sh and Python add themselves (PWD, LC_CTYPE).
    assert {key: probe["env"][key] for key in SCRIPT_ENV} == SCRIPT_ENV
    assert set(probe["env"]) - set(SCRIPT_ENV) <= {"PWD", "LC_CTYPE"}


async def test_a_nul_in_an_argument_is_a_launch_error(home: Path) -> None:
    executor = Executor(home)
    result = await executor.run_argv("probe", ["add", "a\0b"])
    await executor.aclose()
    assert result.pid is None and result.error is not None
    assert "null byte" in result.error


async def test_the_loop_runs_while_scripts_start(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # posix_spawn returns only once the child has exec'd: that wait must not be the loop's.
    (home / "active-response" / "bin" / "quick").write_text("#!/bin/sh\nexit 0\n")
    (home / "active-response" / "bin" / "quick").chmod(0o755)
    spawning = threading.Event()
    threads: set[int] = set()
    real_call = spawn_module._GlibcSpawn.__call__

    def watched_call(self: spawn_module._GlibcSpawn, request: SpawnRequest) -> Spawned:
        threads.add(threading.get_ident())
        spawning.set()
        try:
            return real_call(self, request)
        finally:
            spawning.clear()

    monkeypatch.setattr(spawn_module._GlibcSpawn, "__call__", watched_call)
    executor = Executor(home, max_concurrency=64)
    turns_during_spawns = 0
    running = True

    async def ticker() -> None:
        nonlocal turns_during_spawns
        while running:
            await asyncio.sleep(0)
            turns_during_spawns += spawning.is_set()

    ticking = asyncio.create_task(ticker())
    results = await asyncio.gather(
        *(executor.run_json_delete("quick", b"{}") for _ in range(64))
    )
    running = False
    await ticking
    await executor.aclose()
    assert all(result.ok for result in results)
    assert threading.get_ident() not in threads and 1 <= len(threads) <= spawn_module._THREADS
    assert turns_during_spawns > 0  # the loop turned while a spawn was under way


async def test_cancelled_while_starting_the_script_is_killed_and_reaped(home: Path) -> None:
    (home / "active-response" / "bin" / "hang").write_text(
        "#!/bin/sh\necho $$ >> pids\nexec sleep 30\n"
    )
    (home / "active-response" / "bin" / "hang").chmod(0o755)
    executor = Executor(home)
    tasks = [asyncio.create_task(executor.run_json_delete("hang", b"{}")) for _ in range(8)]
    await asyncio.sleep(0)
    await asyncio.sleep(0)  # the spawns are queued or under way
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await executor.aclose()
    pids = [int(word) for word in (home / "pids").read_text().split()] if (
        home / "pids").exists() else []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        await asyncio.sleep(0.02)
    assert not any(_alive(pid) for pid in pids)
    assert executor.running == 0


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


async def test_a_slow_cgroup_move_holds_up_no_spawn(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A lone move into a cgroup can wait for an RCU grace period (tens of ms on a loaded
    # machine). Held here until released: meanwhile other scripts still start and finish,
    # and the held script has no message yet (it reads it only once it is contained).
    from arconsole.engine import cgroups as cgroups_module

    pool, reason = cgroups_module.RunCgroups.open()
    if pool is None:
        pytest.skip(f"cgroup v2 not usable here: {reason}")
    pool.close()
    bin_dir = home / "active-response" / "bin"
    (bin_dir / "held").write_text(
        "#!/bin/sh\ntouch started.$$\nread -r message\necho \"$message\" > held.out.$$\n"
    )
    (bin_dir / "held").chmod(0o755)
    # An uncontained name (the restart scripts run without a cgroup): no move at all.
    (bin_dir / "restart.sh").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "restart.sh").chmod(0o755)
    release = threading.Event()
    entered = threading.Event()
    real_enter = cgroups_module.RunCgroup.enter

    def held_enter(self: cgroups_module.RunCgroup, pid: int) -> None:
        entered.set()
        release.wait(10)
        real_enter(self, pid)

    monkeypatch.setattr(cgroups_module.RunCgroup, "enter", held_enter)
    executor = Executor(home)
    try:
        # Two held: as many as there are spawner threads, in case moves were theirs to make.
        held = [asyncio.create_task(executor.run_json_delete("held", b'{"command":"delete"}'))
                for _ in range(spawn_module._THREADS)]
        while not entered.is_set() or len(list(home.glob("started.*"))) < len(held):
            await asyncio.sleep(0.005)
        others = await asyncio.wait_for(asyncio.gather(
            *(executor.run_json_delete("restart.sh", b"{}") for _ in range(4))), 10)
        assert all(result.ok for result in others)
        assert not any(task.done() for task in held) and not list(home.glob("held.out.*"))
        release.set()
        assert all(result.ok for result in await asyncio.gather(*held))
        outputs = [path.read_text() for path in home.glob("held.out.*")]
        assert outputs == ['{"command":"delete"}\n'] * len(held)
    finally:
        release.set()
        await executor.aclose()

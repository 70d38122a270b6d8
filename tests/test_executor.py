"""The script executor against real scripts: execd's protocols, time limits, kills, safety.

Scenario names (E12, C2, D5, G1...) refer to /work/shared/spec/scenarios.md.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import pytest

from arconsole.engine import executor as executor_module
from arconsole.engine.executor import (
    LINE_MAX,
    SCRIPT_ENV,
    STDERR_CAP,
    ExecutableError,
    ExecutableMissing,
    ExecutableRefused,
    Executor,
    ScriptResult,
    resolve_executable,
)
from arconsole.engine.handshake import (
    block_key,
    build_add_message,
    parse_check_keys,
    with_command,
)

PY = sys.executable

ALERT = (
    b'{"timestamp":"2026-02-10T04:13:18.000+0000","rule":{"level":10,"description":"sshd: '
    b'brute force","id":"5712"},"agent":{"id":"000","name":"m\xc3\xa4nager"},'
    b'"id":"1770696798.1234","data":{"srcip":"1.2.3.4","dstuser":"-rf"},'
    b'"location":"/var/log/auth.log"}'
)
ANALYSISD = (
    b'{"version":1,"origin":{"name":"node01","module":"wazuh-analysisd"},'
    b'"command":"firewall-drop600","parameters":{"extra_args":[],"alert":' + ALERT + b"}}"
)


def check_keys_line(*keys: str) -> str:
    inner = ",".join(f'"{key}"' for key in keys)
    return (
        '{"version":1,"origin":{"name":"s","module":"active-response"},'
        f'"command":"check_keys","parameters":{{"keys":[{inner}]}}}}'
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "active-response" / "bin").mkdir(parents=True)
    return tmp_path


def script(home: Path, name: str, body: str, *, shell: str = "/bin/sh", mode: int = 0o755) -> Path:
    path = home / "active-response" / "bin" / name
    path.write_text(f"#!{shell}\n{body.lstrip()}")
    path.chmod(mode)
    return path


def python_script(home: Path, name: str, body: str) -> Path:
    return script(home, name, "import os, sys\n" + body.lstrip(), shell=PY)


def alive(pid: int) -> bool:
    """True while `pid` runs; a zombie waiting for a reaper counts as dead."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


async def wait_dead(pids: list[int], within: float = 3.0) -> list[int]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        living = [pid for pid in pids if alive(pid)]
        if not living:
            return []
        await asyncio.sleep(0.02)
    return [pid for pid in pids if alive(pid)]


async def wait_for_file(path: Path, lines: int = 1, within: float = 5.0) -> list[str]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if path.exists():
            text = path.read_text().split()
            if len(text) >= lines:
                return text
        await asyncio.sleep(0.02)
    raise AssertionError(f"{path} never got {lines} lines")


def recorder(reply: Callable[[bytes | None], bytes | None]) -> tuple[
    list[bytes | None], Callable[[bytes | None], Awaitable[bytes | None]]
]:
    seen: list[bytes | None] = []

    async def on_first_line(line: bytes | None) -> bytes | None:
        seen.append(line)
        return reply(line)

    return seen, on_first_line


# ---------------------------------------------------------------- resolving the executable


def test_resolve_gives_the_real_file_inside_bin(home: Path) -> None:
    path = script(home, "firewall-drop", "exit 0\n")
    assert resolve_executable(home, "firewall-drop") == path.resolve()


@pytest.mark.parametrize(
    "name",
    ["", "..", "../x", "../../bin/ls", "/bin/ls", "a/b", "!../x", "x..y", ".", "a\\b",
     "bad\nname", "nul\0byte"],
)
def test_resolve_refuses_traversal_absolute_and_separators_D5(home: Path, name: str) -> None:
    script(home, "x", "exit 0\n")
    with pytest.raises(ExecutableRefused):
        resolve_executable(home, name)


def test_resolve_refuses_a_symlink_that_leaves_the_folder_D5(home: Path) -> None:
    outside = home / "outside.sh"
    outside.write_text("#!/bin/sh\nexit 0\n")
    outside.chmod(0o755)
    (home / "active-response" / "bin" / "escape").symlink_to(outside)
    (home / "active-response" / "bin" / "to-ls").symlink_to("/bin/ls")
    for name in ("escape", "to-ls"):
        with pytest.raises(ExecutableRefused, match="outside"):
            resolve_executable(home, name)


def test_resolve_follows_a_symlink_that_stays_inside(home: Path) -> None:
    real = script(home, "real-script", "exit 0\n")
    (home / "active-response" / "bin" / "alias").symlink_to("real-script")
    assert resolve_executable(home, "alias") == real.resolve()


def test_resolve_reports_missing_and_not_executable_files_C3_E19(home: Path) -> None:
    script(home, "plain", "exit 0\n", mode=0o644)
    (home / "active-response" / "bin" / "folder").mkdir()
    (home / "active-response" / "bin" / "dangling").symlink_to("nowhere")
    with pytest.raises(ExecutableMissing, match="not present"):
        resolve_executable(home, "absent")
    with pytest.raises(ExecutableMissing, match="not executable"):
        resolve_executable(home, "plain")
    with pytest.raises(ExecutableMissing, match="not a regular file"):
        resolve_executable(home, "folder")
    with pytest.raises(ExecutableMissing):
        resolve_executable(home, "dangling")
    with pytest.raises(ExecutableMissing):
        resolve_executable(home / "no-such-home", "x")
    assert issubclass(ExecutableMissing, ExecutableError)
    assert issubclass(ExecutableRefused, ExecutableError)


async def test_runs_raise_for_missing_and_refused_executables(home: Path) -> None:
    script(home, "plain", "exit 0\n", mode=0o644)
    executor = Executor(home)
    _, on_first_line = recorder(lambda line: None)
    with pytest.raises(ExecutableMissing):
        await executor.run_json("plain", b"{}", on_first_line)
    with pytest.raises(ExecutableMissing):
        await executor.run_json_delete("absent", b"{}")
    with pytest.raises(ExecutableRefused):
        await executor.run_argv("../../bin/ls", ["add"])
    await executor.aclose()


# ---------------------------------------------------------------- the JSON handshake


async def test_full_handshake_is_byte_exact_E6_E7_E8(home: Path) -> None:
    python_script(home, "firewall-drop", f"""
first = sys.stdin.buffer.readline()
sys.stdout.write({check_keys_line("1.2.3.4")!r} + "\\n")
sys.stdout.flush()
second = sys.stdin.buffer.readline()
rest = sys.stdin.buffer.read()
with open("seen.bin", "wb") as out:
    out.write(first + b"--\\n" + second + b"--\\n" + rest)
with open("context.txt", "w") as out:
    out.write(repr((sys.argv, os.getcwd(), os.getsid(0) == os.getpid())))
""")
    message = build_add_message(ANALYSISD, "active-response/bin/firewall-drop")
    seen, on_first_line = recorder(lambda line: with_command(message, "continue"))
    executor = Executor(home, time_limit=10)
    result = await executor.run_json("firewall-drop", message, on_first_line)
    await executor.aclose()

    assert result.ok, result
    assert result.returncode == 0
    assert seen == [check_keys_line("1.2.3.4").encode()]
    assert result.first_line == check_keys_line("1.2.3.4").encode()
    assert block_key("firewall-drop", parse_check_keys(seen[0] or b"")) == "firewall-drop-1.2.3.4"
    expected = message + b"\n--\n" + with_command(message, "continue") + b"\n--\n"
    assert (home / "seen.bin").read_bytes() == expected
    argv, cwd, new_session = eval((home / "context.txt").read_text())
    assert argv == ["active-response/bin/firewall-drop"]  # relative, as execd passes it
    assert Path(cwd) == home.resolve()
    assert new_session
    assert result.program == "active-response/bin/firewall-drop"
    assert result.argv == ("active-response/bin/firewall-drop",)
    assert result.pid is not None and not result.killed and not result.timed_out


async def test_environment_is_fixed_and_carries_nothing_of_ours(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARCONSOLE_SECRET", "leak")
    script(home, "env-dump", "cat /proc/$$/environ > environ.bin\n")
    executor = Executor(home)
    result = await executor.run_json_delete("env-dump", b"{}")
    await executor.aclose()
    assert result.ok
    entries = (home / "environ.bin").read_bytes().split(b"\0")
    assert sorted(e for e in entries if e) == sorted(
        f"{key}={value}".encode() for key, value in SCRIPT_ENV.items()
    )


async def test_abort_reply_reaches_the_script_E9(home: Path) -> None:
    python_script(home, "firewall-drop", f"""
message = sys.stdin.buffer.readline()
print({check_keys_line("1.2.3.4")!r}, flush=True)
reply = sys.stdin.buffer.readline()
open("reply.bin", "wb").write(reply)
sys.exit(0 if b'"command":"abort"' in reply else 7)
""")
    message = build_add_message(ANALYSISD, "active-response/bin/firewall-drop")
    _, on_first_line = recorder(lambda line: with_command(message, "abort"))
    executor = Executor(home)
    result = await executor.run_json("firewall-drop", message, on_first_line)
    await executor.aclose()
    assert result.ok
    assert (home / "reply.bin").read_bytes() == with_command(message, "abort") + b"\n"


async def test_no_line_means_no_reply_E12(home: Path) -> None:
    # The script closes stdout without printing, then records what else arrives on stdin.
    python_script(home, "restart-wazuh", """
first = sys.stdin.buffer.readline()
os.close(1)
open("after.bin", "wb").write(sys.stdin.buffer.read())
""")
    seen, on_first_line = recorder(lambda line: b"SHOULD-NOT-BE-SENT")
    executor = Executor(home)
    result = await executor.run_json("restart-wazuh", b'{"command":"add"}', on_first_line)
    await executor.aclose()
    assert seen == [None]
    assert result.first_line is None and result.ok
    assert (home / "after.bin").read_bytes() == b""
    assert block_key("restart-wazuh", None) == "restart-wazuh"


async def test_script_that_exits_at_once_gives_eof(home: Path) -> None:
    script(home, "silent", "exit 0\n")
    seen, on_first_line = recorder(lambda line: b"x")
    executor = Executor(home)
    result = await executor.run_json("silent", b"{}", on_first_line)
    await executor.aclose()
    assert seen == [None] and result.ok


async def test_non_json_first_line_is_a_reply_with_no_keys_E13(home: Path) -> None:
    script(home, "chatty", "read -r line\necho hello\nread -r reply\n")
    seen, on_first_line = recorder(lambda line: b"continue")
    executor = Executor(home)
    result = await executor.run_json("chatty", b"{}", on_first_line)
    await executor.aclose()
    assert seen == [b"hello"] and result.ok
    assert parse_check_keys(b"hello") is None
    assert block_key("chatty", parse_check_keys(b"hello")) == "chatty"


@pytest.mark.parametrize(
    ("keys", "expected"),
    [(("a", "b"), "s-a-b"), ((), "s")],
    ids=["E14-two-keys", "E15-empty-keys"],
)
async def test_keys_from_a_real_script_E14_E15(
    home: Path, keys: tuple[str, ...], expected: str
) -> None:
    script(home, "s", f"read -r line\necho '{check_keys_line(*keys)}'\nread -r reply\n")
    seen, on_first_line = recorder(lambda line: b"continue")
    executor = Executor(home)
    await executor.run_json("s", b"{}", on_first_line)
    await executor.aclose()
    assert seen[0] is not None
    assert block_key("s", parse_check_keys(seen[0])) == expected


async def test_key_longer_than_4095_bytes_is_cut_E16(home: Path) -> None:
    script(home, "disable-account", f"read -r l\necho '{check_keys_line('A' * 5000)}'\n")
    seen, on_first_line = recorder(lambda line: None)
    executor = Executor(home)
    await executor.run_json("disable-account", b"{}", on_first_line)
    await executor.aclose()
    assert seen[0] is not None
    key = block_key("disable-account", parse_check_keys(seen[0]))
    assert len(key.encode()) == 4095
    assert key.startswith("disable-account-AAAA")


async def test_over_long_line_is_cut_like_fgets(home: Path) -> None:
    python_script(home, "long", """
sys.stdin.buffer.readline()
sys.stdout.write("x" * 10000 + "\\n")
""")
    seen, on_first_line = recorder(lambda line: None)
    executor = Executor(home)
    result = await executor.run_json("long", b"{}", on_first_line)
    await executor.aclose()
    assert seen == [b"x" * LINE_MAX] and result.ok


async def test_line_without_newline_counts_at_end_of_file_C4(home: Path) -> None:
    script(home, "nonl", "read -r l\nprintf 'no-newline'\n")
    seen, on_first_line = recorder(lambda line: None)
    executor = Executor(home)
    await executor.run_json("nonl", b"{}", on_first_line)
    await executor.aclose()
    assert seen == [b"no-newline"]


async def test_line_without_newline_from_a_waiting_script_times_out_C4(home: Path) -> None:
    # fgets would block for ever: the script printed keys without "\n" and waits for a reply.
    script(home, "stuck", "read -r l\nprintf 'keys-no-newline'\nsleep 30\n")
    seen, on_first_line = recorder(lambda line: b"continue")
    executor = Executor(home, time_limit=0.4, kill_grace=0.2)
    started = time.monotonic()
    result = await executor.run_json("stuck", b"{}", on_first_line)
    await executor.aclose()
    assert time.monotonic() - started < 2.0
    assert seen == [] and result.timed_out and result.killed and not result.ok


async def test_exit_255_is_recorded_E18(home: Path) -> None:
    script(home, "invalid", "read -r l\necho 'Invalid input format' >&2\nexit 255\n")
    seen, on_first_line = recorder(lambda line: None)
    executor = Executor(home)
    result = await executor.run_json("invalid", b"{}", on_first_line)
    await executor.aclose()
    assert result.returncode == 255 and not result.ok and not result.timed_out
    assert result.stderr == b"Invalid input format\n"
    assert seen == [None]


async def test_stderr_is_kept_and_capped_without_blocking(home: Path) -> None:
    python_script(home, "noisy", """
sys.stderr.buffer.write(b"e" * 300000)
sys.stderr.flush()
""")
    executor = Executor(home, time_limit=5)
    result = await executor.run_json_delete("noisy", b"{}")
    await executor.aclose()
    assert result.ok and not result.timed_out
    assert result.stderr == b"e" * STDERR_CAP


async def test_chatty_stdout_after_the_line_cannot_deadlock(home: Path) -> None:
    python_script(home, "flood", f"""
sys.stdin.buffer.readline()
print({check_keys_line("9.9.9.9")!r}, flush=True)
sys.stdout.write("z" * 2000000)
sys.stdout.flush()
reply = sys.stdin.buffer.readline()
sys.exit(0 if reply == b"continue\\n" else 3)
""")
    _, on_first_line = recorder(lambda line: b"continue")
    executor = Executor(home, time_limit=5)
    result = await executor.run_json("flood", b"{}", on_first_line)
    await executor.aclose()
    assert result.ok, result


async def test_large_message_to_a_script_that_reads_slowly(home: Path) -> None:
    python_script(home, "slow-reader", """
import time
time.sleep(0.2)
data = sys.stdin.buffer.readline()
open("size", "w").write(str(len(data)))
""")
    message = b'{"command":"add","pad":"' + b"p" * 300000 + b'"}'
    seen, on_first_line = recorder(lambda line: None)
    executor = Executor(home, time_limit=5)
    result = await executor.run_json("slow-reader", message, on_first_line)
    await executor.aclose()
    assert result.ok and seen == [None]
    assert int((home / "size").read_text()) == len(message) + 1


async def test_bad_interpreter_is_a_spawn_error_not_a_crash_E19(home: Path) -> None:
    script(home, "broken", "exit 0\n", shell="/nonexistent/interpreter")
    seen, on_first_line = recorder(lambda line: None)
    executor = Executor(home)
    result = await executor.run_json("broken", b"{}", on_first_line)
    await executor.aclose()
    assert seen == []
    assert result.returncode is None and result.pid is None and not result.ok
    assert result.error is not None and "interpreter" in result.error


# ---------------------------------------------------------------- time limits and kills


async def test_script_hanging_before_its_line_is_killed_within_the_limit_C4_E17(
    home: Path,
) -> None:
    script(home, "hang", "echo $$ > pid\nread -r line\nsleep 30\n")
    seen, on_first_line = recorder(lambda line: b"continue")
    executor = Executor(home, time_limit=0.5, kill_grace=0.3)
    started = time.monotonic()
    result = await executor.run_json("hang", b"{}", on_first_line)
    elapsed = time.monotonic() - started
    await executor.aclose()
    assert seen == []  # never asked: the script gave no line
    assert result.timed_out and result.killed and not result.ok
    assert result.returncode is not None and result.returncode < 0
    assert 0.45 < elapsed < 0.5 + 0.3 + 1.0
    assert await wait_dead([int((home / "pid").read_text())]) == []


async def test_nasty_children_ignoring_sigterm_all_die_C2(home: Path) -> None:
    # The script and its children (one per subshell level) ignore SIGTERM and hang.
    script(home, "nasty", """
trap '' TERM
sleep 60 &
echo $! >> pids
( trap '' TERM; sleep 60 & echo $! >> pids; sleep 60 ) &
echo $! >> pids
echo $$ >> pids
wait
""")
    executor = Executor(home, time_limit=0.5, kill_grace=0.3)
    started = time.monotonic()
    result = await executor.run_json_delete("nasty", b"{}")
    elapsed = time.monotonic() - started
    pids = [int(word) for word in await wait_for_file(home / "pids", 4)]
    await executor.aclose()
    assert result.timed_out and result.killed
    assert result.returncode == -9  # SIGTERM was ignored: SIGKILL ended it
    assert elapsed < 0.5 + 0.3 + 1.0
    assert await wait_dead(pids) == []


async def test_argv_and_delete_runs_have_the_limit_too(home: Path) -> None:
    script(home, "sleepy", "sleep 30\n")
    executor = Executor(home, time_limit=0.3, kill_grace=0.2)
    results = await asyncio.gather(
        executor.run_argv("sleepy", ["add", "-", "1.2.3.4"]),
        executor.run_json_delete("sleepy", b"{}"),
    )
    await executor.aclose()
    assert all(result.timed_out and result.returncode == -15 for result in results)


async def test_hanging_scripts_do_not_delay_a_fast_one(home: Path) -> None:
    script(home, "hang", "echo $$ >> pids\nsleep 30\n")
    script(home, "fast", f"read -r l\necho '{check_keys_line('1.1.1.1')}'\nread -r r\n")
    executor = Executor(home, time_limit=20, max_concurrency=32, kill_grace=0.2)
    hanging = [
        asyncio.create_task(executor.run_json_delete("hang", b"{}")) for _ in range(20)
    ]
    pids = [int(word) for word in await wait_for_file(home / "pids", 20)]
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticking = asyncio.create_task(ticker())
    seen, on_first_line = recorder(lambda line: b"continue")
    started = time.monotonic()
    fast = await executor.run_json("fast", b"{}", on_first_line)
    elapsed = time.monotonic() - started
    assert fast.ok and elapsed < 1.0
    assert seen == [check_keys_line("1.1.1.1").encode()]
    assert all(not task.done() for task in hanging)
    await asyncio.sleep(0.2)
    assert ticks >= 5  # the event loop kept running throughout
    ticking.cancel()
    # Shutting down kills the hanging ones promptly.
    closing = time.monotonic()
    await executor.aclose()
    assert time.monotonic() - closing < 2.0
    results = [task.result() for task in hanging]
    assert all(r.killed and not r.timed_out and r.error == "killed: executor closed"
               for r in results)
    assert await wait_dead(pids) == []
    after = await executor.run_json_delete("fast", b"{}")
    assert after.error == "executor closed" and after.pid is None


async def test_concurrency_is_bounded(home: Path) -> None:
    python_script(home, "slot", """
import fcntl, time
def note(word):
    with open("log", "a") as out:
        fcntl.flock(out, fcntl.LOCK_EX)
        out.write(word + "\\n")
note("start")
time.sleep(0.15)
note("end")
""")
    executor = Executor(home, max_concurrency=2)
    results = await asyncio.gather(*(executor.run_json_delete("slot", b"{}") for _ in range(5)))
    await executor.aclose()
    assert all(result.ok for result in results)
    running = peak = 0
    for word in (home / "log").read_text().split():
        running += 1 if word == "start" else -1
        peak = max(peak, running)
    assert peak == 2


async def test_the_engines_time_to_reply_is_not_charged_to_the_script(home: Path) -> None:
    script(home, "waits", f"read -r l\necho '{check_keys_line('k')}'\nread -r r\n")

    async def slow_engine(line: bytes | None) -> bytes | None:
        await asyncio.sleep(0.6)  # e.g. waiting for another run of the same key
        return b"continue"

    executor = Executor(home, time_limit=0.4, kill_grace=0.2)
    result = await executor.run_json("waits", b"{}", slow_engine)
    await executor.aclose()
    assert result.ok and not result.timed_out


async def test_script_hanging_after_the_reply_is_killed(home: Path) -> None:
    script(home, "after", f"read -r l\necho '{check_keys_line('k')}'\nread -r r\nsleep 30\n")
    seen, on_first_line = recorder(lambda line: b"continue")
    executor = Executor(home, time_limit=0.4, kill_grace=0.2)
    result = await executor.run_json("after", b"{}", on_first_line)
    await executor.aclose()
    assert seen == [check_keys_line("k").encode()]
    assert result.first_line == check_keys_line("k").encode()
    assert result.timed_out and result.killed


async def test_background_child_holding_stdout_does_not_hold_the_run(home: Path) -> None:
    # Like a script that forgets a child: the script exits, its child keeps the pipes.
    script(home, "daemonise", "read -r l\nsleep 30 &\necho $! > pid\nexit 0\n")
    seen, on_first_line = recorder(lambda line: None)
    executor = Executor(home, time_limit=5)
    started = time.monotonic()
    result = await executor.run_json("daemonise", b"{}", on_first_line)
    elapsed = time.monotonic() - started
    pid = int((home / "pid").read_text())
    try:
        assert result.ok and seen == [None] and elapsed < 1.0
        # What a finished script leaves in its process group is ended (issue 11 item 4;
        # execd leaves it running).
        assert await wait_dead([pid]) == []
    finally:
        await executor.aclose()


async def test_cancelling_a_run_kills_the_script(home: Path) -> None:
    script(home, "hang", "echo $$ > pid\nsleep 30\n")
    _, on_first_line = recorder(lambda line: None)
    executor = Executor(home, time_limit=30)
    task = asyncio.create_task(executor.run_json("hang", b"{}", on_first_line))
    pid = int((await wait_for_file(home / "pid"))[0])
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await executor.aclose()
    assert await wait_dead([pid]) == []
    assert executor.running == 0


async def test_failing_reply_callback_kills_the_script(home: Path) -> None:
    script(home, "s", f"echo $$ > pid\nread -r l\necho '{check_keys_line('k')}'\nsleep 30\n")

    async def broken(line: bytes | None) -> bytes | None:
        raise RuntimeError("engine bug")

    executor = Executor(home, time_limit=30)
    with pytest.raises(RuntimeError, match="engine bug"):
        await executor.run_json("s", b"{}", broken)
    await executor.aclose()
    assert await wait_dead([int((home / "pid").read_text())]) == []


async def test_without_pidfd_the_exit_is_watched_by_a_thread(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(executor_module, "_HAVE_PIDFD", False)
    script(home, "s", f"read -r l\necho '{check_keys_line('k')}'\nread -r r\nexit 4\n")
    script(home, "hang", "sleep 30\n")
    seen, on_first_line = recorder(lambda line: b"continue")
    executor = Executor(home, time_limit=0.4, kill_grace=0.2)
    result = await executor.run_json("s", b"{}", on_first_line)
    hung = await executor.run_json_delete("hang", b"{}")
    await executor.aclose()
    assert seen == [check_keys_line("k").encode()] and result.returncode == 4
    assert hung.timed_out and hung.returncode == -15


# ---------------------------------------------------------------- delete and argv


async def test_delete_gets_exactly_the_message_and_no_handshake_T2(home: Path) -> None:
    python_script(home, "firewall-drop", """
open("stdin.bin", "wb").write(sys.stdin.buffer.read())
open("argv.txt", "w").write(repr(sys.argv))
sys.stdout.write("o" * 500000)  # discarded, and must not block
""")
    add = build_add_message(ANALYSISD, "active-response/bin/firewall-drop")
    delete = with_command(add, "delete")
    executor = Executor(home, time_limit=5)
    result = await executor.run_json_delete("firewall-drop", delete)
    await executor.aclose()
    assert result.ok and result.first_line is None
    assert (home / "stdin.bin").read_bytes() == delete + b"\n"
    assert eval((home / "argv.txt").read_text()) == ["active-response/bin/firewall-drop"]


async def test_argv_mode_gets_exactly_the_words_G1(home: Path) -> None:
    python_script(home, "host-deny.sh", """
open("argv.txt", "w").write(repr(sys.argv))
open("stdin.bin", "wb").write(sys.stdin.buffer.read())
""")
    words = ["add", "-", "1.2.3.4", "1700000000.99", "5712", "/var/log/auth.log", "-"]
    executor = Executor(home)
    result = await executor.run_argv("host-deny.sh", words)
    await executor.aclose()
    assert result.ok
    path = str(home / "active-response" / "bin" / "host-deny.sh")
    assert eval((home / "argv.txt").read_text()) == [path, *words]  # absolute $0, as OSSEC
    assert (home / "stdin.bin").read_bytes() == b""
    assert result.argv == (path, *words)
    assert result.program == "active-response/bin/host-deny.sh"


async def test_argv_mode_location_with_spaces_stays_split_G2(home: Path) -> None:
    python_script(home, "x.sh", 'open("argv.txt", "w").write(repr(sys.argv[1:]))\n')
    words = ["add", "root", "10.0.0.2", "1.2", "5712", "(web01)", "10.0.0.2->/var/log/secure",
             "-"]
    executor = Executor(home)
    await executor.run_argv("x.sh", words)
    await executor.aclose()
    assert eval((home / "argv.txt").read_text()) == words


async def test_no_shell_ever_touches_the_words_D1_D6(home: Path) -> None:
    python_script(home, "x.sh", 'open("argv.txt", "w").write(repr(sys.argv[1:]))\n')
    words = ["add", "$(touch pwned)", "1.2.3.4;touch pwned2", "`touch pwned3`", "a|b", "*",
             "> out", "'\"", "-rf", "x\ny"]
    executor = Executor(home)
    result = await executor.run_argv("x.sh", words)
    await executor.aclose()
    assert result.ok
    assert eval((home / "argv.txt").read_text()) == words
    assert sorted(p.name for p in home.iterdir()) == ["active-response", "argv.txt"]


async def test_extra_args_with_metacharacters_arrive_verbatim_D6(home: Path) -> None:
    python_script(home, "custom", """
line = sys.stdin.buffer.readline()
open("stdin.bin", "wb").write(line)
""")
    extra = ["$(touch pwned)", "; rm -rf /", "`id`", "&& echo", "\u00e9\u202e"]
    analysisd = build_add_message(ANALYSISD, "active-response/bin/custom")
    message = analysisd.replace(b'"extra_args":[]', b'"extra_args":' + _json_list(extra))
    _, on_first_line = recorder(lambda line: None)
    executor = Executor(home)
    result = await executor.run_json("custom", message, on_first_line)
    await executor.aclose()
    assert result.ok
    assert (home / "stdin.bin").read_bytes() == message + b"\n"
    assert not (home / "pwned").exists()
    assert sorted(p.name for p in home.iterdir()) == ["active-response", "stdin.bin"]


def _json_list(items: list[str]) -> bytes:
    import json

    return json.dumps(items, ensure_ascii=False, separators=(",", ":")).encode()


def test_result_ok_needs_a_clean_exit() -> None:
    base = ScriptResult(
        program="p", argv=("p",), pid=1, returncode=0, timed_out=False, killed=False,
        first_line=None, stderr=b"", started_at=1.0, ended_at=1.5,
    )
    assert base.ok and base.duration == 0.5
    assert not replace(base, returncode=1).ok
    assert not replace(base, returncode=-9, timed_out=True).ok
    assert not replace(base, returncode=None, error="could not launch").ok


async def test_clock_stamps_results(home: Path) -> None:
    script(home, "ok", "exit 0\n")
    ticks = iter([100.0, 107.5])
    executor = Executor(home, clock=lambda: next(ticks))
    result = await executor.run_json_delete("ok", b"{}")
    await executor.aclose()
    assert (result.started_at, result.ended_at) == (100.0, 107.5)

"""The state store in the console (issue 11 items 1 and 6): a banner under the header while
the state file cannot be written, which clears by itself when it can again, and the store's
warnings (a world-writable state directory) shown literally for as long as the console runs.

Everything is real: the full disk is a 2 MB tmpfs mounted in a private mount namespace
(`unshare -m`, root only; skipped otherwise), filled to the last byte and freed again; the
engine is in-process (a driver run inside the namespace) or a separate `arconsole run` the
console attaches to over its control socket (reached, like the tmpfs, through
/proc/PID/root, the engine's own view of the file system).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from console_support import console, make_console_home, screen_text, wait_for

from arconsole.console.app import ConsoleApp
from arconsole.engine.control import engine_listening, request
from arconsole.engine.link import SocketLink
from arconsole.engine.options import socket_path_for
from tests.engine_support import alert_line

REPO = Path(__file__).resolve().parents[1]
EVIL_DIR = "shared\x1b[2Jdir\u202e"  # a directory name that would clear the screen, reorder
SHOWN_DIR = "shared\\x1b[2Jdir\\u202e"  # ... and how the console must show it


def brute(n: int, srcip: str) -> bytes:
    return alert_line(f"{int(time.time())}.{n}", rule_id="5712", level=10, srcip=srcip)


def needs_private_tmpfs() -> None:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare to mount a private tmpfs")
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"unshare -m is not permitted here: {probe.stderr.decode().strip()}")


def fill(directory: Path) -> Path:
    """Fill the file system of `directory` to the last byte; the filler is returned."""
    filler = directory / "filler"
    with open(filler, "wb", buffering=0) as out:  # unbuffered: close cannot fail
        for size in (65536, 4096, 512, 1):
            try:
                while True:
                    out.write(b"f" * size)
            except OSError:
                pass
    return filler


# ---------------------------------------------------------------------- warnings at open


async def test_a_world_writable_state_dir_is_shown_literally_in_process(tmp_path: Path) -> None:
    home = make_console_home(tmp_path)
    shared = tmp_path / EVIL_DIR
    shared.mkdir()
    shared.chmod(0o777)
    async with console(tmp_path, home=home, state_path=shared / "state.db") as c:
        banner = c.app.main.store_banner
        assert banner.has_class("-warning") and not banner.has_class("-fault")
        text = screen_text(c.app)
        line = next(li for li in text.splitlines() if "⚠ state store:" in li)
        assert SHOWN_DIR in line and "writable by other users" in text
        assert "\x1b" not in text and "\u202e" not in text
        assert "STORE FAULT" not in text


async def test_a_sound_state_dir_shows_no_banner(tmp_path: Path) -> None:
    async with console(tmp_path) as c:
        banner = c.app.main.store_banner
        assert not banner.display and banner.lines == []
        assert "state store" not in screen_text(c.app)


def start_run(home: Path, state: Path, log: Path, *, prefix: list[str] | None = None,
              ) -> subprocess.Popen[bytes]:
    """A real `arconsole run` (with its control socket), `prefix` in front (unshare ...)."""
    argv = [sys.executable, "-m", "arconsole", "run", str(home / "etc" / "ossec.conf"),
            "--home", str(home), "--state", str(state)]
    return subprocess.Popen([*(prefix or []), *argv], cwd=home, stdout=log.open("wb"),
                            stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONPATH": str(REPO)})


def wait_listening(engine: subprocess.Popen[bytes], socket: Path, log: Path) -> None:
    deadline = time.monotonic() + 60
    while not engine_listening(socket):
        assert engine.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "the engine never listened: " + log.read_text()
        time.sleep(0.1)


def stop_run(engine: subprocess.Popen[bytes]) -> int:
    if engine.poll() is None:
        engine.terminate()
    return engine.wait(timeout=60)


async def attached_app(socket: Path) -> tuple[ConsoleApp, SocketLink]:
    link = await SocketLink.connect(socket)
    app = ConsoleApp(link, live=False, theme="arconsole-dark", theme_dirs=[],
                     operator="tester")
    return app, link


async def test_a_world_writable_state_dir_reaches_an_attached_console(tmp_path: Path) -> None:
    home = make_console_home(tmp_path)
    shared = tmp_path / EVIL_DIR
    shared.mkdir()
    shared.chmod(0o777)
    state, log = shared / "state.db", tmp_path / "run.log"
    engine = start_run(home, state, log)
    try:
        socket = socket_path_for(state)
        wait_listening(engine, socket, log)
        # Logged at start, once, escaped.
        logged = [li for li in log.read_text().splitlines() if "writable by other users" in li]
        assert len(logged) == 1 and SHOWN_DIR in logged[0]
        status = await asyncio.to_thread(request, socket, {"op": "status"})
        assert status["store_fault"] is None
        assert [w for w in status["store_warnings"] if EVIL_DIR in w]
        app, link = await attached_app(socket)
        try:
            async with app.run_test(size=(120, 36)) as pilot:
                await wait_for(pilot, app.main.ready.is_set, what="the console to attach")
                await wait_for(pilot, lambda: "⚠ state store:" in screen_text(app),
                               what="the warning on screen")
                text = screen_text(app)
                line = next(li for li in text.splitlines() if "⚠ state store:" in li)
                assert SHOWN_DIR in line and "\x1b" not in text
        finally:
            await link.close()
    finally:
        assert stop_run(engine) == 0


# ---------------------------------------------------------------------- a full disk, for real

MOUNT_AND_EXEC = 'mount -t tmpfs -o size=2m,mode=0700 tmpfs "$1" && shift && exec "$@"'


def in_private_tmpfs(directory: Path) -> list[str]:
    """A command prefix: `directory` becomes a fresh 2 MB tmpfs seen only by what follows."""
    return ["unshare", "-m", "sh", "-c", MOUNT_AND_EXEC, "sh", str(directory)]


def seen_by(pid: int, path: Path) -> Path:
    """`path` as process `pid` sees it (inside its own mount namespace)."""
    return Path(f"/proc/{pid}/root") / path.relative_to("/")


def socket_of(pid: int, state: Path, near: Path) -> Path:
    """The control socket of engine `pid` (its state file `state`), reached through a short
    symlink in `near`: /proc/PID/root/... is longer than an AF_UNIX address may be."""
    short = near / "engine.sock"
    if not short.is_symlink():
        short.symlink_to(seen_by(pid, socket_path_for(state)))
    return short


def fault_lines(text: str) -> list[str]:
    return [li for li in text.splitlines() if "STATE STORE FAULT" in li]


async def drive_in_process(home: Path, state_dir: Path) -> dict[str, object]:
    """Inside the private namespace: a real engine and the console in one process; the disk
    fills, the banner must come; space comes back, the banner must go."""
    from arconsole.engine.engine import Engine
    from arconsole.engine.link import LocalLink
    from tests.engine_support import options

    engine = Engine(options(home, state_path=state_dir / "state.db"))
    await engine.start(follow=False)
    link = LocalLink(engine)
    app = ConsoleApp(link, live=False, theme="arconsole-dark", theme_dirs=[], operator="tester")
    report: dict[str, object] = {}
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            main = app.main
            await wait_for(pilot, main.ready.is_set, what="the console to attach")
            for n in range(3):
                await engine.handle_line(brute(n, f"203.0.113.{n + 1}"))
            await engine.drain()
            await wait_for(pilot, lambda: len(main.blocks_view.entries) == 3, what="3 blocks")
            report["before"] = screen_text(app)
            report["badges_before"] = main.header_strip.badge_texts
            filler = fill(state_dir)
            for n in range(200):  # stateful alerts until a write finds the disk full
                if engine.store_fault is not None:
                    break
                await engine.handle_line(brute(100 + n, f"198.51.100.{n % 250 + 1}"))
                await engine.drain()
            await wait_for(pilot, lambda: bool(fault_lines(screen_text(app))), timeout=30,
                           what="the fault banner on screen")
            report["during"] = screen_text(app)
            report["badges_during"] = main.header_strip.badge_texts
            filler.unlink()  # space comes back: the engine's retry must find it by itself
            await wait_for(pilot, lambda: not fault_lines(screen_text(app)), timeout=90,
                           what="the banner to clear from the screen")
            report["after"] = screen_text(app)
            report["badges_after"] = main.header_strip.badge_texts
            report["fault_after"] = engine.store_fault
    finally:
        await link.close()
        await engine.stop()
    return report


IN_PROCESS = """
import asyncio, json, sys
from pathlib import Path
sys.path[:0] = [sys.argv[2], sys.argv[2] + "/tests"]
from tests.test_console_store_fault import drive_in_process
print(json.dumps(asyncio.run(drive_in_process(Path(sys.argv[3]), Path(sys.argv[1])))))
"""


def assert_fault_shown(during: str, badges: list[str]) -> None:
    lines = fault_lines(during)
    assert len(lines) == 1, during
    assert "since " in lines[0] and "disk full" in during
    assert "new stateful responses are paused" in during
    assert "retries the state file" in during and "resumes by itself" in during
    assert "STORE FAULT" in badges


def test_a_full_disk_raises_the_banner_and_recovery_clears_it_in_process(
        tmp_path: Path) -> None:
    needs_private_tmpfs()
    home = make_console_home(tmp_path)
    state_dir = home / "var" / "arconsole"
    state_dir.mkdir(parents=True, mode=0o700)
    done = subprocess.run(
        [*in_private_tmpfs(state_dir), sys.executable, "-c", IN_PROCESS, str(state_dir),
         str(REPO), str(home)],
        capture_output=True, text=True, timeout=240, cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    assert fault_lines(str(report["before"])) == []
    assert "STORE FAULT" not in report["badges_before"]  # type: ignore[operator]
    assert_fault_shown(str(report["during"]), report["badges_during"])  # type: ignore[arg-type]
    assert fault_lines(str(report["after"])) == []
    assert "STORE FAULT" not in report["badges_after"]  # type: ignore[operator]
    assert report["fault_after"] is None


@pytest.fixture
def faulty_engine(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path, Path]]:
    """A real `arconsole run` with its state directory on a private 2 MB tmpfs: (process,
    home, state directory as the engine names it)."""
    needs_private_tmpfs()
    home = make_console_home(tmp_path)
    state_dir = home / "var" / "arconsole"
    state_dir.mkdir(parents=True, mode=0o700)
    log = tmp_path / "run.log"
    engine = start_run(home, state_dir / "state.db", log, prefix=in_private_tmpfs(state_dir))
    try:
        wait_listening(engine, socket_of(engine.pid, state_dir / "state.db", tmp_path), log)
        yield engine, home, state_dir
    finally:
        assert stop_run(engine) == 0, log.read_text()[-3000:]
        text = log.read_text()
        assert "Traceback" not in text and "never retrieved" not in text, text[-3000:]


def append_alerts(home: Path, lines: list[bytes]) -> None:
    with open(home / "logs" / "alerts" / "alerts.json", "ab") as out:
        out.write(b"".join(line + b"\n" for line in lines))


async def test_a_full_disk_raises_the_banner_of_an_attached_console(
        faulty_engine: tuple[subprocess.Popen[bytes], Path, Path]) -> None:
    engine, home, state_dir = faulty_engine
    socket = socket_of(engine.pid, state_dir / "state.db", home.parent)
    app, link = await attached_app(socket)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            main = app.main
            await wait_for(pilot, main.ready.is_set, what="the console to attach")
            append_alerts(home, [brute(n, f"203.0.113.{n + 1}") for n in range(3)])
            await wait_for(pilot, lambda: len(main.blocks_view.entries) == 3, timeout=30,
                           what="3 blocks")
            assert fault_lines(screen_text(app)) == []
            filler = fill(seen_by(engine.pid, state_dir))
            n = 0
            while not main.store_banner.has_class("-fault"):  # until a write finds it full
                assert n < 400, "no write ever failed"
                append_alerts(home, [brute(100 + n, f"198.51.100.{n % 250 + 1}")])
                n += 1
                await pilot.pause(0.05)
            await wait_for(pilot, lambda: bool(fault_lines(screen_text(app))),
                           what="the fault banner on screen")
            assert_fault_shown(screen_text(app), main.header_strip.badge_texts)
            # The control socket's status says the same.
            status = await asyncio.to_thread(request, socket, {"op": "status"})
            assert "disk full" in status["store_fault"]
            assert isinstance(status["store_fault_since"], float)
            filler.unlink()
            await wait_for(pilot, lambda: not fault_lines(screen_text(app)), timeout=90,
                           what="the banner to clear from the screen")
            assert not main.store_banner.display
            assert "STORE FAULT" not in main.header_strip.badge_texts
            status = await asyncio.to_thread(request, socket, {"op": "status"})
            assert status["store_fault"] is None and status["store_fault_since"] is None
    finally:
        await link.close()


# ---------------------------------------------------------------------- in a real terminal

CONSOLE_IN_TMPFS = """#!/bin/sh
echo $$ > {pidfile}
exec unshare -m sh -c '{mount}' sh {state_dir} {python} -m arconsole {config} \\
    --home {home} --state {state_dir}/state.db
"""


@pytest.mark.tmux
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_the_banner_comes_and_goes_in_a_real_terminal(tmp_path: Path) -> None:
    from tests.test_console_tmux import Terminal

    needs_private_tmpfs()
    home = make_console_home(tmp_path)
    state_dir = home / "var" / "arconsole"
    state_dir.mkdir(parents=True, mode=0o700)
    pidfile, script = tmp_path / "console.pid", tmp_path / "console.sh"
    script.write_text(CONSOLE_IN_TMPFS.format(
        pidfile=pidfile, mount=MOUNT_AND_EXEC, state_dir=state_dir, python=sys.executable,
        config=home / "etc" / "ossec.conf", home=home))
    terminal = Terminal(f"arconsole-test-{os.getpid()}-store")
    try:
        terminal.start(f"sh {script}")
        terminal.wait(lambda s: "ENFORCE" in s and "config gen 1" in s, what="the console")
        pid = int(pidfile.read_text())
        append_alerts(home, [brute(n, f"203.0.113.{n + 1}") for n in range(3)])
        screen = terminal.wait(lambda s: "blocks 3" in s, what="3 blocks")
        assert "STATE STORE FAULT" not in screen and "STORE FAULT" not in screen
        filler = fill(seen_by(pid, state_dir))
        deadline = time.monotonic() + 60
        n = 0
        while "STATE STORE FAULT" not in (screen := terminal.screen()):
            assert time.monotonic() < deadline, f"no banner; screen:\n{screen}"
            append_alerts(home, [brute(100 + n, f"198.51.100.{n % 250 + 1}")])
            n += 1
            time.sleep(0.2)
        screen = terminal.wait(lambda s: "resumes by itself" in s, what="the whole banner")
        top = screen.splitlines()[0]
        assert "STORE FAULT" in top  # the badge, for a glance
        assert "disk full" in screen and "new stateful responses are paused" in screen
        filler.unlink()
        screen = terminal.wait(lambda s: "STORE FAULT" not in s, timeout=90,
                               what="the banner to clear")
        assert "resumes by itself" not in screen
        terminal.press("C-q")
        deadline = time.monotonic() + 30
        while Path(f"/proc/{pid}").exists():
            assert time.monotonic() < deadline, "the console did not exit"
            time.sleep(0.1)
    finally:
        terminal.kill()

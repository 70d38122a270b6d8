"""End to end: the real `arconsole demo` in a real terminal (tmux), driven by keys.

The screen is read with `tmux capture-pane`, exactly what an operator sees. The demo's
scripts run in record mode, so the delete a reversal runs is read back from the demo home's
logs/demo-actions.log.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.tmux,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]

REPO = Path(__file__).resolve().parents[1]


class Terminal:
    """A private tmux server (its own socket, no user config): nothing another session or
    another user's settings do can change its size or keys."""

    def __init__(self, name: str) -> None:
        self.name = name

    def tmux(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        # COLUMNS/LINES (set under pytest) would override the real terminal size.
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "TMUX")}
        return subprocess.run(["tmux", "-L", self.name, "-f", os.devnull, *args],
                              capture_output=True, text=True, check=check, cwd=REPO, env=env)

    def start(self, command: str, *, width: int = 120, height: int = 36) -> None:
        env_path = os.environ.get("PYTHONPATH", "")
        # Sized before the console starts: it must never see another size first.
        self.tmux("new-session", "-d", "-s", "boot", "sleep 600", check=True)
        self.tmux("set-option", "-g", "default-size", f"{width}x{height}", check=True)
        self.tmux("new-session", "-d", "-s", self.name,
                  "-e", f"PYTHONPATH={REPO}{os.pathsep + env_path if env_path else ''}",
                  "-e", "TERM=xterm-256color", command, check=True)
        self.tmux("kill-session", "-t", "boot")

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.name).stdout

    def press(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.name, *keys, check=True)

    def wait(self, predicate: Callable[[str], object], timeout: float = 30.0,
             what: str = "the screen") -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if predicate(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; screen:\n{screen}")
            time.sleep(0.2)

    def kill(self) -> None:
        """The terminal goes away: every process in it gets SIGHUP."""
        self.tmux("kill-server")


@pytest.fixture
def terminal() -> Iterator[Terminal]:
    term = Terminal(f"arconsole-test-{uuid.uuid4().hex[:8]}")
    yield term
    term.kill()


def demo_command(home: Path, pidfile: Path, *extra: str) -> str:
    # exec: the pid written is the console's own, the process tmux hangs up on.
    args = " ".join([sys.executable, "-m", "arconsole", "demo", "--home", str(home),
                     "--rate", "20", "--seconds", "3", "--seed", "11", "--max-timeout", "300",
                     *extra])
    return f"sh -c 'echo $$ > {pidfile}; exec {args}'"


def blocks_shown(screen: str) -> int:
    match = re.search(r"3 Blocks \((\d+)", screen)
    return int(match.group(1)) if match else 0


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def deletes_for(home: Path, address: str) -> list[dict[str, object]]:
    log = home / "logs" / "demo-actions.log"
    if not log.exists():
        return []
    entries = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    return [e for e in entries if "-D" in e.get("argv", []) and address in e.get("argv", [])]  # type: ignore[operator]


def test_demo_block_is_reversed_with_r_and_confirm(tmp_path: Path, terminal: Terminal) -> None:
    home = tmp_path / "demo"
    pidfile = tmp_path / "pid"
    terminal.start(demo_command(home, pidfile))
    terminal.wait(lambda s: blocks_shown(s) >= 1, timeout=60, what="a block")
    terminal.press("3")
    terminal.wait(lambda s: "Sort" in s, what="the blocks pane to take focus")
    terminal.wait(lambda s: re.search(r"firewall-drop\s+server", s), what="a firewall-drop block")
    # Only firewall-drop rows, however the list moves while the keys travel; the first one.
    terminal.press("/")
    terminal.press("-l", "cmd:firewall-drop")
    terminal.press("Enter")
    terminal.wait(lambda s: "filter: cmd:firewall-drop" in s, what="the filter")
    terminal.press("g")
    terminal.press("r")
    dialog = terminal.wait(lambda s: "Reverse this block now?" in s, what="the confirmation")
    key = re.search(r"█\s+key\s+(firewall-drop-\S+)", dialog)  # in the dialog, not the log
    assert key is not None, dialog
    address = key.group(1).removeprefix("firewall-drop-")
    assert re.search(rf"█\s+address/user\s+{re.escape(address)}\s", dialog)
    assert deletes_for(home, address) == []
    terminal.press("y")
    deadline = time.monotonic() + 20
    while not deletes_for(home, address) and time.monotonic() < deadline:
        time.sleep(0.2)
    recorded = deletes_for(home, address)
    assert recorded, "the demo's firewall-drop recorded no delete"
    # iptables by whatever path the demo's search found (its PATH differs between hosts).
    assert {(Path(str(e["argv"][0])).name, e["argv"][1])  # type: ignore[index]
            for e in recorded} == {("iptables", "-D")}
    # The row goes; the outcome is told in a toast, the event log and the pane's subtitle.
    def row_shown(screen: str) -> bool:
        return any(re.search(rf"│{re.escape(address)}\s+\d+:\d\d\s+\S+\s+firewall-drop", line)
                   for line in screen.splitlines())

    terminal.wait(lambda s: not row_shown(s), what=f"the row of {address} to go")
    terminal.wait(lambda s: "reverse firewall-drop-" in s and "done" in s, what="the outcome")
    pid = int(pidfile.read_text())
    terminal.press("C-q")
    deadline = time.monotonic() + 15
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(pid), "ctrl+q did not end the console:\n" + terminal.screen() + \
        subprocess.run(["ps", "-o", "pid,stat,etime,wchan:20,cmd", "--ppid", str(pid), "-p",
                        str(pid)], capture_output=True, text=True).stdout


def test_hangup_saves_everything_and_the_next_start_restores(tmp_path: Path,
                                                             terminal: Terminal) -> None:
    home = tmp_path / "demo"
    pidfile = tmp_path / "pid"
    terminal.start(demo_command(home, pidfile))
    screen = terminal.wait(lambda s: blocks_shown(s) >= 2, timeout=60, what="blocks")
    pid = int(pidfile.read_text())
    terminal.kill()  # the SSH session drops: the terminal is gone, SIGHUP
    deadline = time.monotonic() + 20
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(pid), "the console survived its terminal"
    listing = subprocess.run(
        [sys.executable, "-m", "arconsole", "blocks", "list", "--state",
         str(home / "var" / "arconsole" / "state.db"), "--format", "json"],
        capture_output=True, text=True, check=True, cwd=REPO,
    )
    kept = json.loads(listing.stdout)
    assert len(kept) >= blocks_shown(screen)
    # The next start restores every block (the generator is done: no new ones).
    again = Terminal(terminal.name + "-2")
    try:
        again.start(demo_command(home, tmp_path / "pid2", "--rate", "0.01"))
        restored = again.wait(lambda s: "restored" in s and blocks_shown(s) >= len(kept),
                              timeout=60, what="the restored blocks")
        for block in kept[:3]:
            assert str(block["srcip"]) in restored
    finally:
        again.kill()


def test_console_attaches_to_a_running_engine(tmp_path: Path, terminal: Terminal) -> None:
    from arconsole.commands.demo import prepare_home
    from arconsole.engine.control import engine_listening
    from arconsole.engine.options import socket_path_for

    home = prepare_home(tmp_path / "home")
    config = home / "etc" / "ossec.conf"
    state = home / "var" / "arconsole" / "state.db"
    log = (tmp_path / "run.log").open("w")
    engine = subprocess.Popen([sys.executable, "-m", "arconsole", "run", str(config)],
                              cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not engine_listening(socket_path_for(state)):
            assert engine.poll() is None, (tmp_path / "run.log").read_text()
            assert time.monotonic() < deadline, "the engine never listened"
            time.sleep(0.2)
        terminal.start(f"{sys.executable} -m arconsole {config} --read-only")
        terminal.wait(lambda s: "ATTACHED" in s and "READ-ONLY" in s and "config gen 1" in s,
                      what="the attached, read-only header")
        terminal.press("3")
        footer = terminal.wait(lambda s: "Sort" in s, what="the blocks pane").splitlines()[-1]
        assert "Reverse" not in footer and "Extend" not in footer and "Block IP" not in footer
        terminal.press("r")
        terminal.wait(lambda s: "read-only: reversing is off" in s, what="the refusal")
        terminal.press("C-q")
        terminal.wait(lambda s: "ATTACHED" not in s, what="the console to close")
        assert engine.poll() is None  # leaving an attached console leaves the engine running
    finally:
        engine.terminate()
        engine.wait(timeout=30)
        log.close()


def log_lines(screen: str) -> list[str]:
    """The event log lines on screen (each starts with a time and a level)."""
    return [m.group(0).rstrip(" │") for m in re.finditer(
        r"\d\d:\d\d:\d\d (?:info|warning|error)\s+.*", screen)]


def test_log_pane_still_follows_after_hiding_and_a_resize(tmp_path: Path,
                                                          terminal: Terminal) -> None:
    home = tmp_path / "demo"
    terminal.start(demo_command(home, tmp_path / "pid", "--rate", "40", "--seconds", "10"),
                   width=80, height=24)
    terminal.wait(lambda s: "ENFORCE" in s, what="the console")
    terminal.press("4")
    terminal.wait(lambda s: "following" in s, what="the log pane")
    terminal.press("3")  # hidden again (24 lines), while the demo's alerts keep coming
    terminal.wait(lambda s: "Sort" in s and "following" not in s, what="the blocks pane")
    # The generator stops after 10 s: until then lines keep arriving in the hidden pane.
    terminal.wait(lambda s: blocks_shown(s) >= 2, timeout=60, what="blocks")
    time.sleep(12)
    settled = terminal.screen()
    terminal.tmux("resize-window", "-t", terminal.name, "-x", "120", "-y", "36", check=True)
    shown = terminal.wait(lambda s: "following" in s and log_lines(s), what="the log pane")
    # A loaded machine may still be catching up: wait until the pane shows no new line for a
    # while. A pane stuck behind (the bug) is quiet too, and End then shows what it missed.
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        time.sleep(1.5)
        again = terminal.screen()
        if log_lines(again) and log_lines(again)[-1] == log_lines(shown)[-1]:
            break
        shown = again
    terminal.press("4", "End")  # what following must already show
    newest = terminal.wait(lambda s: "following" in s and log_lines(s), what="the log's end")
    assert log_lines(shown)[-1] == log_lines(newest)[-1], (settled, shown, newest)


def test_demo_says_it_is_a_demo_and_tells_the_truth_at_exit(tmp_path: Path,
                                                            terminal: Terminal) -> None:
    args = " ".join([sys.executable, "-m", "arconsole", "demo", "--rate", "5", "--seconds", "2",
                     "--seed", "3", "--max-timeout", "40"])
    terminal.start(f"sh -c '{args}; sleep 600'")  # the terminal stays to show what it said
    screen = terminal.wait(lambda s: "DEMO" in s and "timeouts cut to 40 s" in s,
                           what="the demo marker in the header")
    assert "DEMO" in screen.splitlines()[0] and "timeouts cut to 40 s" in screen.splitlines()[0]
    terminal.press("4")
    terminal.wait(lambda s: "DEMO: timeouts cut to 40 s" in s, what="the first log line")
    # The config pane's detail line: the selected response in full, with what its name means.
    # Keys typed together go to the widget focused when they arrive: wait for the tree.
    terminal.press("1")
    terminal.wait(lambda s: " p Pause" in s.splitlines()[-1], what="the tree's focus")
    terminal.press("Down", "Down", "Down", "Down")
    terminal.wait(lambda s: "firewall-drop40 is Wazuh's" in s, what="the config detail line")
    terminal.press("C-q")
    said = terminal.wait(lambda s: "arconsole demo:" in s, what="the demo's last words")
    match = re.search(r"removed its temporary home (\S+)", said)
    assert match is not None, said
    assert not Path(match.group(1)).exists()
    assert said.count("arconsole demo:") == 1, said  # no stale "home X" line

"""`arconsole run` and `arconsole blocks` as real processes: socket, audit, kill -9, restart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.engine_support import alert_line, command, make_home, recorder, records, response

KEY = "rec-203.0.113.7"


def wait_until(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


def arconsole(*args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "arconsole", *args], capture_output=True, text=True,
        timeout=60, check=False, env={**os.environ, **env},
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


class RunningEngine:
    def __init__(self, home: Path, *extra: str) -> None:
        self.home = home
        self.state = home / "var" / "arconsole" / "state.db"
        self.log = home / "engine.log"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "arconsole", "run", str(home / "etc" / "ossec.conf"),
             "--time-limit", "5", *extra],
            stdout=subprocess.DEVNULL, stderr=self.log.open("ab"),
        )
        wait_until(lambda: (self.state.parent / "state.db.sock").exists()
                   or self.process.poll() is not None)
        assert self.process.poll() is None, self.log.read_text()

    def append(self, *lines: bytes) -> None:
        with (self.home / "logs" / "alerts" / "alerts.json").open("ab") as out:
            out.write(b"".join(line + b"\n" for line in lines))

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.process.send_signal(sig)
        return self.process.wait(timeout=30)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return make_home(tmp_path, [command("rec")], [response("rec", level=5, timeout=600)],
                     {"rec": recorder()})


@pytest.fixture
def engine(home: Path) -> Iterator[RunningEngine]:
    running = RunningEngine(home)
    yield running
    if running.process.poll() is None:
        running.stop(signal.SIGKILL)


def block_list(state: Path | str) -> list[dict[str, object]]:
    result = arconsole("blocks", "list", "--state", str(state), "--format", "json")
    listing: list[dict[str, object]] = json.loads(result.stdout)
    return listing


def continued(home: Path) -> Counter[str]:
    """How many times each alert really ran its add (the script got `continue`)."""
    counts: Counter[str] = Counter()
    for entry in records(home):
        reply = entry.get("reply") or ""
        try:
            command = json.loads(reply)["command"] if reply else None
        except ValueError:  # kill -9 in the middle of writing the reply: half a line, no add
            command = None
        if command == "continue":
            counts[json.loads(entry["stdin"])["parameters"]["alert"]["id"]] += 1
    return counts


def test_blocks_commands_talk_to_the_running_engine(engine: RunningEngine) -> None:
    home, state = engine.home, str(engine.state)
    engine.append(alert_line("1.1"))
    wait_until(lambda: len(records(home)) == 1)
    [block] = block_list(state)
    for field in ("key", "command", "name", "target", "srcip", "user", "state", "started_at",
                  "expires_at", "timeout", "offences"):
        assert field in block
    assert (block["key"], block["name"], block["state"], block["srcip"]) == (
        KEY, "rec600", "active", "203.0.113.7")
    assert float(block["expires_at"]) - float(block["started_at"]) == 600  # type: ignore[arg-type]
    text = arconsole("blocks", "list", "--state", state).stdout
    assert (KEY in text and "active" in text and "10:00" in text) or "9:5" in text

    extended = arconsole("blocks", "extend", KEY, "60", "--state", state).stdout
    assert extended.startswith(f"extend {KEY}: done: extended by 60s")

    reversed_ = arconsole("blocks", "reverse", KEY, "--state", state,
                          SSH_CLIENT="192.0.2.50 51000 22").stdout
    assert f"reverse {KEY}: done: ran active-response/bin/rec" in reversed_
    wait_until(lambda: len(records(home)) == 2)
    assert json.loads(records(home)[1]["stdin"])["command"] == "delete"
    assert block_list(state) == []

    refused = arconsole("blocks", "add", "--command", "rec", "--srcip", "10.9.9.9", "--state",
                        state, check=False)
    assert refused.returncode == 1 and "white-listed" in refused.stdout
    added = arconsole("blocks", "add", "--command", "rec", "--srcip", "198.51.100.5",
                      "--timeout", "30", "--state", state).stdout
    assert "add rec 198.51.100.5: done" in added
    assert engine.stop() == 0

    # The audit log names the operator, the SSH client and the command asked.
    from arconsole.engine.store import StateStore

    store = StateStore.open(engine.state, lock=False)
    audit = store.list_audit()
    store.close()
    reverse = next(a for a in audit if a.action == "reverse")
    assert "from 192.0.2.50" in reverse.operator
    assert f"arconsole blocks reverse {KEY}" in reverse.operator
    assert {a.action for a in audit} == {"extend", "reverse", "add"}


def test_blocks_act_on_the_state_file_when_no_engine_runs(engine: RunningEngine) -> None:
    engine.append(alert_line("1.1"))
    wait_until(lambda: len(records(engine.home)) == 1)
    assert engine.stop() == 0
    state = str(engine.state)
    assert [b["key"] for b in block_list(state)] == [KEY], "SIGTERM keeps blocks in place"
    out = arconsole("blocks", "reverse", "--all", "--state", state).stdout
    assert f"reverse {KEY}: done" in out
    assert [json.loads(r["stdin"])["command"] for r in records(engine.home)] == ["add", "delete"]
    assert block_list(state) == []


def test_second_engine_on_the_same_state_says_so_and_exits(engine: RunningEngine) -> None:
    second = arconsole("run", str(engine.home / "etc" / "ossec.conf"), check=False)
    assert second.returncode == 1
    assert "owned by engine pid" in second.stderr


def test_kill_9_and_restart_fire_every_alert_exactly_once(home: Path) -> None:
    """B5 and H4: nothing lost, nothing fired twice across a crash."""
    first = RunningEngine(home)
    ips = [f"198.51.100.{n}" for n in range(1, 41)]
    first.append(*(alert_line(f"a.{n}", srcip=ip) for n, ip in enumerate(ips[:20])))
    wait_until(lambda: sum(continued(home).values()) >= 8)
    first.stop(signal.SIGKILL)
    # Alerts written while the engine is down are not skipped.
    first.append(*(alert_line(f"a.{n + 20}", srcip=ip) for n, ip in enumerate(ips[20:])))
    second = RunningEngine(home)
    wait_until(lambda: len(continued(home)) == 40, timeout=40)
    time.sleep(0.5)
    assert second.stop() == 0
    counts = continued(home)
    assert set(counts) == {f"a.{n}" for n in range(40)}
    assert max(counts.values()) == 1, counts
    assert len(block_list(second.state)) == 40


def test_sighup_reloads_and_bad_config_keeps_the_last_good_one(engine: RunningEngine) -> None:
    conf = engine.home / "etc" / "ossec.conf"
    good = conf.read_text()
    conf.write_text(good.replace("<location>local</location>", "<location>nowhere</location>"))
    engine.process.send_signal(signal.SIGHUP)
    wait_until(lambda: "reload rejected" in engine.log.read_text())
    engine.append(alert_line("1.1"))
    wait_until(lambda: len(records(engine.home)) == 1)  # still running the last good config
    conf.write_text(good.replace("<level>5</level>", "<level>12</level>"))
    engine.process.send_signal(signal.SIGHUP)
    wait_until(lambda: "generation 2 loaded" in engine.log.read_text())
    engine.append(alert_line("1.2", level=10, srcip="198.51.100.77"))
    time.sleep(0.5)
    assert len(records(engine.home)) == 1, "level 10 no longer fires after the reload"
    assert engine.stop() == 0


def test_blocks_list_says_dry_run(home: Path) -> None:
    """A dry run's blocks are imagined: the text listing must not pass them off as real."""
    running = RunningEngine(home, "--mode", "dry-run")
    try:
        running.append(alert_line("1.1", srcip="203.0.113.7"))
        state = str(running.state)
        wait_until(lambda: len(json.loads(arconsole(
            "blocks", "list", "--state", state, "--format", "json").stdout)) == 1)
        (block,) = json.loads(arconsole("blocks", "list", "--state", state,
                                        "--format", "json").stdout)
        assert block["dry_run"] is True
        text = arconsole("blocks", "list", "--state", state).stdout
        row = text.splitlines()[1]
        assert f"{block['key']} " in row and "active (dry-run)" in row, text
        added = arconsole("blocks", "add", "--command", "rec", "--srcip", "198.51.100.5",
                          "--state", state)
        assert added.stdout.startswith("add rec 198.51.100.5: dry-run: nothing ran"), added.stdout
        assert "done" not in added.stdout
        assert records(home) == []  # nothing ran
    finally:
        running.stop(signal.SIGKILL)


@pytest.mark.parametrize("verbose", [False, True])
def test_alerts_that_fire_nothing_are_logged_with_verbose_only(home: Path, verbose: bool) -> None:
    """Without --verbose such alerts are not even built (issue 13.7); with it they are logged."""
    running = RunningEngine(home, "--mode", "dry-run", *(["--verbose"] if verbose else []))
    try:
        running.append(alert_line("1.1", level=3), alert_line("1.2", srcip="203.0.113.7"))
        wait_until(lambda: "alert 1.2 " in running.log.read_text())
        assert running.stop() == 0
        log = running.log.read_text()
        assert ("alert 1.1 rule 5712 level 3 srcip 203.0.113.7 -> nothing" in log) is verbose
        assert "alert 1.2 rule 5712 level 10 srcip 203.0.113.7 -> rec600" in log
    finally:
        if running.process.poll() is None:
            running.stop(signal.SIGKILL)

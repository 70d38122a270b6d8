"""`arconsole run` following alerts and its config through rotations, restarts and reloads.

Real processes only: the engine is `python -m arconsole run`, a writer process appends alerts
at a steady rate (keeping its file open, reopening it on SIGHUP like a daemon after
logrotate), and the test rotates the file under both (scenarios H1-H5, I1-I3 of Part E).
Every alert carries its own source address, 198.18.<n // 256>.<n % 256>, so the runs a
response script records tell exactly which alerts fired and how many times.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from arconsole.alerts.position import ReadPosition
from tests.engine_support import (
    alert_line,
    command,
    make_home,
    recorder,
    records,
    response,
)

COUNT = 400  # alerts the writer appends in a rotation test
RATE = 200.0  # alerts per second: below what the engine runs through a script (~350/s)

# A response script in sh, so that hundreds of runs cost little: it answers check_keys with
# the alert's srcip, reads the reply, and appends "<command> <srcip> <reply>" to record.txt
# (its working directory is HOME). "none" is a reply that never came (the engine died).
SH_RECORDER = r"""#!/bin/sh
IFS= read -r msg
cmd=${msg#*'"command":"'}; cmd=${cmd%%'"'*}
ip=${msg#*'"srcip":"'}; ip=${ip%%'"'*}
reply=none
if [ "$cmd" = add ]; then
  printf '{"version":1,"origin":{"name":"rec","module":"active-response"},"command":"check_keys","parameters":{"keys":["%s"]}}\n' "$ip"
  IFS= read -r answer
  answer=${answer#*'"command":"'}; reply=${answer%%'"'*}
  [ -n "$reply" ] || reply=none
fi
printf '%s %s %s\n' "$cmd" "$ip" "$reply" >> record.txt
"""  # noqa: E501

# Appends alerts numbered FIRST.. at RATE per second, in alerts.json lines or alerts.log
# records, one write each, keeping the file open (O_APPEND) and reopening it on SIGHUP.
# Prints how many it has written every ten alerts.
WRITER = r"""
import os, signal, sys, time
path, first, count, rate, form = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
reopen = False
def on_hup(signum, frame):
    global reopen
    reopen = True
signal.signal(signal.SIGHUP, on_hup)
def open_log():
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
def alert(n, offset):
    now = time.time()
    ip = "198.18.%d.%d" % (n // 256, n % 256)
    if form == "json":
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime(now))
        return ('{"timestamp":"%s","rule":{"level":10,"description":"sshd: brute force",'
                '"id":"5712","groups":["syslog","sshd"]},"agent":{"id":"000","name":"manager"},'
                '"id":"%d.%d","data":{"srcip":"%s"},"location":"/var/log/secure"}\n'
                % (stamp, now, n, ip))
    stamp = time.strftime("%Y %b %d %H:%M:%S", time.localtime(now))
    return ("** Alert %d.%d: - syslog,sshd,authentication_failures,\n"
            "%s manager->/var/log/secure\n"
            "Rule: 5712 (level 10) -> 'sshd: brute force'\n"
            "Src IP: %s\n"
            "Nov 23 10:00:00 manager sshd[1]: Failed password for root from %s\n\n"
            % (now, offset, stamp, ip, ip))  # analysisd's id: the record's own offset
fd = open_log()
print("ready", flush=True)
start = time.monotonic()
for i in range(count):
    delay = start + i / rate - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    if reopen:
        reopen = False
        os.close(fd)
        fd = open_log()
    os.write(fd, alert(first + i, os.lseek(fd, 0, os.SEEK_END)).encode())
    if (i + 1) % 10 == 0:
        print(i + 1, flush=True)
os.close(fd)
"""  # noqa: E501


def wait_until(predicate: Callable[[], bool], timeout: float = 40.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached in {timeout}s: {what}")
        time.sleep(0.02)


def srcip(n: int) -> str:
    return f"198.18.{n // 256}.{n % 256}"


def number(ip: str) -> int:
    _, _, high, low = ip.split(".")
    return int(high) * 256 + int(low)


def runs(home: Path) -> dict[int, list[str]]:
    """Alert number -> the replies its add runs got, in order."""
    path = home / "record.txt"
    found: dict[int, list[str]] = defaultdict(list)
    if path.exists():
        for line in path.read_text().splitlines():
            action, ip, reply = line.split(" ")
            if action == "add":
                found[number(ip)].append(reply)
    return found


def wait_state(pid: int, stopped: bool) -> None:
    """Until /proc says the process is (or is no longer) stopped by a signal."""
    def state() -> str:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]

    def settled() -> bool:
        now = state()
        return now == "Z" or (now in ("T", "t")) == stopped  # Z: it has just exited

    wait_until(settled, 5.0, f"pid {pid} stopped={stopped}")


class Writer:
    def __init__(self, home: Path, path: Path, first: int, count: int, rate: float = RATE,
                 form: str = "json") -> None:
        script = home / "writer.py"
        script.write_text(WRITER)
        self.process = subprocess.Popen(
            [sys.executable, str(script), str(path), str(first), str(count), str(rate), form],
            stdout=subprocess.PIPE,
        )
        _writers.append(self)
        assert self.process.stdout is not None
        self.stdout = self.process.stdout
        assert self.stdout.readline() == b"ready\n"
        self.written = 0

    def wait_written(self, count: int) -> None:
        """Until the writer has written `count` alerts (it goes on writing)."""
        while self.written < count:
            line = self.stdout.readline()
            assert line, f"the writer ended after {self.written} alerts"
            self.written = int(line)

    def reopen(self) -> None:
        self.process.send_signal(signal.SIGHUP)

    def pause(self) -> None:
        if self.process.poll() is not None:
            return  # done writing (on a slow machine): nothing to hold back
        self.process.send_signal(signal.SIGSTOP)
        wait_state(self.process.pid, stopped=True)  # no write in flight

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def finish(self) -> None:
        self.stdout.read()
        assert self.process.wait(timeout=30) == 0

    def close(self) -> None:
        if self.process.poll() is None:  # a test failed with it running, or stopped
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait(timeout=10)
        self.stdout.close()


_writers: list[Writer] = []


@pytest.fixture(autouse=True)
def _close_writers() -> Iterator[None]:
    yield
    while _writers:
        _writers.pop().close()


class Engine:
    """`arconsole run` on HOME, logging to HOME/engine.log (kept across restarts)."""

    def __init__(self, home: Path, *extra: str) -> None:
        self.home = home
        self.log = home / "engine.log"
        started = self.text().count("engine started")
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "arconsole", "run", str(home / "etc" / "ossec.conf"),
                 "--time-limit", "5", *extra],
                stdout=subprocess.DEVNULL, stderr=log,
            )
        wait_until(lambda: self.text().count("engine started") > started
                   or self.process.poll() is not None, what="engine started")
        assert self.process.poll() is None, self.text()

    def text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def pause(self) -> None:
        self.process.send_signal(signal.SIGSTOP)
        wait_state(self.process.pid, stopped=True)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)
        wait_state(self.process.pid, stopped=False)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(timeout=30) == 0, self.text()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.kill()


def sh_home(tmp_path: Path, *, stateful: bool) -> Path:
    """A home whose one response runs the sh recorder: stateless (every alert runs it, so a
    repeated alert shows as a second run) or stateful for 600s (one block per srcip)."""
    if stateful:
        conf = ([command("rec")], [response("rec", level=5, timeout=600)])
    else:
        conf = ([command("rec", timeout_allowed=False)], [response("rec", level=5)])
    return make_home(tmp_path, *conf, {"rec": SH_RECORDER})


def alerts_json(home: Path) -> Path:
    return home / "logs" / "alerts" / "alerts.json"


def last_number_in(path: Path) -> int:
    lines = path.read_bytes().splitlines()
    return number(json.loads(lines[-1])["data"]["srcip"]) if lines else -1


def shift_rotated(path: Path) -> Path:
    """logrotate's numbering: .1 becomes .2, the live file becomes .1."""
    first = path.with_name(path.name + ".1")
    if first.exists():
        os.replace(first, path.with_name(path.name + ".2"))
    return first


def assert_each_ran_once(home: Path, count: int, first: int = 0) -> None:
    found = runs(home)
    missing = sorted(set(range(first, first + count)) - set(found))
    repeated = {n: replies for n, replies in found.items() if len(replies) != 1}
    assert not missing, f"{len(missing)} alerts never ran, first {missing[:5]}"
    assert not repeated, f"alerts run more than once: {dict(list(repeated.items())[:5])}"
    assert set(found) == set(range(first, first + count))
    assert all(replies == ["continue"] for replies in found.values())


# -- rotations while the engine runs (H1, H2) -----------------------------------------------


def rename_and_create(path: Path, writer: Writer, engine: Engine) -> None:
    os.rename(path, shift_rotated(path))
    path.touch()
    time.sleep(0.05)  # the writer goes on in the renamed file until told to reopen
    writer.reopen()


def delete_and_recreate(path: Path, writer: Writer, engine: Engine) -> None:
    os.unlink(path)
    path.touch()
    time.sleep(0.05)  # written into the deleted inode, which only the engine can still read
    writer.reopen()


def copy_truncate(path: Path, writer: Writer, engine: Engine) -> None:
    # The engine is stopped first so that it lags behind: what it has not read when the
    # file is truncated exists only in the copy. (The writer is stopped for the copy, as
    # logrotate's own copytruncate would lose what is written between copy and truncate.)
    engine.pause()
    time.sleep(0.05)
    writer.pause()
    shutil.copyfile(path, shift_rotated(path))
    os.truncate(path, 0)
    writer.resume()
    time.sleep(0.1)
    engine.resume()


def truncate(path: Path, writer: Writer, engine: Engine) -> None:
    # No copy: only what the engine has already read survives, so let it catch up first.
    writer.pause()
    last = last_number_in(path)
    wait_until(lambda: last in runs(engine.home), what=f"alert {last} handled")
    os.truncate(path, 0)
    writer.resume()


@pytest.mark.parametrize(
    "rotate", [rename_and_create, delete_and_recreate, copy_truncate, truncate],
    ids=["rename-create", "delete-recreate", "copy-truncate", "truncate"],
)
def test_rotation_while_writing_runs_every_alert_exactly_once(
    tmp_path: Path, rotate: Callable[[Path, Writer, Engine], None]
) -> None:
    home = sh_home(tmp_path, stateful=False)
    path = alerts_json(home)
    engine = Engine(home)
    try:
        writer = Writer(home, path, 0, COUNT)
        for quarter in (1, 2, 3):
            writer.wait_written(quarter * COUNT // 4)  # the engine may lag: rotate anyway
            rotate(path, writer, engine)
        writer.finish()
        wait_until(lambda: len(runs(home)) >= COUNT, what="every alert")
        time.sleep(0.3)  # and nothing runs twice afterwards
        engine.stop()
    finally:
        engine.close()
    assert_each_ran_once(home, COUNT)
    assert "skipped" not in engine.text()


def test_file_that_does_not_exist_at_start_is_read_from_its_first_line(tmp_path: Path) -> None:
    home = sh_home(tmp_path, stateful=False)
    path = alerts_json(home)
    shutil.rmtree(path.parent)  # not even its folder
    engine = Engine(home)
    try:
        path.parent.mkdir()
        writer = Writer(home, path, 0, 200)
        writer.finish()
        wait_until(lambda: len(runs(home)) >= 200, what="every alert")
        time.sleep(0.3)
        engine.stop()
    finally:
        engine.close()
    assert_each_ran_once(home, 200)


# -- restart in the middle of a rotation (H4) -------------------------------------------------


def block_srcips(home: Path) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-m", "arconsole", "blocks", "list", "--state",
         str(home / "var" / "arconsole" / "state.db"), "--format", "json"],
        capture_output=True, text=True, timeout=60, check=True,
    )
    return {str(block["srcip"]) for block in json.loads(result.stdout)}


def stored_position(home: Path) -> ReadPosition:
    from arconsole.engine.store import StateStore

    store = StateStore.open(home / "var" / "arconsole" / "state.db", lock=False)
    try:
        position = store.load_position(str(alerts_json(home)))
    finally:
        store.close()
    assert position is not None
    return position


def handled(log: str) -> list[int]:
    """The alerts an engine log says were decided, in order."""
    return [number(ip) for ip in re.findall(r"alert \S+ rule \d+ level \d+ srcip (\S+) ->", log)]


@pytest.mark.parametrize("rotation", ["rename-create", "copy-truncate"])
def test_kill_9_rotate_and_restart_fires_every_alert_once(tmp_path: Path, rotation: str) -> None:
    """SIGKILL with scripts in flight, rotate while the engine is down, write on, restart."""
    home = sh_home(tmp_path, stateful=True)
    path = alerts_json(home)
    rotated = path.with_name("alerts.json.1")
    engine = Engine(home)
    try:
        writer = Writer(home, path, 0, COUNT)
        writer.wait_written(COUNT // 3)
        wait_until(lambda: len(runs(home)) >= COUNT // 6, what="scripts running")
        engine.kill()
        stored = stored_position(home)
        if rotation == "rename-create":
            os.rename(path, rotated)
            time.sleep(0.1)  # more lines in the renamed file, after the position stored
            path.touch()
            writer.reopen()
        else:
            writer.pause()
            shutil.copyfile(path, rotated)
            os.truncate(path, 0)
            writer.resume()
        time.sleep(0.3)  # and more in the new file, all before the restart
        first_log = engine.text()
        engine = Engine(home)
        writer.finish()
        wait_until(lambda: len(runs(home)) >= COUNT, what="every alert")
        time.sleep(0.3)
        engine.stop()
    finally:
        engine.close()
    # The restart resumed exactly at the stored position, in the rotated file: what was
    # committed is not decided again, what followed it is, and nothing is missing.
    committed = rotated.read_bytes()[: stored.offset].count(b"\n")
    assert stored.inode == rotated.stat().st_ino or rotation == "copy-truncate"
    assert set(range(committed)) <= set(handled(first_log))
    assert handled(engine.text()[len(first_log):]) == list(range(committed, COUNT))
    assert "skipped" not in engine.text()
    found = runs(home)
    assert set(found) == set(range(COUNT))
    for n, replies in found.items():
        assert replies.count("continue") <= 1, f"alert {n} applied twice: {replies}"
    blocked = block_srcips(home)
    assert blocked == {srcip(n) for n in range(COUNT)}, "every alert has its block"
    # The engine records a block before it tells the script to go on: killed in between,
    # the script saw no reply and the restarted engine did not run it again. That block is
    # recorded (and will be reversed); only those alerts may lack a "continue".
    unanswered = [n for n, replies in found.items() if "continue" not in replies]
    assert all(found[n] == ["none"] for n in unanswered), unanswered
    assert len(unanswered) <= 16, unanswered


# -- backlog at start (H4, H5) -------------------------------------------------------------


def old_and_new_alerts(home: Path, name: str) -> tuple[Path, set[int]]:
    """Twelve alerts, every other one two hours old; returns the file and the recent ones."""
    path = home / "logs" / "alerts" / name
    now = time.time()
    recent: set[int] = set()
    data = b""
    for n in range(12):
        when = now - (7200 if n % 2 else 60)
        if not n % 2:
            recent.add(n)
        if name == "alerts.json":
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime(when))
            data += alert_line(f"{int(when)}.{n}", srcip=srcip(n), timestamp=stamp) + b"\n"
        else:
            data += (
                b"** Alert %d.%d: - syslog,sshd,\n%s manager->/var/log/secure\n"
                b"Rule: 5712 (level 10) -> 'sshd: brute force'\nSrc IP: %s\nlog\n\n"
                % (when, len(data), time.strftime("%Y %b %d %H:%M:%S").encode(),
                   srcip(n).encode())
            )
    path.write_bytes(data)
    return path, recent


@pytest.mark.parametrize("name", ["alerts.json", "alerts.log", "ossec-alerts-23.txt"])
def test_skip_backlog_older_than_acts_only_on_recent_alerts(tmp_path: Path, name: str) -> None:
    """alerts.json timestamps, and alerts.log records (by name, or by content alone)."""
    home = sh_home(tmp_path, stateful=False)
    path, recent = old_and_new_alerts(home, name)
    engine = Engine(home, "--alerts", str(path), "--from-start", "--skip-backlog-older-than",
                    "1h")
    try:
        wait_until(lambda: len(runs(home)) >= len(recent), what="the recent alerts")
        time.sleep(0.7)  # a last alerts.log record is complete once the file is quiet
        engine.stop()
    finally:
        engine.close()
    found = runs(home)
    assert set(found) == recent and all(r == ["continue"] for r in found.values())
    log = engine.text()
    assert "is older than 3600s: not acted on" in log
    assert "6 alerts older than 3600s were not acted on" in log
    assert "skipped" not in log
    assert ("multi-line records" in log) == (name != "alerts.json")


def test_backlog_progress_is_printed_while_catching_up(tmp_path: Path) -> None:
    """30 MB waiting at start with --from-start: progress lines on stderr, every line read."""
    home = sh_home(tmp_path, stateful=False)
    document = json.loads(alert_line("1.1", level=3))  # below the response's level
    document["full_log"] = "sshd: " + "x" * 1000
    line = json.dumps(document).encode() + b"\n"
    lines = 30_000_000 // len(line)
    alerts_json(home).write_bytes(line * lines)
    engine = Engine(home, "--from-start")
    try:
        wait_until(lambda: "backlog 100%" in engine.text(), 60.0, "backlog read")
        engine.stop()
    finally:
        engine.close()
    log = engine.text()
    shown = [(int(p), int(done), int(total))
             for p, done, total in re.findall(r"backlog (\d+)% \((\d+)/(\d+) bytes\)", log)]
    assert len(shown) >= 2, log[-2000:]
    assert {total for _, _, total in shown} == {lines * len(line)}
    assert [done for _, done, _ in shown] == sorted(done for _, done, _ in shown)
    assert 0 < shown[0][0] < 100 and shown[-1][0] == 100
    assert f"{lines} alerts, 0 responses, 0 unreadable lines" in log


# -- alerts.log records (OSSEC) --------------------------------------------------------------


def test_alerts_log_records_fire_once_each_across_a_rotation(tmp_path: Path) -> None:
    home = sh_home(tmp_path, stateful=False)
    path = home / "logs" / "alerts" / "alerts.log"
    path.touch()
    engine = Engine(home, "--alerts", str(path))
    try:
        writer = Writer(home, path, 0, 300, form="log")
        writer.wait_written(150)
        rename_and_create(path, writer, engine)
        writer.finish()
        wait_until(lambda: len(runs(home)) >= 300, what="every record")
        time.sleep(0.7)  # the last record waits for a quiet file; nothing comes twice
        engine.stop()
    finally:
        engine.close()
    assert_each_ran_once(home, 300)
    assert "skipped" not in engine.text()


# -- reload (I1-I3) -----------------------------------------------------------------------


CONF_TEMPLATE = """<ossec_config>
  <global>
    <white_list>127.0.0.1</white_list>
  </global>
  <cluster><node_name>node01</node_name></cluster>
  <command><name>rec</name><executable>rec</executable><timeout_allowed>yes</timeout_allowed></command>
  <command><name>rec2</name><executable>rec2</executable><timeout_allowed>yes</timeout_allowed></command>
{responses}
</ossec_config>
"""


def editor_save(path: Path, text: str) -> None:
    """Save as editors do: write a temporary file next to it, then rename it over."""
    temporary = path.with_name(f".{path.name}.swp")
    temporary.write_text(text)
    os.replace(temporary, path)


def runs_of(home: Path, executable: str) -> list[dict[str, object]]:
    """The Python recorder's entries for one script: its argv, stdin and reply."""
    return [entry for entry in records(home) if Path(entry["argv"][0]).name == executable]


def test_editor_save_reloads_and_a_broken_save_keeps_the_last_good_config(
    tmp_path: Path,
) -> None:
    home = make_home(tmp_path, [], [], {"rec": recorder(), "rec2": recorder()})
    conf = home / "etc" / "ossec.conf"
    first = "  <active-response><command>rec</command><location>local</location>" \
            "<level>5</level><timeout>3</timeout></active-response>"
    second = "  <active-response><command>rec2</command><location>local</location>" \
             "<level>5</level><timeout>600</timeout></active-response>"
    conf.write_text(CONF_TEMPLATE.format(responses=first))
    engine = Engine(home)
    try:
        append = alerts_json(home).open("ab", buffering=0)
        append.write(alert_line("1.1", srcip="198.51.100.1") + b"\n")
        wait_until(lambda: len(runs_of(home, "rec")) == 1, what="rec add")

        # Generation 2 replaces rec's response by rec2's while rec's 3 s block is active.
        editor_save(conf, CONF_TEMPLATE.format(responses=second))
        wait_until(lambda: "config generation 2 loaded: 1 response added, 1 removed, "
                   "0 changed" in engine.text(), what="generation 2")
        append.write(alert_line("1.2", srcip="198.51.100.2") + b"\n")
        wait_until(lambda: len(runs_of(home, "rec2")) == 1, what="rec2 add")

        # A broken save is refused with its position; generation 2 goes on working.
        broken = second.replace("<level>5</level>", "<level>5</level><levle>5</levle>")
        text = CONF_TEMPLATE.format(responses=broken)
        editor_save(conf, text)
        wait_until(lambda: "config reload rejected" in engine.text(), what="rejection")
        number_, row = next((i, line) for i, line in enumerate(text.splitlines(), 1)
                            if "<levle>" in line)
        assert f"{conf}:{number_}:{row.index('<levle>') + 1}: error: " in engine.text()
        append.write(alert_line("1.3", srcip="198.51.100.3") + b"\n")
        wait_until(lambda: len(runs_of(home, "rec2")) == 2, what="rec2 add under generation 2")

        # I2: rec's block, whose response no longer exists, expires on time with the delete
        # message stored at its add.
        wait_until(lambda: len(runs_of(home, "rec")) == 2, 10.0, "rec delete")
        append.close()
        time.sleep(0.3)
        engine.stop()
    finally:
        engine.close()
    add, delete = (json.loads(str(entry["stdin"])) for entry in runs_of(home, "rec"))
    assert (add["command"], delete["command"]) == ("add", "delete")
    assert {**add, "command": "delete"} == delete
    assert delete["parameters"]["alert"]["data"]["srcip"] == "198.51.100.1"
    assert [json.loads(str(e["stdin"]))["parameters"]["alert"]["id"]
            for e in runs_of(home, "rec2")] == ["1.2", "1.3"]
    # I1: the blocks made under generation 2 are still there after the refused reload.
    assert block_srcips(home) == {"198.51.100.2", "198.51.100.3"}
    log = engine.text()
    assert "generation 3" not in log
    assert Counter(re.findall(r"block (\w+): rec-198\.51\.100\.1", log)) == Counter(
        {"added": 1, "reversing": 1, "reversed": 1})


def test_sighup_with_a_broken_agents_file_keeps_the_running_config(tmp_path: Path) -> None:
    """Everything a reload needs is built before the swap: a failure is a rejection."""
    home = sh_home(tmp_path, stateful=False)
    agents = home / "agents.json"
    agents.write_text('[{"id": "001", "name": "web-01", "status": "active"}]')
    engine = Engine(home, "--agents", str(agents))
    try:
        agents.write_text("[{")
        engine.process.send_signal(signal.SIGHUP)
        wait_until(lambda: "config reload rejected" in engine.text(), what="rejection")
        assert f"keeping the last good config: --agents: {agents}: not JSON: " in engine.text()
        assert "AgentsFileError" not in engine.text()
        with alerts_json(home).open("ab") as out:
            out.write(alert_line("1.1", srcip=srcip(7)) + b"\n")
        wait_until(lambda: 7 in runs(home), what="alert under generation 1")
        engine.stop()
    finally:
        engine.close()
    assert "generation 2" not in engine.text()
    assert_each_ran_once(home, 1, first=7)

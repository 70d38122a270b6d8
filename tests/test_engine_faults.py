"""The engine under faults (issue 11 items 1, 5, 6, failed deletes): a state file restored from
its snapshot at start and said so, warnings logged at start, a failing delete retried with
backoff until it works or an operator forgets the block, and a full disk for real (2 MB tmpfs
in a private mount namespace) through a real `arconsole run`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from arconsole.engine.clock import ManualClock
from arconsole.engine.model import BlockState
from tests.engine_support import (
    T0,
    alert_line,
    command,
    commands_seen,
    make_home,
    recorder,
    response,
    started,
    wait_for,
    write_script,
)

REPO = Path(__file__).parent.parent

# A stateful script whose delete exits with the code in HOME/delete-rc (0 if absent).
FLAKY_DELETE = """#!/bin/sh
read -r first
case "$first" in
  *'"command":"add"'*)
    printf '%s\\n' '{"version":1,"origin":{"name":"t","module":"ar"},'\
'"command":"check_keys","parameters":{"keys":["k"]}}'
    read -r reply
    echo add >> record.txt
    exit 0 ;;
esac
echo delete >> record.txt
exit "$(cat delete-rc 2>/dev/null || echo 0)"
"""


def flaky_home(tmp_path: Path) -> Path:
    home = make_home(
        tmp_path, [command("flaky")], [response("flaky", rules_id="5712", timeout=10)],
    )
    write_script(home, "flaky", FLAKY_DELETE)
    return home


def deletes_run(home: Path) -> int:
    path = home / "record.txt"
    return path.read_text().split().count("delete") if path.exists() else 0


async def test_a_failed_delete_is_retried_with_backoff_and_stays_failed_meanwhile(
    tmp_path: Path,
) -> None:
    home = flaky_home(tmp_path)
    (home / "delete-rc").write_text("1\n")
    clock = ManualClock(T0)
    engine = await started(home, clock)
    try:
        await engine.handle_line(alert_line("1.1"))
        await engine.drain()
        (key,) = engine.blocks
        clock.advance(10)  # expiry: the delete fails
        await wait_for(lambda: deletes_run(home) == 1)
        await wait_for(lambda: engine.blocks[key].state is BlockState.FAILED)
        assert "exit 1" in (engine.blocks[key].last_error or "")
        clock.advance(1.9)  # the first retry is 2 s later, not before
        await engine.drain()
        assert deletes_run(home) == 1
        clock.advance(0.2)
        await wait_for(lambda: deletes_run(home) == 2)
        await wait_for(lambda: engine.blocks[key].state is BlockState.FAILED)
        clock.advance(3.9)  # then 4 s
        await engine.drain()
        assert deletes_run(home) == 2
        (home / "delete-rc").write_text("0\n")  # the firewall is fixed
        clock.advance(0.2)
        await wait_for(lambda: key not in engine.blocks)
        assert deletes_run(home) == 3
        engine.context.writes.flush()
        assert engine.store.load_blocks() == []
    finally:
        await engine.stop()


async def test_forgetting_a_block_stops_the_retries_and_is_audited(tmp_path: Path) -> None:
    home = flaky_home(tmp_path)
    (home / "delete-rc").write_text("1\n")
    clock = ManualClock(T0)
    engine = await started(home, clock)
    try:
        await engine.handle_line(alert_line("1.1"))
        await engine.drain()
        (key,) = engine.blocks
        clock.advance(10)
        await wait_for(lambda: engine.blocks[key].state is BlockState.FAILED)
        (result,) = await engine.forget_blocks([key], "alice")
        assert result.ok and "not run" in result.detail
        assert key not in engine.blocks
        for _ in range(10):
            clock.advance(400)
            await engine.drain()
        assert deletes_run(home) == 1
        engine.context.writes.flush()
        assert engine.store.load_blocks() == []
        (audit, *_) = engine.store.list_audit()
        assert audit.action == "forget" and audit.target == key and audit.operator == "alice"
    finally:
        await engine.stop()


async def test_blocks_come_back_from_the_snapshot_and_the_start_says_so(tmp_path: Path) -> None:
    home = make_home(tmp_path, [command("rec")], [response("rec", rules_id="5712", timeout=60)],
                     {"rec": recorder()})
    clock = ManualClock(T0)
    engine = await started(home, clock)
    for i in range(3):
        await engine.handle_line(alert_line(f"1.{i}", srcip=f"203.0.113.{i + 1}"))
    await engine.drain()
    await engine.stop()
    state = home / "var" / "arconsole" / "state.db"
    os.truncate(state, 0)  # what a crash of the file system may leave
    for sidecar in ("state.db-wal", "state.db-shm"):
        state.with_name(sidecar).unlink(missing_ok=True)

    engine = await started(home, clock)
    try:
        assert len(engine.blocks) == 3
        kept = [event for event in engine.store.list_events() if event.kind == "error"]
        assert any("came back empty; restored 3 blocks from the snapshot" in e.message
                   for e in kept), kept
        clock.advance(61)  # and they are reversed at their time
        await wait_for(lambda: not engine.blocks)
        assert commands_seen(home).count("delete") == 3
    finally:
        await engine.stop()


async def test_store_warnings_are_logged_at_start(tmp_path: Path) -> None:
    home = make_home(tmp_path, [command("rec")], [response("rec", rules_id="5712", timeout=60)],
                     {"rec": recorder()})
    shared = home / "var" / "shared"
    shared.mkdir(parents=True)
    shared.chmod(0o777)
    engine = await started(home, state_path=shared / "state.db")
    try:
        warnings = [e for e in engine.store.list_events() if e.kind == "warning"]
        assert any("writable by other users" in e.message for e in warnings)
    finally:
        await engine.stop()


# ---------------------------------------------------------------------- a full disk, for real

DRIVER = """
    import json, os, signal, subprocess, sys, time
    from pathlib import Path
    sys.path.insert(0, sys.argv[2])
    from tests.engine_support import alert_line

    home = Path(sys.argv[1])
    state_dir = home / "var" / "arconsole"
    alerts = home / "logs" / "alerts" / "alerts.json"
    log_path = home / "engine.log"
    report = {}

    def records():
        path = home / "record.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]

    def adds(reply):
        return [r for r in records() if json.loads(r["stdin"])["command"] == "add"
                and r.get("reply", "").find(reply) >= 0]

    def deletes():
        return [r for r in records() if json.loads(r["stdin"])["command"] == "delete"]

    def wait(predicate, what, timeout=60.0):
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out waiting for {what}: {log_path.read_text()[-3000:]}")
            time.sleep(0.05)

    def write(ids, rule="5712"):
        with open(alerts, "ab") as out:
            for alert_id, srcip in ids:
                out.write(alert_line(alert_id, rule_id=rule, srcip=srcip) + b"\\n")

    log = open(log_path, "wb")
    engine = subprocess.Popen(
        [sys.executable, "-m", "arconsole", "run", str(home / "etc" / "ossec.conf"),
         "--home", str(home), "--state", str(state_dir / "state.db")],
        stdout=log, stderr=subprocess.STDOUT, cwd=home)
    wait(lambda: b"engine started" in log_path.read_bytes(), "the start")
    write([(f"1.{i}", f"203.0.113.{i + 1}") for i in range(10)])
    wait(lambda: len(adds("continue")) == 10, "the first adds")

    with open(state_dir / "filler", "wb", buffering=0) as filler:  # the disk fills up
        for size in (65536, 4096, 512, 1):  # to the last byte (unbuffered: close cannot fail)
            try:
                while True:
                    filler.write(b"f" * size)
            except OSError:
                pass
    write([(f"2.{i}", f"198.51.100.{i + 1}") for i in range(30)])  # these find it full
    wait(lambda: "write failed" in log_path.read_text(), "the fault")
    write([(f"5.{i}", f"198.51.101.{i + 1}") for i in range(10)])  # after the fault is known
    write([(f"3.{i}", f"192.0.2.{i + 1}") for i in range(10)], rule="5715")  # stateless
    wait(lambda: len([r for r in adds("continue") if "192.0.2." in r["stdin"]]) == 10,
         "the stateless responses")
    wait(lambda: len(deletes()) == 10, "the deletes of the first blocks", timeout=30)
    time.sleep(1.0)
    report["continued_during_fault"] = len(
        [r for r in adds("continue") if "198.51.100." in r["stdin"]])
    report["started_after_fault"] = len([r for r in records() if "198.51.101." in r["stdin"]])
    text = log_path.read_text()
    report["fault_lines"] = [l for l in text.splitlines() if "write failed" in l]

    os.unlink(state_dir / "filler")  # space comes back
    wait(lambda: "state file writable again" in log_path.read_text(), "the recovery", 60)
    write([(f"4.{i}", f"198.51.100.{i + 101}") for i in range(5)])
    wait(lambda: len(adds("continue")) == 25, "adds after the recovery")
    engine.send_signal(signal.SIGTERM)
    report["exit"] = engine.wait(timeout=60)
    text = log_path.read_text()
    report["tracebacks"] = text.count("Traceback")
    report["unretrieved"] = text.count("never retrieved")
    report["reversing"] = text.count("reversing") - text.count("block reversing")

    from arconsole.engine.store import StateStore
    with StateStore.open(state_dir / "state.db", lock=False) as store:
        report["stored"] = sorted(b.srcip for b in store.load_blocks())
        report["stored_states"] = sorted({str(b.state) for b in store.load_blocks()})
    print(json.dumps(report))
"""


def test_a_full_disk_is_one_fault_that_clears_by_itself(tmp_path: Path) -> None:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare to mount a private tmpfs")
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"unshare -m is not permitted here: {probe.stderr.decode().strip()}")
    home = make_home(
        tmp_path,
        [command("rec"), command("quick", "rec", timeout_allowed=False)],
        [response("rec", rules_id="5712", timeout=3), response("quick", rules_id="5715")],
        {"rec": recorder()},
    )
    state_dir = home / "var" / "arconsole"
    state_dir.mkdir(parents=True, mode=0o700)
    driver = tmp_path / "driver.py"
    driver.write_text(textwrap.dedent(DRIVER))
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c",
         'mount -t tmpfs -o size=2m,mode=0700 tmpfs "$1" && exec "$2" "$3" "$4" "$5"', "sh",
         str(state_dir), sys.executable, str(driver), str(home), str(REPO)],
        capture_output=True, text=True, timeout=240, cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    # One clear line, not one per write.
    assert len(report["fault_lines"]) == 1, report["fault_lines"]
    assert "disk full" in report["fault_lines"][0]
    assert "no new stateful response is started" in report["fault_lines"][0]
    # No block the state file could not record (those in flight were told abort), and once
    # the fault is known no stateful script is even started; stateless ones ran (waited for).
    assert report["continued_during_fault"] == 0
    assert report["started_after_fault"] == 0
    assert report["exit"] == 0
    assert report["tracebacks"] == 0 and report["unretrieved"] == 0
    # What the state file holds after the recovery is the engine's book: the 5 blocks added
    # since (the 10 reversed during the fault are not resurrected), none stuck reversing.
    after_recovery = {f"198.51.100.{i + 101}" for i in range(5)}
    assert set(report["stored"]) <= after_recovery, report["stored"]
    assert report["stored_states"] in ([], ["active"])


def test_blocks_forget_on_the_command_line(tmp_path: Path) -> None:
    from arconsole.engine.store import StateStore
    from tests.test_store import make_block

    home = flaky_home(tmp_path)
    state = home / "var" / "arconsole" / "state.db"
    with StateStore.open(state) as store:
        store.save_block(make_block("flaky-k", executable="flaky", state=BlockState.FAILED,
                                    last_error="ran flaky: exit 1"))
    done = subprocess.run(
        [sys.executable, "-m", "arconsole", "blocks", "forget", "flaky-k", "--state", str(state),
         "--home", str(home)],
        capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert done.returncode == 0, done.stderr
    assert "forget flaky-k: done" in done.stdout
    assert deletes_run(home) == 0  # its delete was not run
    with StateStore.open(state, lock=False) as reader:
        assert reader.load_blocks() == []
        assert reader.list_audit()[0].action == "forget"

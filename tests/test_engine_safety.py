"""Hard cases: starvation, dry runs beside real blocks, lock-out, hostile text, white-list lifts."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from arconsole.config.model import Flavour
from arconsole.engine.clock import ManualClock
from arconsole.engine.eventlog import describe
from arconsole.engine.events import Undelivered
from arconsole.engine.model import BlockState
from arconsole.engine.options import Mode
from tests.engine_support import (
    ARGV_RECORDER,
    T0,
    alert_line,
    command,
    commands_seen,
    make_home,
    recorder,
    records,
    response,
    started,
    wait_for,
    write_script,
)

KEY = "rec-203.0.113.7"

SLOW_RECORDER = recorder().replace("if message.get(\"command\") == \"add\"",
                                   "import time\nif message.get('command') == 'add':\n"
                                   "    time.sleep(0.4)\nif message.get(\"command\") == \"add\"")




async def test_a6_burst_for_an_expiring_key_cannot_starve_its_delete(tmp_path: Path) -> None:
    """Adds for a key wait for its delete; the delete has slots of its own (no deadlock)."""
    clock = ManualClock(T0)
    home = make_home(tmp_path, [command("rec")], [response("rec", level=5, timeout=5)],
                     {"rec": recorder()})
    engine = await started(home, clock, max_concurrency=2, time_limit=20.0)
    await engine.handle_line(alert_line("first"))
    await engine.drain()
    write_script(home, "rec", SLOW_RECORDER)
    for n in range(6):
        await engine.handle_line(alert_line(f"burst.{n}"))
    clock.advance(6)  # the block expires while the burst's scripts are in their handshake
    began = time.monotonic()
    await wait_for(lambda: not engine.context.tasks, timeout=15)
    assert time.monotonic() - began < 10, "the delete waited for the adds that waited for it"
    assert "delete" in commands_seen(home)
    await engine.stop()


async def test_dry_run_never_reverses_or_forgets_a_real_block(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    home = make_home(tmp_path, [command("rec")], [response("rec", level=5, timeout=10)],
                     {"rec": recorder()})
    engine = await started(home, clock)
    await engine.handle_line(alert_line("1.1"))
    await engine.drain()
    await engine.stop()
    clock.advance(60)
    dry = await started(home, clock, mode=Mode.DRY_RUN)
    assert dry.blocks[KEY].state is BlockState.ACTIVE
    await dry.handle_line(alert_line("1.2"))
    await dry.drain()
    assert dry.blocks[KEY].alert_id == "1.1", "a dry run does not rewrite a real block"
    await dry.stop()
    assert commands_seen(home) == ["add"]
    engine = await started(home, clock)
    assert commands_seen(home) == ["add", "delete"], "the real block is lifted by enforcement"
    await engine.stop()


async def test_e4_operators_own_address_is_not_blocked(tmp_path: Path) -> None:
    home = make_home(tmp_path, [command("rec")], [response("rec", level=5, timeout=10)],
                     {"rec": recorder()})
    engine = await started(home, ManualClock(T0))
    refused = await engine.add_block("rec", "198.51.100.5", "dave",
                                     requester_address="198.51.100.5")
    assert not refused.ok and "your own SSH client" in refused.detail
    negative = await engine.add_block("rec", "198.51.100.6", "dave", timeout=-5)
    assert not negative.ok and "positive" in negative.detail
    assert records(home) == []
    await engine.stop()


async def test_manual_block_in_ossec_flavour_uses_the_argv_protocol(tmp_path: Path) -> None:
    home = make_home(
        tmp_path,
        ["  <command><name>host-deny</name><executable>host-deny.sh</executable>"
         "<expect>srcip</expect><timeout_allowed>yes</timeout_allowed></command>"],
        ["  <active-response><command>host-deny</command><location>local</location>"
         "<level>6</level><timeout>60</timeout></active-response>"],
    )
    write_script(home, "host-deny.sh", ARGV_RECORDER.format(python=sys.executable,
                                                            home=str(home)))
    engine = await started(home, ManualClock(T0), flavour=Flavour.OSSEC)
    result = await engine.add_block("host-deny", "192.0.2.9", "erin", timeout=60)
    assert result.ok, result.detail
    argv = json.loads((home / "record.jsonl").read_text().splitlines()[0])["argv"]
    assert argv[1:4] == ["add", "-", "192.0.2.9"]
    [block] = engine.blocks.values()
    assert block.state is BlockState.ACTIVE and block.protocol == "argv"
    await engine.stop()


async def test_ossec_argv_passes_only_the_fields_the_command_expects(tmp_path: Path) -> None:
    home = make_home(
        tmp_path,
        ["  <command><name>host-deny</name><executable>host-deny.sh</executable>"
         "<expect>srcip</expect><timeout_allowed>no</timeout_allowed></command>"],
        ["  <active-response><command>host-deny</command><location>local</location>"
         "<level>6</level></active-response>"],
    )
    write_script(home, "host-deny.sh", ARGV_RECORDER.format(python=sys.executable,
                                                            home=str(home)))
    engine = await started(home, ManualClock(T0), flavour=Flavour.OSSEC)
    await engine.handle_line(alert_line("1.1", srcip="198.51.100.4", dstuser="-rf $(id)"))
    await engine.drain()
    argv = json.loads((home / "record.jsonl").read_text().splitlines()[0])["argv"]
    assert argv[1:4] == ["add", "-", "198.51.100.4"], "the unexpected user is not passed"
    await engine.stop()


async def test_overdue_blocks_are_reversed_concurrently_at_start(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    home = make_home(tmp_path, [command("rec")], [response("rec", level=5, timeout=10)],
                     {"rec": recorder()})
    engine = await started(home, clock)
    for n in range(4):
        await engine.handle_line(alert_line(f"o.{n}", srcip=f"198.51.100.{n + 1}"))
    await engine.drain()
    await engine.stop()
    write_script(home, "rec", "#!/bin/sh\nsleep 30\n")
    clock.advance(100)
    began = time.monotonic()
    engine = await started(home, clock, time_limit=1.0)
    assert time.monotonic() - began < 3.5, "hanging deletes ran one after another"
    assert all(b.state is BlockState.FAILED for b in engine.blocks.values())
    await engine.stop()


async def test_e3_reload_that_white_lists_an_address_lifts_its_block(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    home = make_home(tmp_path, [command("rec")], [response("rec", level=5, timeout=600)],
                     {"rec": recorder()})
    engine = await started(home, clock)
    await engine.handle_line(alert_line("1.1", srcip="198.51.100.9"))
    await engine.handle_line(alert_line("1.2", srcip="192.0.2.9"))
    await engine.drain()
    conf = home / "etc" / "ossec.conf"
    conf.write_text(conf.read_text().replace(
        "<white_list>127.0.0.1</white_list>",
        "<white_list>127.0.0.1</white_list><white_list>198.51.100.0/24</white_list>"))
    assert await engine.reload()
    await wait_for(lambda: "rec-198.51.100.9" not in engine.blocks)
    assert "rec-192.0.2.9" in engine.blocks
    await engine.stop()


def test_hostile_alert_text_never_reaches_the_log_raw() -> None:
    event = Undelivered(at=T0, response="rec60", target="001\x1b]0;owned\x07\x1b[2J",
                        alert_id="1.1\x1b[31mRED\u202e")
    _, text = describe(event)
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert "\\x1b]0;owned" in text

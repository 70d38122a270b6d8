"""The engine as execd: handshake, dedupe, timers, repeated offenders (scenarios B.5-B.7, E).

Real scripts in a real home, a real SQLite state file; only the clock is injected.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from arconsole.engine.clock import ManualClock
from arconsole.engine.events import BlockChanged, Notice
from arconsole.engine.model import BlockState
from tests.engine_support import (
    T0,
    alert_line,
    command,
    make_home,
    pid_alive,
    recorder,
    records,
    response,
    started,
    wait_for,
    write_script,
)


def stateful_home(tmp_path: Path, timeout: int = 600, mode: str = "keys",
                  exit_code: int = 0, extra_responses: list[str] | None = None,
                  ro: str | None = None) -> Path:
    extra = f"<repeated_offenders>{ro}</repeated_offenders>" if ro else ""
    responses = [response("rec", level=5, timeout=timeout, extra=extra)]
    return make_home(
        tmp_path, [command("rec")], responses + (extra_responses or []),
        {"rec": recorder(mode, exit_code)},
    )



async def test_e6_e8_add_message_handshake_and_block(tmp_path: Path) -> None:
    home = stateful_home(tmp_path)
    engine = await started(home)
    line = alert_line("1700000000.1")
    await engine.handle_line(line)
    await engine.drain()
    [entry] = records(home)
    # E7: argv is exactly the relative program path; the working directory is the home.
    assert entry["argv"] == ["active-response/bin/rec"]
    assert Path(entry["cwd"]) == home
    # E6: the message execd writes, byte for byte, with the alert spliced in unchanged.
    expected_add = (
        b'{"version":1,"origin":{"name":"node01","module":"wazuh-execd"},"command":"add",'
        b'"parameters":{"extra_args":[],"alert":' + line
        + b',"program":"active-response/bin/rec"}}\n'
    )
    assert entry["stdin"].encode() == expected_add
    # E8: the reply is the whole message with command continue.
    assert entry["reply"].encode() == expected_add.replace(b'"add"', b'"continue"', 1)
    block = engine.blocks["rec-203.0.113.7"]
    assert block.state is BlockState.ACTIVE
    assert block.timeout == 600
    assert block.started_at == T0
    assert block.delete_message == expected_add.rstrip(b"\n").replace(b'"add"', b'"delete"', 1)
    await engine.stop()


async def test_e9_retrigger_aborts_and_restarts_the_block(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    home = stateful_home(tmp_path)
    engine = await started(home, clock)
    await engine.handle_line(alert_line("1.1"))
    await engine.drain()
    clock.advance(100)
    await engine.handle_line(alert_line("1.2"))
    await engine.drain()
    first, second = records(home)
    assert json.loads(first["reply"])["command"] == "continue"
    assert json.loads(second["reply"])["command"] == "abort"
    block = engine.blocks["rec-203.0.113.7"]
    assert block.started_at == T0 + 100
    # The delete still carries the first alert (7.3 consequences).
    assert b'"id":"1.1"' in block.delete_message
    await engine.stop()


async def test_e10_other_response_same_executable_replaces_duration(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    home = stateful_home(
        tmp_path, extra_responses=[response("rec", rules_id="9999", timeout=60)]
    )
    engine = await started(home, clock)
    await engine.handle_line(alert_line("1.1", level=10))
    await engine.drain()
    clock.advance(10)
    # Rule 9999 at level 3 binds only the second block (rules_id); same executable, same IP.
    await engine.handle_line(alert_line("1.2", rule_id="9999", level=3))
    await engine.drain()
    block = engine.blocks["rec-203.0.113.7"]
    assert (block.started_at, block.timeout) == (T0 + 10, 60)
    assert json.loads(records(home)[-1]["reply"])["command"] == "abort"
    await engine.stop()


async def test_e11_stateless_always_continues_and_keeps_no_block(tmp_path: Path) -> None:
    home = make_home(tmp_path, [command("rec", timeout_allowed=False)],
                     [response("rec", level=5)], {"rec": recorder()})
    engine = await started(home)
    for n in range(3):
        await engine.handle_line(alert_line(f"1.{n}"))
    await engine.drain()
    replies = [json.loads(r["reply"])["command"] for r in records(home)]
    assert replies == ["continue"] * 3
    assert engine.blocks == {}
    await engine.stop()


async def test_e12_no_check_keys_line_is_untracked_with_a_warning(tmp_path: Path) -> None:
    home = stateful_home(tmp_path, mode="silent")
    engine = await started(home)
    events = engine.bus.subscribe()
    await engine.handle_line(alert_line("1.1"))
    await engine.drain()
    [block] = engine.blocks.values()
    assert block.state is BlockState.UNTRACKED
    assert block.key not in engine.timers  # never reversed on time, as Wazuh
    notices = [e for e in events.drain() if isinstance(e, Notice)]
    assert any("printed no check_keys line" in n.message and n.level == "warning"
               for n in notices)
    assert "reply" not in records(home)[0]  # no continue/abort was sent
    await engine.stop()


async def test_e13_non_json_first_line_keys_on_the_basename(tmp_path: Path) -> None:
    home = stateful_home(tmp_path, mode="hello")
    engine = await started(home)
    await engine.handle_line(alert_line("1.1", srcip="203.0.113.7"))
    await engine.handle_line(alert_line("1.2", srcip="198.51.100.9"))
    await engine.drain()
    assert list(engine.blocks) == ["rec"]
    replies = sorted(json.loads(r["reply"])["command"] for r in records(home))
    assert replies == ["abort", "continue"]
    await engine.stop()


async def test_a3_two_addresses_are_tracked_and_expire_independently(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    home = stateful_home(tmp_path, timeout=5)
    engine = await started(home, clock)
    await engine.handle_line(alert_line("1.1", srcip="203.0.113.7"))
    await engine.drain()
    clock.advance(3)
    await engine.handle_line(alert_line("1.2", srcip="198.51.100.9"))
    await engine.drain()
    assert set(engine.blocks) == {"rec-203.0.113.7", "rec-198.51.100.9"}
    clock.advance(3)  # T0+6: only the first (ends T0+5) is due; the second ends at T0+8
    await wait_for(lambda: "rec-203.0.113.7" not in engine.blocks)
    assert "rec-198.51.100.9" in engine.blocks
    clock.advance(3)
    await wait_for(lambda: not engine.blocks)
    await engine.stop()


async def test_t1_t2_delete_runs_exactly_timeout_after_the_add_took_effect(
    tmp_path: Path,
) -> None:
    """Deliberately not execd's rule (issue 13 item 3): execd tests `now - t > timeout` in
    whole seconds on a 1 s tick, so a 5 s block lasts 5-7 s; arconsole's lasts 5 s, counted
    from when the add took effect (the `continue`), not from when the alert was read."""
    clock = ManualClock(T0)
    home = stateful_home(tmp_path, timeout=5)
    engine = await started(home, clock)
    clock.advance(0.25)  # a fractional start: expiry is not rounded to whole seconds
    await engine.handle_line(alert_line("1.1"))
    await engine.drain()
    assert engine.blocks["rec-203.0.113.7"].started_at == T0 + 0.25
    assert engine.timers.next_due() == T0 + 5.25
    clock.advance(4.99)
    assert engine.timers.next_due() > clock.now()
    assert len(records(home)) == 1
    clock.advance(0.01)
    await wait_for(lambda: len(records(home)) == 2)
    delete = records(home)[1]
    message = json.loads(delete["stdin"])
    assert message["command"] == "delete"
    assert message["parameters"]["alert"]["id"] == "1.1"
    assert message["parameters"]["program"] == "active-response/bin/rec"
    assert "reply" not in delete  # no handshake on delete
    await wait_for(lambda: not engine.blocks)
    await engine.stop()


async def test_t3_failed_delete_keeps_the_block_visible_as_failed(tmp_path: Path) -> None:
    """Deviation from Wazuh (T3 drops the entry): arconsole shows the failure."""
    clock = ManualClock(T0)
    home = stateful_home(tmp_path, timeout=5)
    engine = await started(home, clock)
    await engine.handle_line(alert_line("1.1"))
    await engine.drain()
    write_script(home, "rec", "#!/bin/sh\necho 'iptables: not permitted' >&2\nexit 1\n")
    clock.advance(6)
    key = "rec-203.0.113.7"
    await wait_for(lambda: engine.blocks[key].state is BlockState.FAILED)
    last_error = engine.blocks[key].last_error or ""
    assert "exit 1 (iptables: not permitted)" in last_error
    stored = {b.key: b for b in engine.store.load_blocks()}
    assert stored[key].state is BlockState.FAILED
    await engine.stop()


@pytest.mark.parametrize("offset", [0, 1])
async def test_b7_repeated_offenders_table(tmp_path: Path, offset: int) -> None:
    """R1-R5 with repeated_offenders 1,5,10 and a 600 s block (R2: the block shrinks)."""
    clock = ManualClock(T0 + offset)
    home = stateful_home(tmp_path, timeout=600, ro="1,5,10")
    engine = await started(home, clock)
    key = "rec-203.0.113.7"

    async def trigger(alert_id: str) -> tuple[int, str]:
        await engine.handle_line(alert_line(alert_id))
        await engine.drain()
        return engine.blocks[key].timeout, json.loads(records(home)[-1]["reply"])["command"]

    assert await trigger("r1") == (600, "continue")  # R1: base timeout, count 0
    clock.advance(10)
    assert await trigger("r2") == (60, "abort")  # R2: 60 s from now, shorter than what was left
    assert engine.blocks[key].started_at == T0 + offset + 10
    clock.advance(61)
    await wait_for(lambda: key not in engine.blocks)
    assert await trigger("r3") == (300, "continue")  # R3
    clock.advance(301)
    await wait_for(lambda: key not in engine.blocks)
    assert await trigger("r4") == (600, "continue")  # R4
    clock.advance(601)
    await wait_for(lambda: key not in engine.blocks)
    assert await trigger("r5") == (600, "continue")  # R5: the last value stays
    assert engine.store.get_offences(key) == 3
    # R7: another address has its own count.
    await engine.handle_line(alert_line("other", srcip="198.51.100.9"))
    await engine.drain()
    assert engine.blocks["rec-198.51.100.9"].timeout == 600
    await engine.stop()


async def test_r6_stateless_responses_never_escalate(tmp_path: Path) -> None:
    home = make_home(
        tmp_path, [command("rec")],
        [response("rec", level=5, extra="<repeated_offenders>1,5</repeated_offenders>")],
        {"rec": recorder()},
    )
    engine = await started(home)
    for n in range(3):
        await engine.handle_line(alert_line(f"s{n}"))
    await engine.drain()
    assert engine.store.get_offences("rec-203.0.113.7") is None
    assert engine.blocks == {}
    await engine.stop()


async def test_b8_offender_counts_survive_a_restart(tmp_path: Path) -> None:
    """Deviation from Wazuh (R8 loses counts): arconsole keeps them (spec 1.4 item 6)."""
    clock = ManualClock(T0)
    home = stateful_home(tmp_path, timeout=600, ro="1,5,10")
    engine = await started(home, clock)
    await engine.handle_line(alert_line("a"))
    clock.advance(5)
    await engine.handle_line(alert_line("b"))
    await engine.drain()
    await engine.stop()
    engine = await started(home, clock)
    clock.advance(1)
    await engine.handle_line(alert_line("c"))
    await engine.drain()
    assert engine.blocks["rec-203.0.113.7"].timeout == 300  # third trigger -> 5 minutes
    await engine.stop()


async def test_c2_hanging_script_is_killed_and_does_not_delay_others(tmp_path: Path) -> None:
    home = make_home(
        tmp_path, [command("rec"), command("hang", timeout_allowed=False)],
        [response("hang", level=5), response("rec", level=5, timeout=600)],
        {"rec": recorder(), "hang": "#!/bin/sh\n( sleep 60 ) &\necho $! > child.pid\nsleep 60\n"},
    )
    engine = await started(home, time_limit=1.0)
    events = engine.bus.subscribe()
    began = time.monotonic()
    await engine.handle_line(alert_line("1.1"))
    await wait_for(lambda: "rec-203.0.113.7" in engine.blocks, timeout=5)
    assert time.monotonic() - began < 1.0, "the hanging script delayed another response"
    await engine.drain()
    child = int((home / "child.pid").read_text())
    await wait_for(lambda: not pid_alive(child), timeout=5)
    scripts = [e for e in events.drain() if getattr(e, "kind", "") == "script"]
    assert any(getattr(e, "timed_out", False) for e in scripts)
    await engine.stop()


async def test_d1_crafted_srcip_spawns_nothing(tmp_path: Path) -> None:
    home = stateful_home(tmp_path)
    engine = await started(home)
    for bad in ["1.2.3.4;id", "$(touch x)", "1.2.3.4\nid", "-rf"]:
        await engine.handle_line(alert_line(f"x{len(bad)}", srcip=bad))
    await engine.drain()
    assert records(home) == []
    assert not (home / "x").exists()
    await engine.stop()


async def test_dry_run_runs_nothing_but_records_the_block(tmp_path: Path) -> None:
    home = stateful_home(tmp_path, timeout=5)
    clock = ManualClock(T0)
    engine = await started(home, clock, mode="dry-run")
    await engine.handle_line(alert_line("1.1"))
    await engine.drain()
    block = engine.blocks["rec-203.0.113.7"]
    assert block.dry_run
    clock.advance(6)
    await wait_for(lambda: not engine.blocks)
    assert records(home) == []
    await engine.stop()
    # A later enforcing engine never reverses an imagined block for real.
    engine = await started(home, clock)
    assert engine.blocks == {}
    await engine.stop()


async def test_white_listed_source_fires_nothing(tmp_path: Path) -> None:
    home = stateful_home(tmp_path)
    engine = await started(home)
    await engine.handle_line(alert_line("w", srcip="10.1.2.3"))
    await engine.drain()
    assert records(home) == []
    await engine.stop()


async def test_missing_executable_is_reported_not_fatal(tmp_path: Path) -> None:
    home = make_home(tmp_path, [command("gone")], [response("gone", level=5, timeout=60)])
    engine = await started(home)
    events = engine.bus.subscribe()
    await engine.handle_line(alert_line("1.1"))
    await engine.drain()
    notices = [e for e in events.drain() if isinstance(e, Notice)]
    assert any("gone" in n.message and n.level == "error" for n in notices)
    assert engine.blocks == {}
    await engine.stop()


async def test_events_describe_block_lifecycle(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    home = stateful_home(tmp_path, timeout=2)
    engine = await started(home, clock)
    events = engine.bus.subscribe()
    await engine.handle_line(alert_line("1.1"))
    await engine.drain()
    clock.advance(3)
    await wait_for(lambda: not engine.blocks)
    changes = [e.change for e in events.drain() if isinstance(e, BlockChanged)]
    assert changes == ["added", "reversing", "reversed"]
    await engine.stop()

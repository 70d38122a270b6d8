"""Restarts, crashes and operator actions against a real state file (Part E A7, B1-B7)."""

from __future__ import annotations

from pathlib import Path

import pytest

from arconsole.engine.clock import ManualClock
from arconsole.engine.engine import EngineError, ReadOnlyError
from arconsole.engine.model import BlockState
from tests.engine_support import (
    T0,
    alert_line,
    command,
    commands_seen,
    make_home,
    new_engine,
    recorder,
    records,
    response,
    started,
    wait_for,
)

KEY = "rec-203.0.113.7"


def home_with(tmp_path: Path, timeout: int = 100) -> Path:
    return make_home(tmp_path, [command("rec")], [response("rec", level=5, timeout=timeout)],
                     {"rec": recorder()})




async def test_b1_b2_restart_restores_block_with_remaining_time(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    home = home_with(tmp_path)
    engine = await started(home, clock)
    await engine.handle_line(alert_line("1.1"))
    await engine.drain()
    await engine.stop()
    assert commands_seen(home) == ["add"], "leaving does not lift blocks (spec 1.4 item 1)"
    clock.advance(40)  # 40% of the block passed while arconsole was down
    engine = await started(home, clock)
    block = engine.blocks[KEY]
    assert block.restored
    assert block.expires_at - clock.now() == pytest.approx(60)
    assert commands_seen(home) == ["add"], "a restored block is not re-added (B2)"
    clock.advance(61)
    await wait_for(lambda: KEY not in engine.blocks)
    assert commands_seen(home) == ["add", "delete"]
    await engine.stop()


async def test_a7_block_expired_while_down_is_reversed_once_at_start(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    home = home_with(tmp_path, timeout=10)
    engine = await started(home, clock)
    await engine.handle_line(alert_line("1.1"))
    await engine.drain()
    await engine.stop()
    clock.advance(3600)
    engine = await started(home, clock)
    assert engine.blocks == {}
    assert commands_seen(home) == ["add", "delete"]
    await engine.stop()
    engine = await started(home, clock)
    assert commands_seen(home) == ["add", "delete"], "reversed once, not at every start"
    await engine.stop()


async def test_b3_manual_reverse_survives_restart(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    home = home_with(tmp_path)
    engine = await started(home, clock)
    await engine.handle_line(alert_line("1.1"))
    await engine.drain()
    [result] = await engine.reverse_blocks([KEY], "alice from 192.0.2.50")
    assert result.ok and "exit 0" in result.detail
    await engine.stop()
    engine = await started(home, clock)
    assert engine.blocks == {}
    [audit] = engine.store.list_audit()
    assert (audit.operator, audit.action, audit.target) == ("alice from 192.0.2.50", "reverse",
                                                            KEY)
    assert "active-response/bin/rec" in audit.detail
    await engine.stop()


async def test_b7_reverse_on_exit_is_wazuhs_shutdown(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    home = home_with(tmp_path)
    engine = await started(home, clock, reverse_on_exit=True)
    for n, ip in enumerate(["203.0.113.7", "198.51.100.9", "192.0.2.44"]):
        await engine.handle_line(alert_line(f"1.{n}", srcip=ip))
    await engine.drain()
    await engine.stop()
    assert sorted(commands_seen(home)) == ["add"] * 3 + ["delete"] * 3
    engine = await started(home, clock)
    assert engine.blocks == {}
    await engine.stop()


async def test_extend_moves_expiry_and_is_audited(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    home = home_with(tmp_path, timeout=10)
    engine = await started(home, clock)
    await engine.handle_line(alert_line("1.1"))
    await engine.drain()
    result = await engine.extend_block(KEY, 50, "bob")
    assert result.ok
    assert engine.blocks[KEY].expires_at == T0 + 60
    assert engine.timers.next_due() == T0 + 60, "the extension moved the timer, not only the row"
    clock.advance(11)
    assert KEY in engine.blocks
    assert engine.store.list_audit()[0].action == "extend"
    await engine.stop()


async def test_manual_block_refused_for_white_listed_address(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    home = home_with(tmp_path)
    engine = await started(home, clock)
    refused = await engine.add_block("rec", "10.2.3.4", "carol")
    assert not refused.ok and "white-listed" in refused.detail
    assert records(home) == []
    forced = await engine.add_block("rec", "10.2.3.4", "carol", timeout=30, force=True)
    assert forced.ok, forced.detail
    block = engine.blocks["rec-10.2.3.4"]
    assert block.manual and block.timeout == 30
    actions = [(a.action, a.target) for a in engine.store.list_audit()]
    assert actions == [("add", "rec 10.2.3.4"), ("add", "rec 10.2.3.4")]
    bad = await engine.add_block("rec", "1.2.3.4;id", "carol")
    assert not bad.ok and "not an IP address" in bad.detail
    await engine.stop()


async def test_read_only_refuses_every_change(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    home = home_with(tmp_path)
    engine = await started(home, clock)
    await engine.handle_line(alert_line("1.1"))
    await engine.drain()
    await engine.stop()
    engine = await started(home, clock, read_only=True)
    with pytest.raises(ReadOnlyError):
        await engine.reverse_blocks([KEY], "eve")
    with pytest.raises(ReadOnlyError):
        await engine.extend_block(KEY, 10, "eve")
    with pytest.raises(ReadOnlyError):
        await engine.add_block("rec", "192.0.2.1", "eve")
    with pytest.raises(ReadOnlyError):
        await engine.reverse_all("eve")
    assert KEY in engine.blocks
    await engine.stop()


async def test_one_engine_per_state_file(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    home = home_with(tmp_path)
    first = await started(home, clock)
    second = new_engine(home, clock)
    with pytest.raises(EngineError, match="owned by"):
        await second.start(follow=False)
    await first.stop()


async def test_same_alert_read_again_after_a_crash_changes_nothing(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    home = make_home(tmp_path, [command("rec")],
                     [response("rec", level=5, timeout=100,
                               extra="<repeated_offenders>1,5</repeated_offenders>")],
                     {"rec": recorder()})
    engine = await started(home, clock)
    await engine.handle_line(alert_line("1.1"))
    await engine.drain()
    clock.advance(5)
    await engine.handle_line(alert_line("1.1"))  # replayed line after a crash
    await engine.drain()
    block = engine.blocks[KEY]
    assert (block.started_at, block.timeout) == (T0, 100)
    assert engine.store.get_offences(KEY) == 0
    await engine.stop()


async def test_config_with_errors_does_not_start(tmp_path: Path) -> None:
    home = home_with(tmp_path)
    conf = home / "etc" / "ossec.conf"
    conf.write_text(conf.read_text().replace("<location>local</location>", ""))
    engine = new_engine(home, ManualClock(T0))
    with pytest.raises(EngineError, match="1281"):
        await engine.start(follow=False)


async def test_reload_keeps_blocks_and_rejects_broken_config(tmp_path: Path) -> None:
    """I1, I2: blocks survive reloads; a removed response's block still expires."""
    clock = ManualClock(T0)
    home = home_with(tmp_path, timeout=10)
    engine = await started(home, clock)
    await engine.handle_line(alert_line("1.1"))
    await engine.drain()
    conf = home / "etc" / "ossec.conf"
    good = conf.read_text()
    conf.write_text(good.replace("<active-response>", "<active-response><agent-id>1</agent-id>"))
    assert await engine.reload() is False
    assert engine.generation == 1
    conf.write_text(good.replace("<level>5</level>", "<level>15</level>"))
    assert await engine.reload() is True
    assert engine.generation == 2
    assert KEY in engine.blocks
    conf.write_text(good.split("<active-response>")[0] + "</ossec_config>\n")
    assert await engine.reload() is True
    clock.advance(11)
    await wait_for(lambda: KEY not in engine.blocks)
    assert commands_seen(home) == ["add", "delete"]
    assert engine.blocks == {}
    await engine.stop()
    assert not any(b.state is BlockState.FAILED for b in engine.blocks.values())


async def test_a_timer_that_fires_as_its_block_is_refreshed_leaves_it_to_its_new_time(
    tmp_path: Path,
) -> None:
    """The timer pops a due key and starts its reverse; a trigger that refreshes the block
    before that reverse holds the key wins (the crash matrix caught a delete 5 s early)."""
    clock = ManualClock(T0)
    home = home_with(tmp_path, timeout=10)
    engine = await started(home, clock)
    await engine.handle_line(alert_line("1.1"))
    await engine.drain()
    clock.advance(9)
    await engine.handle_line(alert_line("1.2"))  # refreshed: due at T0 + 19 now
    await engine.drain()
    late = await engine.book.reverse(KEY, "expired", when_due=True)  # the old timer's reverse
    assert not late.ok and "refreshed" in late.detail
    assert engine.blocks[KEY].state is BlockState.ACTIVE
    assert commands_seen(home) == ["add", "add"]
    clock.advance(10)
    await wait_for(lambda: KEY not in engine.blocks)
    assert commands_seen(home) == ["add", "add", "delete"]
    await engine.stop()

"""A dry-run backlog's shortcuts (issue 13.7) change nothing that is seen or kept.

Most responses of a dry-run backlog are imagined at once (`Dispatcher.imagine_now`) instead of
through a coroutine each; events are built only when someone subscribes; a refresh that moves
a timer later wakes nobody. Each is compared here with the path it short-cuts, on the same
backlog: the same events for a subscriber, the same log lines, the same state file.
"""

from __future__ import annotations

import asyncio
import io
import sqlite3
from pathlib import Path

import pytest

from arconsole.alerts.jsonreader import decode_alert_line
from arconsole.engine.bus import EventBus
from arconsole.engine.clock import ManualClock
from arconsole.engine.dispatch import Dispatcher
from arconsole.engine.engine import Engine
from arconsole.engine.eventlog import EventLogger
from arconsole.engine.events import AlertHandled, BacklogProgress, BlockChanged, Notice, ScriptRan
from arconsole.engine.model import BlockState
from arconsole.engine.options import EngineOptions, Mode
from tests.engine_support import T0, alert_line, command, make_home, response, started
from tests.test_engine_batched_writes import backlog_home

ALERTS = 2_500


async def replay(
    home: Path, *, subscribe: bool = True, idle_alerts: bool = True,
) -> tuple[list[dict[str, object]], list[str], list[str]]:
    """A dry-run engine reading `home`'s alerts from the start on a fixed clock: (every event
    as JSON, the event log's lines without their time stamps, the state file's rows)."""
    state = home / "var" / "arconsole" / "state.db"
    for leftover in state.parent.glob("state.db*"):
        leftover.unlink()
    options = EngineOptions(
        config_path=home / "etc" / "ossec.conf", home=home,
        alerts_path=home / "logs" / "alerts" / "alerts.json", state_path=state,
        mode=Mode.DRY_RUN, from_start=True, watch_config=False, control_socket=False,
    )
    engine = Engine(options, clock=ManualClock(T0))
    text = io.StringIO()
    logger = EventLogger(text)
    events = engine.bus.subscribe(capacity=1_000_000, idle_alerts=idle_alerts) \
        if subscribe else None
    logged = engine.bus.subscribe(idle_alerts=idle_alerts) if subscribe else None
    await engine.start()
    while engine.stats.alerts + engine.stats.input_errors < ALERTS:
        await asyncio.sleep(0.01)
    await engine.drain()
    await engine.stop()
    seen: list[dict[str, object]] = []
    lines: list[str] = []
    if events is not None and logged is not None:
        logger.flush(logged)
        # Progress depends on timing, and a notice names this process's cgroup.
        seen = [e.to_json() for e in events.drain()
                if not isinstance(e, (BacklogProgress, Notice))]
        lines = [line.split(" ", 2)[2] for line in text.getvalue().splitlines()
                 if "cgroup" not in line and " progress: " not in line]
    with sqlite3.connect(state) as db:
        rows = [f"{table} {row!r}" for (table,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN "
            "('meta', 'events') ORDER BY name")
            for row in db.execute(f"SELECT * FROM {table} ORDER BY "
                                  f"{'key' if table == 'offenders' else 'rowid'}")]
    return seen, lines, [row for row in rows if not row.startswith("positions ")]


async def test_responses_imagined_at_once_say_and_keep_what_the_awaited_path_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    home = backlog_home(tmp_path, ALERTS)
    at_once = await replay(home)
    calls = 0
    imagine_now = Dispatcher.imagine_now

    def counted(self: Dispatcher, *args: object) -> bool:
        nonlocal calls
        calls += 1
        return imagine_now(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(Dispatcher, "imagine_now", counted)
    await replay(home)
    assert calls > 500  # the backlog did take the shortcut
    monkeypatch.setattr(Dispatcher, "imagine_now", lambda *_: False)  # every one awaited
    awaited = await replay(home)
    events, lines, rows = at_once
    assert events == awaited[0]
    assert lines == awaited[1]
    assert rows == awaited[2]
    kinds = {e["kind"] for e in events}
    assert {"alert", "block", "script", "undelivered"} <= kinds
    assert sum(1 for e in events if e["kind"] == "block" and e["change"] == "refreshed") > 100
    assert any(row.startswith("triggers ") for row in rows)


async def test_without_a_subscriber_no_event_is_built_and_the_state_file_is_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    home = backlog_home(tmp_path, ALERTS)
    _, _, told = await replay(home)
    built: list[str] = []
    for kind in (AlertHandled, BlockChanged, ScriptRan):
        original = kind.__init__

        def spy(self: object, *args: object, _original: object = original,
                **kwargs: object) -> None:
            built.append(type(self).__name__)
            _original(self, *args, **kwargs)  # type: ignore[operator]

        monkeypatch.setattr(kind, "__init__", spy)
    _, _, headless = await replay(home, subscribe=False)
    assert built == []
    assert headless == told


async def test_alerts_that_fire_nothing_are_built_only_for_a_subscription_that_wants_them(
    tmp_path: Path,
) -> None:
    home = backlog_home(tmp_path, ALERTS)
    every, lines, rows = await replay(home)
    firing, firing_lines, firing_rows = await replay(home, idle_alerts=False)
    idle = [e for e in every if e["kind"] == "alert" and not e["fired"]]
    assert len(idle) > 100  # the backlog has alerts that fire nothing
    assert firing == [e for e in every if not (e["kind"] == "alert" and not e["fired"])]
    assert firing_lines == lines  # the (not verbose) log never showed them
    assert firing_rows == rows
    bus = EventBus()
    bus.subscribe(idle_alerts=False)
    assert bus.has_subscribers and not bus.wants_idle_alerts
    console = bus.subscribe()  # one that wants them: built again, for everyone
    assert bus.wants_idle_alerts
    console.close()
    assert not bus.wants_idle_alerts


def test_the_bus_gives_each_event_to_every_subscription_however_many_there_are() -> None:
    bus = EventBus()
    event = Notice(at=1.0, level="info", message="m")
    bus.publish(event)  # nobody: dropped
    assert not bus.has_subscribers
    first = bus.subscribe()
    bus.publish(event)
    second = bus.subscribe()
    bus.publish(event)
    assert bus.has_subscribers
    first.close()
    bus.publish(event)
    assert first.drain() == [event, event]
    assert second.drain() == [event, event]
    second.close()
    bus.publish(event)
    assert not bus.has_subscribers and second.drain() == []


async def test_a_key_being_reversed_has_its_trigger_awaited_not_imagined(tmp_path: Path) -> None:
    home = make_home(tmp_path, [command("firewall-drop")],
                     [response("firewall-drop", level=5, timeout=600)])
    engine = await started(home, mode=Mode.DRY_RUN)
    try:
        fired = engine.config.responses[0] if engine.config else None
        assert fired is not None
        key = "firewall-drop-203.0.113.7"
        alert = decode_alert_line(alert_line("1.1"))
        async with engine.book.holding(key):
            assert not engine.dispatcher.imagine_now(fired, alert)  # nothing done
            assert key not in engine.book.blocks
        assert engine.dispatcher.imagine_now(fired, alert)
        assert engine.book.blocks[key].state is BlockState.ACTIVE
    finally:
        await engine.stop()


async def test_an_awaited_dry_run_waits_for_its_key_and_aborts_past_the_time_limit(
        tmp_path: Path) -> None:
    """The path `imagine_now` leaves to a coroutine: the dry run waits while its key is being
    reversed, then imagines the block; a key still busy after the time limit aborts it."""
    home = make_home(tmp_path, [command("firewall-drop")],
                     [response("firewall-drop", level=5, timeout=600)])
    engine = await started(home, mode=Mode.DRY_RUN, time_limit=0.3)
    try:
        fired = engine.config.responses[0] if engine.config else None
        assert fired is not None
        key = "firewall-drop-203.0.113.7"
        async with engine.book.holding(key):
            run = asyncio.create_task(
                engine.dispatcher.run(fired, decode_alert_line(alert_line("1.1"))))
            for _ in range(10):
                await asyncio.sleep(0)
            assert not run.done() and key not in engine.book.blocks  # waiting for the key
        outcome = await run
        assert outcome.text.endswith("(dry-run): continue") and not outcome.ran
        assert outcome.block is engine.book.blocks[key]
        assert outcome.block.state is BlockState.ACTIVE and outcome.block.alert_id == "1.1"
        async with engine.book.holding(key):  # held past the time limit
            late = await engine.dispatcher.run(fired, decode_alert_line(alert_line("1.2")))
        assert late.text.endswith("(dry-run): abort")
        assert late.block is engine.book.blocks[key] and late.block.alert_id == "1.1"
    finally:
        await engine.stop()


async def test_a_refresh_that_moves_the_expiry_later_still_reverses_then(
    tmp_path: Path,
) -> None:
    home = make_home(tmp_path, [command("firewall-drop")],
                     [response("firewall-drop", level=5, timeout=100)])
    clock = ManualClock(T0)
    engine = await started(home, clock, mode=Mode.DRY_RUN)
    key = "firewall-drop-203.0.113.7"
    try:
        await engine.intake.handle_line(alert_line("1.1"))
        first_end = engine.book.blocks[key].expires_at
        clock.advance(60)
        await engine.intake.handle_line(alert_line("1.2"))  # refreshed: ends 60 s later
        assert engine.book.blocks[key].expires_at == first_end + 60
        clock.advance(41)  # past the first end: the timer loop wakes, finds it moved on
        for _ in range(20):
            await asyncio.sleep(0)
        assert engine.book.blocks[key].state is BlockState.ACTIVE
        clock.advance(60)
        for _ in range(200):
            if key not in engine.book.blocks:
                break
            await asyncio.sleep(0.01)
        assert key not in engine.book.blocks  # reversed (imagined) at its later end
    finally:
        await engine.stop()

"""The backlog's batched work (issue 13.7) changes nothing that is seen or kept: cheap frozen
events and blocks, block rows / offender counts / triggers written in one statement per turn,
the event log written a batch at a time, and a dry-run replay that remembers every trigger."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arconsole.console.generator import AlertGenerator
from arconsole.engine import store_records
from arconsole.engine.engine import Engine
from arconsole.engine.eventlog import EventLogger
from arconsole.engine.events import (
    EVENT_TYPES,
    AlertHandled,
    BacklogProgress,
    BlockChanged,
    ConfigLoaded,
    ConfigRejected,
    DeliveryChanged,
    Event,
    FleetChanged,
    InputError,
    Notice,
    OperatorAction,
    ScriptRan,
    StoreHealthChanged,
    Undelivered,
    event_from_json,
)
from arconsole.engine.group_commit import GroupCommit
from arconsole.engine.model import Block, BlockState, Protocol
from arconsole.engine.options import EngineOptions, Mode
from arconsole.engine.store import StateStore
from arconsole.frozen import fast_init, fast_replace

SAMPLE = Path(__file__).resolve().parent.parent / "sample-conf"

optional_text = st.none() | st.text(max_size=20)
blocks = st.builds(
    Block,
    key=st.text(min_size=1, max_size=30), command=st.text(max_size=20),
    name=st.text(max_size=20), executable=st.text(max_size=20),
    protocol=st.sampled_from(Protocol), target=st.text(max_size=10), srcip=optional_text,
    user=optional_text, started_at=st.floats(allow_nan=False),
    timeout=st.integers(min_value=0, max_value=2**31), offences=st.integers(0, 100),
    delete_message=st.binary(max_size=200), state=st.sampled_from(BlockState),
    alert_id=optional_text, rule_id=optional_text, restored=st.booleans(),
    manual=st.booleans(), last_error=optional_text, dry_run=st.booleans(),
)
BLOCK_FIELDS = [field.name for field in dataclasses.fields(Block)]


# ---------------------------------------------------------------------- frozen, but cheap


@settings(max_examples=150)
@given(block=blocks, other=blocks, names=st.sets(st.sampled_from(BLOCK_FIELDS)))
def test_block_with_is_dataclasses_replace(block: Block, other: Block, names: set[str]) -> None:
    changes = {name: getattr(other, name) for name in names}
    copy = block.with_(**changes)
    assert copy == dataclasses.replace(block, **changes)  # type: ignore[arg-type]
    assert type(copy) is Block and copy is not block


def test_block_with_refuses_an_unknown_field_and_blocks_stay_frozen() -> None:
    block = Block(key="k", command="c", name="n", executable="e", protocol=Protocol.JSON,
                  target="server", srcip=None, user=None, started_at=1.0, timeout=5,
                  offences=0, delete_message=b"")
    with pytest.raises(TypeError, match="no such field"):
        block.with_(timeout=6, colour="red")
    with pytest.raises(dataclasses.FrozenInstanceError):
        block.timeout = 7  # type: ignore[misc]
    assert block.state is BlockState.ACTIVE and block.dry_run is False  # defaults kept
    with pytest.raises(TypeError):
        Block(key="k")  # type: ignore[call-arg]


def sample_events() -> list[Event]:
    block = {"key": "firewall-drop-10.0.0.\x1b[1", "name": "firewall-drop600", "timeout": 600,
             "last_error": "exit 1"}
    return [
        AlertHandled(1.0, 1, "1.2", "5712", 10, "sshd", "001", "web", "10.0.0.1", "root",
                     ("firewall-drop600",), '{"id":"1.2"}'),
        AlertHandled(1.0, 2, "1.3\\x", "5712", 3, "noise", None, None, None, None, (), "{}"),
        InputError(at=1.0, line=3, error="not JSON"),
        ScriptRan(at=1.0, action="add (dry-run)", program="active-response/bin/firewall-drop",
                  key="firewall-drop-10.0.0.1", reply="abort", returncode=None, timed_out=False,
                  ok=True, error=None, stderr="", duration=0.0),
        ScriptRan(at=1.0, action="delete", program="p", key=None, reply=None, returncode=2,
                  timed_out=False, ok=False, error=None, stderr="boom\n", duration=0.5),
        BlockChanged(at=1.0, change="refreshed", block=block),
        BlockChanged(at=1.0, change="failed", block=block),
        Undelivered(at=1.0, response="r", target="002", alert_id="1.4"),
        DeliveryChanged(at=1.0, delivery_id=7, response="r", program="p", agent="002", key=None,
                        state="sent", reason=""),
        ConfigLoaded(at=1.0, generation=2, path="/x", summary="1 change", warnings=0),
        ConfigRejected(at=1.0, path="/x", first_error="x:1:1: error: bad", errors=1),
        Notice(at=1.0, level="warning", message="careful \u202e"),
        StoreHealthChanged(at=1.0, fault="disk full", since=0.5),
        StoreHealthChanged(at=2.0, fault=None, since=None),
        BacklogProgress(at=1.0, done=5, total=10),
        OperatorAction(at=1.0, operator="me", action="reverse", target="k", detail="ok",
                       ok=True),
        FleetChanged(at=1.0, change="added"),
    ]


def test_every_event_kind_round_trips_and_stays_frozen() -> None:
    events = sample_events()
    assert {type(event) for event in events} == set(EVENT_TYPES.values())
    for event in events:
        assert event_from_json(event.to_json()) == event
        with pytest.raises(dataclasses.FrozenInstanceError):
            event.at = 2.0  # type: ignore[misc]
    first, second = BlockChanged(at=1.0, change="added"), BlockChanged(at=1.0, change="added")
    assert first.block == {} and first.block is not second.block  # a fresh default each


def test_fast_init_and_fast_replace_refuse_what_they_cannot_copy() -> None:
    @dataclasses.dataclass(frozen=True)
    class NoSlots:
        value: int

    @dataclasses.dataclass(frozen=True, slots=True)
    class Checked:
        value: int

        def __post_init__(self) -> None:
            pass

    with pytest.raises(TypeError, match="not a slot"):
        fast_init(NoSlots)
    with pytest.raises(TypeError, match="not a slot"):
        fast_replace(NoSlots)
    with pytest.raises(TypeError, match="__post_init__"):
        fast_init(Checked)


@pytest.mark.parametrize(("verbose", "quiet"), [(False, False), (True, False), (False, True)])
def test_the_batch_log_says_exactly_what_one_event_at_a_time_says(
    verbose: bool, quiet: bool
) -> None:
    events = sample_events()
    one_by_one, batched = io.StringIO(), io.StringIO()
    single = EventLogger(one_by_one, verbose=verbose, quiet=quiet)
    for event in events:
        single.event(event)
    EventLogger(batched, verbose=verbose, quiet=quiet)._write_batch(events)

    def without_stamps(text: str) -> list[str]:
        return [line.split(" ", 2)[2] for line in text.splitlines()]

    expected = without_stamps(one_by_one.getvalue())
    assert without_stamps(batched.getvalue()) == expected
    assert ("arconsole debug: alert 1.3\\\\x rule 5712 level 3 srcip - -> nothing" in expected) \
        is verbose
    assert any("\\x1b" in line for line in expected)  # escaped, never raw
    assert not any("\x1b" in line or "\u202e" in line for line in expected)


# ---------------------------------------------------------------------- batched statements


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    opened = StateStore.open(tmp_path / "state.db")
    yield opened
    opened.close()


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(saved=st.lists(blocks, max_size=25), dropped=st.lists(st.text(max_size=30), max_size=5))
def test_batched_block_rows_leave_what_one_by_one_leaves(
    tmp_path: Path, saved: list[Block], dropped: list[str]
) -> None:
    suffix = len(list(tmp_path.iterdir()))
    with StateStore.open(tmp_path / f"one-{suffix}.db") as one, \
            StateStore.open(tmp_path / f"many-{suffix}.db") as many:
        for block in saved:
            one.save_block(block)
        for key in dropped:
            one.delete_block(key)
        latest = {block.key: block for block in saved}  # what the group commit keeps per key
        many.save_blocks(list(latest.values()))
        many.delete_blocks(dropped)
        by_key = sorted(one.load_blocks(), key=lambda b: b.key)
        assert sorted(many.load_blocks(), key=lambda b: b.key) == by_key


def test_batched_triggers_forget_the_oldest_at_the_same_points(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_records, "TRIGGERS_KEPT", 2_000)
    rows = [("firewall-drop", f"1700000000.{n}") for n in range(5_321)]
    sizes = [1, 999, 1, 1_500, 7, 993, 2_000, 1, 10_000]
    with StateStore.open(tmp_path / "one.db") as one, \
            StateStore.open(tmp_path / "many.db") as many:
        for executable, alert_id in rows:
            one.add_trigger(executable, alert_id)
        start = 0
        for size in sizes:
            many.add_triggers(rows[start:start + size])
            start += size
        assert start >= len(rows)
        query = "SELECT id, executable, alert_id FROM triggers ORDER BY id"
        kept = one._conn.execute(query).fetchall()
        assert many._conn.execute(query).fetchall() == kept
        assert [row[0] for row in kept] == list(range(3_001, 5_322))  # trimmed at row 5,000


async def test_a_turns_offences_and_triggers_commit_with_it_and_decay_from_when_set(
    tmp_path: Path,
) -> None:
    now = [1_700_000_000.0]
    path = tmp_path / "state.db"
    store = StateStore.open(path, clock=lambda: now[0], offender_decay=60.0)
    errors: list[str] = []
    writes = GroupCommit(lambda: store, errors.append, lambda: now[0])
    try:
        writes.set_offences("firewall-drop-10.0.0.1", 1)
        writes.add_trigger("firewall-drop", "1700000000.1")
        writes.set_offences("firewall-drop-10.0.0.1", 2)  # the last count of the turn is kept
        now[0] += 50  # the clock moves before the turn ends: the count was set before
        with sqlite3.connect(path) as other:  # another reader sees nothing of an open turn
            assert other.execute("SELECT count(*) FROM triggers").fetchone()[0] == 0
        await writes.durable()
        with sqlite3.connect(path) as other:
            assert other.execute("SELECT key, count, updated_at FROM offenders").fetchall() == [
                ("firewall-drop-10.0.0.1", 2, 1_700_000_000.0)]
            assert other.execute("SELECT executable, alert_id FROM triggers").fetchall() == [
                ("firewall-drop", "1700000000.1")]
        now[0] += 11  # 61 s after it was set: decayed, though only 11 s after the commit
        assert store.get_offences("firewall-drop-10.0.0.1") is None
        assert errors == []
    finally:
        store.close()


async def test_a_write_that_fails_fails_the_whole_turn(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = StateStore.open(path)
    errors: list[str] = []
    writes = GroupCommit(lambda: store, errors.append, lambda: 1.0)
    try:
        writes.add_trigger("firewall-drop", "1.1")
        writes.set_offences("k", 1)
        store._conn.execute("DROP TABLE triggers")  # in the turn's transaction: inserts fail
        with pytest.raises(sqlite3.Error):
            await writes.durable()
        assert len(errors) == 1 and "state file write failed" in errors[0]
        assert store.load_offences() == {}  # rolled back whole, with the dropped table
        assert store.load_triggers() == set()
    finally:
        store.close()


# ---------------------------------------------------------------------- a backlog, end to end


def backlog_home(tmp_path: Path, alerts: int) -> Path:
    home = tmp_path / "home"
    shutil.copytree(SAMPLE, home)
    (home / "logs" / "alerts").mkdir(parents=True, exist_ok=True)
    (home / "var" / "arconsole").mkdir(parents=True, exist_ok=True)
    generator = AlertGenerator(home / "logs" / "alerts" / "alerts.json",
                               white_listed=["10.0.1.5"], seed=3,
                               clock=lambda: 1_780_000_000.0 + generator.counter * 0.01)
    while generator.written < alerts:
        generator.write(generator.burst()[: alerts - generator.written])
    return home


async def replay(home: Path, alerts: int) -> tuple[list[Event], Engine]:
    options = EngineOptions(
        config_path=home / "etc" / "ossec.conf", home=home,
        alerts_path=home / "logs" / "alerts" / "alerts.json",
        state_path=home / "var" / "arconsole" / "state.db", mode=Mode.DRY_RUN,
        from_start=True, watch_config=False, control_socket=False,
    )
    engine = Engine(options)
    subscription = engine.bus.subscribe(capacity=1_000_000)
    await engine.start()
    while engine.stats.alerts + engine.stats.input_errors < alerts:
        await asyncio.sleep(0.01)
    await engine.drain()
    await engine.stop()
    return subscription.drain(), engine


async def test_a_dry_run_backlog_remembers_every_trigger_and_applies_none_twice(
    tmp_path: Path,
) -> None:
    alerts = 3_000
    home = backlog_home(tmp_path, alerts)
    events, engine = await replay(home, alerts)
    applied = [e for e in events if isinstance(e, BlockChanged)
               and e.change in ("added", "refreshed")]
    handled = [e for e in events if isinstance(e, AlertHandled)]
    expected_triggers: list[tuple[str, str]] = []
    alert_id = ""
    for event in events:  # each alert is told before its responses run (a dry run in order)
        if isinstance(event, AlertHandled):
            alert_id = event.alert_id
        elif event in applied:
            expected_triggers.append((event.block["executable"], alert_id))
    assert len(handled) == alerts and [e.line for e in handled] == list(range(1, alerts + 1))
    assert len(applied) > 100  # the generator's bursts fire responses
    state = home / "var" / "arconsole" / "state.db"
    with sqlite3.connect(state) as db:
        triggers = db.execute("SELECT executable, alert_id FROM triggers ORDER BY id").fetchall()
        stored = {key: (timeout, offences) for key, timeout, offences in
                  db.execute("SELECT key, timeout, offences FROM blocks")}
        offset = db.execute("SELECT offset FROM positions").fetchone()[0]
    # Every trigger kept, in the order applied; every block as the book ended up.
    assert triggers == expected_triggers
    assert stored == {key: (block.timeout, block.offences) for key, block in engine.blocks.items()}
    assert offset == (home / "logs" / "alerts" / "alerts.json").stat().st_size
    # The same file read again from the start (a crash before any position was stored):
    # every alert is decided again, and nothing is applied twice.
    with sqlite3.connect(state) as db:
        db.execute("DELETE FROM positions")
    again, _ = await replay(home, alerts)
    assert not [e for e in again if isinstance(e, BlockChanged)
                and e.change in ("added", "refreshed")]
    assert len([e for e in again if isinstance(e, AlertHandled)]) == alerts


def test_a_store_fault_says_its_cause_before_the_path() -> None:
    """The banner wraps a long state path: the cause ("disk full") comes first so that it is
    on the fault's first line whatever the path (a long pytest path once pushed it apart)."""
    from arconsole.engine.group_commit import failure_text
    from arconsole.engine.store_errors import StoreWriteError

    path = Path("/var/lib/" + "deep/" * 30 + "state.db")
    text = failure_text(StoreWriteError(path, "disk full", "database or disk is full"))
    assert text.startswith("state file write failed (disk full): database or disk is full")
    assert text.endswith(str(path)) and text.count("disk full") == 1
    other = failure_text(RuntimeError("boom"))
    assert other == "state file write failed: RuntimeError: boom"


def test_a_statement_run_straight_on_the_connection_fails_as_a_store_fault(
        tmp_path: Path) -> None:
    """The fleet store runs some writes straight on the connection inside a transaction: one
    the database refuses (here a real SQLITE_FULL: the file may not grow past its page limit)
    is the same StoreWriteError as a write through `_write`, not a raw sqlite3 error that the
    intake would take for a bad alert line."""
    from arconsole.engine.store_errors import StoreWriteError

    store = StateStore.open(tmp_path / "state.db")
    try:
        store._conn.execute("CREATE TABLE filler (data BLOB)")
        pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
        store._conn.execute(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(StoreWriteError) as caught, store.transaction():
            store._conn.execute("INSERT INTO filler VALUES (zeroblob(1000000))")
        assert caught.value.reason == "disk full"
        assert not store._conn.in_transaction  # rolled back whole
    finally:
        store.close()

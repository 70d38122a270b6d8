"""The state store on real SQLite files: privacy, locking, crash safety, repair (B1-B8, D7, F2)."""

from __future__ import annotations

import os
import select
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arconsole.alerts.position import ReadPosition
from arconsole.engine.model import AuditEntry, Block, BlockState, Protocol
from arconsole.engine.store import (
    BLOCK_COLUMNS,
    EVENTS_KEPT,
    StateCorrupt,
    StateError,
    StateLocked,
    StateReadOnly,
    StateStore,
)


def make_block(key: str = "firewall-drop-10.0.0.1", **changes: object) -> Block:
    block = Block(
        key=key, command="firewall-drop", name="firewall-drop600", executable="firewall-drop",
        protocol=Protocol.JSON, target="server", srcip="10.0.0.1", user=None,
        started_at=1_700_000_000.25, timeout=600, offences=0,
        delete_message=b'{"command":"delete","parameters":{"alert":{"data":{"srcip":"10.0.0.1"}}}}',
        alert_id="1700000000.1", rule_id="5712",
    )
    return block.with_(**changes)


@pytest.fixture
def state_path(tmp_path: Path) -> Path:
    return tmp_path / "var" / "state.db"


@pytest.fixture
def store(state_path: Path) -> Iterator[StateStore]:
    opened = StateStore.open(state_path)
    yield opened
    opened.close()


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def raw_count(path: Path, table: str) -> int:
    """Count rows through a separate connection: what another process would see."""
    with sqlite3.connect(path) as connection:
        return int(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


# ---------------------------------------------------------------------- files (D7)


def test_new_state_file_is_private_even_with_an_open_umask(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "state.db"
    old_umask = os.umask(0)
    try:
        store = StateStore.open(path)
        store.save_block(make_block())  # makes SQLite create the -wal file
    finally:
        os.umask(old_umask)
    try:
        assert mode_of(tmp_path / "a") == 0o700
        assert mode_of(tmp_path / "a" / "b") == 0o700
        assert mode_of(path) == 0o600
        assert mode_of(path.with_name("state.db.lock")) == 0o600
        assert mode_of(path.with_name("state.db-wal")) == 0o600
    finally:
        store.close()


def test_existing_loose_files_are_tightened(state_path: Path) -> None:
    StateStore.open(state_path).close()
    state_path.chmod(0o644)
    state_path.with_name("state.db.lock").chmod(0o666)
    with StateStore.open(state_path):
        assert mode_of(state_path) == 0o600
        assert mode_of(state_path.with_name("state.db.lock")) == 0o600


def test_existing_directory_is_left_alone_but_a_writable_one_is_warned_about(
    tmp_path: Path,
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with StateStore.open(shared / "state.db") as store:
        assert mode_of(shared) == 0o777
        assert any("writable by other users" in warning for warning in store.warnings)
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    with StateStore.open(private / "state.db") as store:
        assert store.warnings == []


def test_symlinked_state_file_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    target = tmp_path / "precious"
    target.write_text("not yours\n")
    target.chmod(0o644)
    link = tmp_path / "state.db"
    link.symlink_to(target)
    with pytest.raises(StateError, match="symbolic link"):
        StateStore.open(link)
    assert target.read_text() == "not yours\n"
    assert mode_of(target) == 0o644


def test_wal_mode_and_synchronous_level(state_path: Path) -> None:
    with StateStore.open(state_path) as store:
        store.save_block(make_block())
        assert store.warnings == []
        with sqlite3.connect(state_path) as other:
            assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    with StateStore.open(state_path, durable=True) as store:
        assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


# ---------------------------------------------------------------------- blocks


def test_store_columns_follow_block_fields() -> None:
    # A new Block field needs a column (and a migration), or it would be silently dropped.
    assert tuple(field.name for field in fields(Block)) == BLOCK_COLUMNS


optional_text = st.none() | st.text(max_size=40)
int64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
blocks = st.builds(
    Block,
    key=st.text(min_size=1, max_size=60),
    command=st.text(max_size=30),
    name=st.text(max_size=30),
    executable=st.text(max_size=30),
    protocol=st.sampled_from(Protocol),
    target=st.text(max_size=10),
    srcip=optional_text,
    user=optional_text,
    started_at=st.floats(allow_nan=False),
    timeout=int64,
    offences=int64,
    delete_message=st.binary(max_size=300),
    state=st.sampled_from(BlockState),
    alert_id=optional_text,
    rule_id=optional_text,
    restored=st.booleans(),
    manual=st.booleans(),
    last_error=optional_text,
    dry_run=st.booleans(),
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(block=blocks)
def test_every_block_field_round_trips_exactly(store: StateStore, block: Block) -> None:
    store.save_block(block)
    loaded = store.get_block(block.key)
    assert loaded == block
    assert loaded is not None and type(loaded.started_at) is float
    assert block in store.load_blocks()


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(saved=st.lists(blocks, max_size=20))
def test_blocks_survive_reopening(tmp_path: Path, saved: list[Block]) -> None:
    path = tmp_path / f"reopen-{os.urandom(6).hex()}.db"
    with StateStore.open(path) as store:
        for block in saved:
            store.save_block(block)
    latest = {block.key: block for block in saved}  # upsert: the last save of a key wins
    with StateStore.open(path) as store:
        assert sorted(store.load_blocks(), key=lambda b: b.key) == sorted(
            latest.values(), key=lambda b: b.key
        )


def test_save_replaces_and_delete_removes(store: StateStore) -> None:
    store.save_block(make_block())
    store.save_block(make_block(timeout=60, state=BlockState.FAILED, last_error="exit 1"))
    assert store.count_blocks() == 1
    assert store.get_block("firewall-drop-10.0.0.1") == make_block(
        timeout=60, state=BlockState.FAILED, last_error="exit 1"
    )
    store.delete_block("firewall-drop-10.0.0.1")
    assert store.get_block("firewall-drop-10.0.0.1") is None
    assert store.load_blocks() == []
    store.delete_block("never-there")  # no error


def test_restored_block_keeps_its_remaining_time(state_path: Path) -> None:
    """B1: the start time is kept, so 40% into a block there is 60% left after restart."""
    now = 1_700_000_000.0
    with StateStore.open(state_path) as store:
        store.save_block(make_block(started_at=now - 240, timeout=600))
    with StateStore.open(state_path) as store:
        (block,) = store.load_blocks()
    assert block.expires_at - now == 360


# ---------------------------------------------------------------------- transactions


def test_transaction_commits_everything_only_when_the_outermost_exits(
    store: StateStore, state_path: Path
) -> None:
    position = ReadPosition("/alerts.json", 7, 1234, "ab" * 32)
    with store.transaction():
        store.save_block(make_block())
        with store.transaction():
            store.save_position(position)
        assert raw_count(state_path, "blocks") == 0  # another reader sees nothing yet
        assert raw_count(state_path, "positions") == 0
    assert raw_count(state_path, "blocks") == 1
    assert raw_count(state_path, "positions") == 1


def test_transaction_rolls_back_on_exception(store: StateStore) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        store.save_block(make_block())
        store.save_position(ReadPosition("/alerts.json", 7, 1234, ""))
        store.set_offences("k", 3)
        raise RuntimeError("the script failed")
    assert store.load_blocks() == []
    assert store.load_position("/alerts.json") is None
    assert store.get_offences("k") is None
    store.save_block(make_block())  # the store is usable afterwards
    assert store.count_blocks() == 1


def test_nested_transaction_failure_undoes_only_the_nested_part(store: StateStore) -> None:
    with store.transaction():
        store.save_block(make_block("outer"))
        with pytest.raises(ValueError), store.transaction():
            store.save_block(make_block("inner"))
            raise ValueError("inner failed")
        store.save_block(make_block("after"))
    assert sorted(block.key for block in store.load_blocks()) == ["after", "outer"]


# ---------------------------------------------------------------------- the lock


def spawn(code: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def read_line(process: subprocess.Popen[str], timeout: float = 30.0) -> str:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    assert ready, "the subprocess said nothing in time"
    line = process.stdout.readline()
    if not line:
        assert process.stderr is not None
        pytest.fail(f"subprocess ended: {process.wait()} {process.stderr.read()}")
    return line.strip()


HOLDER = """
    import sys
    from pathlib import Path
    from arconsole.engine.store import StateStore
    store = StateStore.open(Path(sys.argv[1]))
    print("ready", flush=True)
    sys.stdin.readline()
    store.close()
    print("closed", flush=True)
    sys.stdin.readline()
"""


def hold(path: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(HOLDER), str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert read_line(process) == "ready"
    return process


def test_second_engine_in_another_process_is_told_who_owns_the_file(state_path: Path) -> None:
    holder = hold(state_path)
    try:
        with pytest.raises(StateLocked) as caught:
            StateStore.open(state_path)
        assert caught.value.holder_pid == holder.pid
        assert f"owned by engine pid {holder.pid}" in str(caught.value)
        assert str(state_path) in str(caught.value)
        assert holder.stdin is not None
        holder.stdin.write("close\n")
        holder.stdin.flush()
        assert read_line(holder) == "closed"
        with StateStore.open(state_path) as store:  # holder still alive, but released it
            store.save_block(make_block())
    finally:
        holder.kill()
        holder.wait()


def test_lock_dies_with_a_killed_holder(state_path: Path) -> None:
    holder = hold(state_path)
    with pytest.raises(StateLocked):
        StateStore.open(state_path)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with StateStore.open(state_path) as store:
        assert store.recovered_from is None
        assert state_path.with_name("state.db.lock").read_text().strip() == str(os.getpid())


def test_second_open_in_the_same_process_is_refused_too(state_path: Path) -> None:
    with StateStore.open(state_path), pytest.raises(StateLocked) as caught:
        StateStore.open(state_path)
    assert caught.value.holder_pid == os.getpid()


def test_read_only_store_reads_while_an_engine_owns_the_file(state_path: Path) -> None:
    holder = hold(state_path)
    try:
        with StateStore.open(state_path, lock=False) as reader:
            assert reader.read_only
            assert reader.load_blocks() == []
            with pytest.raises(StateReadOnly):
                reader.save_block(make_block())
            with pytest.raises(StateReadOnly):
                reader.add_audit(AuditEntry(1.0, "root", "reverse", "k", "ran it"))
    finally:
        holder.kill()
        holder.wait()


def test_read_only_store_never_creates_a_file(state_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        StateStore.open(state_path, lock=False)
    assert not state_path.exists()


def test_read_only_store_sees_what_the_owner_committed(store: StateStore, state_path: Path) -> None:
    store.save_block(make_block())
    with StateStore.open(state_path, lock=False) as reader:
        assert reader.load_blocks() == [make_block()]


# ---------------------------------------------------------------------- kill -9 (B5)


WRITER = """
    import sys
    from pathlib import Path
    from arconsole.alerts.position import ReadPosition
    from arconsole.engine.model import Block, Protocol
    from arconsole.engine.store import StateStore
    store = StateStore.open(Path(sys.argv[1]))
    for i in range(1_000_000):
        block = Block(
            key=f"k{i}", command="firewall-drop", name="firewall-drop600",
            executable="firewall-drop", protocol=Protocol.JSON, target="server",
            srcip="10.0.0.1", user=None, started_at=1.0 + i, timeout=600, offences=0,
            delete_message=b"x" * 500,
        )
        with store.transaction():
            store.save_block(block)
            store.save_position(ReadPosition("/alerts.json", 1, i, ""))
        print(i, flush=True)
"""


@pytest.mark.parametrize("reported_before_kill", [50, 400])
def test_kill_9_loses_no_reported_commit_and_splits_no_transaction(
    state_path: Path, reported_before_kill: int
) -> None:
    writer = spawn(WRITER.replace("sys.argv[1]", repr(str(state_path))))
    try:
        reported = [int(read_line(writer)) for _ in range(reported_before_kill)]
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    assert reported == list(range(reported_before_kill))
    with StateStore.open(state_path) as store:
        assert store.recovered_from is None
        keys = {block.key for block in store.load_blocks()}
        position = store.load_position("/alerts.json")
    assert {f"k{i}" for i in reported} <= keys  # everything reported committed is there
    # Each block was committed with its position: the two never disagree after the crash.
    assert position is not None
    assert keys == {f"k{i}" for i in range(position.offset + 1)}


# ---------------------------------------------------------------------- repair (B6)


def assert_recovered(store: StateStore, path: Path, blocks: int = 0) -> Path:
    backup = store.recovered_from
    assert backup is not None
    assert backup.parent == path.parent
    assert backup.name.startswith("state.db.corrupt-")
    assert mode_of(path) == 0o600
    assert store.count_blocks() == blocks
    (event, *_) = store.list_events()
    assert event.kind == "state-recovered" and str(backup) in event.message
    store.save_block(make_block("a-new-key"))  # and it works
    assert store.count_blocks() == blocks + 1
    return backup


def test_empty_state_file_is_a_new_one_not_a_corrupt_one(state_path: Path) -> None:
    # What a kill between creating the file and committing the schema leaves behind.
    state_path.parent.mkdir()
    state_path.touch(mode=0o600)
    with StateStore.open(state_path) as store:
        assert store.recovered_from is None
        store.save_block(make_block())
    assert list(state_path.parent.glob("*.corrupt-*")) == []


def test_garbage_state_file_is_moved_aside_with_its_wal(state_path: Path) -> None:
    state_path.parent.mkdir()
    garbage = os.urandom(8192)
    state_path.write_bytes(garbage)
    state_path.with_name("state.db-wal").write_bytes(b"old wal")
    with StateStore.open(state_path) as store:
        backup = assert_recovered(store, state_path)
    assert backup.read_bytes() == garbage
    assert backup.with_name(backup.name + "-wal").read_bytes() == b"old wal"


def test_truncated_state_file_is_moved_aside(state_path: Path) -> None:
    with StateStore.open(state_path) as store, store.transaction():
        for i in range(300):
            store.save_block(make_block(f"key-{i}", delete_message=os.urandom(1000)))
    size = state_path.stat().st_size
    assert size > 100_000
    os.truncate(state_path, size // 2)
    with StateStore.open(state_path) as store:
        backup = assert_recovered(store, state_path, blocks=300)  # from the snapshot
        (notice,) = store.notices
        assert notice.level == "error"
        assert "came back corrupt; restored 300 blocks from the snapshot" in notice.message
    assert backup.stat().st_size == size // 2


def test_truncated_state_file_without_a_snapshot_says_what_may_be_in_force(
    state_path: Path,
) -> None:
    with StateStore.open(state_path) as store, store.transaction():
        for i in range(300):
            store.save_block(make_block(f"key-{i}", delete_message=os.urandom(1000)))
    state_path.with_name("state.db.snapshot").unlink()
    os.truncate(state_path, state_path.stat().st_size // 2)
    with StateStore.open(state_path) as store:
        assert_recovered(store, state_path)
        (notice,) = store.notices
        assert notice.level == "error"
        assert "no snapshot restores it" in notice.message
        assert "may still be in force" in notice.message
        assert "arconsole blocks reconcile" in notice.message


def test_a_page_damaged_inside_the_file_is_found_by_the_integrity_check(
    state_path: Path,
) -> None:
    with StateStore.open(state_path) as store, store.transaction():
        for i in range(300):
            store.save_block(make_block(f"key-{i}", delete_message=b"m" * 1000))
    data = bytearray(state_path.read_bytes())
    page = 4096
    data[20 * page : 20 * page + 64] = b"\xff" * 64  # a b-tree page header in the middle
    state_path.write_bytes(bytes(data))
    with StateStore.open(state_path) as store:
        assert_recovered(store, state_path, blocks=300)


def test_someone_elses_database_is_moved_aside_not_overwritten(state_path: Path) -> None:
    state_path.parent.mkdir()
    with sqlite3.connect(state_path) as other:
        other.execute("CREATE TABLE accounts (name TEXT)")
    with StateStore.open(state_path) as store:
        backup = assert_recovered(store, state_path)
    with sqlite3.connect(backup) as other:
        assert other.execute("SELECT count(*) FROM accounts").fetchone()[0] == 0


def test_two_recoveries_in_the_same_second_keep_both_backups(state_path: Path) -> None:
    state_path.parent.mkdir()
    backups = []
    for content in (b"first garbage" * 100, b"second garbage" * 100):
        state_path.write_bytes(content)
        with StateStore.open(state_path, clock=lambda: 1_700_000_000.0) as store:
            assert store.recovered_from is not None
            backups.append(store.recovered_from)
        state_path.unlink()
    assert backups[0] != backups[1]
    assert backups[0].read_bytes() == b"first garbage" * 100
    assert backups[1].read_bytes() == b"second garbage" * 100


def test_a_newer_schema_is_refused_and_left_alone(state_path: Path) -> None:
    with StateStore.open(state_path) as store:
        store.save_block(make_block())
    with sqlite3.connect(state_path) as other:
        other.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(StateError, match="schema version 99"):
        StateStore.open(state_path)
    assert raw_count(state_path, "blocks") == 1
    assert list(state_path.parent.glob("*.corrupt-*")) == []


def test_read_only_open_reports_corruption_without_touching_the_file(state_path: Path) -> None:
    state_path.parent.mkdir()
    state_path.write_bytes(b"\x00garbage" * 1000)
    with pytest.raises(StateCorrupt):
        StateStore.open(state_path, lock=False)
    assert state_path.read_bytes() == b"\x00garbage" * 1000
    assert list(state_path.parent.glob("*.corrupt-*")) == []


# ---------------------------------------------------------------------- offenders (B8, F2)


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_offender_counts_never_decay_by_default_and_survive_restart(state_path: Path) -> None:
    clock = FakeClock()
    with StateStore.open(state_path, clock=clock) as store:
        assert store.get_offences("firewall-drop-10.0.0.1") is None
        store.set_offences("firewall-drop-10.0.0.1", 0)
        store.set_offences("firewall-drop-10.0.0.2", 3)
    clock.now += 10 * 365 * 86400
    with StateStore.open(state_path, clock=clock) as store:
        assert store.get_offences("firewall-drop-10.0.0.1") == 0  # seen once: 0, not None
        assert store.get_offences("firewall-drop-10.0.0.2") == 3
        assert store.load_offences() == {"firewall-drop-10.0.0.1": 0, "firewall-drop-10.0.0.2": 3}


def test_offender_count_decays_after_the_period_since_its_last_update(state_path: Path) -> None:
    clock = FakeClock()
    with StateStore.open(state_path, clock=clock, offender_decay=100) as store:
        store.set_offences("k", 2)
        clock.now += 60
        store.set_offences("k", 3)  # the period restarts here
        clock.now += 100
        assert store.get_offences("k") == 3  # exactly the period: not yet (strict)
        clock.now += 0.5
        assert store.get_offences("k") is None
        assert raw_count(state_path, "offenders") == 0  # purged, not just hidden


def test_decayed_offenders_are_purged_at_open(state_path: Path) -> None:
    clock = FakeClock()
    with StateStore.open(state_path, clock=clock) as store:
        store.set_offences("old", 4)
        clock.now += 1000
        store.set_offences("recent", 1)
    clock.now += 10
    with StateStore.open(state_path, clock=clock, offender_decay=500) as store:
        assert raw_count(state_path, "offenders") == 1
        assert store.load_offences() == {"recent": 1}


def test_decay_must_be_positive(state_path: Path) -> None:
    with pytest.raises(ValueError):
        StateStore.open(state_path, offender_decay=0)


# ---------------------------------------------------------------------- positions, audit, events


def test_read_position_round_trips_per_file(store: StateStore, state_path: Path) -> None:
    first = ReadPosition("/var/ossec/logs/alerts/alerts.json", 123456, 987654321, "f" * 64)
    other = ReadPosition("/elsewhere/alerts.json", 1, 0, "")
    store.save_position(first)
    store.save_position(other)
    moved = ReadPosition(first.path, 654321, 10, "0" * 64)
    store.save_position(moved)
    store.close()
    with StateStore.open(state_path) as reopened:
        assert reopened.load_position(first.path) == moved
        assert reopened.load_position(other.path) == other
        assert reopened.load_position("/never/read") is None


def test_audit_lists_newest_recorded_first_even_if_the_clock_went_back(
    store: StateStore,
) -> None:
    entries = [
        AuditEntry(100.0, "alice from 192.0.2.7", "add", "203.0.113.5", "ran firewall-drop add"),
        AuditEntry(200.0, "bob", "extend", "firewall-drop-203.0.113.5", "timeout now 1200"),
        AuditEntry(150.0, "root", "reverse", "firewall-drop-203.0.113.5", "exit 0"),
    ]
    for entry in entries:
        store.add_audit(entry)
    assert store.list_audit() == entries[::-1]
    assert store.list_audit(limit=2) == entries[:0:-1]


def test_events_are_bounded_to_the_newest(store: StateStore, state_path: Path) -> None:
    with store.transaction():
        for i in range(EVENTS_KEPT + 25):
            store.add_event(float(i), "warning", f"event {i}")
    assert raw_count(state_path, "events") == EVENTS_KEPT
    newest = store.list_events(limit=3)
    assert [event.message for event in newest] == [
        f"event {EVENTS_KEPT + 24}", f"event {EVENTS_KEPT + 23}", f"event {EVENTS_KEPT + 22}"
    ]
    assert store.list_events(limit=EVENTS_KEPT + 100)[-1].message == "event 25"


# ---------------------------------------------------------------------- replies pending


def make_older(state_path: Path, version: int) -> None:
    """Turn a fresh file into one as an older arconsole wrote it (its tables, its version)."""
    with StateStore.open(state_path) as store:
        store.save_block(make_block())
    dropped = {2: ["pending_replies"], 1: ["pending_replies", "meta", "triggers"]}[version]
    with sqlite3.connect(state_path) as other:
        for table in dropped:
            other.execute(f"DROP TABLE {table}")
        other.execute("UPDATE schema_version SET version = ?", (version,))


@pytest.mark.parametrize("version", [1, 2])
def test_an_older_file_opens_upgraded_with_its_blocks(state_path: Path, version: int) -> None:
    make_older(state_path, version)
    with pytest.raises(StateError, match="open it once with the engine to migrate"):
        StateStore.open(state_path, lock=False)  # a reader never migrates
    with StateStore.open(state_path) as store:
        assert [block.key for block in store.load_blocks()] == [make_block().key]
        store.mark_reply_pending("k", 1.0)
        assert store.load_pending_replies() == {"k"}
    with sqlite3.connect(state_path) as other:
        assert other.execute("SELECT version FROM schema_version").fetchone() == (3,)


def test_a_reply_mark_is_cleared_only_by_its_own_reply(store: StateStore) -> None:
    store.mark_reply_pending("a", 1.0)
    store.mark_reply_pending("b", 1.0)
    store.mark_reply_pending("a", 2.0)  # a newer add of the same key
    store.clear_reply_pending("a", 1.0)  # the older reply's clear leaves the newer mark
    assert store.load_pending_replies() == {"a", "b"}
    store.clear_reply_pending("a", 2.0)
    assert store.load_pending_replies() == {"b"}
    store.clear_pending_replies(["b", "c"])
    assert store.load_pending_replies() == set()

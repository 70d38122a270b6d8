"""The engine's state file: blocks, offender counts, read positions, audit log, events.

One SQLite database in WAL mode, owned by one engine at a time: an flock on the database file
itself, so two hard links to one file are one lock (the file's identity, not its name);
`<path>.lock` only tells others which pid owns it.
Every write is a transaction that has committed when the call returns, so the engine can
store first and report second (spec 1.4 item 1, scenarios B1-B8).

Durability: WAL with `synchronous=NORMAL`. A commit is in the WAL file (in the kernel's page
cache) when it returns, so it survives `kill -9` of the engine at any moment; it is not
fsync'd, so a power cut or kernel crash may lose the last commits but never corrupts the
file. Commits then cost tens of microseconds instead of an fsync each. `durable=True`
switches to `synchronous=FULL` (an fsync per commit) for those who need power-loss safety.

Files are private: the directory is created 0700, the database and lock file 0600
(created with O_EXCL before SQLite sees them; SQLite gives -wal/-shm the database's mode).
Symlinks and non-regular files are refused (scenario D7). A corrupt or foreign file is
moved aside to `<name>.corrupt-<UTC time>` and a fresh one created (B6): `recovered_from`
says so and an event is recorded.

A write that cannot be made (disk full, I/O error, file gone read-only) raises one typed
exception, StoreWriteError, and leaves the file as it was before the transaction began.

A snapshot of the blocks, `<path>.snapshot`, is replaced atomically beside the database
(`snapshot.py`); when the database comes back empty, moved aside as corrupt, or older than its
snapshot (a lost or damaged -wal after kill -9), the blocks are restored from it and
`notices` says so loudly. `notices` holds every problem found while opening (a world-writable
directory...): the engine logs them at start.

Synchronous on purpose: the engine calls it from its event loop, one thread, and never
awaits inside `transaction()`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arconsole.alerts.position import ReadPosition
from arconsole.engine.model import AuditEntry, Block, BlockState
from arconsole.engine.snapshot import (
    SnapshotUnreadable,
    read_snapshot,
    snapshot_path_for,
    write_snapshot,
)
from arconsole.engine.state_files import (
    check_regular,
    ensure_private_file,
    make_private_dirs,
    move_aside,
    others_can_write,
    sidecars,
    take_lock,
    tighten_if_present,
)
from arconsole.engine.store_errors import (
    StateCorrupt,
    StateError,
    StateLocked,
    StateReadOnly,
    StoreWriteError,
)
from arconsole.engine.store_schema import (
    BLOCK_COLUMNS,
    BUSY_TIMEOUT_S,
    SAVE_BLOCK,
    SCHEMA_VERSION,
    SELECT_BLOCKS,
    WRITE_FAILURE_CODES,
    Unusable,
    block_row,
    connect_checked,
    count_salvageable,
    is_corruption,
    row_block,
    salvage_blocks,
    schema_version,
)

__all__ = [
    "BLOCK_COLUMNS", "BUSY_TIMEOUT_S", "EVENTS_KEPT", "SCHEMA_VERSION", "StateCorrupt",
    "StateError", "StateLocked", "StateReadOnly", "StateStore", "StoreNotice", "StoreWriteError",
    "StoredEvent", "count_salvageable", "salvage_blocks",
]

EVENTS_KEPT = 10_000
TRIGGERS_KEPT = 100_000  # applied alerts remembered: far more than a re-read can reach
SNAPSHOT_INTERVAL_S = 1.0  # at most one snapshot a second, however busy the engine


@dataclass(frozen=True, slots=True)
class StoreNotice:
    """Something found while opening the store that the operator must be told at start."""

    level: str  # warning | error
    message: str


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """A warning or notice the engine wanted kept across restarts."""

    at: float
    kind: str
    message: str

# SAVE_BLOCK's effect (every column as the block has it) without deleting the old row first.
_UPSERT_BLOCK = (
    SAVE_BLOCK.replace("INSERT OR REPLACE INTO", "INSERT INTO", 1)
    + " ON CONFLICT(key) DO UPDATE SET "
    + ", ".join(f"{column} = excluded.{column}" for column in BLOCK_COLUMNS if column != "key")
)
# A refresh (execd's `abort` on a block in force) changes these columns only.
_REFRESH_BLOCK = (
    "UPDATE blocks SET started_at = ?, timeout = ?, offences = ?, restored = ? WHERE key = ?"
)


class StateStore:
    """Open with `StateStore.open`; close with `close()` (or use it as a context manager)."""

    def __init__(
        self,
        path: Path,
        connection: sqlite3.Connection,
        lock_fd: int | None,
        clock: Callable[[], float],
        offender_decay: float | None,
    ) -> None:
        self.path = path
        self._conn = connection
        self._lock_fd = lock_fd
        self._owned = lock_fd is not None
        self._clock = clock
        self._decay = offender_decay
        self._depth = 0
        self.recovered_from: Path | None = None  # where a corrupt file was moved, if it was
        # Problems found while opening, for the engine to log at start (and the console to show).
        self.notices: list[StoreNotice] = []
        self.restored_from_snapshot = 0  # blocks brought back from the snapshot at open
        self.snapshot_path = snapshot_path_for(path)
        self.snapshot_interval = SNAPSHOT_INTERVAL_S
        self._db_id = ""
        self._seq = 0  # committed transactions that changed blocks
        self._blocks_changed = False  # in the open transaction
        self._write_failed: StoreWriteError | None = None  # in the open transaction
        self._snapshot_seq = -1  # seq of the last snapshot written
        self._snapshot_at = float("-inf")

    @property
    def warnings(self) -> list[str]:
        """Every notice's message (warnings and errors), oldest first."""
        return [notice.message for notice in self.notices]

    def _notice(self, level: str, message: str) -> None:
        self.notices.append(StoreNotice(level, message))

    # ------------------------------------------------------------------ opening and closing

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        clock: Callable[[], float] = time.time,
        offender_decay: float | None = None,
        lock: bool = True,
        durable: bool = False,
    ) -> StateStore:
        """Take ownership of the state file at `path`, creating or repairing it.

        `lock=False` opens an existing file read-only without taking ownership, for tools
        that only look while an engine runs: no creation, no repair, every write raises
        StateReadOnly. Raises StateLocked when another engine owns the file.
        """
        if offender_decay is not None and not offender_decay > 0:
            raise ValueError(f"offender decay must be positive seconds, not {offender_decay}")
        path = Path(path).absolute()
        if not lock:
            return cls._open_read_only(path, clock, offender_decay)
        make_private_dirs(path.parent)
        ensure_private_file(path)
        lock_fd = take_lock(path)
        try:
            store = cls._open_owned(path, clock, offender_decay, lock_fd, durable)
        except BaseException:
            os.close(lock_fd)
            raise
        if others_can_write(path.parent):
            store._notice(
                "warning",
                f"state directory {path.parent} is writable by other users; "
                "keep the state file in a directory only its owner can write",
            )
        return store

    @classmethod
    def _open_owned(
        cls,
        path: Path,
        clock: Callable[[], float],
        decay: float | None,
        lock_fd: int,
        durable: bool,
    ) -> StateStore:
        for sidecar in sidecars(path):
            tighten_if_present(sidecar)
        recovered: tuple[Path, str] | None = None
        try:
            connection, journal = connect_checked(path, durable)
        except Unusable as problem:
            recovered = (move_aside(path, clock()), str(problem))
            ensure_private_file(path)
            # The lock held the moved file; the fresh one is a new identity: own it too.
            new_fd = take_lock(path)
            os.close(lock_fd)
            lock_fd = new_fd
            try:
                connection, journal = connect_checked(path, durable)
            except Unusable as again:
                os.close(lock_fd)
                raise StateError(f"cannot create a fresh state file at {path}: {again}") from None
        store = cls(path, connection, lock_fd, clock, decay)
        try:
            store._after_open(journal, recovered)
        except BaseException:
            connection.close()
            raise
        return store

    def _after_open(self, journal: str, recovered: tuple[Path, str] | None) -> None:
        if journal != "wal":
            self._notice(
                "warning",
                f"state file {self.path}: WAL mode unavailable (journal mode {journal!r}); "
                "using it with full fsync instead",
            )
        self._db_id, self._seq = self._read_meta()
        if recovered is not None:
            self.recovered_from, reason = recovered
            self.add_event(
                self._clock(), "state-recovered",
                f"state file {self.path} was unusable ({reason}); moved to "
                f"{self.recovered_from} and recreated empty",
            )
        self._restore_from_snapshot()
        self.purge_offences()

    def _read_meta(self) -> tuple[str, int]:
        row = self._conn.execute("SELECT db_id, seq FROM meta").fetchone()
        if row is None:
            raise StateError(f"state file {self.path}: its meta table is empty")
        return str(row[0]), int(row[1])

    @classmethod
    def _open_read_only(
        cls, path: Path, clock: Callable[[], float], decay: float | None
    ) -> StateStore:
        check_regular(path, must_exist=True)
        uri = path.as_uri() + "?mode=ro"
        connection = sqlite3.connect(
            uri, uri=True, isolation_level=None, timeout=BUSY_TIMEOUT_S
        )
        try:
            version = schema_version(connection)
        except sqlite3.DatabaseError as error:
            connection.close()
            if is_corruption(error):
                raise StateCorrupt(f"state file {path} is corrupt: {error}") from error
            raise
        except Unusable as problem:
            connection.close()
            raise StateCorrupt(f"state file {path}: {problem}") from None
        if version is None or version != SCHEMA_VERSION:
            connection.close()
            raise StateError(
                f"state file {path} has schema version {version}; this arconsole reads "
                f"{SCHEMA_VERSION} (open it once with the engine to migrate)"
            )
        return cls(path, connection, None, clock, decay)

    @property
    def read_only(self) -> bool:
        return not self._owned

    def close(self) -> None:
        """Close the database, then release ownership. Safe to call twice."""
        if self._lock_fd is not None and self.snapshot_pending and not self._depth:
            # Best effort: a snapshot that cannot be written keeps the previous one.
            with contextlib.suppress(StateError, sqlite3.Error):
                self.write_snapshot()
        with contextlib.suppress(sqlite3.ProgrammingError):
            self._conn.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # after the database: the next owner finds it quiet
            self._lock_fd = None

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ transactions

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes: all of them are committed when the outermost block exits, or none.

        Nested blocks are savepoints: an exception that leaves a nested block undoes that
        block's writes only (and everything, if it also leaves the outermost one).
        """
        if self.read_only:
            raise StateReadOnly(f"state file {self.path} was opened read-only")
        conn = self._conn
        if self._depth == 0:
            self._write("BEGIN IMMEDIATE")
            self._depth = 1
            self._blocks_changed = False
            self._write_failed = None
            try:
                yield
                if self._write_failed is not None:
                    raise self._write_failed  # a write inside failed, even if it was caught
                if self._blocks_changed:
                    self._write("UPDATE meta SET seq = ?", (self._seq + 1,))
                self._write("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise
            finally:
                self._depth = 0
                self._write_failed = None
            if self._blocks_changed:
                self._seq += 1
                self._blocks_changed = False
            return
        savepoint = f"nested_{self._depth}"
        self._write(f"SAVEPOINT {savepoint}")
        self._depth += 1
        try:
            yield
        except BaseException:
            if self._write_failed is None:
                conn.execute(f"ROLLBACK TO {savepoint}")
                conn.execute(f"RELEASE {savepoint}")
            raise  # (a doomed transaction is rolled back whole by the outermost block)
        else:
            self._write(f"RELEASE {savepoint}")
        finally:
            self._depth -= 1

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """A write of this store's own: its own transaction, or part of the caller's.

        No savepoint inside a caller's transaction: each of these writes is one statement
        (atomic by itself) or, for events, an insert whose trim may harmlessly fail.
        """
        if self._depth:
            yield
        else:
            with self.transaction():
                yield

    def _write(self, sql: str, parameters: tuple[object, ...] = ()) -> sqlite3.Cursor:
        """Run a writing statement; a refused write becomes StoreWriteError and dooms the
        open transaction (it will be rolled back whole, whatever the caller does)."""
        return self._guarded(self._conn.execute, sql, parameters)

    def _write_many(self, sql: str, rows: Iterable[tuple[object, ...]]) -> sqlite3.Cursor:
        """`_write` for one statement run over many rows (executemany)."""
        return self._guarded(self._conn.executemany, sql, rows)

    def _guarded(self, run: Callable[[str, Any], sqlite3.Cursor], sql: str,
                 parameters: Any) -> sqlite3.Cursor:
        if self._depth and self._write_failed is not None:
            # Doomed: SQLite may have rolled back already, and a statement run now would
            # commit on its own, outside the transaction it belongs to.
            raise self._write_failed
        try:
            return run(sql, parameters)
        except sqlite3.Error as error:
            failure = self._write_failure(error)
            if failure is None:
                raise
            if self._depth:
                self._write_failed = failure
            raise failure from error

    def _write_failure(self, error: sqlite3.Error) -> StoreWriteError | None:
        code = getattr(error, "sqlite_errorcode", None)
        if code is not None and code & 0xFF in WRITE_FAILURE_CODES:
            return StoreWriteError(self.path, WRITE_FAILURE_CODES[code & 0xFF], str(error))
        if self._write_failed is not None and not self._conn.in_transaction:
            # SQLite rolled the transaction back itself after the failure (full, I/O):
            # what follows ("cannot commit - no transaction is active") is the same fault.
            return self._write_failed
        return None

    # ------------------------------------------------------------------ blocks

    def save_block(self, block: Block) -> None:
        """Insert or replace the block with this key."""
        with self._writing():
            self._write(SAVE_BLOCK, block_row(block))
            self._blocks_changed = True

    def save_blocks(self, blocks: list[Block]) -> None:
        """`save_block` for many, in one statement; a row that exists is updated in place (an
        upsert: no delete and re-insert of a row refreshed by each turn of a backlog)."""
        with self._writing():
            self._write_many(_UPSERT_BLOCK, [block_row(block) for block in blocks])
            self._blocks_changed = True

    def refresh_blocks(self, blocks: list[Block]) -> int:
        """Write only what a refresh changes (start, timeout, offender count, restored) of
        blocks whose rows exist, in one statement: the rest of a row (its stored delete
        message, ~1.4 KB) stays as it is. Returns how many rows there were to change."""
        with self._writing():
            cursor = self._write_many(_REFRESH_BLOCK, [
                (block.started_at, block.timeout, block.offences, int(block.restored), block.key)
                for block in blocks
            ])
            self._blocks_changed = True
        return cursor.rowcount

    def delete_blocks(self, keys: list[str]) -> None:
        with self._writing():
            self._write_many("DELETE FROM blocks WHERE key = ?", [(key,) for key in keys])
            self._blocks_changed = True

    def delete_block(self, key: str) -> None:
        with self._writing():
            self._write("DELETE FROM blocks WHERE key = ?", (key,))
            self._blocks_changed = True

    def replace_blocks(self, blocks: list[Block], offences: dict[str, int]) -> None:
        """Make the file hold exactly these blocks (and at least these offender counts), in one
        transaction of its own: how an engine puts back what a failed write lost."""
        if self._depth:
            raise StateError("replace_blocks runs in a transaction of its own")
        with self.transaction():
            self._write("DELETE FROM blocks")
            for block in blocks:
                self.save_block(block)
            for key, count in offences.items():
                self.set_offences(key, count)
            self._blocks_changed = True

    def get_block(self, key: str) -> Block | None:
        row = self._conn.execute(SELECT_BLOCKS + " WHERE key = ?", (key,)).fetchone()
        return None if row is None else row_block(row, {})

    def load_blocks(self) -> list[Block]:
        """Every stored block, in no particular order."""
        shared: dict[Any, Any] = {}  # one copy of repeated strings (command, name...) per load
        rows = self._conn.execute(SELECT_BLOCKS).fetchall()
        return [row_block(row, shared) for row in rows]

    def count_blocks(self) -> int:
        row = self._conn.execute("SELECT count(*) FROM blocks").fetchone()
        return int(row[0])

    # ------------------------------------------------------------------ repeated offenders

    def get_offences(self, key: str) -> int | None:
        """The repeated-offender count for `key`; None if never seen (or decayed)."""
        row = self._conn.execute(
            "SELECT count, updated_at FROM offenders WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        count, updated_at = row
        if self._decayed(updated_at):
            if not self.read_only:
                with self._writing():
                    self._write(
                        "DELETE FROM offenders WHERE key = ? AND updated_at = ?",
                        (key, updated_at),
                    )
            return None
        return int(count)

    def set_offences(self, key: str, count: int) -> None:
        """Store the count; its decay period (if any) restarts now."""
        with self._writing():
            self._write(
                "INSERT OR REPLACE INTO offenders (key, count, updated_at) VALUES (?, ?, ?)",
                (key, count, self._clock()),
            )

    def set_offences_many(self, rows: list[tuple[str, int, float]]) -> None:
        """Store (key, count, set at) rows in one statement: a turn's counts, written behind."""
        with self._writing():
            self._write_many(
                "INSERT OR REPLACE INTO offenders (key, count, updated_at) VALUES (?, ?, ?)", rows
            )

    def load_offences(self) -> dict[str, int]:
        """Every count that has not decayed."""
        rows = self._conn.execute("SELECT key, count, updated_at FROM offenders").fetchall()
        return {key: int(count) for key, count, updated_at in rows if not self._decayed(updated_at)}

    def purge_offences(self) -> int:
        """Forget decayed counts; returns how many. Done at open, and whenever asked."""
        if self._decay is None or self.read_only:
            return 0
        with self._writing():
            cursor = self._write(
                "DELETE FROM offenders WHERE ? - updated_at > ?", (self._clock(), self._decay)
            )
        return cursor.rowcount

    def _decayed(self, updated_at: float) -> bool:
        return self._decay is not None and self._clock() - updated_at > self._decay

    # ------------------------------------------------------------------ read positions

    def save_position(self, position: ReadPosition) -> None:
        with self._writing():
            self._write(
                "INSERT OR REPLACE INTO positions (path, inode, offset, first_line_hash) "
                "VALUES (?, ?, ?, ?)",
                (position.path, position.inode, position.offset, position.first_line_hash),
            )

    def load_position(self, path: str) -> ReadPosition | None:
        row = self._conn.execute(
            "SELECT path, inode, offset, first_line_hash FROM positions WHERE path = ?", (path,)
        ).fetchone()
        return None if row is None else ReadPosition(row[0], int(row[1]), int(row[2]), row[3])

    # ------------------------------------------------------------------ audit and events

    def add_audit(self, entry: AuditEntry) -> None:
        with self._writing():
            self._write(
                "INSERT INTO audit (at, operator, action, target, detail) VALUES (?, ?, ?, ?, ?)",
                (entry.at, entry.operator, entry.action, entry.target, entry.detail),
            )

    def list_audit(self, limit: int = 100) -> list[AuditEntry]:
        """Newest first, by the order actions were recorded (immune to clock jumps)."""
        rows = self._conn.execute(
            "SELECT at, operator, action, target, detail FROM audit ORDER BY id DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [AuditEntry(*row) for row in rows]

    def add_event(self, at: float, kind: str, message: str) -> None:
        """Keep a notice; only the newest EVENTS_KEPT are kept."""
        with self._writing():
            cursor = self._write(
                "INSERT INTO events (at, kind, message) VALUES (?, ?, ?)", (at, kind, message)
            )
            newest = cursor.lastrowid
            if newest is not None and newest > EVENTS_KEPT:
                self._write("DELETE FROM events WHERE id <= ?", (newest - EVENTS_KEPT,))

    def list_events(self, limit: int = 100) -> list[StoredEvent]:
        """Newest first."""
        rows = self._conn.execute(
            "SELECT at, kind, message FROM events ORDER BY id DESC LIMIT ?", (limit,)
        ).fetchall()
        return [StoredEvent(*row) for row in rows]


    # ------------------------------------------------------------------ applied triggers

    def add_trigger(self, executable: str, alert_id: str) -> None:
        """Remember that this alert's response was applied; the oldest are forgotten."""
        with self._writing():
            cursor = self._write(
                "INSERT INTO triggers (executable, alert_id) VALUES (?, ?)",
                (executable, alert_id),
            )
            newest = cursor.lastrowid
            if newest is not None and newest % 1000 == 0 and newest > TRIGGERS_KEPT:
                self._write("DELETE FROM triggers WHERE id <= ?", (newest - TRIGGERS_KEPT,))

    def add_triggers(self, rows: list[tuple[str, str]]) -> None:
        """`add_trigger` for many (executable, alert id) rows in one statement; the oldest are
        forgotten at the same points (each 1,000th row) as one by one."""
        with self._writing():
            self._write_many("INSERT INTO triggers (executable, alert_id) VALUES (?, ?)", rows)
            newest = int(self._conn.execute("SELECT last_insert_rowid()").fetchone()[0])
            last_trim = newest - newest % 1000
            if last_trim > newest - len(rows) and last_trim > TRIGGERS_KEPT:
                self._write("DELETE FROM triggers WHERE id <= ?", (last_trim - TRIGGERS_KEPT,))

    def load_triggers(self) -> set[tuple[str, str]]:
        """(executable, alert id) of the newest TRIGGERS_KEPT applied alerts."""
        rows = self._conn.execute(
            "SELECT executable, alert_id FROM triggers ORDER BY id DESC LIMIT ?",
            (TRIGGERS_KEPT,),
        ).fetchall()
        return {(str(executable), str(alert_id)) for executable, alert_id in rows}

    # ------------------------------------------------------------------ replies pending

    def mark_reply_pending(self, key: str, at: float) -> None:
        """This key's new block is about to be told `continue` (in the block's transaction)."""
        with self._writing():
            self._write("INSERT OR REPLACE INTO pending_replies (key, at) VALUES (?, ?)",
                        (key, at))

    def clear_reply_pending(self, key: str, at: float) -> None:
        """The reply marked at `at` was written; a newer mark for the key stays."""
        with self._writing():
            self._write("DELETE FROM pending_replies WHERE key = ? AND at = ?", (key, at))

    def load_pending_replies(self) -> set[str]:
        """Keys whose `continue` may never have reached the script (killed in between)."""
        rows = self._conn.execute("SELECT key FROM pending_replies").fetchall()
        return {str(row[0]) for row in rows}

    def clear_pending_replies(self, keys: Iterable[str]) -> None:
        with self._writing():
            self._write_many("DELETE FROM pending_replies WHERE key = ?",
                             [(key,) for key in keys])

    # ------------------------------------------------------------------ the snapshot

    @property
    def snapshot_pending(self) -> bool:
        """Blocks changed since the last snapshot was written."""
        return not self.read_only and self._snapshot_seq != self._seq

    def maybe_snapshot(self) -> bool:
        """Write the snapshot if blocks changed and the last one is SNAPSHOT_INTERVAL_S old.

        Call it often (after each commit, and on a timer so a last change is not left out).
        StoreWriteError if it cannot be written; the previous snapshot is then kept.
        """
        if not self.snapshot_pending or self._depth:
            return False
        if self._clock() - self._snapshot_at < self.snapshot_interval:
            return False
        self.write_snapshot()
        return True

    def write_snapshot(self) -> None:
        """Replace the snapshot now with every committed block (outside a transaction)."""
        if self.read_only:
            raise StateReadOnly(f"state file {self.path} was opened read-only")
        if self._depth:
            raise StateError("the snapshot is written between transactions, not inside one")
        now = self._clock()
        try:
            write_snapshot(self.snapshot_path, db_id=self._db_id, seq=self._seq,
                           written_at=now, blocks=self.load_blocks())
        except OSError as error:
            reason = "disk full" if error.errno == errno.ENOSPC else "I/O error"
            raise StoreWriteError(self.snapshot_path, reason, error.strerror or str(error)) \
                from error
        self._snapshot_seq = self._seq
        self._snapshot_at = now

    def _restore_from_snapshot(self) -> None:
        """At open: bring the blocks back from the snapshot when the database lost them.

        Lost means: the database is new or was moved aside (another identity) and holds no
        block, or it is the same database with fewer commits than its snapshot (a -wal lost
        or damaged after kill -9). A database that is sound and up to date wins.
        """
        try:
            snapshot = read_snapshot(self.snapshot_path)
        except SnapshotUnreadable as error:
            kept = self._keep_aside(self.snapshot_path, "unreadable")
            self._notice("error", f"blocks snapshot unusable ({error}); moved to {kept}")
            self._say_what_may_be_lost()
            return
        if snapshot is None:
            self._say_what_may_be_lost()
            return
        stored = self.count_blocks()
        if snapshot.db_id == self._db_id:
            if snapshot.seq <= self._seq:
                self._snapshot_seq, self._snapshot_at = snapshot.seq, snapshot.written_at
                return  # the database is as new as its snapshot, or newer
            why = (f"state file {self.path} lost changes (its -wal was lost or damaged): it is "
                   f"at commit {self._seq}, its snapshot at {snapshot.seq}")
        elif stored == 0:
            if not snapshot.blocks and not snapshot.damaged:
                return
            why = (f"state file {self.path} came back "
                   + ("corrupt" if self.recovered_from is not None else "empty"))
        else:
            if snapshot.declared:
                kept = self._keep_aside(self.snapshot_path, "other")
                self._notice(
                    "warning",
                    f"blocks snapshot {self.snapshot_path} belongs to another state file "
                    f"({snapshot.declared} block(s)); kept the state file's {stored} and moved "
                    f"the snapshot to {kept}; 'arconsole blocks reconcile' can add the "
                    "blocks it holds that are missing",
                )
            return
        with self.transaction():
            self._write("DELETE FROM blocks")
            for block in snapshot.blocks:
                self.save_block(block)
            self._blocks_changed = True
        self.restored_from_snapshot = len(snapshot.blocks)
        written = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(snapshot.written_at))
        message = (f"{why}; restored {len(snapshot.blocks)} block(s) from the snapshot "
                   f"{self.snapshot_path} written {written}")
        if snapshot.damaged:
            message += (f"; {snapshot.damaged} block(s) in the snapshot were unreadable and may "
                        "still be in force (the firewall still holds them)")
        self._notice("error", message)
        with contextlib.suppress(StoreWriteError):
            self.write_snapshot()  # now the snapshot matches this database again

    def _keep_aside(self, path: Path, why: str) -> Path:
        """Rename a snapshot the next one would overwrite, so reconcile can still read it."""
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self._clock()))
        target = path.with_name(f"{path.name}.{why}-{stamp}")
        serial = 1
        while target.exists():
            target = path.with_name(f"{path.name}.{why}-{stamp}-{serial}")
            serial += 1
        os.rename(path, target)
        return target

    def _say_what_may_be_lost(self) -> None:
        """The database was moved aside and nothing restores it: say what may be in force."""
        if self.recovered_from is None:
            return
        known = count_salvageable(self.recovered_from)
        how_many = f"{known} block(s) were" if known is not None else "an unknown number of " \
            "blocks were"
        message = (f"state file {self.path} was corrupt and no snapshot restores it: {how_many} "
                   f"known and may still be in force (the firewall still holds them); "
                   "run 'arconsole blocks reconcile' to rebuild what can be found")
        self._notice("error", message)

    def reconcile(self, *, apply: bool) -> list[Block]:
        """Blocks known to the snapshots (the current one and those moved aside) or to
        moved-aside state files, but not to this one.

        With `apply`, they are added (marked restored), so the next engine start schedules
        their deletes; the newest record of a key wins.
        """
        found: dict[str, Block] = {}
        sources: list[tuple[Block, ...]] = []
        snapshots = [self.snapshot_path, *sorted(
            self.path.parent.glob(self.snapshot_path.name + ".*-*"))]
        for path in snapshots:
            if ".tmp-" in path.name:
                continue
            with contextlib.suppress(SnapshotUnreadable):
                snapshot = read_snapshot(path)
                if snapshot is not None:
                    sources.append(snapshot.blocks)
        for moved in sorted(self.path.parent.glob(self.path.name + ".corrupt-*")):
            if moved.name.endswith(("-wal", "-shm", "-journal")):
                continue
            sources.append(tuple(salvage_blocks(moved)))
        for blocks in sources:
            for block in blocks:
                if block.state in (BlockState.REVERSED,) or block.dry_run:
                    continue
                known = found.get(block.key)
                if known is None or block.started_at > known.started_at:
                    found[block.key] = block
        missing = [b.with_(restored=True) for key, b in sorted(found.items())
                   if self.get_block(key) is None]
        if apply and missing:
            with self.transaction():
                for block in missing:
                    self.save_block(block)
            with contextlib.suppress(StoreWriteError):
                self.write_snapshot()
        return missing

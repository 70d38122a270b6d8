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
import fcntl
import os
import sqlite3
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arconsole.alerts.position import ReadPosition
from arconsole.engine.model import AuditEntry, Block, BlockState, Protocol
from arconsole.engine.snapshot import (
    SnapshotUnreadable,
    read_snapshot,
    snapshot_path_for,
    write_snapshot,
)

SCHEMA_VERSION = 2
EVENTS_KEPT = 10_000
BUSY_TIMEOUT_S = 5.0
ORPHAN_LOCK_WAIT_S = 5.0  # a dead engine's lock, still held by a child about to exec
TRIGGERS_KEPT = 100_000  # applied alerts remembered: far more than a re-read can reach
SNAPSHOT_INTERVAL_S = 1.0  # at most one snapshot a second, however busy the engine

# Statements that bring a state file from version N to N + 1. Empty while there is only one
# version; a new Block field means a new entry here (ALTER TABLE ... ADD COLUMN ... DEFAULT).
_META = (
    "CREATE TABLE meta (db_id TEXT NOT NULL, seq INTEGER NOT NULL)",
    # A random identity per database: a snapshot written for another file is never trusted
    # to say what this one lost. `seq` counts the commits that changed blocks.
    "INSERT INTO meta (db_id, seq) VALUES (lower(hex(randomblob(16))), 0)",
    # Alerts whose response was applied (answered continue/abort): an alert re-read after a
    # crash is not applied twice (the read position lags behind scripts still running).
    """CREATE TABLE triggers (
        id INTEGER PRIMARY KEY,
        executable TEXT NOT NULL,
        alert_id TEXT NOT NULL
    )""",
)
MIGRATIONS: dict[int, tuple[str, ...]] = {1: _META}

_SCHEMA = (
    "CREATE TABLE schema_version (version INTEGER NOT NULL)",
    """CREATE TABLE blocks (
        key TEXT PRIMARY KEY NOT NULL,
        command TEXT NOT NULL,
        name TEXT NOT NULL,
        executable TEXT NOT NULL,
        protocol TEXT NOT NULL CHECK (protocol IN ('json', 'argv')),
        target TEXT NOT NULL,
        srcip TEXT,
        user TEXT,
        started_at REAL NOT NULL,
        timeout INTEGER NOT NULL,
        offences INTEGER NOT NULL,
        delete_message BLOB NOT NULL,
        state TEXT NOT NULL
            CHECK (state IN ('active', 'reversing', 'reversed', 'failed', 'untracked')),
        alert_id TEXT,
        rule_id TEXT,
        restored INTEGER NOT NULL CHECK (restored IN (0, 1)),
        manual INTEGER NOT NULL CHECK (manual IN (0, 1)),
        last_error TEXT,
        dry_run INTEGER NOT NULL CHECK (dry_run IN (0, 1))
    )""",
    """CREATE TABLE offenders (
        key TEXT PRIMARY KEY NOT NULL,
        count INTEGER NOT NULL,
        updated_at REAL NOT NULL
    )""",
    """CREATE TABLE positions (
        path TEXT PRIMARY KEY NOT NULL,
        inode INTEGER NOT NULL,
        offset INTEGER NOT NULL,
        first_line_hash TEXT NOT NULL
    )""",
    """CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        operator TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        detail TEXT NOT NULL
    )""",
    """CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        kind TEXT NOT NULL,
        message TEXT NOT NULL
    )""",
    *_META,
)

# Same order as Block's fields, so a row becomes a Block positionally (fast restore).
BLOCK_COLUMNS = (
    "key", "command", "name", "executable", "protocol", "target", "srcip", "user",
    "started_at", "timeout", "offences", "delete_message", "state", "alert_id", "rule_id",
    "restored", "manual", "last_error", "dry_run",
)
_SELECT_BLOCKS = f"SELECT {', '.join(BLOCK_COLUMNS)} FROM blocks"
_SAVE_BLOCK = (
    f"INSERT OR REPLACE INTO blocks ({', '.join(BLOCK_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(BLOCK_COLUMNS))})"
)
_PROTOCOLS = {member.value: member for member in Protocol}
_STATES = {member.value: member for member in BlockState}
_CORRUPTION_CODES = (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)
# Primary result codes of a write the file system refused: full, I/O error, gone read-only,
# a -wal/-journal that could not be created.
_WRITE_FAILURE_CODES = {
    sqlite3.SQLITE_FULL: "disk full",
    sqlite3.SQLITE_IOERR: "I/O error",
    sqlite3.SQLITE_READONLY: "file system read-only",
    sqlite3.SQLITE_CANTOPEN: "cannot open a journal file",
}


class StateError(Exception):
    """The state file cannot be used as asked."""


class StateLocked(StateError):
    """Another engine owns the state file."""

    def __init__(self, path: Path, holder_pid: int | None) -> None:
        self.path = path
        self.holder_pid = holder_pid
        owner = f"engine pid {holder_pid}" if holder_pid else "another engine"
        super().__init__(f"state file {path} is owned by {owner}; only one engine may run on it")


class StateCorrupt(StateError):
    """The file is damaged and this store may not repair it (opened without the lock)."""


class StateReadOnly(StateError):
    """A write was attempted on a store opened without the lock."""


class StoreWriteError(StateError):
    """A write failed (disk full, I/O error...): the transaction was rolled back whole.

    `reason` is short ("disk full"); the message names the file and SQLite's words.
    """

    def __init__(self, path: Path, reason: str, detail: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"state file {path}: write failed ({reason}): {detail}")


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


class _Unusable(Exception):
    """The file is not a sound arconsole state file: move it aside and start afresh."""


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
        _make_private_dirs(path.parent)
        _ensure_private_file(path)
        lock_fd = _take_lock(path)
        try:
            store = cls._open_owned(path, clock, offender_decay, lock_fd, durable)
        except BaseException:
            os.close(lock_fd)
            raise
        if _others_can_write(path.parent):
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
        for sidecar in _sidecars(path):
            _tighten_if_present(sidecar)
        recovered: tuple[Path, str] | None = None
        try:
            connection, journal = _connect_checked(path, durable)
        except _Unusable as problem:
            recovered = (_move_aside(path, clock()), str(problem))
            _ensure_private_file(path)
            # The lock held the moved file; the fresh one is a new identity: own it too.
            new_fd = _take_lock(path)
            os.close(lock_fd)
            lock_fd = new_fd
            try:
                connection, journal = _connect_checked(path, durable)
            except _Unusable as again:
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
        _check_regular(path, must_exist=True)
        uri = path.as_uri() + "?mode=ro"
        connection = sqlite3.connect(
            uri, uri=True, isolation_level=None, timeout=BUSY_TIMEOUT_S
        )
        try:
            version = _schema_version(connection)
        except sqlite3.DatabaseError as error:
            connection.close()
            if _is_corruption(error):
                raise StateCorrupt(f"state file {path} is corrupt: {error}") from error
            raise
        except _Unusable as problem:
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
        if self._depth and self._write_failed is not None:
            # Doomed: SQLite may have rolled back already, and a statement run now would
            # commit on its own, outside the transaction it belongs to.
            raise self._write_failed
        try:
            return self._conn.execute(sql, parameters)
        except sqlite3.Error as error:
            failure = self._write_failure(error)
            if failure is None:
                raise
            if self._depth:
                self._write_failed = failure
            raise failure from error

    def _write_failure(self, error: sqlite3.Error) -> StoreWriteError | None:
        code = getattr(error, "sqlite_errorcode", None)
        if code is not None and code & 0xFF in _WRITE_FAILURE_CODES:
            return StoreWriteError(self.path, _WRITE_FAILURE_CODES[code & 0xFF], str(error))
        if self._write_failed is not None and not self._conn.in_transaction:
            # SQLite rolled the transaction back itself after the failure (full, I/O):
            # what follows ("cannot commit - no transaction is active") is the same fault.
            return self._write_failed
        return None

    # ------------------------------------------------------------------ blocks

    def save_block(self, block: Block) -> None:
        """Insert or replace the block with this key."""
        with self._writing():
            self._write(_SAVE_BLOCK, _block_row(block))
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
        row = self._conn.execute(_SELECT_BLOCKS + " WHERE key = ?", (key,)).fetchone()
        return None if row is None else _row_block(row, {})

    def load_blocks(self) -> list[Block]:
        """Every stored block, in no particular order."""
        shared: dict[Any, Any] = {}  # one copy of repeated strings (command, name...) per load
        rows = self._conn.execute(_SELECT_BLOCKS).fetchall()
        return [_row_block(row, shared) for row in rows]

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

    def load_triggers(self) -> set[tuple[str, str]]:
        """(executable, alert id) of the newest TRIGGERS_KEPT applied alerts."""
        rows = self._conn.execute(
            "SELECT executable, alert_id FROM triggers ORDER BY id DESC LIMIT ?",
            (TRIGGERS_KEPT,),
        ).fetchall()
        return {(str(executable), str(alert_id)) for executable, alert_id in rows}

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


def salvage_blocks(path: Path) -> list[Block]:
    """Whatever block rows a damaged state file still gives, read-only; [] if none.

    Reads in rowid order and steps over a damaged stretch rather than giving up at it.
    """
    try:
        connection = sqlite3.connect(path.as_uri() + "?mode=ro", uri=True, isolation_level=None)
    except sqlite3.Error:
        return []
    found: list[Block] = []
    after, skip = -1, 1
    try:
        while skip < 1 << 20:
            try:
                cursor = connection.execute(
                    f"SELECT rowid, {', '.join(BLOCK_COLUMNS)} FROM blocks WHERE rowid > ? "
                    "ORDER BY rowid", (after,))
                for row in cursor:
                    after = row[0]
                    with contextlib.suppress(KeyError, ValueError, TypeError):
                        found.append(_row_block(row[1:], {}))
                return found
            except sqlite3.Error:
                after, skip = after + skip, skip * 2  # jump over the damage, further each time
        return found
    finally:
        connection.close()


def count_salvageable(path: Path) -> int | None:
    """How many blocks a damaged state file says it held; None if it cannot say."""
    try:
        connection = sqlite3.connect(path.as_uri() + "?mode=ro", uri=True, isolation_level=None)
    except sqlite3.Error:
        return None
    try:
        return int(connection.execute("SELECT count(*) FROM blocks").fetchone()[0])
    except sqlite3.Error:
        return None
    finally:
        connection.close()


# ---------------------------------------------------------------------- rows


def _block_row(block: Block) -> tuple[object, ...]:
    return (
        block.key, block.command, block.name, block.executable, block.protocol.value,
        block.target, block.srcip, block.user, block.started_at, block.timeout,
        block.offences, block.delete_message, block.state.value, block.alert_id,
        block.rule_id, int(block.restored), int(block.manual), block.last_error,
        int(block.dry_run),
    )


def _row_block(row: tuple[Any, ...], shared: dict[Any, Any]) -> Block:
    (key, command, name, executable, protocol, target, srcip, user, started_at, timeout,
     offences, delete_message, state, alert_id, rule_id, restored, manual, last_error,
     dry_run) = row
    share = shared.setdefault
    return Block(
        key, share(command, command), share(name, name), share(executable, executable),
        _PROTOCOLS[protocol], share(target, target), srcip, user, started_at, timeout,
        offences, delete_message, _STATES[state], alert_id, share(rule_id, rule_id),
        restored == 1, manual == 1, last_error, dry_run == 1,
    )


# ---------------------------------------------------------------------- the database


def _connect_checked(path: Path, durable: bool) -> tuple[sqlite3.Connection, str]:
    """Check the file, then open it for writing with the schema up to date.

    Raises _Unusable for a file to move aside. The check runs on a read-only connection
    because closing a writable one deletes the -wal file, which belongs in the backup.
    """
    _probe(path)
    connection = sqlite3.connect(
        str(path), isolation_level=None, timeout=BUSY_TIMEOUT_S, check_same_thread=True
    )
    try:
        journal = str(connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]).lower()
        full = durable or journal != "wal"
        connection.execute(f"PRAGMA synchronous = {'FULL' if full else 'NORMAL'}")
        connection.execute("PRAGMA trusted_schema = OFF")
        _prepare_schema(connection)
    except sqlite3.DatabaseError as error:
        connection.close()
        if _is_corruption(error):
            raise _Unusable(str(error)) from error
        raise
    except BaseException:
        connection.close()
        raise
    return connection, journal


def _probe(path: Path) -> None:
    """Integrity and ownership check that never writes to the file nor deletes its WAL."""
    probe = sqlite3.connect(
        path.as_uri() + "?mode=ro", uri=True, isolation_level=None, timeout=BUSY_TIMEOUT_S
    )
    try:
        problems = [row[0] for row in probe.execute("PRAGMA integrity_check").fetchall()]
        if problems != ["ok"]:
            raise _Unusable("integrity check failed: " + "; ".join(problems[:3]))
        version = _schema_version(probe)
        if version is not None and version > SCHEMA_VERSION:
            raise StateError(
                f"state file {path} has schema version {version}, newer than this arconsole "
                f"understands ({SCHEMA_VERSION}); use a newer arconsole or another state file"
            )
    except sqlite3.DatabaseError as error:
        if _is_corruption(error):
            raise _Unusable(str(error)) from error
        raise
    finally:
        probe.close()


def _prepare_schema(connection: sqlite3.Connection) -> None:
    """Create the tables in an empty file, or migrate an older one (the probe refused newer)."""
    version = _schema_version(connection)
    if version is None:
        connection.execute("BEGIN IMMEDIATE")
        for statement in _SCHEMA:
            connection.execute(statement)
        connection.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
        connection.execute("COMMIT")
        return
    if version < SCHEMA_VERSION:
        connection.execute("BEGIN IMMEDIATE")
        for step in range(version, SCHEMA_VERSION):
            for statement in MIGRATIONS[step]:
                connection.execute(statement)
        connection.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))
        connection.execute("COMMIT")


def _schema_version(connection: sqlite3.Connection) -> int | None:
    """The stored version; None for an empty database. _Unusable for someone else's."""
    tables = {
        row[0]
        for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    }
    if not tables:
        return None
    if "schema_version" not in tables:
        raise _Unusable("not an arconsole state file (no schema_version table)")
    row = connection.execute("SELECT version FROM schema_version").fetchone()
    if row is None or not isinstance(row[0], int):
        raise _Unusable("schema_version table holds no version")
    return row[0]


def _is_corruption(error: sqlite3.DatabaseError) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in _CORRUPTION_CODES


# ---------------------------------------------------------------------- files and the lock


def _sidecars(path: Path) -> tuple[Path, ...]:
    return tuple(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal"))


def _make_private_dirs(directory: Path) -> None:
    """Create missing directories 0700 (only the ones created here; existing ones untouched)."""
    missing: list[Path] = []
    current = directory
    while not current.exists():
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=0o700)


def _others_can_write(directory: Path) -> bool:
    mode = directory.stat().st_mode
    return bool(mode & (stat.S_IWGRP | stat.S_IWOTH))


def _open_nofollow(path: Path, flags: int, mode: int = 0o600) -> int:
    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, mode)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise StateError(f"refusing {path}: it is a symbolic link") from error
        raise


def _check_regular(path: Path, *, must_exist: bool) -> bool:
    """True if `path` is a regular file; False if absent (when allowed); else StateError."""
    try:
        fd = _open_nofollow(path, os.O_RDONLY)
    except FileNotFoundError:
        if must_exist:
            raise
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise StateError(f"refusing {path}: not a regular file")
    finally:
        os.close(fd)
    return True


def _ensure_private_file(path: Path) -> None:
    """Create `path` 0600 atomically, or tighten an existing regular file to 0600."""
    try:
        fd = _open_nofollow(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    except FileExistsError:
        _tighten_if_present(path)
    else:
        os.fchmod(fd, 0o600)  # the umask may have removed bits, never added: be exact anyway
        os.close(fd)


def _tighten_if_present(path: Path) -> None:
    try:
        fd = _open_nofollow(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise StateError(f"refusing {path}: not a regular file")
        if info.st_mode & 0o077:
            os.fchmod(fd, stat.S_IMODE(info.st_mode) & 0o600)
    finally:
        os.close(fd)


def _take_lock(path: Path) -> int:
    """Own the database file itself (flock, released by the kernel when the process dies).

    The lock is on the file's identity (device, inode), not its name: two hard links to one
    state file, or one reached through another path, are one lock. `<path>.lock` receives our
    pid so others can say who owns it. Returns the locked descriptor, kept open while owned.
    """
    fd = _open_nofollow(path, os.O_RDWR)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise StateError(f"refusing {path}: not a regular file")
        deadline = time.monotonic() + ORPHAN_LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _flock_holder(info.st_dev, info.st_ino)
                # An engine killed while starting a script: the child holds a copy of the
                # lock's descriptor until its exec closes it (moments). Wait for that only.
                # (/proc/locks shows pid 0 once the process that took the lock is gone.)
                orphaned = holder is not None and (
                    holder <= 0 or not _holds(holder, info.st_dev, info.st_ino))
                if not orphaned or time.monotonic() > deadline:
                    raise StateLocked(path, holder or _read_pid_file(path)) from None
                time.sleep(0.02)
        _write_pid_file(path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _holds(pid: int, device: int, inode: int) -> bool:
    """Whether process `pid` has the file (device, inode) open; True when it cannot be told.

    The pid /proc/locks gives is the lock's creator: gone, or reused by another process, it
    no longer holds the file, and the lock is an inherited copy about to be closed.
    """
    try:
        descriptors = os.listdir(f"/proc/{pid}/fd")
    except FileNotFoundError:
        return False
    except OSError:
        return True
    for name in descriptors:
        try:
            info = os.stat(f"/proc/{pid}/fd/{name}")
        except OSError:
            continue
        if (info.st_dev, info.st_ino) == (device, inode):
            return True
    return False


def _pid_file(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def _write_pid_file(path: Path) -> None:
    pid_path = _pid_file(path)
    fd = _open_nofollow(pid_path, os.O_RDWR | os.O_CREAT)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise StateError(f"refusing {pid_path}: not a regular file")
        if info.st_mode & 0o077:
            os.fchmod(fd, 0o600)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    finally:
        os.close(fd)


def _read_pid_file(path: Path) -> int | None:
    try:
        fd = _open_nofollow(_pid_file(path), os.O_RDONLY)
    except (OSError, StateError):
        return None
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    finally:
        os.close(fd)
    return int(text) if text.isdigit() else None


def _flock_holder(device: int, inode: int) -> int | None:
    """The pid holding an exclusive flock on (device, inode), from /proc/locks; None if unknown.

    Lines read `1: FLOCK  ADVISORY  WRITE 1234 08:02:5678 0 EOF` (device in hex).
    """
    wanted = (os.major(device), os.minor(device), inode)
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as locks:
            lines = locks.read().splitlines()
    except OSError:
        return None
    for line in lines:
        words = line.split()
        if len(words) < 6 or "->" in words or words[1] != "FLOCK" or words[3] != "WRITE":
            continue
        try:
            major, minor, ino = words[5].split(":")
            if (int(major, 16), int(minor, 16), int(ino)) == wanted:
                return int(words[4])
        except ValueError:
            continue
    return None


def _move_aside(path: Path, now: float) -> Path:
    """Rename the database (and its -wal/-shm/-journal) to `<name>.corrupt-<UTC time>`."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    backup = path.with_name(f"{path.name}.corrupt-{stamp}")
    serial = 1
    while backup.exists() or any(side.exists() for side in _sidecars(backup)):
        backup = path.with_name(f"{path.name}.corrupt-{stamp}-{serial}")
        serial += 1
    for source, target in zip((path, *_sidecars(path)), (backup, *_sidecars(backup)), strict=True):
        with contextlib.suppress(FileNotFoundError):
            os.rename(source, target)
    return backup

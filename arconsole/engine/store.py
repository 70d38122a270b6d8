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

In four modules, one job each: this one opens, repairs and closes the file (ownership, the
read-only open); `store_base` has transactions, guarded writes and the blocks table;
`store_records` the small tables (offenders, positions, audit, notices, triggers, reply
marks); `store_recovery` the blocks snapshot and reconcile.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

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
from arconsole.engine.store_base import SNAPSHOT_INTERVAL_S, StoreNotice
from arconsole.engine.store_errors import (
    StateCorrupt,
    StateError,
    StateLocked,
    StateReadOnly,
    StoreWriteError,
)
from arconsole.engine.store_records import EVENTS_KEPT, TRIGGERS_KEPT, StoredEvent, StoreRecords
from arconsole.engine.store_recovery import StoreSnapshots
from arconsole.engine.store_schema import (
    BLOCK_COLUMNS,
    BUSY_TIMEOUT_S,
    SCHEMA_VERSION,
    Unusable,
    connect_checked,
    count_salvageable,
    is_corruption,
    salvage_blocks,
    schema_version,
)

__all__ = [
    "BLOCK_COLUMNS",
    "BUSY_TIMEOUT_S",
    "EVENTS_KEPT",
    "SCHEMA_VERSION",
    "SNAPSHOT_INTERVAL_S",
    "TRIGGERS_KEPT",
    "StateCorrupt",
    "StateError",
    "StateLocked",
    "StateReadOnly",
    "StateStore",
    "StoreNotice",
    "StoreWriteError",
    "StoredEvent",
    "count_salvageable",
    "salvage_blocks",
]


class StateStore(StoreRecords, StoreSnapshots):
    """Open with `StateStore.open`; close with `close()` (or use it as a context manager)."""

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

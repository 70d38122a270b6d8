"""The state file's connection as its one owner uses it: transactions (nested ones are
savepoints), writes whose failure is one typed StoreWriteError that dooms the transaction, and
the blocks table. `StateStore` (store.py) opens the file and puts the parts together:
this base, `store_records` (the small tables) and `store_recovery` (the blocks snapshot).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arconsole.engine.model import Block
from arconsole.engine.snapshot import snapshot_path_for
from arconsole.engine.store_errors import StateReadOnly, StoreWriteError
from arconsole.engine.store_schema import (
    BLOCK_COLUMNS,
    SAVE_BLOCK,
    SELECT_BLOCKS,
    WRITE_FAILURE_CODES,
    block_row,
    row_block,
)

SNAPSHOT_INTERVAL_S = 1.0  # at most one snapshot a second, however busy the engine


@dataclass(frozen=True, slots=True)
class StoreNotice:
    """Something found while opening the store that the operator must be told at start."""

    level: str  # warning | error
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


class StoreBase:
    """What every part of the state store shares (`StateStore` is the whole of it)."""

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

    @property
    def read_only(self) -> bool:
        return not self._owned

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
            except BaseException as error:
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                # A statement run straight on the connection (not through _write) that the
                # disk or a lock refused is the same store fault as one through _write.
                if isinstance(error, sqlite3.Error) and (
                        failure := self._write_failure(error)) is not None:
                    raise failure from error
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

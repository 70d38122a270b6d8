"""The state file's small tables: repeated-offender counts (with their decay), read
positions, the operator audit log, kept notices, applied triggers (so an alert re-read after
a crash is not applied twice) and reply-pending marks (restore.py settles them)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from arconsole.alerts.position import ReadPosition
from arconsole.engine.model import AuditEntry, Block
from arconsole.engine.store_base import StoreBase
from arconsole.engine.store_errors import StateError

EVENTS_KEPT = 10_000
TRIGGERS_KEPT = 100_000  # applied alerts remembered: far more than a re-read can reach


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """A warning or notice the engine wanted kept across restarts."""

    at: float
    kind: str
    message: str


class StoreRecords(StoreBase):
    """Offender counts, positions, audit, notices, triggers and reply-pending marks."""

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

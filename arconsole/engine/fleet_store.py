"""The fleet's tables in the engine's state file: the queries on delivery records, agent blocks
and fleet rows (`FleetStore`).

Kept beside `StateStore` (same SQLite connection, same transactions) rather than inside it:
`fleet_deliveries` holds each (response, agent) message, written once as `queued`; it is
`sent` once the sender's watermark (`fleet_sent_batches`, one row per batch) passes its id,
then `confirmed`, `failed` or `unconfirmed`, written per record with the reason. Records are
appended to the spool and indexed lazily (`fleet_index.FleetIndex`, which every query here
runs first). Rows of an older arconsole keep their datagram in the row or as a bare spool
datagram. `fleet_rows` holds the blocks agents reported through their active-response log
(fleet.md F2, F3), written through the rows log the same lazy way. A read-only store (a tool
while the engine runs, or after a crash) overlays the agent blocks and fleet rows not yet
indexed; its delivery records are the indexed ones. Tables are created on first use, so a
state file from before the fleet opens unchanged (`fleet_schema`). The record types
(`fleet_records`) and the index's limits are importable from here too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from arconsole.engine.agent_spool import Spool
from arconsole.engine.fleet_index import MEMO_LIMIT, ROWS_LOG_LIMIT, FleetIndex
from arconsole.engine.fleet_records import (
    DELIVERY_STATES,
    AgentBlock,
    DeliveryRecord,
    FleetRow,
    NewRecord,
    fleet_row,
    message_of,
    row_images,
)
from arconsole.engine.fleet_rowlog import encode_rows, rows_log_path
from arconsole.engine.fleet_schema import (
    BATCH_TIME,
    DELIVERY_COLUMNS,
    DELIVERY_STATE,
    NO_SPOOL,
    ROW_COLUMNS,
    SAVE_ROW,
)
from arconsole.engine.store import StateStore

__all__ = [
    "DELIVERY_STATES", "MEMO_LIMIT", "ROWS_LOG_LIMIT", "AgentBlock", "DeliveryRecord",
    "FleetRow", "FleetStore", "NewRecord", "message_of",
]

# The reason a record carries when a kill may have caught it between the kernel's send and
# the sender's mark: until its agent's log line confirms it, nobody knows whether it left.
IN_DOUBT = ("in doubt: the engine stopped between handing it to the kernel and noting that; "
            "not sent again, so it never runs twice")

# The states of a record that has left (it was tried at least once).
_LEFT = frozenset({"sent", "confirmed", "unconfirmed"})


class FleetStore(FleetIndex):
    """The fleet tables, on the connection of an open, writable `StateStore`."""

    def __init__(self, store: StateStore) -> None:
        super().__init__(store)
        # A state file of an older arconsole, opened read-only, may lack the spool columns
        # and the watermark table: read what it has.
        columns = {row[1] for row in self._conn.execute("PRAGMA table_info(fleet_deliveries)")}
        self._columns = DELIVERY_COLUMNS
        if columns and "spool_offset" not in columns:
            self._columns = self._columns.replace(*NO_SPOOL)
        if not self._has("fleet_sent_batches"):
            self._columns = self._columns.replace(BATCH_TIME, "NULL")

    @property
    def state_path(self) -> Path:
        return self._store.path

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        return self._store.transaction()

    def _has_tables(self) -> bool:
        return self._has("fleet_rows")

    # ------------------------------------------------------------------ deliveries
    #
    # A record is written once, `queued`. Sending does not touch it: the sender appends one row
    # to `fleet_sent_batches` per batch ("every queued record up to id N has left, at T"), so a
    # record's state is `sent` when it is still `queued` in the table and its id is at most the
    # watermark, max(upto). Failures, confirmations and `unconfirmed` are written per record.

    def watermark(self) -> int:
        """The id of the last record sent (every `queued` one up to it has left)."""
        if not self._has("fleet_sent_batches"):
            return 0
        row = self._conn.execute("SELECT max(upto) FROM fleet_sent_batches").fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def _bytes(self, datagram: bytes | None, offset: int | None, length: int | None
               ) -> bytes | None:
        if datagram is not None or offset is None or length is None:
            return datagram
        spool = self.spool()
        return spool.read(offset, length) if spool is not None else None

    def mark_sent(self, upto: int, now: float) -> None:
        """Every `queued` record with id <= `upto` has been sent (one row per batch)."""
        with self._store.transaction():
            self._conn.execute(
                "INSERT OR REPLACE INTO fleet_sent_batches (upto, at) VALUES (?, ?)", (upto, now))

    def set_delivery_state(
        self, delivery_id: int, state: str, now: float, *, reason: str | None = None,
        tries: int | None = None, sent_at: float | None = None,
    ) -> None:
        self.catch_up()
        with self._store.transaction():
            self._conn.execute(
                "UPDATE fleet_deliveries SET state = ?, updated_at = ?, "
                "reason = coalesce(?, reason), tries = coalesce(?, tries), "
                "sent_at = coalesce(?, sent_at) WHERE id = ?",
                (state, now, reason, tries, sent_at, delivery_id),
            )

    def _select(self, where: str, params: Iterable[object], tail: str = "") -> list[DeliveryRecord]:
        if not self._has_tables():
            return []
        self.catch_up()
        mark = self.watermark()
        rows = self._conn.execute(
            f"SELECT {self._columns} FROM fleet_deliveries WHERE {where} {tail}",
            tuple(params),
        ).fetchall()
        return [self._record(row, mark) for row in rows]

    def _record(self, row: tuple[Any, ...], mark: int) -> DeliveryRecord:
        """A row as it stands, given the watermark `mark`."""
        (delivery_id, response, program, agent, key, datagram, state, reason, queued_at,
         deadline, sent_at, tries, batch_at, offset, length) = row
        if state == "queued" and delivery_id <= mark:
            state = "sent"
        if state in _LEFT:
            tries = max(tries, 1)
            if sent_at is None:
                sent_at = batch_at
        return DeliveryRecord(delivery_id, response, program, agent, key,
                              self._bytes(datagram, offset, length), state, reason,
                              queued_at, deadline, sent_at, tries)

    def get_delivery(self, delivery_id: int) -> DeliveryRecord | None:
        found = self._select("id = ?", (delivery_id,))
        return found[0] if found else None

    def deliveries(self, *states: str, after_id: int = 0, limit: int = -1) -> list[DeliveryRecord]:
        """Records in any of `states` (all when none given), oldest first."""
        if not states:
            return self._select("id > ?", (after_id, limit), "ORDER BY id LIMIT ?")
        mark = self.watermark()
        return self._select(f"id > ? AND {DELIVERY_STATE} IN ({','.join('?' * len(states))})",
                            (after_id, mark, *states, limit), "ORDER BY id LIMIT ?")

    def queued_after(self, after_id: int, limit: int) -> list[tuple[int, bytes | None, float]]:
        """(id, datagram, deadline) of records waiting to be sent, from `after_id` on (the
        datagram None when its bytes are lost: the spool file gone or cut short)."""
        if not self._has_tables():
            return []
        self.catch_up()
        start = max(after_id, self.watermark())
        rows = self._conn.execute(
            "SELECT id, datagram, spool_offset, spool_length, deadline FROM fleet_deliveries "
            "WHERE id > ? AND state = 'queued' ORDER BY id LIMIT ?", (start, limit),
        ).fetchall()
        return [(int(i), self._bytes(d, o, n), float(t)) for i, d, o, n, t in rows]

    def unconfirmed(self, agent: str, program: str) -> list[DeliveryRecord]:
        """Records of `program` for `agent` sent but never confirmed by the agent's log."""
        return self._select(
            f"agent = ? AND program = ? AND {DELIVERY_STATE} IN ('sent', 'unconfirmed')",
            (agent, program, self.watermark()), "ORDER BY id")

    def latest_delivery_state(self, agent: str, program: str, key: str) -> str | None:
        """The state of the newest delivery of (agent, program, key), if any."""
        if not self._has_tables():
            return None
        self.catch_up()
        row = self._conn.execute(
            f"SELECT {DELIVERY_STATE} FROM fleet_deliveries "
            "WHERE agent = ? AND program = ? AND key = ? ORDER BY id DESC LIMIT 1",
            (self.watermark(), agent, program, key),
        ).fetchone()
        return str(row[0]) if row else None

    def latest_message(self, agent: str, program: str, key: str) -> bytes | None:
        """The datagram of the newest delivery of (agent, program, key), if any."""
        if not self._has_tables():
            return None
        self.catch_up()
        row = self._conn.execute(
            "SELECT datagram, spool_offset, spool_length FROM fleet_deliveries "
            "WHERE agent = ? AND program = ? AND key = ? "
            "AND (datagram IS NOT NULL OR spool_offset IS NOT NULL) ORDER BY id DESC LIMIT 1",
            (agent, program, key),
        ).fetchone()
        return self._bytes(*row) if row else None

    def confirm_deliveries(self, agent: str, program: str, key: str, now: float) -> int:
        """Sent (or unconfirmed) records of (agent, program, key) become `confirmed`."""
        self.catch_up()
        with self._store.transaction():
            cursor = self._conn.execute(
                "UPDATE fleet_deliveries SET state = 'confirmed', updated_at = ?, "
                "reason = 'the agent logged it', tries = max(tries, 1), "
                "sent_at = coalesce(sent_at, " + BATCH_TIME + ") "
                "WHERE agent = ? AND program = ? AND key = ? "
                "AND (state IN ('sent', 'unconfirmed', 'sending') "
                "OR (state = 'queued' AND id <= ?))",
                (now, agent, program, key, self.watermark()),
            )
        return cursor.rowcount

    def settle_interrupted(self, now: float, uncertain: int | None = None) -> list[DeliveryRecord]:
        """After a restart: the record caught between the hand-over to the kernel and the
        mark that it left (`uncertain`, from the sender's mark file) may or may not have
        left. It is not sent again (a firewall add run twice is not harmless): it counts as
        `sent`, in doubt, and the agent's log line confirms it like any other; without one
        within the confirmation wait it becomes `unconfirmed`, its reason saying it may never
        have left. (`sending` records of an older arconsole are settled `unconfirmed`.)"""
        self.catch_up()
        records = self.deliveries("sending")
        if records:
            with self._store.transaction():
                self._conn.executemany(
                    "UPDATE fleet_deliveries SET state = 'unconfirmed', updated_at = ?, "
                    "tries = max(tries, 1), "
                    "reason = 'the engine stopped while sending it: not sent again, so it "
                    "never runs twice; the agent''s log line will confirm it' "
                    "WHERE id = ?", [(now, r.id) for r in records],
                )
        if uncertain is not None:
            doubt = [r for r in self.deliveries("queued", after_id=uncertain - 1, limit=1)
                     if r.id == uncertain]
            if doubt:
                with self._store.transaction():
                    # Past the watermark: counted as left (never sent twice); the reason says
                    # why it is in doubt until the agent's log line comes.
                    self._conn.execute(
                        "UPDATE fleet_deliveries SET reason = ?, updated_at = ? WHERE id = ?",
                        (IN_DOUBT, now, uncertain))
                    self.mark_sent(uncertain, now)
                records.extend(self.deliveries(after_id=uncertain - 1, limit=1))
        return records

    def expire_unconfirmed(self, sent_before: float, now: float, reason: str,
                           after_id: int = 0) -> int:
        """Records sent before `sent_before` (ids above `after_id`: the caller's previous
        answer) and still not confirmed become `unconfirmed`; the id they were looked up to."""
        self.catch_up()
        with self._store.transaction():
            row = self._conn.execute(
                "SELECT max(upto) FROM fleet_sent_batches WHERE at < ?", (sent_before,)
            ).fetchone()
            upto = max(int(row[0]) if row and row[0] is not None else 0, after_id)
            self._conn.execute(
                "UPDATE fleet_deliveries SET state = 'unconfirmed', updated_at = ?1, "
                # a reason already there (in doubt after a crash) is kept, this one added
                "reason = (CASE WHEN reason = '' THEN ?2 ELSE reason || '; ' || ?2 END), "
                "tries = max(tries, 1), sent_at = coalesce(sent_at, " + BATCH_TIME + ") "
                "WHERE id > ?3 AND id <= ?4 AND state = 'queued'", (now, reason, after_id, upto),
            )
            if after_id == 0:  # records of an older arconsole, marked `sent` one by one
                self._conn.execute(
                    "UPDATE fleet_deliveries SET state = 'unconfirmed', updated_at = ?, "
                    "reason = ? WHERE state = 'sent' AND sent_at < ?",
                    (now, reason, sent_before),
                )
        return upto

    def count_deliveries(self) -> dict[str, int]:
        if not self._has_tables():
            return {}
        self.catch_up()
        rows = self._conn.execute(
            f"SELECT {DELIVERY_STATE} AS s, count(*) FROM fleet_deliveries GROUP BY s",
            (self.watermark(),),
        ).fetchall()
        return {state: count for state, count in rows}

    # ------------------------------------------------------------------ arconsole's agent blocks

    def save_agent_blocks(self, blocks: Iterable[AgentBlock]) -> None:
        """Save blocks without their message: it is the datagram of the block's newest
        delivery, recorded in the same transaction, so it is not written twice (an empty
        `message` column; `load_agent_blocks` reads it back from the delivery)."""
        self._save_blocks(blocks)

    def delete_agent_block(self, agent: str, program: str, key: str) -> None:
        self.catch_up()
        with self._store.transaction():
            self._conn.execute(
                "DELETE FROM fleet_agent_blocks WHERE agent = ? AND program = ? AND key = ?",
                (agent, program, key),
            )

    def load_agent_blocks(self) -> list[AgentBlock]:
        row = self._conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE name = 'fleet_agent_blocks'"
        ).fetchone()
        if not row or not row[0]:
            return []
        self.catch_up()
        rows = self._conn.execute(
            "SELECT agent, program, key, response, message, flags, timeout, started_at, "
            "expires_at FROM fleet_agent_blocks ORDER BY expires_at"
        ).fetchall()
        blocks = {(row[0], row[1], row[2]): AgentBlock(*row) for row in rows}
        for block in self._tail_blocks():  # a reader's view of what is not indexed yet
            blocks[(block.agent, block.program, block.key)] = block
        for block in blocks.values():
            if not block.message:
                datagram = self.latest_message(block.agent, block.program, block.key)
                block.message = message_of(datagram) if datagram else b""
        return sorted(blocks.values(), key=lambda block: block.expires_at)

    # ------------------------------------------------------------------ fleet rows

    def save_row(self, row: FleetRow) -> None:
        self.save_rows((row,))

    def save_rows(self, rows: Iterable[FleetRow]) -> None:
        """Record the rows' new images: appended to the rows log (one write), or written to
        the state file when there is no log."""
        self._check_open()
        images = row_images(rows)
        if not images:  # an empty entry would read as the end of the log's readable part
            return
        log = self._rows_log
        if log is None:
            with self._store.transaction():
                self._conn.executemany(SAVE_ROW, images)
            return
        entry = encode_rows(images)
        at = log.append([entry], sync=self._durable)[0]
        # The log holds only what is not indexed yet (each catch-up indexes it whole and
        # starts it afresh), so its size past the header is that part: no query per turn.
        if at + len(entry) - log.start > ROWS_LOG_LIMIT:
            self.catch_up_rows()

    def forget_rows(self, idents: Iterable[tuple[str, str, str]]) -> None:
        """Delete rows (lifted ones pruned from the table). The rows log is folded in first,
        so no image left in it brings a deleted row back."""
        self.catch_up_rows()
        with self._store.transaction():
            self._conn.executemany(
                "DELETE FROM fleet_rows WHERE agent = ? AND program = ? AND key = ?",
                list(idents))

    def load_rows(self) -> list[FleetRow]:
        if not self._has_tables():
            return []
        self.catch_up_rows()
        rows = {(row[0], row[1], row[2]): row for row in self._conn.execute(
            f"SELECT {ROW_COLUMNS} FROM fleet_rows").fetchall()}
        if self._rows_log is None and self._store.read_only:  # a reader: the log's tail too
            with contextlib.suppress(OSError):
                log = Spool(rows_log_path(self._store.path), self.db_id(), writable=False)
                try:
                    for image in self._rows_tail(log, self._rows_index())[0]:
                        rows[image[:3]] = image
                finally:
                    log.close()
        return [fleet_row(rows[key]) for key in sorted(rows)]

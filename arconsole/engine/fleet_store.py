"""The fleet's tables in the engine's state file: agent delivery records and fleet rows.

Kept beside `StateStore` (same SQLite connection, same transactions) rather than inside it:
`fleet_deliveries` holds each (response, agent) message, written once as `queued`; it is
`sent` once the sender's watermark (`fleet_sent_batches`, one row per batch) passes its id,
then `confirmed`, `failed` or `unconfirmed`, written per record with the reason. Its exact
datagram is in the spool file beside the state file (`agent_spool`; rows of an older
arconsole keep it in the row), so a restart resends what was not sent and loses nothing;
`fleet_rows` holds the blocks agents reported through their active-response log (fleet.md F2,
F3). Tables are created on first use, so a state file from before the fleet opens unchanged.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arconsole.engine.agent_spool import Spool, spool_path
from arconsole.engine.store import StateStore

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS fleet_deliveries (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        response TEXT NOT NULL,
        program TEXT NOT NULL,
        agent TEXT NOT NULL,
        key TEXT,
        datagram BLOB,
        spool_offset INTEGER,
        spool_length INTEGER,
        state TEXT NOT NULL CHECK (state IN
            ('queued', 'sending', 'sent', 'confirmed', 'failed', 'unconfirmed')),
        reason TEXT NOT NULL DEFAULT '',
        queued_at REAL NOT NULL,
        deadline REAL NOT NULL,
        sent_at REAL,
        tries INTEGER NOT NULL DEFAULT 0,
        updated_at REAL NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS fleet_deliveries_match ON fleet_deliveries (agent, program, key)",
    # The sender's watermark: one row per batch sent, "every queued record up to `upto` left".
    """CREATE TABLE IF NOT EXISTS fleet_sent_batches (
        upto INTEGER PRIMARY KEY,
        at REAL NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS fleet_rows (
        agent TEXT NOT NULL,
        program TEXT NOT NULL,
        key TEXT NOT NULL,
        agent_name TEXT NOT NULL DEFAULT '',
        active INTEGER NOT NULL,
        first_added REAL,
        last_added REAL,
        lifted_at REAL,
        adds INTEGER NOT NULL DEFAULT 0,
        timeout_min INTEGER,
        timeout_max INTEGER,
        responses TEXT NOT NULL DEFAULT '',
        trigger_rule TEXT NOT NULL DEFAULT '',
        trigger_description TEXT NOT NULL DEFAULT '',
        trigger_timestamp TEXT NOT NULL DEFAULT '',
        last_rule TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (agent, program, key)
    )""",
)

_AGENT_BLOCKS_SCHEMA = ("""CREATE TABLE IF NOT EXISTS fleet_agent_blocks (
        agent TEXT NOT NULL,
        program TEXT NOT NULL,
        key TEXT NOT NULL,
        response TEXT NOT NULL,
        message BLOB NOT NULL,
        flags TEXT NOT NULL,
        timeout INTEGER NOT NULL,
        started_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        PRIMARY KEY (agent, program, key)
    )""",)

DELIVERY_STATES = ("queued", "sending", "sent", "confirmed", "failed", "unconfirmed")


@dataclass(slots=True)
class NewDelivery:
    """A delivery about to be recorded (it gets its id, `sent_at` and `tries` in the table)."""

    response: str
    program: str
    agent: str
    key: str | None
    datagram: bytes | None
    state: str
    reason: str
    queued_at: float
    deadline: float


@dataclass(slots=True)
class DeliveryRecord:
    id: int
    response: str
    program: str
    agent: str
    key: str | None
    datagram: bytes | None
    state: str
    reason: str
    queued_at: float
    deadline: float
    sent_at: float | None
    tries: int

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id, "response": self.response, "program": self.program,
            "agent": self.agent, "key": self.key, "state": self.state, "reason": self.reason,
            "queued_at": self.queued_at, "sent_at": self.sent_at, "tries": self.tries,
        }


@dataclass(slots=True)
class AgentBlock:
    """A block arconsole holds on an agent: it owns the timer (the agent's run had timeout 0)."""

    agent: str
    program: str
    key: str
    response: str
    message: bytes  # the ad-hoc add, sent again when the agent restarts
    flags: str
    timeout: int
    started_at: float
    expires_at: float

    @property
    def row_key(self) -> str:
        return f"{self.agent}:{self.program}-{self.key}"


@dataclass(slots=True)
class FleetRow:
    """One (agent, program, key) as the agent's own log reported it."""

    agent: str
    program: str
    key: str
    agent_name: str = ""
    active: bool = True
    first_added: float | None = None
    last_added: float | None = None
    lifted_at: float | None = None
    adds: int = 0
    timeout_min: int | None = None  # None: no response of the config binds the trigger
    timeout_max: int | None = None
    responses: str = ""  # names of the binding responses, comma separated
    trigger_rule: str = ""
    trigger_description: str = ""
    trigger_timestamp: str = ""
    last_rule: str = ""

    @property
    def row_key(self) -> str:
        """How operators name it: `AGENT:program-key` (issue 14 item 4)."""
        return f"{self.agent}:{self.program}-{self.key}"


# When the batch that carried a record left (records sent before the watermark existed have
# their own `sent_at`).
_BATCH_TIME = (
    "(SELECT at FROM fleet_sent_batches WHERE upto >= fleet_deliveries.id ORDER BY upto LIMIT 1)"
)
_DELIVERY_COLUMNS = (
    "id, response, program, agent, key, datagram, state, reason, queued_at, deadline, "
    f"sent_at, tries, {_BATCH_TIME}, spool_offset, spool_length"
)
# A state file from before the spool, opened read-only, has not got those columns.
_NO_SPOOL = ("spool_offset, spool_length", "NULL AS spool_offset, NULL AS spool_length")
_SPOOL_COLUMNS = (("spool_offset", "INTEGER"), ("spool_length", "INTEGER"))
# A record's state, given the watermark as the statement's next parameter.
_STATE = "(CASE WHEN state = 'queued' AND id <= ? THEN 'sent' ELSE state END)"
_LEFT = frozenset({"sent", "confirmed", "unconfirmed"})
_ROW_COLUMNS = (
    "agent, program, key, agent_name, active, first_added, last_added, lifted_at, adds, "
    "timeout_min, timeout_max, responses, trigger_rule, trigger_description, "
    "trigger_timestamp, last_rule"
)


def message_of(datagram: bytes) -> bytes:
    """The JSON of a format-C datagram: `(local_source) [] NNS 001 <json>` + NUL."""
    return datagram.split(b" ", 4)[4].removesuffix(b"\0")


def _fleet_row(row: tuple[object, ...]) -> FleetRow:
    values = list(row)
    values[4] = bool(values[4])
    return FleetRow(*values)  # type: ignore[arg-type]


class FleetStore:
    """The fleet tables, on the connection of an open, writable `StateStore`."""

    def __init__(self, store: StateStore) -> None:
        self._store = store
        self._conn: sqlite3.Connection = store._conn  # same file, same lock
        self._seen: set[str] = set()
        self._spool: Spool | None = None
        self.spool_problem: str | None = None
        self._spool_tried = False
        if not store.read_only:
            with store.transaction():
                for statement in (*_SCHEMA, *_AGENT_BLOCKS_SCHEMA):
                    self._conn.execute(statement)
                present = {row[1] for row in
                           self._conn.execute("PRAGMA table_info(fleet_deliveries)")}
                # Sending no longer changes `state` and reads go by id: an index on it only
                # cost every insert.
                self._conn.execute("DROP INDEX IF EXISTS fleet_deliveries_state")
                for name, kind in _SPOOL_COLUMNS:  # a state file from before the spool
                    if name not in present:
                        self._conn.execute(
                            f"ALTER TABLE fleet_deliveries ADD COLUMN {name} {kind}")
            self._durable = int(self._conn.execute("PRAGMA synchronous").fetchone()[0]) >= 2
            try:
                self._spool = Spool(spool_path(store.path), self.db_id(), writable=True)
            except OSError as error:  # then the datagrams go into the state file, as before
                self.spool_problem = (f"agent delivery spool unavailable ({error}): datagrams "
                                      "are kept in the state file, more slowly")
            self._spool_tried = True
        # A state file of an older arconsole, opened read-only, may lack the spool columns
        # and the watermark table: read what it has.
        columns = {row[1] for row in self._conn.execute("PRAGMA table_info(fleet_deliveries)")}
        self._columns = _DELIVERY_COLUMNS
        if columns and "spool_offset" not in columns:
            self._columns = self._columns.replace(*_NO_SPOOL)
        if not self._has("fleet_sent_batches"):
            self._columns = self._columns.replace(_BATCH_TIME, "NULL")

    @property
    def state_path(self) -> Path:
        return self._store.path

    def db_id(self) -> str:
        """The state file's own random identity (its `meta` row)."""
        row = self._conn.execute("SELECT db_id FROM meta").fetchone()
        return str(row[0]) if row else ""

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        return self._store.transaction()

    def _has_tables(self) -> bool:
        return self._has("fleet_rows")

    def _has(self, table: str) -> bool:
        """Whether `table` exists (a state file from before the fleet, or before the
        watermark, opened read-only has not got it); remembered once seen."""
        if table in self._seen:
            return True
        row = self._conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE name = ?", (table,)
        ).fetchone()
        if row and row[0]:
            self._seen.add(table)
            return True
        return False

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

    def spool(self) -> Spool | None:
        """The datagrams' file (opened read-only on first use by a reader)."""
        if not self._spool_tried:
            self._spool_tried = True
            with contextlib.suppress(OSError):
                self._spool = Spool(spool_path(self._store.path), self.db_id(), writable=False)
        return self._spool

    def _bytes(self, datagram: bytes | None, offset: int | None, length: int | None
               ) -> bytes | None:
        if datagram is not None or offset is None or length is None:
            return datagram
        spool = self.spool()
        return spool.read(offset, length) if spool is not None else None

    def add_deliveries(self, records: Iterable[NewDelivery]) -> list[int]:
        """Insert the records in one transaction; their ids, in order. Their datagrams go
        to the spool first (one write), the records keep where they are."""
        records = list(records)
        if not records:
            return []
        spool = self._spool
        rows: list[tuple[object, ...]]
        if spool is not None and spool.writable:
            datagrams = [r.datagram for r in records if r.datagram is not None]
            offsets = iter(spool.append(datagrams, sync=self._durable))
            rows = [(r.response, r.program, r.agent, r.key, None,
                     next(offsets) if r.datagram is not None else None,
                     len(r.datagram) if r.datagram is not None else None,
                     r.state, r.reason, r.queued_at, r.deadline, r.queued_at)
                    for r in records]
        else:
            rows = [(r.response, r.program, r.agent, r.key, r.datagram, None, None, r.state,
                     r.reason, r.queued_at, r.deadline, r.queued_at) for r in records]
        with self._store.transaction():
            self._conn.executemany(
                "INSERT INTO fleet_deliveries (response, program, agent, key, datagram, "
                "spool_offset, spool_length, state, reason, queued_at, deadline, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows,
            )
            # One writer holds the file's lock: AUTOINCREMENT ids of one statement follow on.
            last = self._conn.execute("SELECT last_insert_rowid()").fetchone()[0]
        return list(range(last - len(rows) + 1, last + 1))

    def mark_sent(self, upto: int, now: float) -> None:
        """Every `queued` record with id <= `upto` has been sent (one row per batch)."""
        with self._store.transaction():
            self._conn.execute(
                "INSERT OR REPLACE INTO fleet_sent_batches (upto, at) VALUES (?, ?)", (upto, now))

    def set_delivery_state(
        self, delivery_id: int, state: str, now: float, *, reason: str | None = None,
        tries: int | None = None, sent_at: float | None = None,
    ) -> None:
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
        return self._select(f"id > ? AND {_STATE} IN ({','.join('?' * len(states))})",
                            (after_id, mark, *states, limit), "ORDER BY id LIMIT ?")

    def queued_after(self, after_id: int, limit: int) -> list[tuple[int, bytes | None, float]]:
        """(id, datagram, deadline) of records waiting to be sent, from `after_id` on (the
        datagram None when its bytes are lost: the spool file gone or cut short)."""
        if not self._has_tables():
            return []
        start = max(after_id, self.watermark())
        rows = self._conn.execute(
            "SELECT id, datagram, spool_offset, spool_length, deadline FROM fleet_deliveries "
            "WHERE id > ? AND state = 'queued' ORDER BY id LIMIT ?", (start, limit),
        ).fetchall()
        return [(int(i), self._bytes(d, o, n), float(t)) for i, d, o, n, t in rows]

    def unconfirmed(self, agent: str, program: str) -> list[DeliveryRecord]:
        """Records of `program` for `agent` sent but never confirmed by the agent's log."""
        return self._select(f"agent = ? AND program = ? AND {_STATE} IN ('sent', 'unconfirmed')",
                            (agent, program, self.watermark()), "ORDER BY id")

    def latest_delivery_state(self, agent: str, program: str, key: str) -> str | None:
        """The state of the newest delivery of (agent, program, key), if any."""
        if not self._has_tables():
            return None
        row = self._conn.execute(
            f"SELECT {_STATE} FROM fleet_deliveries WHERE agent = ? AND program = ? AND key = ? "
            "ORDER BY id DESC LIMIT 1", (self.watermark(), agent, program, key),
        ).fetchone()
        return str(row[0]) if row else None

    def latest_message(self, agent: str, program: str, key: str) -> bytes | None:
        """The datagram of the newest delivery of (agent, program, key), if any."""
        if not self._has_tables():
            return None
        row = self._conn.execute(
            "SELECT datagram, spool_offset, spool_length FROM fleet_deliveries "
            "WHERE agent = ? AND program = ? AND key = ? "
            "AND (datagram IS NOT NULL OR spool_offset IS NOT NULL) ORDER BY id DESC LIMIT 1",
            (agent, program, key),
        ).fetchone()
        return self._bytes(*row) if row else None

    def confirm_deliveries(self, agent: str, program: str, key: str, now: float) -> int:
        """Sent (or unconfirmed) records of (agent, program, key) become `confirmed`."""
        with self._store.transaction():
            cursor = self._conn.execute(
                "UPDATE fleet_deliveries SET state = 'confirmed', updated_at = ?, "
                "reason = 'the agent logged it', tries = max(tries, 1), "
                "sent_at = coalesce(sent_at, " + _BATCH_TIME + ") "
                "WHERE agent = ? AND program = ? AND key = ? "
                "AND (state IN ('sent', 'unconfirmed', 'sending') "
                "OR (state = 'queued' AND id <= ?))",
                (now, agent, program, key, self.watermark()),
            )
        return cursor.rowcount

    def settle_interrupted(self, now: float, uncertain: int | None = None) -> list[DeliveryRecord]:
        """After a restart: a record caught between the hand-over to the kernel and the mark
        that it left (`uncertain`, from the sender's mark file; `sending` in a state file of
        an older arconsole) may or may not have left. It is not sent again (a firewall add run
        twice is not harmless); it waits as `unconfirmed` for the agent's log line."""
        records = self.deliveries("sending")
        if uncertain is not None:
            records.extend(r for r in self.deliveries("queued", after_id=uncertain - 1, limit=1)
                           if r.id == uncertain)
        if records:
            with self._store.transaction():
                self._conn.executemany(
                    "UPDATE fleet_deliveries SET state = 'unconfirmed', updated_at = ?, "
                    "tries = max(tries, 1), "
                    "reason = 'the engine stopped while sending it: not sent again, so it "
                    "never runs twice; the agent''s log line will confirm it' "
                    "WHERE id = ?", [(now, r.id) for r in records],
                )
        return records

    def expire_unconfirmed(self, sent_before: float, now: float, reason: str,
                           after_id: int = 0) -> int:
        """Records sent before `sent_before` (ids above `after_id`: the caller's previous
        answer) and still not confirmed become `unconfirmed`; the id they were looked up to."""
        with self._store.transaction():
            row = self._conn.execute(
                "SELECT max(upto) FROM fleet_sent_batches WHERE at < ?", (sent_before,)
            ).fetchone()
            upto = max(int(row[0]) if row and row[0] is not None else 0, after_id)
            self._conn.execute(
                "UPDATE fleet_deliveries SET state = 'unconfirmed', updated_at = ?, reason = ?, "
                "tries = max(tries, 1), sent_at = coalesce(sent_at, " + _BATCH_TIME + ") "
                "WHERE id > ? AND id <= ? AND state = 'queued'", (now, reason, after_id, upto),
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
        rows = self._conn.execute(
            f"SELECT {_STATE} AS s, count(*) FROM fleet_deliveries GROUP BY s",
            (self.watermark(),),
        ).fetchall()
        return {state: count for state, count in rows}

    # ------------------------------------------------------------------ arconsole's agent blocks

    def save_agent_blocks(self, blocks: Iterable[AgentBlock]) -> None:
        """Save blocks without their message: it is the datagram of the block's newest
        delivery, recorded in the same transaction, so it is not written twice (an empty
        `message` column; `load_agent_blocks` reads it back from the delivery)."""
        with self._store.transaction():
            self._conn.executemany(
                "INSERT OR REPLACE INTO fleet_agent_blocks (agent, program, key, response, "
                "message, flags, timeout, started_at, expires_at) VALUES (?,?,?,?,?,?,?,?,?)",
                [(block.agent, block.program, block.key, block.response, b"",
                  block.flags, block.timeout, block.started_at, block.expires_at)
                 for block in blocks],
            )

    def delete_agent_block(self, agent: str, program: str, key: str) -> None:
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
        rows = self._conn.execute(
            "SELECT agent, program, key, response, message, flags, timeout, started_at, "
            "expires_at FROM fleet_agent_blocks ORDER BY expires_at"
        ).fetchall()
        blocks = [AgentBlock(*row) for row in rows]
        for block in blocks:
            if not block.message:
                datagram = self.latest_message(block.agent, block.program, block.key)
                block.message = message_of(datagram) if datagram else b""
        return blocks

    # ------------------------------------------------------------------ fleet rows

    def save_row(self, row: FleetRow) -> None:
        self.save_rows((row,))

    def save_rows(self, rows: Iterable[FleetRow]) -> None:
        with self._store.transaction():
            self._conn.executemany(
                f"INSERT OR REPLACE INTO fleet_rows ({_ROW_COLUMNS}) "
                f"VALUES ({','.join('?' * 16)})",
                [(row.agent, row.program, row.key, row.agent_name, int(row.active),
                  row.first_added, row.last_added, row.lifted_at, row.adds, row.timeout_min,
                  row.timeout_max, row.responses, row.trigger_rule, row.trigger_description,
                  row.trigger_timestamp, row.last_rule) for row in rows],
            )

    def load_rows(self) -> list[FleetRow]:
        if not self._has_tables():
            return []
        rows = self._conn.execute(
            f"SELECT {_ROW_COLUMNS} FROM fleet_rows ORDER BY agent, program, key"
        ).fetchall()
        return [_fleet_row(row) for row in rows]

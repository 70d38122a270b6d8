"""The fleet's tables in the engine's state file: agent delivery records and fleet rows.

Kept beside `StateStore` (same SQLite connection, same transactions) rather than inside it:
`fleet_deliveries` holds each (response, agent) message, written once as `queued`; it is
`sent` once the sender's watermark (`fleet_sent_batches`, one row per batch) passes its id,
then `confirmed`, `failed` or `unconfirmed`, written per record with the reason. The record
is first written, with its exact datagram, as an entry of the spool file beside the state
file (`agent_spool`): that entry is the durable `queued` record, so recording a burst costs
one `write`, not SQLite rows. Entries are indexed into `fleet_deliveries` (and the agent
blocks they open into `fleet_agent_blocks`) in batches by `catch_up`, which every read or
change of those tables runs first, in the same transaction; `fleet_spool_index` says how far.
Rows of an older arconsole keep their datagram in the row or as a bare spool datagram. A
restart indexes what the last run left, resends what was not sent and loses nothing;
`fleet_rows` holds the blocks agents reported through their active-response log (fleet.md F2,
F3), written through the rows log (`fleet_rowlog`) the same lazy way. A read-only store (a
tool while the engine runs, or after a crash) overlays the agent blocks and fleet rows not yet
indexed; its delivery records are the indexed ones. Tables are created on first use, so a
state file from before the fleet opens unchanged.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from arconsole.engine.agent_spool import Entry, EntryWriter, Spool, spool_path
from arconsole.engine.fleet_rowlog import RowImage, decode_rows, encode_rows, rows_log_path
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

# How far the spool's entries, and the rows log's, are indexed into the tables above.
_INDEX_SCHEMA = ("""CREATE TABLE IF NOT EXISTS fleet_spool_index (
        one INTEGER PRIMARY KEY CHECK (one = 1),
        upto INTEGER NOT NULL
    )""", """CREATE TABLE IF NOT EXISTS fleet_rows_index (
        one INTEGER PRIMARY KEY CHECK (one = 1),
        upto INTEGER NOT NULL
    )""")
# Records the index may take from memory instead of reading the spool back.
MEMO_LIMIT = 65536
# The rows log is indexed and started afresh once its unindexed part is this large.
ROWS_LOG_LIMIT = 16 << 20
_SAVE_ROW = (
    "INSERT OR REPLACE INTO fleet_rows (agent, program, key, agent_name, active, first_added, "
    "last_added, lifted_at, adds, timeout_min, timeout_max, responses, trigger_rule, "
    "trigger_description, trigger_timestamp, last_rule) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
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

# A record handed to `FleetStore.append`: (response, program, agent, key, datagram, state,
# reason, queued_at, deadline, the agent block it opens or None). A tuple: one per response.
NewRecord = tuple[str, str, str, "str | None", "bytes | None", str, str, float, float,
                  "AgentBlock | None"]
_INSERT_DELIVERY = (
    "INSERT INTO fleet_deliveries (id, response, program, agent, key, datagram, spool_offset, "
    "spool_length, state, reason, queued_at, deadline, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_SAVE_BLOCK = (
    "INSERT OR REPLACE INTO fleet_agent_blocks (agent, program, key, response, message, flags, "
    "timeout, started_at, expires_at) VALUES (?,?,?,?,?,?,?,?,?)"
)

DELIVERY_STATES = ("queued", "sending", "sent", "confirmed", "failed", "unconfirmed")


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


class FleetRow(msgspec.Struct, gc=False):
    """One (agent, program, key) as the agent's own log reported it. (A msgspec Struct the
    garbage collector does not track: a burst makes thousands, all of plain values.)"""

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
        self._rows_log: Spool | None = None
        self._next_id = 1
        self._heads = EntryWriter()
        # Batches appended since the last catch-up, while they follow on from its offset:
        # (first id, records, chunk offsets, index of each record's head among the chunks).
        self._memo: list[tuple[int, list[NewRecord], list[int], list[int]]] = []
        self._memo_start = self._memo_end = -1
        # Where `append`'s entries start in the spool (None when they went to SQLite).
        self.last_offsets: list[int] | None = None
        if not store.read_only:
            with store.transaction():
                for statement in (*_SCHEMA, *_AGENT_BLOCKS_SCHEMA, *_INDEX_SCHEMA):
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
            except OSError as error:  # then the records go into the state file, as before
                self.spool_problem = (f"agent delivery spool unavailable ({error}): records "
                                      "are kept in the state file, more slowly")
            self._spool_tried = True
            if self._spool is not None:
                self._start_index(self._spool)
            try:
                self._rows_log = Spool(rows_log_path(store.path), self.db_id(), writable=True)
            except OSError:  # then rows go to the state file one by one, as before
                pass
            else:
                self._start_rows_log(self._rows_log)
            row = self._conn.execute(
                "SELECT max(coalesce((SELECT max(id) FROM fleet_deliveries), 0), coalesce("
                "(SELECT seq FROM sqlite_sequence WHERE name = 'fleet_deliveries'), 0))"
            ).fetchone()
            self._next_id = int(row[0]) + 1
        # A state file of an older arconsole, opened read-only, may lack the spool columns
        # and the watermark table: read what it has.
        columns = {row[1] for row in self._conn.execute("PRAGMA table_info(fleet_deliveries)")}
        self._columns = _DELIVERY_COLUMNS
        if columns and "spool_offset" not in columns:
            self._columns = self._columns.replace(*_NO_SPOOL)
        if not self._has("fleet_sent_batches"):
            self._columns = self._columns.replace(_BATCH_TIME, "NULL")

    def _start_index(self, spool: Spool) -> None:
        """The index offset at open: a new table starts at the spool's end (what is before
        is bare datagrams of an older arconsole); an offset past the end means the spool was
        lost and started afresh; what the last run left unindexed is indexed now."""
        end = spool.end()
        with self._store.transaction():
            row = self._conn.execute("SELECT upto FROM fleet_spool_index").fetchone()
            if row is None or int(row[0]) > end:
                self._conn.execute(
                    "INSERT OR REPLACE INTO fleet_spool_index (one, upto) VALUES (1, ?)", (end,))
        self.catch_up()

    def _index_offset(self) -> int | None:
        if not self._has("fleet_spool_index"):
            return None
        row = self._conn.execute("SELECT upto FROM fleet_spool_index").fetchone()
        return int(row[0]) if row else None

    def catch_up(self) -> int:
        """Index the spool's entries not yet in the tables (one transaction); how many. Runs
        before every read or change of the delivery and agent-block tables, so they show
        every record; a torn tail (a crash mid-write) is cut off."""
        spool = self._spool
        if spool is None or not spool.writable:
            return 0
        start = self._index_offset()
        if start is None:
            return 0
        end = spool.end()
        if start >= end:
            self._memo = []
            self._memo_start = self._memo_end = end
            return 0
        memo, self._memo = self._memo, []
        if memo and start == self._memo_start and end == self._memo_end:
            # What this store appended since the last catch-up, still in memory: the same
            # fields the entries hold, without reading them back.
            count = self._index_memo(memo)
            stop = end
        else:
            entries, stop = spool.entries(start, upto=end)
            if stop < end:  # not a whole entry (a crash mid-write): nothing refers to it
                spool.truncate(stop)
            count = len(entries)
            with self._store.transaction():
                self._index(entries)
                self._conn.execute("UPDATE fleet_spool_index SET upto = ?", (stop,))
        self._memo_start = self._memo_end = stop
        return count

    def _index_memo(self, memo: list[tuple[int, list[NewRecord], list[int], list[int]]]
                    ) -> int:
        rows: list[tuple[object, ...]] = []
        blocks: list[tuple[object, ...]] = []
        for first, records, offsets, heads in memo:
            for n, (response, program, agent, key, datagram, state, reason, queued_at,
                    deadline, block) in enumerate(records):
                size = len(datagram) if datagram is not None else 0
                rows.append((first + n, response, program, agent, key, None,
                             offsets[heads[n] + 1] if size else None, size or None, state,
                             reason, queued_at, deadline, queued_at))
                if block is not None and key:
                    blocks.append((agent, program, key, response, b"", block.flags,
                                   block.timeout, block.started_at, block.expires_at))
        with self._store.transaction():
            self._conn.executemany(_INSERT_DELIVERY, rows)
            if blocks:
                self._conn.executemany(_SAVE_BLOCK, blocks)
            self._conn.execute("UPDATE fleet_spool_index SET upto = ?", (self._memo_end,))
        return len(rows)

    def _index(self, entries: list[Entry]) -> None:
        self._conn.executemany(_INSERT_DELIVERY, [
            (e.id, e.response, e.program, e.agent, e.key, None,
             e.datagram_offset if e.datagram_length else None, e.datagram_length or None,
             e.state, e.reason, e.queued_at, e.deadline, e.queued_at) for e in entries])
        blocks = [(e.agent, e.program, e.key, e.response, b"", e.flags, e.block_timeout,
                   e.block_started, e.block_expires)
                  for e in entries if e.block_timeout >= 0 and e.key]
        if blocks:
            self._conn.executemany(_SAVE_BLOCK, blocks)

    def _tail_blocks(self) -> list[AgentBlock]:
        """A read-only look at the agent blocks opened by entries not yet indexed."""
        spool = self.spool()
        start = self._index_offset()
        if spool is None or start is None:
            return []
        blocks: list[AgentBlock] = []
        for entry in spool.entries(start)[0]:
            if entry.block_timeout >= 0 and entry.key:
                datagram = spool.read(entry.datagram_offset, entry.datagram_length)
                blocks.append(AgentBlock(
                    entry.agent, entry.program, entry.key, entry.response,
                    message_of(datagram) if datagram else b"", entry.flags,
                    entry.block_timeout, entry.block_started, entry.block_expires))
        return blocks

    def append(self, records: list[NewRecord]) -> int:
        """Record new deliveries (and the agent blocks they open) durably; the id of the
        first (the others follow on). With the spool: one gathered write of their entries,
        no SQLite; without it: rows, as before."""
        first = self._next_id
        spool = self._spool
        self.last_offsets = None
        if spool is None or not spool.writable:
            self._insert_rows(records, first)
            self._next_id = first + len(records)
            return first
        chunks: list[bytes] = []
        heads: list[int] = []
        record_id = first
        encode = self._heads.head
        for (response, program, agent, key, datagram, state, reason, queued_at, deadline,
             block) in records:
            size = len(datagram) if datagram is not None else 0
            if block is not None:
                head = encode(record_id, response, program, agent, key, state == "failed",
                              reason, queued_at, deadline, block.flags, block.timeout,
                              block.started_at, block.expires_at, size)
            else:
                head = encode(record_id, response, program, agent, key, state == "failed",
                              reason, queued_at, deadline, "", -1, 0.0, 0.0, size)
            heads.append(len(chunks))
            chunks.append(head)
            if size:
                chunks.append(datagram)  # type: ignore[arg-type]
            record_id += 1
        offsets = spool.append(chunks, sync=self._durable)
        self._next_id = record_id
        self.last_offsets = [offsets[index] for index in heads]
        if offsets[0] == self._memo_end and self._memo_count() + len(records) <= MEMO_LIMIT:
            self._memo.append((first, records, offsets, heads))
            self._memo_end = offsets[-1] + len(chunks[-1])
        else:  # not right after the memo (another writer?) or too many: read them back
            self._memo = []
            self._memo_end = -1
        return first

    def _memo_count(self) -> int:
        return sum(len(batch[1]) for batch in self._memo)

    def _insert_rows(self, records: list[NewRecord], first: int) -> None:
        with self._store.transaction():
            self._conn.executemany(_INSERT_DELIVERY, [
                (first + n, r[0], r[1], r[2], r[3], r[4], None, None, r[5], r[6], r[7], r[8],
                 r[7]) for n, r in enumerate(records)])
            self.save_agent_blocks([r[9] for r in records if r[9] is not None])

    def spooled(self, offset: int, limit: int) -> tuple[list[tuple[int, bytes, float]], int]:
        """(id, datagram, deadline) of queued entries from `offset` on (the sender's queue
        beyond what it holds in memory), and the offset after them."""
        spool = self._spool
        if spool is None:
            return [], offset
        return spool.queued(offset, limit)

    def spool_end(self) -> int | None:
        """Where the next entry will go (None without a writable spool)."""
        spool = self._spool
        return spool.end() if spool is not None and spool.writable else None

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
        return self._select(f"id > ? AND {_STATE} IN ({','.join('?' * len(states))})",
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
        return self._select(f"agent = ? AND program = ? AND {_STATE} IN ('sent', 'unconfirmed')",
                            (agent, program, self.watermark()), "ORDER BY id")

    def latest_delivery_state(self, agent: str, program: str, key: str) -> str | None:
        """The state of the newest delivery of (agent, program, key), if any."""
        if not self._has_tables():
            return None
        self.catch_up()
        row = self._conn.execute(
            f"SELECT {_STATE} FROM fleet_deliveries WHERE agent = ? AND program = ? AND key = ? "
            "ORDER BY id DESC LIMIT 1", (self.watermark(), agent, program, key),
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
        self.catch_up()
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
        self.catch_up()
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
        self.catch_up()
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
        self.catch_up()
        with self._store.transaction():
            self._conn.executemany(
                _SAVE_BLOCK,
                [(block.agent, block.program, block.key, block.response, b"",
                  block.flags, block.timeout, block.started_at, block.expires_at)
                 for block in blocks],
            )

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
        images: list[RowImage] = [
            (row.agent, row.program, row.key, row.agent_name, row.active, row.first_added,
             row.last_added, row.lifted_at, row.adds, row.timeout_min, row.timeout_max,
             row.responses, row.trigger_rule, row.trigger_description, row.trigger_timestamp,
             row.last_rule) for row in rows]
        log = self._rows_log
        if log is None:
            with self._store.transaction():
                self._conn.executemany(_SAVE_ROW, images)
            return
        log.append([encode_rows(images)], sync=self._durable)
        if log.end() - self._rows_index() > ROWS_LOG_LIMIT:
            self.catch_up_rows()

    def _start_rows_log(self, log: Spool) -> None:
        end = log.end()
        with self._store.transaction():
            row = self._conn.execute("SELECT upto FROM fleet_rows_index").fetchone()
            if row is None or int(row[0]) > end:  # new, or the log was lost
                self._conn.execute(
                    "INSERT OR REPLACE INTO fleet_rows_index (one, upto) VALUES (1, ?)", (end,))
        self.catch_up_rows()

    def _rows_index(self) -> int:
        if not self._has("fleet_rows_index"):
            return 0
        row = self._conn.execute("SELECT upto FROM fleet_rows_index").fetchone()
        return int(row[0]) if row else 0

    def _rows_tail(self, log: Spool, start: int) -> tuple[list[RowImage], int]:
        end = log.end()
        if start <= 0 or start >= end:
            return [], start
        data = log.read(start, end - start)
        if data is None:
            return [], start
        images, used = decode_rows(data)
        return images, start + used

    def catch_up_rows(self) -> int:
        """Write the rows log's images into `fleet_rows` (the last of each row), then start
        the log afresh; how many images were read."""
        log = self._rows_log
        if log is None:
            return 0
        start = self._rows_index()
        if start == log.start and log.end() == start:
            return 0
        images, _ = self._rows_tail(log, start)
        latest = {image[:3]: image for image in images}
        with self._store.transaction():
            if latest:
                self._conn.executemany(_SAVE_ROW, list(latest.values()))
            self._conn.execute("UPDATE fleet_rows_index SET upto = ?", (log.start,))
        log.truncate(log.start)  # a crash before this: the images are replayed, harmlessly
        return len(images)

    def load_rows(self) -> list[FleetRow]:
        if not self._has_tables():
            return []
        self.catch_up_rows()
        rows = {(row[0], row[1], row[2]): row for row in self._conn.execute(
            f"SELECT {_ROW_COLUMNS} FROM fleet_rows").fetchall()}
        if self._rows_log is None and self._store.read_only:  # a reader: the log's tail too
            with contextlib.suppress(OSError):
                log = Spool(rows_log_path(self._store.path), self.db_id(), writable=False)
                try:
                    for image in self._rows_tail(log, self._rows_index())[0]:
                        rows[image[:3]] = image
                finally:
                    log.close()
        return [_fleet_row(rows[key]) for key in sorted(rows)]

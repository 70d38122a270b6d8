"""The fleet's tables in the engine's state file: agent delivery records and fleet rows.

Kept beside `StateStore` (same SQLite connection, same transactions) rather than inside it:
`fleet_deliveries` holds each (response, agent) message from `queued` through `sending` to
`sent` and then `confirmed`, `failed` or `unconfirmed`, with its exact datagram, so a restart
resends what was not sent and loses nothing; `fleet_rows` holds the blocks agents reported
through their active-response log (fleet.md F2, F3). Tables are created on first use, so a
state file from before the fleet opens unchanged.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from arconsole.engine.store import StateStore

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS fleet_deliveries (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        response TEXT NOT NULL,
        program TEXT NOT NULL,
        agent TEXT NOT NULL,
        key TEXT,
        datagram BLOB,
        state TEXT NOT NULL CHECK (state IN
            ('queued', 'sending', 'sent', 'confirmed', 'failed', 'unconfirmed')),
        reason TEXT NOT NULL DEFAULT '',
        queued_at REAL NOT NULL,
        deadline REAL NOT NULL,
        sent_at REAL,
        tries INTEGER NOT NULL DEFAULT 0,
        updated_at REAL NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS fleet_deliveries_state ON fleet_deliveries (state, id)",
    "CREATE INDEX IF NOT EXISTS fleet_deliveries_match ON fleet_deliveries (agent, program, key)",
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


_DELIVERY_COLUMNS = (
    "id, response, program, agent, key, datagram, state, reason, queued_at, deadline, "
    "sent_at, tries"
)
_ROW_COLUMNS = (
    "agent, program, key, agent_name, active, first_added, last_added, lifted_at, adds, "
    "timeout_min, timeout_max, responses, trigger_rule, trigger_description, "
    "trigger_timestamp, last_rule"
)


def _delivery(row: tuple[object, ...]) -> DeliveryRecord:
    return DeliveryRecord(*row)  # type: ignore[arg-type]


def _fleet_row(row: tuple[object, ...]) -> FleetRow:
    values = list(row)
    values[4] = bool(values[4])
    return FleetRow(*values)  # type: ignore[arg-type]


class FleetStore:
    """The fleet tables, on the connection of an open, writable `StateStore`."""

    def __init__(self, store: StateStore) -> None:
        self._store = store
        self._conn: sqlite3.Connection = store._conn  # same file, same lock
        if not store.read_only:
            with store.transaction():
                for statement in (*_SCHEMA, *_AGENT_BLOCKS_SCHEMA):
                    self._conn.execute(statement)

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        return self._store.transaction()

    def _has_tables(self) -> bool:
        row = self._conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE name = 'fleet_rows'"
        ).fetchone()
        return bool(row and row[0])

    # ------------------------------------------------------------------ deliveries

    def add_deliveries(self, records: Iterable[NewDelivery]) -> list[int]:
        """Insert the records in one transaction; their ids, in order."""
        rows = [(r.response, r.program, r.agent, r.key, r.datagram, r.state, r.reason,
                 r.queued_at, r.deadline, r.queued_at) for r in records]
        if not rows:
            return []
        with self._store.transaction():
            self._conn.executemany(
                "INSERT INTO fleet_deliveries (response, program, agent, key, datagram, "
                "state, reason, queued_at, deadline, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows,
            )
            # One writer holds the file's lock: AUTOINCREMENT ids of one statement follow on.
            last = self._conn.execute("SELECT last_insert_rowid()").fetchone()[0]
        return list(range(last - len(rows) + 1, last + 1))

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

    def get_delivery(self, delivery_id: int) -> DeliveryRecord | None:
        row = self._conn.execute(
            f"SELECT {_DELIVERY_COLUMNS} FROM fleet_deliveries WHERE id = ?", (delivery_id,)
        ).fetchone()
        return _delivery(row) if row else None

    def deliveries(self, *states: str, after_id: int = 0, limit: int = -1) -> list[DeliveryRecord]:
        """Records in any of `states` (all when none given), oldest first."""
        if not self._has_tables():
            return []
        where = "id > ?"
        params: list[object] = [after_id]
        if states:
            where += f" AND state IN ({','.join('?' * len(states))})"
            params.extend(states)
        rows = self._conn.execute(
            f"SELECT {_DELIVERY_COLUMNS} FROM fleet_deliveries WHERE {where} ORDER BY id "
            "LIMIT ?", (*params, limit),
        ).fetchall()
        return [_delivery(row) for row in rows]

    def unconfirmed(self, agent: str, program: str) -> list[DeliveryRecord]:
        """Records of `program` for `agent` sent but never confirmed by the agent's log."""
        if not self._has_tables():
            return []
        rows = self._conn.execute(
            f"SELECT {_DELIVERY_COLUMNS} FROM fleet_deliveries WHERE agent = ? AND program = ? "
            "AND state IN ('sent', 'unconfirmed') ORDER BY id", (agent, program),
        ).fetchall()
        return [_delivery(row) for row in rows]

    def latest_delivery_state(self, agent: str, program: str, key: str) -> str | None:
        """The state of the newest delivery of (agent, program, key), if any."""
        if not self._has_tables():
            return None
        row = self._conn.execute(
            "SELECT state FROM fleet_deliveries WHERE agent = ? AND program = ? AND key = ? "
            "ORDER BY id DESC LIMIT 1", (agent, program, key),
        ).fetchone()
        return str(row[0]) if row else None

    def confirm_deliveries(self, agent: str, program: str, key: str, now: float) -> int:
        """Sent (or unconfirmed) records of (agent, program, key) become `confirmed`."""
        with self._store.transaction():
            cursor = self._conn.execute(
                "UPDATE fleet_deliveries SET state = 'confirmed', updated_at = ?, "
                "reason = 'the agent logged it' WHERE agent = ? AND program = ? AND key = ? "
                "AND state IN ('sent', 'unconfirmed', 'sending')",
                (now, agent, program, key),
            )
        return cursor.rowcount

    def mark_many(self, ids: list[int], state: str, now: float, *,
                  sent_at: float | None = None) -> None:
        """One statement for a batch (the sender's hot path)."""
        if not ids:
            return
        with self._store.transaction():
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                self._conn.execute(
                    f"UPDATE fleet_deliveries SET state = ?, updated_at = ?, "
                    f"sent_at = coalesce(?, sent_at), "
                    f"tries = tries + (CASE WHEN ? = 'sending' THEN 1 ELSE 0 END) "
                    f"WHERE id IN ({','.join('?' * len(chunk))})",
                    (state, now, sent_at, state, *chunk),
                )

    def settle_interrupted(self, now: float) -> list[DeliveryRecord]:
        """After a restart: records caught between `sending` and `sent` may or may not have
        left. They are not sent again (a firewall add run twice is not harmless); they wait
        as `unconfirmed` for the agent's log line, which confirms them."""
        records = self.deliveries("sending")
        if records:
            with self._store.transaction():
                self._conn.execute(
                    "UPDATE fleet_deliveries SET state = 'unconfirmed', updated_at = ?, "
                    "reason = 'the engine stopped while sending it: not sent again, so it "
                    "never runs twice; the agent''s log line will confirm it' "
                    "WHERE state = 'sending'", (now,),
                )
        return records

    def expire_unconfirmed(self, sent_before: float, now: float, reason: str) -> int:
        with self._store.transaction():
            cursor = self._conn.execute(
                "UPDATE fleet_deliveries SET state = 'unconfirmed', updated_at = ?, reason = ? "
                "WHERE state = 'sent' AND sent_at < ?", (now, reason, sent_before),
            )
        return cursor.rowcount

    def count_deliveries(self) -> dict[str, int]:
        if not self._has_tables():
            return {}
        rows = self._conn.execute(
            "SELECT state, count(*) FROM fleet_deliveries GROUP BY state"
        ).fetchall()
        return {state: count for state, count in rows}

    # ------------------------------------------------------------------ arconsole's agent blocks

    def save_agent_block(self, block: AgentBlock) -> None:
        with self._store.transaction():
            self._conn.execute(
                "INSERT OR REPLACE INTO fleet_agent_blocks (agent, program, key, response, "
                "message, flags, timeout, started_at, expires_at) VALUES (?,?,?,?,?,?,?,?,?)",
                (block.agent, block.program, block.key, block.response, block.message,
                 block.flags, block.timeout, block.started_at, block.expires_at),
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
        return [AgentBlock(*row) for row in rows]

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

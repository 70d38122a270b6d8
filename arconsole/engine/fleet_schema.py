"""The SQL of the fleet's tables in the engine's state file: their schema and statements.

`fleet_deliveries` (one row per (response, agent) message), `fleet_sent_batches` (the sender's
watermark), `fleet_rows` (blocks agents reported), `fleet_agent_blocks` (blocks arconsole
times on agents) and the two index offsets (`fleet_spool_index`, `fleet_rows_index`).
`create_tables` creates them on first use, so a state file from before the fleet opens
unchanged, and upgrades a state file from before the spool.
"""

from __future__ import annotations

import sqlite3

SCHEMA = (
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
INDEX_SCHEMA = ("""CREATE TABLE IF NOT EXISTS fleet_spool_index (
        one INTEGER PRIMARY KEY CHECK (one = 1),
        upto INTEGER NOT NULL
    )""", """CREATE TABLE IF NOT EXISTS fleet_rows_index (
        one INTEGER PRIMARY KEY CHECK (one = 1),
        upto INTEGER NOT NULL
    )""")

AGENT_BLOCKS_SCHEMA = ("""CREATE TABLE IF NOT EXISTS fleet_agent_blocks (
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

# The writes of a fleet row, of a delivery record and of an agent block.
SAVE_ROW = (
    "INSERT OR REPLACE INTO fleet_rows (agent, program, key, agent_name, active, first_added, "
    "last_added, lifted_at, adds, timeout_min, timeout_max, responses, trigger_rule, "
    "trigger_description, trigger_timestamp, last_rule) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
INSERT_DELIVERY = (
    "INSERT INTO fleet_deliveries (id, response, program, agent, key, datagram, spool_offset, "
    "spool_length, state, reason, queued_at, deadline, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
SAVE_BLOCK = (
    "INSERT OR REPLACE INTO fleet_agent_blocks (agent, program, key, response, message, flags, "
    "timeout, started_at, expires_at) VALUES (?,?,?,?,?,?,?,?,?)"
)

# When the batch that carried a record left (records sent before the watermark existed have
# their own `sent_at`).
BATCH_TIME = (
    "(SELECT at FROM fleet_sent_batches WHERE upto >= fleet_deliveries.id ORDER BY upto LIMIT 1)"
)
DELIVERY_COLUMNS = (
    "id, response, program, agent, key, datagram, state, reason, queued_at, deadline, "
    f"sent_at, tries, {BATCH_TIME}, spool_offset, spool_length"
)
# A state file from before the spool, opened read-only, has not got those columns.
NO_SPOOL = ("spool_offset, spool_length", "NULL AS spool_offset, NULL AS spool_length")
SPOOL_COLUMNS = (("spool_offset", "INTEGER"), ("spool_length", "INTEGER"))
# A record's state, given the watermark as the statement's next parameter.
DELIVERY_STATE = "(CASE WHEN state = 'queued' AND id <= ? THEN 'sent' ELSE state END)"
ROW_COLUMNS = (
    "agent, program, key, agent_name, active, first_added, last_added, lifted_at, adds, "
    "timeout_min, timeout_max, responses, trigger_rule, trigger_description, "
    "trigger_timestamp, last_rule"
)


def create_tables(conn: sqlite3.Connection) -> None:
    """Create the fleet's tables, and add the spool's columns to an older state file's
    (inside the caller's transaction)."""
    for statement in (*SCHEMA, *AGENT_BLOCKS_SCHEMA, *INDEX_SCHEMA):
        conn.execute(statement)
    present = {row[1] for row in conn.execute("PRAGMA table_info(fleet_deliveries)")}
    # Sending no longer changes `state` and reads go by id: an index on it only
    # cost every insert.
    conn.execute("DROP INDEX IF EXISTS fleet_deliveries_state")
    for name, kind in SPOOL_COLUMNS:  # a state file from before the spool
        if name not in present:
            conn.execute(f"ALTER TABLE fleet_deliveries ADD COLUMN {name} {kind}")

"""The state file's SQLite layout: tables, migrations, block rows, opening and checking a file.

`connect_checked` opens a file for writing with its schema up to date, or raises Unusable for
one to move aside (corrupt, foreign); `salvage_blocks` reads what a damaged file still gives.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

from arconsole.engine.model import Block, BlockState, Protocol
from arconsole.engine.store_errors import StateError

BUSY_TIMEOUT_S = 5.0
SCHEMA_VERSION = 3

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
# Keys told `continue` for a new block whose reply may not have reached the script: written in
# the block's own transaction, cleared once the reply is written. A mark found at start means
# the engine was killed in between: the block may not be in force (restore.py checks it).
_PENDING_REPLIES = (
    "CREATE TABLE pending_replies (key TEXT PRIMARY KEY NOT NULL, at REAL NOT NULL)",
)
MIGRATIONS: dict[int, tuple[str, ...]] = {1: _META, 2: _PENDING_REPLIES}

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
    *_PENDING_REPLIES,
)

# Same order as Block's fields, so a row becomes a Block positionally (fast restore).
BLOCK_COLUMNS = (
    "key", "command", "name", "executable", "protocol", "target", "srcip", "user",
    "started_at", "timeout", "offences", "delete_message", "state", "alert_id", "rule_id",
    "restored", "manual", "last_error", "dry_run",
)
SELECT_BLOCKS = f"SELECT {', '.join(BLOCK_COLUMNS)} FROM blocks"
SAVE_BLOCK = (
    f"INSERT OR REPLACE INTO blocks ({', '.join(BLOCK_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(BLOCK_COLUMNS))})"
)
_PROTOCOLS = {member.value: member for member in Protocol}
_STATES = {member.value: member for member in BlockState}
_CORRUPTION_CODES = (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)
# Primary result codes of a write the file system refused: full, I/O error, gone read-only,
# a -wal/-journal that could not be created.
WRITE_FAILURE_CODES = {
    sqlite3.SQLITE_FULL: "disk full",
    sqlite3.SQLITE_IOERR: "I/O error",
    sqlite3.SQLITE_READONLY: "file system read-only",
    sqlite3.SQLITE_CANTOPEN: "cannot open a journal file",
    # Another connection kept its write lock past the busy timeout (say `sqlite3` by hand):
    # the write cannot be made now, like a full disk, and is retried the same way.
    sqlite3.SQLITE_BUSY: "locked by another connection",
}


class Unusable(Exception):
    """The file is not a sound arconsole state file: move it aside and start afresh."""


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
                        found.append(row_block(row[1:], {}))
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


def block_row(block: Block) -> tuple[object, ...]:
    return (
        block.key, block.command, block.name, block.executable, block.protocol.value,
        block.target, block.srcip, block.user, block.started_at, block.timeout,
        block.offences, block.delete_message, block.state.value, block.alert_id,
        block.rule_id, int(block.restored), int(block.manual), block.last_error,
        int(block.dry_run),
    )


def row_block(row: tuple[Any, ...], shared: dict[Any, Any]) -> Block:
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


def connect_checked(path: Path, durable: bool) -> tuple[sqlite3.Connection, str]:
    """Check the file, then open it for writing with the schema up to date.

    Raises Unusable for a file to move aside. The check runs on a read-only connection
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
        if is_corruption(error):
            raise Unusable(str(error)) from error
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
            raise Unusable("integrity check failed: " + "; ".join(problems[:3]))
        version = schema_version(probe)
        if version is not None and version > SCHEMA_VERSION:
            raise StateError(
                f"state file {path} has schema version {version}, newer than this arconsole "
                f"understands ({SCHEMA_VERSION}); use a newer arconsole or another state file"
            )
    except sqlite3.DatabaseError as error:
        if is_corruption(error):
            raise Unusable(str(error)) from error
        raise
    finally:
        probe.close()


def _prepare_schema(connection: sqlite3.Connection) -> None:
    """Create the tables in an empty file, or migrate an older one (the probe refused newer)."""
    version = schema_version(connection)
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


def schema_version(connection: sqlite3.Connection) -> int | None:
    """The stored version; None for an empty database. Unusable for someone else's."""
    tables = {
        row[0]
        for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    }
    if not tables:
        return None
    if "schema_version" not in tables:
        raise Unusable("not an arconsole state file (no schema_version table)")
    row = connection.execute("SELECT version FROM schema_version").fetchone()
    if row is None or not isinstance(row[0], int):
        raise Unusable("schema_version table holds no version")
    return row[0]


def is_corruption(error: sqlite3.DatabaseError) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in _CORRUPTION_CODES

"""Catching the fleet's tables up from the spool and the rows log (`FleetIndex`).

A delivery record is first written, with its exact datagram, as an entry of the spool file
beside the state file (`agent_spool`): that entry is the durable `queued` record, so recording
a burst costs one `write`, not SQLite rows (`append`). Entries are indexed into
`fleet_deliveries` (and the agent blocks they open into `fleet_agent_blocks`) in batches by
`catch_up`, which every read or change of those tables runs first, in the same transaction;
`fleet_spool_index` says how far. The engine's own store indexes what it appended from memory
(bounded, only while the batches follow on from the index offset) instead of reading the
entries back. Fleet rows go through the rows log (`fleet_rowlog`) the same lazy way
(`catch_up_rows`, `fleet_rows_index`). A restart indexes what the last run left; a read-only
store looks at the agent blocks not yet indexed (`_tail_blocks`). Without a spool (it could
not be opened) records go into the state file as rows, as before.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Self

from arconsole.engine.agent_spool import (
    STATES,
    EntryWriter,
    Spool,
    spool_path,
)
from arconsole.engine.fleet_records import AgentBlock, NewRecord, message_of
from arconsole.engine.fleet_rowlog import RowImage, decode_rows, rows_log_path
from arconsole.engine.fleet_schema import INSERT_DELIVERY, SAVE_BLOCK, SAVE_ROW, create_tables
from arconsole.engine.store import StateStore

# Records the index may take from memory instead of reading the spool back.
MEMO_LIMIT = 65536
# The rows log is indexed and started afresh once its unindexed part is this large.
ROWS_LOG_LIMIT = 16 << 20


# A batch `append` wrote: (first id, records, chunk offsets, index of each record's head
# among the chunks, the offset after the batch).
_Batch = tuple[int, list[NewRecord], list[int], list[int], int]


# An entry's fields in `Entry`'s order: an Entry is one, and the memo makes plain ones
# (quicker to make; `_index` unpacks either alike).
EntryFields = tuple[int, str, str, str, str | None, str, str, float, float, str, int, float,
                    float, int, int, int]


def _memo_entries(memo: list[_Batch]) -> list[EntryFields]:
    """The entries of batches this store appended, as the spool holds them (`read_entries`
    gives equal ones), from the records still in memory."""
    entries: list[EntryFields] = []
    for first, records, offsets, heads, batch_end in memo:
        last = len(records) - 1
        for n, (response, program, agent, key, datagram, state, reason, queued_at, deadline,
                block) in enumerate(records):
            size = len(datagram) if datagram is not None else 0
            end = offsets[heads[n + 1]] if n < last else batch_end
            at = offsets[heads[n] + 1] if size else end  # (no datagram: where it would be)
            if block is not None:
                flags, timeout, started, expires = (block.flags, block.timeout,
                                                    block.started_at, block.expires_at)
            else:
                flags, timeout, started, expires = "", -1, 0.0, 0.0
            entries.append((first + n, response, program, agent, key,
                            STATES[state == "failed"], reason, queued_at, deadline, flags,
                            timeout, started, expires, at, size, end))
    return entries


class FleetIndex:
    """The fleet tables on an open `StateStore`'s connection, kept caught up with the spool
    and the rows log (`FleetStore` adds the queries)."""

    def __init__(self, store: StateStore) -> None:
        self._store = store
        self._conn: sqlite3.Connection = store._conn  # same file, same lock
        self._seen: set[str] = set()
        self._spool: Spool | None = None
        self.spool_problem: str | None = None
        self._spool_tried = False
        self._rows_log: Spool | None = None
        self._next_id = 1
        self._closed = False
        self._writer = EntryWriter()
        # Batches appended since the last catch-up, while they follow on from its offset.
        self._memo: list[_Batch] = []
        self._memo_start = self._memo_end = -1
        # Where `append`'s entries start in the spool (None when they went to SQLite).
        self.last_offsets: list[int] | None = None
        if not store.read_only:
            with store.transaction():
                create_tables(self._conn)
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
            except OSError as error:  # then rows go to the state file one by one, as before
                rows_problem = (f"fleet rows log unavailable ({error}): fleet rows are written "
                                "to the state file one by one, more slowly")
                self.spool_problem = (f"{self.spool_problem}; {rows_problem}"
                                      if self.spool_problem else rows_problem)
            else:
                self._start_rows_log(self._rows_log)
            row = self._conn.execute(
                "SELECT max(coalesce((SELECT max(id) FROM fleet_deliveries), 0), coalesce("
                "(SELECT seq FROM sqlite_sequence WHERE name = 'fleet_deliveries'), 0))"
            ).fetchone()
            self._next_id = int(row[0]) + 1

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
        entries: Sequence[EntryFields]
        if memo and start == self._memo_start and end == self._memo_end:
            # What this store appended since the last catch-up, still in memory: the same
            # fields the entries hold, without reading them back.
            entries, stop = _memo_entries(memo), end
        else:
            entries, stop = spool.entries(start, upto=end)
            if stop < end:  # not a whole entry (a crash mid-write): nothing refers to it
                spool.truncate(stop)
        with self._store.transaction():
            self._index(entries)
            self._conn.execute("UPDATE fleet_spool_index SET upto = ?", (stop,))
        self._memo_start = self._memo_end = stop
        return len(entries)

    def _index(self, entries: Sequence[EntryFields]) -> None:
        deliveries: list[tuple[object, ...]] = []
        blocks: list[tuple[object, ...]] = []
        for (record_id, response, program, agent, key, state, reason, queued_at, deadline,
             flags, block_timeout, block_started, block_expires, offset, length,
             _) in entries:  # (unpacked: quicker than a name per field)
            deliveries.append((record_id, response, program, agent, key, None,
                               offset if length else None, length or None, state, reason,
                               queued_at, deadline, queued_at))
            if block_timeout >= 0 and key:
                blocks.append((agent, program, key, response, b"", flags, block_timeout,
                               block_started, block_expires))
        self._conn.executemany(INSERT_DELIVERY, deliveries)
        if blocks:
            self._conn.executemany(SAVE_BLOCK, blocks)

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
        self._check_open()
        first = self._next_id
        spool = self._spool
        self.last_offsets = None
        if spool is None or not spool.writable:
            self._insert_rows(records, first)
            self._next_id = first + len(records)
            return first
        chunks, heads = self._writer.entries(records, first)
        offsets = spool.append(chunks, sync=self._durable)
        self._next_id = first + len(records)
        self.last_offsets = [offsets[index] for index in heads]
        if offsets[0] == self._memo_end and self._memo_count() + len(records) <= MEMO_LIMIT:
            self._memo_end = offsets[-1] + len(chunks[-1])
            self._memo.append((first, records, offsets, heads, self._memo_end))
        else:  # not right after the memo (another writer?) or too many: read them back
            self._memo = []
            self._memo_end = -1
        return first

    def _memo_count(self) -> int:
        return sum(len(batch[1]) for batch in self._memo)

    def _insert_rows(self, records: list[NewRecord], first: int) -> None:
        with self._store.transaction():
            self._conn.executemany(INSERT_DELIVERY, [
                (first + n, r[0], r[1], r[2], r[3], r[4], None, None, r[5], r[6], r[7], r[8],
                 r[7]) for n, r in enumerate(records)])
            self._save_blocks([r[9] for r in records if r[9] is not None])

    def _save_blocks(self, blocks: Iterable[AgentBlock]) -> None:
        """Save blocks without their message (see `FleetStore.save_agent_blocks`)."""
        self.catch_up()
        with self._store.transaction():
            self._conn.executemany(
                SAVE_BLOCK,
                [(block.agent, block.program, block.key, block.response, b"",
                  block.flags, block.timeout, block.started_at, block.expires_at)
                 for block in blocks],
            )

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

    def db_id(self) -> str:
        """The state file's own random identity (its `meta` row)."""
        row = self._conn.execute("SELECT db_id FROM meta").fetchone()
        return str(row[0]) if row else ""

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

    def close(self) -> None:
        """Let go of the spool and the rows log (the engine's stop; a reader when done). The
        state file is not this object's: its owner closes it. What is not indexed yet stays
        in the files and is indexed at the next start. Closing twice is harmless."""
        self._closed = True
        self._spool_tried = True  # a closed reader must not open the spool again
        self._memo = []
        for log in (self._spool, self._rows_log):
            if log is not None:
                log.close()
        self._spool = self._rows_log = None

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("the fleet store is closed")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def spool(self) -> Spool | None:
        """The datagrams' file (opened read-only on first use by a reader)."""
        if not self._spool_tried:
            self._spool_tried = True
            with contextlib.suppress(OSError):
                self._spool = Spool(spool_path(self._store.path), self.db_id(), writable=False)
        return self._spool

    # ------------------------------------------------------------------ the rows log

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
                self._conn.executemany(SAVE_ROW, list(latest.values()))
            self._conn.execute("UPDATE fleet_rows_index SET upto = ?", (log.start,))
        log.truncate(log.start)  # a crash before this: the images are replayed, harmlessly
        return len(images)

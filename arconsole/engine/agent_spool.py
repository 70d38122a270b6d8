"""The delivery records' datagrams, appended to one file beside the state file.

A datagram (up to 64 KiB, typically a kilobyte or two: the whole alert rides in it) is written
once and read back only when it must be sent after a restart, sent again to a restarted agent,
or shown. Kept in SQLite it cost most of a delivery's time (the WAL and then the checkpoint copy
every byte, page by page); appended here, a whole turn's datagrams are one `write`, and the
record in the state file keeps only where its bytes are.

Order of writes: the datagrams are appended before the transaction that records them commits,
so a committed record always finds its bytes (a kill -9 between the two leaves unreferenced
bytes at the end, harmless). Both survive a kill -9 from the kernel's page cache; with a state
file opened `durable` (synchronous=FULL) the spool is fsync'd before that commit too.

The file (`<state>.fleet-spool`, 0600, no symlinks) starts with the state file's `db_id`: a
spool left by another state file (deleted and recreated) is started afresh, since nothing in
the new state file refers to it.

Records (`EntryWriter.entries` / `read_entries`): since the spool is written first anyway, each
datagram is preceded by its delivery record (id, response, program, agent, key, state, times,
and the agent block it opens), so the spool entry IS the durable `queued` record; the state
file indexes entries lazily, in batches (`FleetStore.catch_up`), when something reads or
changes them. A header CRC stops the reading at a torn or zero-filled tail. (Datagrams of an
older arconsole, before the index offset, are bare and referenced by their rows.)
"""

from __future__ import annotations

import contextlib
import os
import stat
import struct
import zlib
from collections.abc import Iterable
from itertools import accumulate
from pathlib import Path
from typing import NamedTuple

from arconsole.engine.fleet_records import NewRecord
from arconsole.engine.linked_files import refuse_if_linked

MAGIC = b"ARCSPOL1"
_HEADER = 8 + 32  # magic + db id
_IOV_MAX = 1024  # buffers per pwritev (Linux's IOV_MAX)


# total length, CRC of the rest of the header and the strings; then the fixed fields.
_PRE = struct.Struct("<II")
_FIXED = struct.Struct("<qdddddiBIIIIIII")
_HEAD = _PRE.size + _FIXED.size
_NO_KEY = 0xFFFFFFFF
STATES = ("queued", "failed")
_READ_CHUNK = 1 << 22


class Entry(NamedTuple):
    """One record as the spool holds it."""

    id: int
    response: str
    program: str
    agent: str
    key: str | None
    state: str  # queued | failed
    reason: str
    queued_at: float
    deadline: float
    flags: str  # the block's format-C flags ('' when the entry opens no block)
    block_timeout: int  # -1: the entry opens no agent block
    block_started: float
    block_expires: float
    datagram_offset: int
    datagram_length: int  # its bytes: `Spool.read(datagram_offset, datagram_length)`
    end: int  # the offset after the entry


class EntryWriter:
    """Encodes records as spool entries (`entries`); what repeats between records (response,
    program, agent, flags: the strings' first part) is encoded once."""

    def __init__(self) -> None:
        self._common: dict[tuple[str, str, str, str], tuple[bytes, int, int, int, int]] = {}

    def entries(self, records: Iterable[NewRecord], first_id: int
                ) -> tuple[list[bytes], list[int]]:
        """The chunks to append for `records`, ids from `first_id` on: each entry's head
        (fixed fields and strings), then its datagram when it has one; and the index of each
        record's head among the chunks. (Runs once per agent response of a burst: the head's
        parts are packed in this loop, not in a call per record.)"""
        chunks: list[bytes] = []
        heads: list[int] = []
        memo = self._common
        pack_fixed, pack_pre, crc32 = _FIXED.pack, _PRE.pack, zlib.crc32
        record_id = first_id
        for (response, program, agent, key, datagram, state, reason, queued_at, deadline,
             block) in records:
            size = len(datagram) if datagram is not None else 0
            if block is not None:
                flags, timeout, started, expires = (block.flags, block.timeout,
                                                    block.started_at, block.expires_at)
            else:
                flags, timeout, started, expires = "", -1, 0.0, 0.0
            common = memo.get((response, program, agent, flags))
            if common is None:
                common = self._remember(response, program, agent, flags)
            n = reason.encode() if reason else b""
            k = key.encode() if key is not None else b""
            # The CRC covers the fixed fields then the strings: one pass over the two.
            body = pack_fixed(
                record_id, queued_at, deadline, started, expires, 0.0, timeout,
                state == "failed", common[1], common[2], common[3], common[4], len(n),
                _NO_KEY if key is None else len(k), size) + common[0] + n + k
            heads.append(len(chunks))
            chunks.append(pack_pre(_PRE.size + len(body) + size, crc32(body)) + body)
            if size:
                chunks.append(datagram)  # type: ignore[arg-type]
            record_id += 1
        return chunks, heads

    def _remember(self, response: str, program: str, agent: str, flags: str
                  ) -> tuple[bytes, int, int, int, int]:
        """The strings' first part and their lengths, encoded once (bounded memo)."""
        r, p, a, f = response.encode(), program.encode(), agent.encode(), flags.encode()
        common = (r + p + a + f, len(r), len(p), len(a), len(f))
        if len(self._common) >= 4096:
            self._common.clear()
        self._common[(response, program, agent, flags)] = common
        return common


def read_entries(data: bytes, base: int, limit: int = -1) -> tuple[list[Entry], int]:
    """Entries from `data` (the file's bytes from offset `base`), at most `limit`; and the
    offset where reading stopped (the end of the last whole entry: a torn tail is left)."""
    entries: list[Entry] = []
    at = 0
    size = len(data)
    view = memoryview(data)
    while at + _HEAD <= size and limit != 0:
        total, crc = _PRE.unpack_from(data, at)
        if total < _HEAD or at + total > size:
            break
        fixed = _FIXED.unpack_from(data, at + _PRE.size)
        (record_id, queued_at, deadline, started, expires, _, block_timeout, state,
         n_response, n_program, n_agent, n_flags, n_reason, n_key, n_datagram) = fixed
        strings_at = at + _HEAD
        n_strings = (n_response + n_program + n_agent + (0 if n_key == _NO_KEY else n_key)
                     + n_reason + n_flags)
        if _HEAD + n_strings + n_datagram != total or state >= len(STATES):
            break
        if zlib.crc32(view[strings_at:strings_at + n_strings],
                      zlib.crc32(view[at + _PRE.size:strings_at])) != crc:
            break
        fields: list[str | None] = []
        cursor = strings_at
        for length in (n_response, n_program, n_agent, n_flags, n_reason, n_key):
            if length == _NO_KEY:
                fields.append(None)
                continue
            fields.append(data[cursor:cursor + length].decode(errors="replace"))
            cursor += length
        response, program, agent, flags, reason, key = fields
        entries.append(Entry(record_id, response or "", program or "", agent or "", key,
                             STATES[state], reason or "", queued_at, deadline, flags or "",
                             block_timeout, started, expires, base + cursor, n_datagram,
                             base + at + total))
        at += total
        limit -= 1
    return entries, base + at


def spool_path(state_path: Path) -> Path:
    return state_path.with_name(state_path.name + ".fleet-spool")


def _header(db_id: str) -> bytes:
    return MAGIC + db_id.encode()[:32].ljust(32, b"\0")


class SpoolError(OSError):
    """The spool cannot be opened or written."""


class Spool:
    """Append datagrams, read them back by (offset, length)."""

    def __init__(self, path: Path, db_id: str, *, writable: bool) -> None:
        self.path = path
        self.writable = writable
        # O_NONBLOCK: a FIFO planted here must not hang the start (refused just below).
        flags = os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
        flags |= os.O_RDWR | os.O_CREAT if writable else os.O_RDONLY
        try:
            fd = os.open(path, flags, 0o600)
        except OSError as error:
            raise SpoolError(error.errno, f"{path}: {error.strerror}") from None
        self._fd = fd
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise SpoolError(f"{path} is not a regular file")
            header = _header(db_id)
            if writable:
                refuse_if_linked(path, info)
                if info.st_mode & 0o077:
                    os.fchmod(fd, 0o600)
                if os.pread(fd, _HEADER, 0) != header:
                    os.ftruncate(fd, 0)  # another state file's spool: nothing refers to it
                    os.pwrite(fd, header, 0)
            elif os.pread(fd, _HEADER, 0) != header:
                raise SpoolError(f"{path} belongs to another state file")
            self._end = os.fstat(fd).st_size
        except BaseException:
            os.close(fd)
            raise

    def append(self, datagrams: list[bytes], *, sync: bool = False) -> list[int]:
        """Write the datagrams one after the other; their offsets."""
        # The file's own end, not a remembered one: another Spool on the same file (a second
        # FleetStore of the same engine) may have appended since.
        self._end = os.fstat(self._fd).st_size
        offsets = list(accumulate(map(len, datagrams), initial=self._end))
        position = offsets.pop()  # the end after them
        try:
            self._write(datagrams, offsets, position)
        except BaseException:
            # Whole entries only: a failed write (disk full...) leaves no partial bytes
            # that the next entries would follow.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._end)
            raise
        if sync:
            os.fsync(self._fd)
        self._end = position
        return offsets

    def _write(self, datagrams: list[bytes], offsets: list[int], end: int) -> None:
        """Gathered writes: no copy of the whole turn into one buffer first."""
        for start in range(0, len(datagrams), _IOV_MAX):
            chunk = datagrams[start:start + _IOV_MAX]
            at = offsets[start]
            size = (offsets[start + _IOV_MAX] if start + _IOV_MAX < len(offsets) else end) - at
            written = os.pwritev(self._fd, chunk, at)
            if written < size:  # a short write (disk nearly full...): finish it plainly
                rest = memoryview(b"".join(chunk))[written:]
                while rest:
                    done = os.pwrite(self._fd, rest, at + written)
                    if done <= 0:
                        raise SpoolError(f"{self.path}: short write")
                    written += done
                    rest = rest[done:]

    @property
    def start(self) -> int:
        """Where the first entry goes (after the header)."""
        return _HEADER

    def end(self) -> int:
        """The file's size now (another Spool on the file may have appended)."""
        return os.fstat(self._fd).st_size

    def truncate(self, offset: int) -> None:
        """Cut a torn tail (a crash mid-write) so that new entries follow whole ones."""
        if offset >= _HEADER:
            os.ftruncate(self._fd, offset)
            self._end = offset

    def entries(self, offset: int, limit: int = -1, upto: int | None = None
                ) -> tuple[list[Entry], int]:
        """Whole entries from `offset` (at most `limit`, up to the file's end or `upto`)."""
        end = self.end() if upto is None else upto
        found: list[Entry] = []
        while offset < end and limit != 0:
            data = os.pread(self._fd, min(end - offset, _READ_CHUNK), offset)
            if not data:
                break
            more, stop = read_entries(data, offset, limit)
            if not more:
                if len(data) < end - offset and len(data) == _READ_CHUNK:
                    # an entry larger than the chunk: read it whole
                    total = _PRE.unpack_from(data, 0)[0] if len(data) >= _PRE.size else 0
                    if total > len(data) and offset + total <= end:
                        data = os.pread(self._fd, total, offset)
                        more, stop = read_entries(data, offset, 1)
                if not more:
                    break
            found.extend(more)
            limit -= len(more) if limit > 0 else 0
            offset = stop
        return found, offset

    def queued(self, offset: int, limit: int) -> tuple[list[tuple[int, bytes, float]], int]:
        """(id, datagram, deadline) of the `queued` entries from `offset` (at most `limit`),
        and where the next entry starts: the sender's read-back of its own overflow, written
        by this process in this run, so only the fields it sends are read (no strings, no
        CRC: `read_entries` checks those when the state file indexes the entries)."""
        end = self.end()
        found: list[tuple[int, bytes, float]] = []
        unpack_pre, unpack_fixed = _PRE.unpack_from, _FIXED.unpack_from
        while offset < end and len(found) < limit:
            data = os.pread(self._fd, min(end - offset, _READ_CHUNK), offset)
            at, size = 0, len(data)
            while at + _HEAD <= size and len(found) < limit:
                total = unpack_pre(data, at)[0]
                if total < _HEAD or at + total > size:
                    break
                fixed = unpack_fixed(data, at + _PRE.size)
                if fixed[7] == 0:  # queued
                    found.append((fixed[0], data[at + total - fixed[14]:at + total], fixed[2]))
                at += total
            if at == 0:
                break  # a torn entry (or one larger than a chunk): `entries` reads those
            offset += at
        return found, offset

    def read(self, offset: int, length: int) -> bytes | None:
        """The bytes at (offset, length); None when the file does not hold them."""
        if offset < _HEADER or length < 0:
            return None
        data = os.pread(self._fd, length, offset)
        return data if len(data) == length else None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)

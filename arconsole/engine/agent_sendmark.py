"""The sender's mark: which delivery record was last handed to the kernel, per datagram.

A small file beside the state file (`<state>.fleet-sent`, 0600), mapped shared into memory.
Before each datagram the sender stores that record's id as `intent`, after the kernel took it
as `sent`: two 8-byte stores, no system call. A `kill -9` of the engine does not lose them (the
page belongs to the kernel's page cache, not to the process), so after a restart the engine
knows which records left, to the datagram: everything up to `sent` did; `intent`, when it is
larger, was between the store and the kernel's answer, the only record whose fate is unknown.

It does not survive a power cut or a kernel crash (not fsync'd, like the state file's own
`synchronous=NORMAL` commits): then the state file's watermark, written once per batch, is
what is left, and at most that last batch is sent again. The file carries the state file's
`db_id`, so a mark left by another state file (deleted and recreated) is never believed.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import stat
import struct
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from arconsole.engine.linked_files import refuse_if_linked

MAGIC = b"ARCSENT1"
_LAYOUT = struct.Struct("<8s16sqq")  # magic, db id (16 bytes), intent, sent
_INTENT = 24
_SENT = 32
_ID = struct.Struct("<q")


@dataclass(frozen=True, slots=True)
class Mark:
    intent: int
    sent: int

    @property
    def uncertain(self) -> int | None:
        """The record that may or may not have left when the engine stopped."""
        return self.intent if self.intent > self.sent else None


def mark_path(state_path: Path) -> Path:
    return state_path.with_name(state_path.name + ".fleet-sent")


def _db_key(db_id: str) -> bytes:
    return db_id.encode()[:16].ljust(16, b"\0")


def read_mark(path: Path, db_id: str) -> Mark | None:
    """The mark left in `path` for the state file `db_id`; None when absent or foreign."""
    try:
        # O_NONBLOCK: a FIFO planted here must not hang the start (refused just below).
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        data = os.read(fd, _LAYOUT.size)
    finally:
        os.close(fd)
    if len(data) != _LAYOUT.size:
        return None
    magic, key, intent, sent = _LAYOUT.unpack(data)
    if magic != MAGIC or key != _db_key(db_id) or sent < 0 or intent < 0:
        return None
    return Mark(intent, sent)


class SendMark:
    """The writer's side: open (or create) the file and keep it mapped."""

    def __init__(self, path: Path, db_id: str, start: int) -> None:
        """`start`: the id known sent so far (both marks begin there)."""
        self.path = path
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK,
                     0o600)
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise OSError(f"{path} is not a regular file")
            refuse_if_linked(path, info)
            if info.st_mode & 0o077:
                os.fchmod(fd, 0o600)
            os.ftruncate(fd, _LAYOUT.size)
            self._map = mmap.mmap(fd, _LAYOUT.size, mmap.MAP_SHARED,
                                  mmap.PROT_READ | mmap.PROT_WRITE)
        finally:
            os.close(fd)
        _LAYOUT.pack_into(self._map, 0, MAGIC, _db_key(db_id), start, start)
        # The sender calls these around every datagram: bound once, each call is one C
        # store into the mapped page (no Python frame).
        self.intend: Callable[[int], None] = partial(_ID.pack_into, self._map, _INTENT)
        """About to hand a record to the kernel: `intend(record_id)`."""
        self.done: Callable[[int], None] = partial(_ID.pack_into, self._map, _SENT)
        """The kernel took it: `done(record_id)`."""

    @property
    def sent(self) -> int:
        """The last record the kernel took."""
        return int(_ID.unpack_from(self._map, _SENT)[0])

    def not_sent(self) -> None:
        """The send failed: the intended record did not leave."""
        _ID.pack_into(self._map, _INTENT, self.sent)

    def close(self) -> None:
        with contextlib.suppress(ValueError, BufferError):
            self._map.close()

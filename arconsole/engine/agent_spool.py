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
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

MAGIC = b"ARCSPOL1"
_HEADER = 8 + 32  # magic + db id
_IOV_MAX = 1024  # buffers per pwritev (Linux's IOV_MAX)


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
        flags = os.O_NOFOLLOW | (os.O_RDWR | os.O_CREAT if writable else os.O_RDONLY)
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
        offsets: list[int] = []
        # The file's own end, not a remembered one: another Spool on the same file (a second
        # FleetStore of the same engine) may have appended since.
        position = self._end = os.fstat(self._fd).st_size
        for datagram in datagrams:
            offsets.append(position)
            position += len(datagram)
        # Gathered writes: no copy of the whole turn into one buffer first.
        for start in range(0, len(datagrams), _IOV_MAX):
            chunk = datagrams[start:start + _IOV_MAX]
            at = offsets[start]
            size = sum(map(len, chunk))
            written = os.pwritev(self._fd, chunk, at)
            if written < size:  # a short write (disk nearly full...): finish it plainly
                rest = memoryview(b"".join(chunk))[written:]
                while rest:
                    done = os.pwrite(self._fd, rest, at + written)
                    if done <= 0:
                        raise SpoolError(f"{self.path}: short write")
                    written += done
                    rest = rest[done:]
        if sync:
            os.fsync(self._fd)
        self._end = position
        return offsets

    def read(self, offset: int, length: int) -> bytes | None:
        """The bytes at (offset, length); None when the file does not hold them."""
        if offset < _HEADER or length < 0:
            return None
        data = os.pread(self._fd, length, offset)
        return data if len(data) == length else None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)

"""One file being followed: how it is opened, what identifies it, its lines, and how far it has
been read.

A file is known by its inode and the hash of its first line (`rotation.first_line_hash`); the
first line itself is kept to notice a rewrite in place (copy-truncate refilling the file).
Only regular files are opened, without blocking, so that a FIFO put in the file's place cannot
hang the engine.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from pathlib import Path

from arconsole.alerts.follow_items import FollowItem, Line, Skipped, SkipReason
from arconsole.alerts.position import ReadPosition
from arconsole.alerts.rotation import first_line_hash


class Source:
    """One open file being read, and how far."""

    def __init__(self, fd: int, st: os.stat_result, name: str) -> None:
        self.fd = fd
        self.ino = st.st_ino
        self.dev = st.st_dev
        self.name = name  # the name it was opened under, for log messages
        self.offset = 0  # just after the last complete line handed out
        self.read_at = 0  # next byte to read; offset + len(buf) unless discarding
        self.buf = b""  # an unfinished line, starting at offset
        self.discarding = False  # inside an over-long line: drop bytes up to its newline
        self.first_line: bytes | None = None  # kept to notice a rewrite in place
        self.hash = ""
        self.seen_size = st.st_size
        self.switching = False  # the path names a newer file: read this one to EOF, then move

    def seek(self, offset: int) -> None:
        self.offset = self.read_at = offset
        self.buf = b""
        self.discarding = False

    def seek_end(self, max_line: int) -> None:
        """Start after the last complete line (a line being written will still be read)."""
        size = self.seen_size
        window = min(size, max_line + 1)
        tail = os.pread(self.fd, window, size - window)
        end = tail.rfind(b"\n")
        if end >= 0:
            self.seek(size - window + end + 1)
        elif size <= max_line:
            self.seek(0)
        else:
            self.seek(size)
            self.discarding = True  # the end of an over-long line: skip up to its newline

    def read_lines(
        self, chunk: int, path: str, max_line: int, skip_blank: bool, items: list[FollowItem]
    ) -> int:
        """Read up to `chunk` bytes; append a `Line` for each complete line (a `Skipped` for an
        over-long one) with the position after it. Returns how many bytes were read."""
        data = os.pread(self.fd, chunk, self.read_at)
        size = len(data)
        if not size:
            return 0
        self.read_at += size
        if self.discarding:
            end = data.find(b"\n")
            if end < 0:
                return size
            self.discarding = False
            self.offset = self.read_at - size + end + 1
            data = data[end + 1 :]
            if not self.hash:
                self.learn_first_line(max_line)
            detail = f"a line over {max_line} bytes"
            items.append(Skipped(SkipReason.LONG_LINE, detail, self.position(path)))
        elif self.buf:
            data = self.buf + data
        last = data.rfind(b"\n")
        if last < 0:
            self.buf = data
        else:
            self.buf = data[last + 1 :]
            if not self.hash:
                self.learn_first_line(max_line)
            ino, first = self.ino, self.hash
            end = self.offset
            for line in data[:last].split(b"\n"):
                end += len(line) + 1
                if skip_blank and (not line or (line[0] != 123 and line.isspace())):
                    continue  # a blank line is no alert (Wazuh never writes one): no item
                if len(line) > max_line:
                    detail = f"a line of {len(line)} bytes (limit {max_line})"
                    where = ReadPosition(path, ino, end, first)
                    items.append(Skipped(SkipReason.LONG_LINE, detail, where))
                else:
                    items.append(Line(line, ReadPosition(path, ino, end, first)))
            self.offset = end
        if len(self.buf) > max_line:
            self.buf = b""  # keep memory bounded: the line is dropped up to its newline
            self.discarding = True
        return size

    def learn_first_line(self, max_line: int) -> None:
        data = os.pread(self.fd, max_line + 2, 0)
        end = data.find(b"\n")
        if end >= 0:
            self.first_line = data[: end + 1]
            self.hash = hashlib.sha256(self.first_line).hexdigest()
        else:
            self.first_line = None
            self.hash = first_line_hash(self.fd) if len(data) > max_line + 1 else ""

    def rewritten(self) -> bool:
        """The file's first line is not the one it had: it was truncated and written again."""
        if self.first_line is not None:
            return os.pread(self.fd, len(self.first_line), 0) != self.first_line
        return bool(self.hash) and first_line_hash(self.fd) != self.hash

    def position(self, path: str) -> ReadPosition:
        return ReadPosition(path, self.ino, self.offset, self.hash)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


def stat_or_none(path: Path) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


def open_regular(path: Path) -> int | None:
    """Open a regular file for reading; None when missing or not a regular file.

    O_NONBLOCK so that a FIFO put in the file's place cannot hang the engine. Errors other
    than a missing file (permissions) are raised.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            return fd
    except OSError:
        pass
    os.close(fd)
    return None


def same_path(stored: str, current: str) -> bool:
    return os.path.abspath(stored) == os.path.abspath(current)

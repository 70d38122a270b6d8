"""Follow the end of a text file (active-responses.log) across rotation and truncation.

Polled by the console a few times a second: a poll is one `stat` and, when the file grew, one
bounded read. A file replaced by another (rotation by move) or made shorter (truncation) is
read again from its start; a missing file is waited for. A path that cannot be read (a
directory, no permission, not a regular file) is said in `problem` until it can.
"""

from __future__ import annotations

import os
import stat as filetype
from pathlib import Path

MAX_READ = 1 << 20  # per poll: a runaway writer cannot stall the console
INITIAL_TAIL = 64 * 1024  # on first open, show only the end of a big file
HEAD = 64
MAX_PARTIAL = 64 * 1024  # an unfinished line held over (OS_MAXSTR): longer, it is dropped


class FileTail:
    def __init__(self, path: Path, *, initial_tail: int = INITIAL_TAIL) -> None:
        self.path = path
        self._inode: int | None = None
        self._offset = 0
        self._partial = b""
        self._initial_tail = initial_tail
        self.skipped = 0  # bytes not shown (the start of a big file, or a flood)
        self._cut_line = False
        self._mtime = 0
        self._head = b""  # the file's first bytes: a truncated and regrown file differs
        self.problem: str | None = None  # why the file cannot be read now; None when it can

    def _read_head(self, size: int) -> bytes:
        try:
            with open(self.path, "rb") as handle:
                return handle.read(size)
        except OSError:
            return b""

    def _cannot(self, reason: str) -> list[str]:
        self.problem = f"cannot read {self.path}: {reason}"
        return []

    def poll(self) -> list[str]:
        """The complete lines appended since the last poll."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            self.problem = None  # not written yet: waited for
            return []
        except OSError as error:
            return self._cannot(error.strerror or str(error))
        if not filetype.S_ISREG(stat.st_mode):
            return self._cannot("not a regular file")  # a FIFO would block the console
        rewritten = (
            self._inode == stat.st_ino and stat.st_mtime_ns != self._mtime and self._head
            and self._read_head(len(self._head)) != self._head
        )
        self._mtime = stat.st_mtime_ns
        if self._inode != stat.st_ino or stat.st_size < self._offset or rewritten:
            first_open = self._inode is None
            self._inode = stat.st_ino
            self._partial = b""
            self._cut_line = False  # a line dropped in the old file does not go on here
            self._offset = 0
            self._head = b""
            if first_open and stat.st_size > self._initial_tail:
                self._offset = stat.st_size - self._initial_tail
                self.skipped += self._offset
                self._cut_line = True
        if stat.st_size <= self._offset:
            self.problem = None
            return []
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self._offset)
                data = handle.read(MAX_READ)
        except OSError as error:
            return self._cannot(error.strerror or str(error))
        self.problem = None
        if self._offset == 0:
            self._head = data[:HEAD]
        self._offset += len(data)
        if self._offset < stat.st_size and len(data) == MAX_READ:
            # Far behind: jump to the end rather than replay megabytes.
            self.skipped += stat.st_size - self._offset
            self._offset = stat.st_size
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()
        if self._cut_line and lines:
            lines.pop(0)  # started in the middle of a line: not worth showing half of it
            self._cut_line = False
        if len(self._partial) > MAX_PARTIAL:
            # A file growing without a newline must not grow the console with it: the line
            # is not shown, up to and including its newline.
            self.skipped += len(self._partial)
            self._partial = b""
            self._cut_line = True
        return [line.decode("utf-8", "replace").rstrip("\r") for line in lines]

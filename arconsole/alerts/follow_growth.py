"""Wake the follower the moment the file it has open grows: an inotify watch on that file's
inode, read by the event loop itself (no thread, no polling).

The directory watch (`arconsole.fswatch.DirWaker`, watchfiles) finds renames and new files
but hands changes over in steps of a few milliseconds from its own thread, and is paused while
a writer keeps the follower busy (`follow_wakeup`), when the follower used to poll every
5 ms: 2.5-5 ms between an alert written and its line read at 1,000 alerts/s
(bench/latency.py). This watch has no step: a write wakes the loop at once. The kernel merges
a write's event with an unread one before it, so a fast writer costs one wake-up per look, not
one per write. The watch is on the inode of the open file (through /proc/self/fd), so a
rotation does not move it: the follower points it at the new file once it opens that.
Linux only; elsewhere, or when inotify is out of watches, it is simply not there (the
follower's polling still finds every line).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import os
import struct

logger = logging.getLogger(__name__)

_IN_MODIFY = 0x00000002
_IN_NONBLOCK = os.O_NONBLOCK
_IN_CLOEXEC = os.O_CLOEXEC
_READ_SIZE = 4096
_EVENT = struct.Struct("iIII")


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name, use_errno=True)
    except OSError:
        return None
    if not all(hasattr(libc, call) for call in (
        "inotify_init1", "inotify_add_watch", "inotify_rm_watch",
    )):
        return None
    return libc


class FileGrowth:
    """Sets `wake` whenever the watched file is written to (see the module docstring)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, wake: asyncio.Event) -> None:
        self._loop = loop
        self._wake = wake
        self._libc = _libc()
        self._fd: int | None = None
        self._watch: int | None = None
        self._inode: tuple[int, int] | None = None
        if self._libc is None:
            return
        fd = self._libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
        if fd < 0:
            logger.info("no inotify for the alerts file: %s", os.strerror(ctypes.get_errno()))
            return
        self._fd = fd
        loop.add_reader(fd, self._on_events)

    @property
    def watching(self) -> tuple[int, int] | None:
        """(st_dev, st_ino) of the file watched now, None when none is."""
        return self._inode

    def follow(self, fd: int, inode: tuple[int, int]) -> None:
        """Watch the file open as `fd` (its (st_dev, st_ino) is `inode`) instead of the last."""
        if self._fd is None or self._libc is None or inode == self._inode:
            return
        self._forget()
        watch = self._libc.inotify_add_watch(
            self._fd, os.fsencode(f"/proc/self/fd/{fd}"), _IN_MODIFY
        )
        if watch < 0:
            logger.info("cannot watch the alerts file for writes: %s",
                        os.strerror(ctypes.get_errno()))
            return
        self._watch, self._inode = watch, inode

    def _forget(self) -> None:
        if self._watch is not None and self._fd is not None and self._libc is not None:
            self._libc.inotify_rm_watch(self._fd, self._watch)  # gone already is fine
        self._watch = self._inode = None

    def _on_events(self) -> None:
        assert self._fd is not None
        written = False
        with contextlib.suppress(BlockingIOError):
            while True:
                data = os.read(self._fd, _READ_SIZE)
                written = written or _any_write(data)
                if len(data) < _READ_SIZE:
                    break
        if written:  # not for IN_IGNORED, which a watch moved to another file leaves
            self._wake.set()

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            if not self._loop.is_closed():
                self._loop.remove_reader(fd)
            os.close(fd)
        self._watch = self._inode = None


def _any_write(data: bytes) -> bool:
    """Whether a read of inotify events holds an IN_MODIFY (struct inotify_event: wd, mask,
    cookie, len, then `len` bytes of name)."""
    offset = 0
    while offset + _EVENT.size <= len(data):
        _, mask, _, name_length = _EVENT.unpack_from(data, offset)
        if mask & _IN_MODIFY:
            return True
        offset += _EVENT.size + name_length
    return False

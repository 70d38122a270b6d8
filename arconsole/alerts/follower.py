"""Follow `alerts.json` like `tail -F`, with exactly-once delivery across rotations and restarts.

Each complete line is yielded once, as a `Line` carrying the `ReadPosition` just after it:
the engine stores that position in the same transaction as the work the line caused, and a
follower built from the stored position continues with the next line, never repeating one.

Data the follower had to drop is reported in the same stream, as a `Skipped` item carrying the
position after the drop (so storing it is correct too): a line over `max_line` bytes (Wazuh's
OS_MAXSTR, 64 KiB), bytes lost to a truncation with no copy to read them from, the unread rest
of a file rotated away while arconsole was stopped, and an unterminated last line left in a
rotated file. Rotations that lose nothing are only logged.

How changes are seen: a write to the open file wakes the reader at once (an inotify watch on
its inode, read by the loop: `follow_growth`); directory events (renames, new files) wake it
too, or, while a writer keeps it busy, it polls for them (`follow_wakeup`); and it looks every
`poll_interval` whatever happens, because events get lost and some filesystems have none. A
rotation (the path names another file) is followed by reading the old file to its end first,
the lines written there after the rename included, then the new file from its start, once the
new file has data (the sign that the writer has moved to it). A truncation (the file shrank, or
its first line changed) is followed by reading the rest of the old content from a copy beside
the file when there is one, then the file from its start (`follow_rotation`).
The open file, its identity and offsets are a `Source`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncGenerator, Callable
from pathlib import Path

from arconsole import stagetrace
from arconsole.alerts.follow_growth import FileGrowth
from arconsole.alerts.follow_items import FollowItem, Line, ReadProgress, Skipped, SkipReason
from arconsole.alerts.follow_rotation import open_copy, replaced, truncated
from arconsole.alerts.follow_source import Source, open_regular, same_path, stat_or_none
from arconsole.alerts.follow_wakeup import BusyWriter
from arconsole.alerts.position import ReadPosition
from arconsole.alerts.rotation import first_line_hash
from arconsole.fswatch import DirWaker

__all__ = [
    "AlertFollower",
    "FollowItem",
    "Line",
    "ReadProgress",
    "SkipReason",
    "Skipped",
    "first_line_hash",
]

logger = logging.getLogger(__name__)

CHUNK = 1 << 20  # read size: big reads and bytes.split keep the per-line cost low


class AlertFollower:
    """Yields each complete line of `path` once, across rotations, truncations and restarts.

    `position`: where a previous run stopped (a `Line.position` it stored); None on the very
    first start, which begins at the end of the file unless `from_start`. A file that does not
    exist yet is read from its start when it appears. Blank lines (empty or only whitespace)
    are passed over silently unless `skip_blank` is False (alerts.log separates its records
    with them).
    Iterate once, with `lines()` or `batches()`; `stop()` ends the iteration. A consumer that
    leaves the loop early should close the iterator (`contextlib.aclosing`) to free the file.
    """

    def __init__(
        self,
        path: Path,
        *,
        position: ReadPosition | None,
        from_start: bool = False,
        poll_interval: float = 0.25,
        max_line: int = 65536,
        use_events: bool = True,
        chunk_size: int = CHUNK,
        clock: Callable[[], float] = time.monotonic,
        skip_blank: bool = True,
    ) -> None:
        self._path = Path(path)
        self._skip_blank = skip_blank
        self._path_str = str(path)
        self._resume_from = position
        self._from_start = from_start
        self._poll = max(0.01, poll_interval)
        self._max_line = max_line
        self._use_events = use_events
        self._chunk = max(chunk_size, max_line + 1)
        self._clock = clock
        self._src: Source | None = None
        self._first_open = True
        self._wake = asyncio.Event()
        self._stopped = False
        self._iterated = False
        self._delivered: ReadPosition | None = None
        self._read_mark: ReadPosition | None = None  # after the last item handed out
        self._start: ReadPosition | None = None
        self._open_problem: str | None = None
        self._backlog: int | None = None
        self._bytes_read = 0
        self._last_growth = clock()
        self._waker: DirWaker | None = None
        self._looks = 0
        self._looked = asyncio.Event()
        self._growth: FileGrowth | None = None

    # -- public state -------------------------------------------------------------------

    @property
    def path(self) -> Path:
        return self._path

    @property
    def progress(self) -> ReadProgress:
        """Backlog progress in bytes; total is what was waiting when the follower started."""
        total = self._backlog or 0
        return ReadProgress(min(self._bytes_read, total), total)

    @property
    def position(self) -> ReadPosition | None:
        """After the last item handed out; before any, where reading started (None: not yet).

        Worth storing once at the very first start, so that a restart continues from here
        instead of starting at the end again.
        """
        return self._delivered

    @property
    def start_position(self) -> ReadPosition | None:
        """Where reading started (None while the file has not been opened)."""
        return self._start

    @property
    def last_growth(self) -> float:
        """Clock time at which data was last read."""
        return self._last_growth

    @property
    def looks(self) -> int:
        """How many times the follower has looked at the file (each look reads what is new)."""
        return self._looks

    async def looked(self, times: int = 1) -> None:
        """Until the follower has looked at the file `times` more times: whatever was written
        before this call has then been read (a readiness signal for tests and tools)."""
        target = self._looks + times
        while self._looks < target:
            self._looked.clear()
            await self._looked.wait()

    async def ready(self) -> None:
        """Until the first look is done and the file events, if used, are in force: from then
        on a write is noticed at once."""
        if self._looks == 0:
            await self.looked(1)
        if self._waker is not None:
            await self._waker.settled()

    @property
    def watched_file(self) -> tuple[int, int] | None:
        """(st_dev, st_ino) of the file the file events follow, None when not watching it."""
        return self._waker.watched_file if self._waker is not None else None

    @property
    def growth_watched(self) -> tuple[int, int] | None:
        """(st_dev, st_ino) of the file whose writes wake the follower at once (inotify on
        the open file, `follow_growth`), None when there is no such watch."""
        return self._growth.watching if self._growth is not None else None

    @property
    def events_paused(self) -> bool:
        """File events are paused because a writer keeps the follower busy (BUSY_STEPS)."""
        return self._waker is not None and self._waker.paused

    @property
    def pending_partial(self) -> bool:
        """An unfinished line is waiting for its newline."""
        src = self._src
        return src is not None and (bool(src.buf) or src.discarding)

    def stop(self) -> None:
        """End the iteration (the current batch is finished first)."""
        self._stopped = True
        self._wake.set()

    # -- iteration ----------------------------------------------------------------------

    async def lines(self) -> AsyncGenerator[FollowItem, None]:
        """Each complete line once, in order, with `Skipped` items where data was dropped."""
        async with contextlib.aclosing(self._run(idle_ticks=False)) as batches:
            async for batch in batches:
                for item in batch:
                    self._delivered = item.position
                    yield item

    async def batches(self, *, idle_ticks: bool = False) -> AsyncGenerator[list[FollowItem], None]:
        """The same items in lists of up to one read chunk (store the last one's position).

        With `idle_ticks`, an empty list also comes each time the follower wakes and finds
        nothing new (lets a caller act on quiet periods, as the alerts.log follower does).
        """
        async with contextlib.aclosing(self._run(idle_ticks=idle_ticks)) as batches:
            async for batch in batches:
                if batch:
                    self._delivered = batch[-1].position
                yield batch

    async def _run(self, *, idle_ticks: bool) -> AsyncGenerator[list[FollowItem], None]:
        if self._iterated:
            raise RuntimeError("an AlertFollower is iterated once")
        self._iterated = True
        waker: DirWaker | None = None
        if self._use_events:
            name = self._path.name
            waker = DirWaker(
                self._path.parent,
                lambda n: n.startswith(name),
                self._wake,
                file=self._path,
                retry=self._poll * 4,
            )
            waker.start()
        self._waker = waker
        growth = FileGrowth(asyncio.get_running_loop(), self._wake) if self._use_events else None
        self._growth = growth
        busy = BusyWriter()
        try:
            while not self._stopped:
                self._wake.clear()  # before the step: an event during it wakes the next wait
                read_before = self._bytes_read
                look_began = time.time() if stagetrace.ENABLED else 0.0
                try:
                    items, more = self._step()
                except OSError as exc:
                    logger.warning("reading %s: %s; opening it again", self._path, exc)
                    self._drop_source()
                    self._resume_from = self._read_mark  # continue after the last line handed out
                    items, more = [], False
                src = self._src
                if growth is not None and src is not None:
                    growth.follow(src.fd, (src.dev, src.ino))
                self._looks += 1
                self._looked.set()
                if items:
                    self._read_mark = items[-1].position
                    stagetrace.last_read = look_began
                if items or idle_ticks:
                    yield items
                if self._stopped:
                    break
                wait = self._poll
                if waker is not None:
                    got = self._bytes_read != read_before
                    wait = busy.after_look(
                        waker, got, more, self._poll,
                        growth_watched=growth is not None and growth.watching is not None,
                    )
                if more:
                    await asyncio.sleep(0)  # a backlog must not starve the event loop
                    continue
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._wake.wait()
        finally:
            if growth is not None:
                growth.close()
            if waker is not None:
                await waker.close()
            self._drop_source()

    # -- one look at the file -----------------------------------------------------------

    def _step(self) -> tuple[list[FollowItem], bool]:
        """Read what is there (one chunk at most). Returns the items and whether to go on."""
        items: list[FollowItem] = []
        src = self._src
        if src is None:
            src = self._open(items)
            if src is None:
                return items, False
        size = os.fstat(src.fd).st_size
        if truncated(src, size):
            self._truncated(src, items)
            return items, True
        src.seen_size = max(src.seen_size, size)
        # Ask for what is there (and a longest line more, for what was written since), not a
        # whole chunk: a look per write at 1,000 alerts/s allocating 1 MiB each time grew the
        # engine's RSS by 2-4 MiB a minute (bench/latency.py).
        want = min(self._chunk, max(0, size - src.read_at) + self._max_line + 1)
        if self._read(src, items, want) == want:
            return items, True  # the read was filled: there may be more
        st = stat_or_none(self._path)
        if st is None or not replaced(src, st):
            src.switching = False
            return items, False
        if src.switching:
            # The new file had data before this last read reached EOF: the writer has moved,
            # and everything it wrote to this file before moving has been read.
            self._switch(src, items)
            return items, True
        if st.st_size > 0:
            src.switching = True
            return items, True
        return items, False  # the new file is still empty: the writer may be on this one

    def _read(self, src: Source, items: list[FollowItem], want: int) -> int:
        size = src.read_lines(want, self._path_str, self._max_line, self._skip_blank, items)
        if size:
            self._bytes_read += size
            self._last_growth = self._clock()
        return size

    # -- opening ------------------------------------------------------------------------

    def _open(self, items: list[FollowItem]) -> Source | None:
        first = self._backlog is None
        resume, self._resume_from = self._resume_from, None
        if resume is not None and not same_path(resume.path, self._path_str):
            logger.warning("stored position is for %s, not %s: ignored", resume.path, self._path)
            resume = None
        if resume is not None:
            self._first_open = False
            src = self._resume(resume, items)
        else:
            at_end = self._first_open and not self._from_start
            src = self._open_file(self._path)
            if src is not None and at_end:
                src.seek_end(self._max_line)
            if src is not None or self._open_problem is None:
                # Opened, or missing: a file that appears later is new, read from its start.
                # (One that could not be read is still the file that was there at start.)
                self._first_open = False
        self._src = src
        if first:
            self._backlog = self._pending_bytes(src)
            if src is not None:
                self._start = self._delivered = self._read_mark = src.position(self._path_str)
        return src

    def _open_file(self, path: Path) -> Source | None:
        try:
            fd = open_regular(path)
        except OSError as exc:
            problem = f"cannot read {path}: {exc.strerror}"
            if problem != self._open_problem:  # say it once, not at every poll
                logger.warning("%s; trying again", problem)
                self._open_problem = problem
            return None
        if fd is None:
            return None
        self._open_problem = None
        src = Source(fd, os.fstat(fd), str(path))
        src.learn_first_line(self._max_line)
        return src

    def _resume(self, pos: ReadPosition, items: list[FollowItem]) -> Source | None:
        st = stat_or_none(self._path)
        if st is not None and st.st_ino == pos.inode:
            src = self._open_file(self._path)
            if src is None and self._open_problem is not None:
                self._resume_from = pos  # unreadable for now: resume from here once it is
                return None
            if src is not None:
                if (
                    src.ino == pos.inode
                    and (not pos.first_line_hash or src.hash == pos.first_line_hash)
                    and src.seen_size >= pos.offset
                ):
                    src.seek(pos.offset)
                    return src
                src.close()
        old = open_copy(
            self._path,
            inode=pos.inode,
            first_hash=pos.first_line_hash,
            offset=pos.offset,
            exclude_inode=st.st_ino if st is not None else None,
            open_file=self._open_file,
        )
        if old is not None:
            logger.info("%s was rotated to %s: finishing it first", self._path, old.name)
            return old
        src = self._open_file(self._path)
        if src is None and self._open_problem is not None:
            self._resume_from = pos
            return None
        detail = (
            f"the file read before (inode {pos.inode}, offset {pos.offset}) is gone; "
            "its unread remainder, if any, is lost"
        )
        where = src.position(self._path_str) if src is not None else pos
        items.append(Skipped(SkipReason.ROTATED_AWAY, detail, where))
        return src

    def _pending_bytes(self, src: Source | None) -> int:
        if src is None:
            return 0
        pending = max(0, src.seen_size - src.read_at)
        st = stat_or_none(self._path)
        if replaced(src, st) and st is not None:
            pending += st.st_size  # a rotated file is finished first, then this one
        return pending

    # -- rotation and truncation --------------------------------------------------------

    def _switch(self, src: Source, items: list[FollowItem]) -> None:
        if src.buf or src.discarding:
            detail = f"{src.name} ended with an unterminated line ({len(src.buf)} bytes kept)"
            items.append(Skipped(SkipReason.PARTIAL_LINE, detail, src.position(self._path_str)))
        logger.info("%s was rotated: reading the new file from its start", self._path)
        src.close()
        self._src = self._open_file(self._path)

    def _truncated(self, src: Source, items: list[FollowItem]) -> None:
        if src.hash and src.offset > 0:
            copy = open_copy(
                self._path,
                inode=src.ino,
                first_hash=src.hash,
                offset=src.offset,
                exclude_inode=src.ino,
                open_file=self._open_file,
            )
            if copy is not None:
                logger.info("%s was truncated: reading the rest from %s", src.name, copy.name)
                src.close()
                self._src = copy
                return
        unread = max(src.seen_size, src.read_at) - src.offset
        logger.info("%s was truncated: reading it from its start", src.name)
        src.seek(0)
        src.first_line, src.hash, src.seen_size = None, "", 0
        if unread > 0:
            detail = f"{src.name} was truncated with {unread} bytes unread and no copy found"
            items.append(Skipped(SkipReason.TRUNCATED, detail, src.position(self._path_str)))

    def _drop_source(self) -> None:
        if self._src is not None:
            self._src.close()
            self._src = None

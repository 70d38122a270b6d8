"""Follow OSSEC's `alerts.log`: multi-line records, each yielded once when complete.

A record starts with a `** Alert ` line and runs until the next one starts, or until the file
has been quiet for `quiet` seconds with no unfinished line (OSSEC writes a record in one go and
ends it with a blank line, so a quiet file means the last record is whole). Rotation,
truncation and restart are the line follower's; positions are the same `ReadPosition`s.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, replace
from pathlib import Path

from arconsole.alerts.follower import (
    AlertFollower,
    FollowItem,
    Line,
    ReadProgress,
    Skipped,
    SkipReason,
)
from arconsole.alerts.logreader import fits
from arconsole.alerts.position import ReadPosition

RECORD_START = b"** Alert "


@dataclass(frozen=True, slots=True)
class Record:
    data: bytes  # the record's lines joined with b"\n", trailing blank lines left out
    start: ReadPosition  # just before the record's first line
    position: ReadPosition  # just after its last line: storing it means "handled"


class AlertsLogFollower:
    """Yields complete `alerts.log` records once each; arguments as `AlertFollower`.

    Lines outside any record are reported as `Skipped(NOT_A_RECORD)` (blank ones silently
    passed over), for example the tail of a record that was cut by a start at the end of the
    file. A `Skipped` line inside a record comes after that record, with the record's end
    position, so that storing positions in the order received never goes backwards.
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
        quiet: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lines = AlertFollower(
            path,
            position=position,
            from_start=from_start,
            poll_interval=min(poll_interval, quiet / 2) if quiet > 0 else poll_interval,
            max_line=max_line,
            use_events=use_events,
            clock=clock,
            skip_blank=False,  # blank lines end records
        )
        self._quiet = quiet
        self._clock = clock
        self._delivered: ReadPosition | None = None

    @property
    def progress(self) -> ReadProgress:
        return self._lines.progress

    @property
    def position(self) -> ReadPosition | None:
        """After the last record handed out (before any: where reading started)."""
        return self._delivered or self._lines.start_position

    def stop(self) -> None:
        self._lines.stop()

    async def records(self) -> AsyncGenerator[Record | Skipped, None]:
        assembler = _Assembler()
        async with contextlib.aclosing(self._lines.batches(idle_ticks=True)) as batches:
            async for batch in batches:
                ready = assembler.feed(batch)
                if assembler.pending and self._quiet_now():
                    ready.extend(assembler.complete())
                for out in ready:
                    self._delivered = out.position
                    yield out

    def _quiet_now(self) -> bool:
        return (
            not self._lines.pending_partial
            and self._clock() - self._lines.last_growth >= self._quiet
        )


class _Assembler:
    """Groups lines into records; a record is handed out once known to be complete."""

    def __init__(self) -> None:
        self._lines: list[bytes] = []
        self._start: ReadPosition | None = None
        self._end: ReadPosition | None = None
        self._held: list[Skipped] = []  # dropped inside the pending record
        self._size = 0  # bytes of the pending record, newlines included
        self._cut = False  # a line of the pending record did not fit: the rest goes too

    @property
    def pending(self) -> bool:
        return bool(self._lines)

    def feed(self, batch: list[FollowItem]) -> list[Record | Skipped]:
        ready: list[Record | Skipped] = []
        for item in batch:
            if isinstance(item, Skipped):
                if self._lines:
                    self._held.append(item)
                else:
                    ready.append(item)
            elif item.data.startswith(RECORD_START):
                if self._lines:
                    ready.extend(self.complete())
                self._lines.append(item.data)
                self._size, self._cut = len(item.data), False
                self._start, self._end = _line_start(item), item.position
            elif self._lines:
                self._end = item.position
                self._cut = self._cut or not fits(self._size, len(item.data))
                if not self._cut:
                    self._lines.append(item.data)
                    self._size += 1 + len(item.data)
                # else dropped, with every line after it, as the file reader cuts a body past
                # MAX_RECORD: the fields are all in the first lines, and a file that never
                # writes another header must not be held in memory line after line
            elif item.data.strip():
                detail = "text outside any '** Alert' record"
                ready.append(Skipped(SkipReason.NOT_A_RECORD, detail, item.position))
        return ready

    def complete(self) -> list[Record | Skipped]:
        """The pending record, then what was dropped inside it, at the record's end."""
        start, end, lines = self._start, self._end, self._lines
        assert start is not None and end is not None and lines
        while not lines[-1].strip():
            lines.pop()  # the blank line that ends a record is not part of it
        out: list[Record | Skipped] = [Record(b"\n".join(lines), start, end)]
        out.extend(replace(skipped, position=end) for skipped in self._held)
        self._lines, self._held, self._start, self._end = [], [], None, None
        self._size = 0
        return out


def _line_start(line: Line) -> ReadPosition:
    after = line.position
    return replace(after, offset=after.offset - len(line.data) - 1)

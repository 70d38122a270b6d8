"""What a follower hands out: each `Line` with the position after it, `Skipped` where data was
dropped (and why), and `ReadProgress` through the backlog found at start."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from arconsole.alerts.position import ReadPosition
from arconsole.frozen import fast_init


@dataclass(frozen=True, slots=True)
class Line:
    data: bytes  # without the newline
    position: ReadPosition  # just after this line: storing it means "this line is handled"


fast_init(Line)  # one per line read: a backlog makes hundreds of thousands


class SkipReason(StrEnum):
    LONG_LINE = "long-line"  # a line over max_line bytes, skipped whole
    TRUNCATED = "truncated"  # the file shrank under unread data and no copy was found
    ROTATED_AWAY = "rotated-away"  # at start, the stored file could not be found again
    PARTIAL_LINE = "partial-line"  # a rotated file ended without a final newline
    NOT_A_RECORD = "not-a-record"  # alerts.log: text outside any `** Alert` record


@dataclass(frozen=True, slots=True)
class Skipped:
    reason: SkipReason
    detail: str
    position: ReadPosition  # where reading goes on; storing it is safe


FollowItem = Line | Skipped


@dataclass(frozen=True, slots=True)
class ReadProgress:
    """Backlog found at start (bytes to read then) and how much of it has been read."""

    done: int
    total: int

    @property
    def fraction(self) -> float:
        return 1.0 if self.total <= 0 else min(1.0, self.done / self.total)

    @property
    def caught_up(self) -> bool:
        return self.done >= self.total

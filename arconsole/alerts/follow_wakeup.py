"""When a follower looks at its file again: at a file event, or by polling while busy.

File events on the parent directory (watchfiles, `arconsole.fswatch.DirWaker`) wake the reader
within milliseconds. A writer that keeps the follower busy (a whole read's worth waiting, or
data at BUSY_STEPS looks in a row within BUSY_WINDOW seconds) makes it pause the events and
poll every BUSY_POLL seconds until no data came for IDLE_RESUME seconds: one event per write
would cost the watcher thread as much CPU as reading the lines (bench/follow.py). Where the
open file's writes wake the follower by themselves (`follow_growth`), the busy poll only looks
for a rotation, every BUSY_POLL_WATCHED seconds.
"""

from __future__ import annotations

import time

from arconsole.fswatch import DirWaker

BUSY_STEPS = 4
BUSY_WINDOW = 0.1
BUSY_POLL = 0.005
BUSY_POLL_WATCHED = 0.025
IDLE_RESUME = 0.1


class BusyWriter:
    """Pauses the file events while a writer keeps the follower busy (see BUSY_STEPS)."""

    def __init__(self) -> None:
        self.recent: list[float] = []  # when the last looks that found data were
        self.last_data = 0.0

    def after_look(
        self, waker: DirWaker, got_data: bool, behind: bool, poll: float, *,
        growth_watched: bool = False,
    ) -> float:
        """Note one look at the file (`behind`: it filled a whole read, so more is waiting);
        returns how long to wait for the next one at most. With `growth_watched` (writes to
        the open file wake the follower by themselves, `follow_growth`) the busy poll is only
        there to see a rotation: BUSY_POLL_WATCHED."""
        now = time.monotonic()
        if got_data:
            self.last_data = now
            if not waker.paused:
                self.recent.append(now)
                del self.recent[:-BUSY_STEPS]
                if behind or (
                    len(self.recent) == BUSY_STEPS and now - self.recent[0] < BUSY_WINDOW
                ):
                    waker.pause()
        elif waker.paused and now - self.last_data > IDLE_RESUME:
            waker.resume()
            self.recent.clear()
            return 0.02  # one more look once the watch is back: nothing written in between
        if not waker.paused:
            return poll
        return BUSY_POLL_WATCHED if growth_watched else BUSY_POLL

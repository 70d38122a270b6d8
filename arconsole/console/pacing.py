"""When the main screen draws: engine batches coalesced into a few frames a second (fewer in a
flood), a key's frame before the next batch's, and the once-a-second tick just after each
whole second of the clock."""

from __future__ import annotations

import math
import time

# Lists are redrawn at most five times a second, twice a second in a flood: drawing costs per
# frame, not per alert, and nobody reads faster (htop and k9s refresh every 1.5-2 s). Keys do
# not wait for this: their widgets redraw at once.
FLUSH_INTERVAL = 0.2
FLOOD_FLUSH_INTERVAL = 0.5
FLOOD_RATE = 1_000  # alerts a second that make it a flood
TICK_MARGIN = 0.02  # ticks land this long after the clock's whole second
# A key pressed less than this long ago gets its frame first: the batch waits (at most
# INPUT_DEFER_MAX), so redrawing a flood never delays what the operator asked for.
INPUT_GRACE = 0.15
INPUT_DEFER_MAX = 1.0
# The fleet rows are read again at most once a second: an embedded engine's listing of 10,000
# rows takes ~0.2 s of the loop they share, and deliveries change many times a second.
FLEET_REFRESH = 1.0


def next_tick_delay(now: float) -> float:
    """Seconds until just after the clock's next whole second: every tick then shows a new
    second, exactly one later than the one before (no second shown twice, none skipped)."""
    return math.floor(now) + 1.0 + TICK_MARGIN - now


class Throttle:
    """At most one run per `interval`; a run asked for sooner is put off (once) until then."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last: float | None = None
        self.pending = False

    def ask(self, now: float) -> float | None:
        """Seconds to wait before running (zero: run now); None when a run is pending."""
        if self.pending:
            return None
        wait = 0.0 if self._last is None else max(0.0, self._last + self.interval - now)
        self.pending = wait > 0
        return wait

    def ran(self, now: float) -> None:
        self._last = now
        self.pending = False


class DrawPacer:
    """Remembers the last batch drawn (when, and whether it was a flood) and how long a
    batch has waited for the operator's keys."""

    def __init__(self) -> None:
        self._deferred_since: float | None = None
        self._flooded = False
        self._last_flush = 0.0

    def delay(self) -> float:
        """Seconds the next batch should wait (zero or less: draw now)."""
        interval = FLOOD_FLUSH_INTERVAL if self._flooded else FLUSH_INTERVAL
        return self._last_flush + interval - time.monotonic()

    def defer(self, now: float, input_at: float) -> bool:
        """True when a key pressed at `input_at` should get its frame first (a batch waits
        INPUT_DEFER_MAX at the most)."""
        if now - input_at < INPUT_GRACE:
            first = self._deferred_since = self._deferred_since or now
            if now - first < INPUT_DEFER_MAX:
                return True
        return False

    def drawing(self, now: float) -> float:
        """A batch is taken now: seconds since the one before."""
        self._deferred_since = None
        since, self._last_flush = now - self._last_flush, now
        return since

    def taken(self, alerts_seen: int, since: float) -> None:
        """How many alerts the batch held decides whether the next waits longer."""
        self._flooded = alerts_seen >= FLOOD_RATE * min(since, 1.0)

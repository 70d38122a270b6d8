"""The header's sparkline samples: alerts a second and blocks in force, one a tick."""

from __future__ import annotations

import time
from collections import deque

RATE_HISTORY = 300  # five minutes of one-second samples for the sparklines


class RateSampler:
    """Turns the running count of alerts received into a rate a tick, and keeps the last
    five minutes of rates and block counts for the header's sparklines."""

    def __init__(self) -> None:
        self._last_tick: float | None = None
        self._last_alerts_total = 0
        self.alert_rates: deque[float] = deque(maxlen=RATE_HISTORY)
        self.block_counts: deque[float] = deque(maxlen=RATE_HISTORY)

    def sample_alerts(self, received: int, elapsed: float | None = None) -> float:
        """Alerts a second since the last sample; `elapsed` defaults to the monotonic time
        since then (a second at the first sample)."""
        now = time.monotonic()
        if elapsed is None:
            elapsed = now - self._last_tick if self._last_tick is not None else 1.0
        self._last_tick = now
        rate = (received - self._last_alerts_total) / max(elapsed, 1e-6)
        self._last_alerts_total = received
        self.alert_rates.append(rate)
        return rate

    def sample_blocks(self, count: int) -> None:
        self.block_counts.append(float(count))

"""Agent responses that could not be delivered, said once per response and then counted.

Without an agent transport every response routed to an agent is reported undelivered, often
several per alert: one log line each would bury everything else. The first one of each
response is said in full; later ones are counted and summed up in one line a minute.
"""

from __future__ import annotations

import time
from collections import Counter

from arconsole.engine.events import Undelivered

SUMMARY_EVERY = 60.0  # seconds between two summary lines
REASON = "no agent transport configured"


def _stamp(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at))


class UndeliveredDigest:
    def __init__(self, every: float = SUMMARY_EVERY) -> None:
        self.every = every
        self._said: set[str] = set()
        self._counts: Counter[str] = Counter()
        self._targets: dict[str, set[str]] = {}
        self._since: float | None = None
        self.total = 0

    def add(self, event: Undelivered) -> str | None:
        """The log line to write now (the first of its response), or None (counted)."""
        self.total += 1
        if event.response not in self._said:
            self._said.add(event.response)
            return (f"{_stamp(event.at)} info    {event.response} for agent {event.target} "
                    f"(alert {event.alert_id}) not delivered: {REASON}; later ones are "
                    f"counted, one line a minute")
        if self._since is None:
            self._since = event.at
        self._counts[event.response] += 1
        self._targets.setdefault(event.response, set()).add(event.target)
        return None

    def summary(self, now: float, *, force: bool = False) -> str | None:
        """One line for what was counted, once `every` seconds have passed (or `force`)."""
        if not self._counts or self._since is None:
            return None
        if not force and now - self._since < self.every:
            return None
        parts = []
        for response, count in sorted(self._counts.items()):
            targets = sorted(self._targets.get(response, ()))
            shown = ", ".join(targets[:3]) + (f" +{len(targets) - 3}" if len(targets) > 3 else "")
            parts.append(f"{response} ×{count} (agents {shown})")
        line = (f"{_stamp(now)} info    not delivered since {_stamp(self._since)} "
                f"({REASON}): " + "; ".join(parts))
        self._counts.clear()
        self._targets.clear()
        self._since = None
        return line

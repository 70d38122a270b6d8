"""The expiry schedule: which block keys are due, in time order.

A heap with lazy invalidation: rescheduling a key earlier pushes a new entry and the stale
one is skipped when it surfaces; rescheduling it later (a re-trigger, an extension: most
reschedules) pushes nothing, and its entry is pushed again at the new time when the old one
surfaces. A reschedule costs O(log n) at most and 10,000 simultaneous expiries cost one pass.
"""

from __future__ import annotations

import heapq


class TimerTable:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, str]] = []
        self._due_at: dict[str, float] = {}
        self._counter = 0  # tie-breaker keeps heap entries comparable and FIFO

    def __len__(self) -> int:
        return len(self._due_at)

    def __contains__(self, key: str) -> bool:
        return key in self._due_at

    def schedule(self, key: str, due_at: float) -> bool:
        """(Re)schedule `key` to be due at `due_at`, replacing any earlier schedule. True when
        it may now be due sooner than before (a waiter on `next_due` should look again);
        False when it only moved later."""
        previous = self._due_at.get(key)
        self._due_at[key] = due_at
        if previous is not None and due_at >= previous:
            return False  # its entry at `previous` surfaces first and is pushed again then
        self._push(key, due_at)
        return True

    def _push(self, key: str, due_at: float) -> None:
        self._counter += 1
        heapq.heappush(self._heap, (due_at, self._counter, key))

    def cancel(self, key: str) -> None:
        self._due_at.pop(key, None)

    def next_due(self) -> float | None:
        self._drop_stale()
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> list[str]:
        """Remove and return every key due at or before `now`, earliest first."""
        due: list[str] = []
        while self._heap and self._heap[0][0] <= now:
            due_at, _, key = heapq.heappop(self._heap)
            current = self._due_at.get(key)
            if current == due_at:
                del self._due_at[key]
                due.append(key)
            elif current is not None and current > due_at:
                self._push(key, current)  # rescheduled later: due then (maybe now)
        return due

    def _drop_stale(self) -> None:
        while self._heap:
            due_at, _, key = self._heap[0]
            current = self._due_at.get(key)
            if current == due_at:
                return
            heapq.heappop(self._heap)
            if current is not None and current > due_at:
                self._push(key, current)

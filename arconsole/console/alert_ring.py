"""The alerts the console keeps: a bounded ring, newest first, that can pause and filter.

Memory is bounded by `capacity` whatever the alert rate. While paused, arrivals are held
(also bounded) and counted, so the operator reads a still list and sees "+N new"; resuming
shows them. Alerts pushed out of a full hold before they could be shown are counted as
"not shown", never silently lost from the count.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from collections.abc import Iterable

from arconsole.console.filters import Predicate
from arconsole.engine.events import AlertHandled


class AlertRow:
    """One alert as the console keeps it: the engine's (immutable) event and an arrival number.

    Thousands arrive a second, so a row is two references, not a copy of the event's fields.
    Text fields are raw: escape them when drawing.
    """

    __slots__ = ("event", "seq")

    def __init__(self, seq: int, event: AlertHandled) -> None:
        self.seq = seq
        self.event = event

    @classmethod
    def from_event(cls, seq: int, event: AlertHandled) -> AlertRow:
        return cls(seq, event)

    @property
    def at(self) -> float:
        return self.event.at

    @property
    def alert_id(self) -> str:
        return self.event.alert_id

    @property
    def rule_id(self) -> str:
        return self.event.rule_id

    @property
    def level(self) -> int:
        return self.event.level

    @property
    def description(self) -> str:
        return self.event.description

    @property
    def agent_id(self) -> str | None:
        return self.event.agent_id

    @property
    def node(self) -> str:
        return self.event.node

    @property
    def agent_name(self) -> str | None:
        return self.event.agent_name

    @property
    def srcip(self) -> str | None:
        return self.event.srcip

    @property
    def dstuser(self) -> str | None:
        return self.event.dstuser

    @property
    def fired(self) -> tuple[str, ...]:
        return self.event.fired

    @property
    def raw(self) -> str:
        return self.event.raw

    @property
    def agent(self) -> tuple[str, ...]:
        """Id and name, so `agent:001` and `agent:web01` both match."""
        event = self.event
        return tuple(v for v in (event.agent_id, event.agent_name) if v)


def _seq(row: AlertRow) -> int:
    return row.seq


class AlertRing:
    def __init__(self, capacity: int = 5_000) -> None:
        self.capacity = max(1, capacity)
        self._rows: list[AlertRow] = []  # oldest first
        self._view: list[AlertRow] = []  # the rows passing the filter, oldest first
        self._held: deque[AlertRow] = deque(maxlen=self.capacity)
        self._filter: Predicate | None = None
        self._next_seq = 0
        self.paused = False
        self.new_while_paused = 0  # "+N new"
        self.not_shown = 0  # arrivals never shown: pushed out of the hold while paused

    # ------------------------------------------------------------------ input

    def add_events(self, events: Iterable[AlertHandled]) -> int:
        """Take new alerts (oldest first); return how many rows were added to the view."""
        first = self._next_seq
        rows = [AlertRow(seq, event) for seq, event in enumerate(events, first)]
        self._next_seq = first + len(rows)
        return self.add_rows(rows)

    def add_rows(self, rows: list[AlertRow]) -> int:
        if not rows:
            return 0
        if self.paused:
            self.new_while_paused += len(rows)
            overflow = len(self._held) + len(rows) - self.capacity
            if overflow > 0:
                self.not_shown += overflow
            self._held.extend(rows)
            return 0
        return self._append(rows)

    def _append(self, rows: list[AlertRow]) -> int:
        if len(rows) > self.capacity:
            rows = rows[-self.capacity:]
        self._rows.extend(rows)
        if self._filter is None:
            added = len(rows)
        else:
            keep = self._filter
            matching = [row for row in rows if keep(row)]
            self._view.extend(matching)
            added = len(matching)
        self._trim()
        return added

    def _trim(self) -> None:
        # Trim in chunks: deleting from the front of a list is O(n), so not at every alert.
        if len(self._rows) <= self.capacity + self.capacity // 4:
            return
        del self._rows[: len(self._rows) - self.capacity]
        if self._filter is not None and self._view:
            first = self._rows[0].seq
            cut = bisect_left(self._view, first, key=_seq)
            del self._view[:cut]

    # ------------------------------------------------------------------ pause

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> int:
        """Show what arrived while paused; return how many rows were added to the view."""
        self.paused = False
        held = list(self._held)
        self._held.clear()
        self.new_while_paused = 0
        return self._append(held) if held else 0

    # ------------------------------------------------------------------ filter

    @property
    def filtered(self) -> bool:
        return self._filter is not None

    def set_filter(self, predicate: Predicate | None) -> None:
        self._filter = predicate
        self._view = [] if predicate is None else [row for row in self._rows if predicate(row)]

    # ------------------------------------------------------------------ view (newest first)

    def _visible(self) -> list[AlertRow]:
        rows = self._rows if self._filter is None else self._view
        if len(rows) > self.capacity:
            return rows[len(rows) - self.capacity:]
        return rows

    def __len__(self) -> int:
        rows = self._rows if self._filter is None else self._view
        return min(len(rows), self.capacity)

    def at(self, index: int) -> AlertRow | None:
        """The `index`-th row, newest first; None past the end."""
        rows = self._rows if self._filter is None else self._view
        if index < 0 or index >= min(len(rows), self.capacity):
            return None
        return rows[len(rows) - 1 - index]

    def index_of(self, seq: int) -> int | None:
        """The position (newest first) of the row with `seq`, None when not shown."""
        rows = self._rows if self._filter is None else self._view
        position = bisect_left(rows, seq, key=_seq)
        if position >= len(rows) or rows[position].seq != seq:
            return None
        index = len(rows) - 1 - position
        return index if index < self.capacity else None

    def newest(self, count: int) -> list[AlertRow]:
        """Up to `count` rows, newest first."""
        rows = self._visible()
        return rows[-count:][::-1] if count > 0 else []

    @property
    def total(self) -> int:
        """Rows kept (filtered or not)."""
        return min(len(self._rows), self.capacity)

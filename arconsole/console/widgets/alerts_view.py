"""The alerts pane: newest first, straight from the bounded ring.

The cursor follows the newest alert while it sits on the top row; once the operator moves it
down, it stays on the same alert (and the same screen line) while new ones arrive above.
"""

from __future__ import annotations

import time
from collections.abc import Hashable

from textual.message import Message

from arconsole.console.alert_ring import AlertRing, AlertRow
from arconsole.console.widgets.line_table import Column, LineTable

HIGH_LEVEL = 12
MEDIUM_LEVEL = 7


def alert_columns(width: int) -> list[Column]:
    """The columns for a pane `width` cells wide (the time column only when there is room)."""
    roomy = width >= 110
    head = [Column("rule_id", "RULE", 6), Column("level", "LVL", 3)]
    if width >= 84:
        head.insert(0, Column("time", "TIME", 8))
    tail = [
        Column("agent", "AGENT", 14 if roomy else 10),
        Column("srcip", "SRCIP", 15),
        Column("fired", "FIRED", 20 if roomy else 14),
    ]
    used = sum(c.width + 1 for c in head + tail) + 1
    return [*head, Column("description", "DESCRIPTION", max(8, width - used)), *tail]


class AlertsView(LineTable):
    empty_text = "no alerts yet"

    class Opened(Message):
        """Enter on an alert: show its JSON and why each response fired or not."""

        def __init__(self, row: AlertRow) -> None:
            super().__init__()
            self.row = row

    def __init__(self, ring: AlertRing, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.ring = ring

    def columns(self, width: int) -> list[Column]:
        return alert_columns(width)

    def row_count(self) -> int:
        return len(self.ring)

    def row_at(self, index: int) -> AlertRow | None:
        return self.ring.at(index)

    def row_id(self, row: object) -> Hashable:
        assert isinstance(row, AlertRow)
        return row.seq

    def index_of(self, row_id: Hashable) -> int | None:
        return self.ring.index_of(row_id) if isinstance(row_id, int) else None

    def cell(self, row: object, attr: str) -> tuple[str, str | None]:
        assert isinstance(row, AlertRow)
        if attr == "time":
            return time.strftime("%H:%M:%S", time.localtime(row.at)), "dim"
        if attr == "level":
            style = "high" if row.level >= HIGH_LEVEL else (
                "medium" if row.level >= MEDIUM_LEVEL else None)
            return str(row.level), style
        if attr == "agent":
            if row.agent_id is None:
                return "-", "dim"
            return (f"{row.agent_id} {row.agent_name}" if row.agent_name else row.agent_id), None
        if attr == "fired":
            return (",".join(row.fired), "good") if row.fired else ("-", "dim")
        value = getattr(row, attr)
        return ("-", "dim") if value is None else (str(value), None)

    def open_row(self, row: object) -> None:
        assert isinstance(row, AlertRow)
        self.post_message(self.Opened(row))

    @property
    def selected_alert(self) -> AlertRow | None:
        return self.ring.at(self.cursor)

    def rows_added(self, added: int) -> None:
        """The ring gained `added` rows at the top of the view."""
        if added <= 0:
            return
        following = self.cursor == 0 and round(self.scroll_y) == 0
        if following:
            self._clamp()
            self._set_size()
            self.refresh()
            return
        before = self.cursor
        anchored = self.index_of(self._cursor_id) if self._cursor_id is not None else None
        self.cursor = anchored if anchored is not None else before
        self._clamp()
        self._set_size()
        # Keep the selected alert on the same screen line: scroll by as much as it moved.
        self.scroll_to(y=self.scroll_y + (self.cursor - before), animate=False, immediate=True)
        self.refresh()

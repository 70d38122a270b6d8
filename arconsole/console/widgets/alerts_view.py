"""The alerts pane: newest first, straight from the bounded ring.

The cursor follows the newest alert while it sits on the top row; once the operator moves it
down, it stays on the same alert (and the same screen line) while new ones arrive above, and
those are counted ("+N new", as an explicit pause shows) until the cursor is back on top.
The TIME column is the alert's own time (its `timestamp`, else the epoch its id starts
with), not when the console read it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Hashable
from datetime import datetime

from textual.message import Message

from arconsole.console.alert_ring import AlertRing, AlertRow
from arconsole.console.widgets.line_table import Column, LineTable

HIGH_LEVEL = 12
MEDIUM_LEVEL = 7

_TIMESTAMP = re.compile(r'"timestamp"\s*:\s*"([^"]{10,40})"')
_ID_EPOCH = re.compile(r"^(\d{9,11})(?:\.|$)")


def alert_time(row: AlertRow) -> float:
    """When the alert happened: Wazuh's `timestamp` (alerts.json), else the Unix time its id
    starts with (`1700000000.123`, Wazuh and OSSEC), else when it was read."""
    match = _TIMESTAMP.search(row.raw[:4_096])
    if match is not None:
        text = match.group(1)
        for pattern in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
            try:
                return datetime.strptime(text, pattern).timestamp()
            except ValueError:
                continue
    epoch = _ID_EPOCH.match(row.alert_id)
    if epoch is not None:
        return float(epoch.group(1))
    return row.at


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

    class NewAboveChanged(Message):
        """The count of alerts that arrived above the cursor changed."""

    def __init__(self, ring: AlertRing, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.ring = ring
        self.new_above = 0  # arrived above the cursor while it was off the top row

    def _set_new_above(self, count: int) -> None:
        if count != self.new_above:
            self.new_above = count
            self.post_message(self.NewAboveChanged())

    def move_to(self, index: int) -> None:
        super().move_to(index)
        if self.cursor == 0:
            self._set_new_above(0)

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
            return time.strftime("%H:%M:%S", time.localtime(alert_time(row))), "dim"
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
        if not self.ring.paused:
            self._set_new_above(self.new_above + added)
        before = self.cursor
        anchored = self.index_of(self._cursor_id) if self._cursor_id is not None else None
        self.cursor = anchored if anchored is not None else before
        self._clamp()
        self._set_size()
        # Keep the selected alert on the same screen line: scroll by as much as it moved.
        self.scroll_to(y=self.scroll_y + (self.cursor - before), animate=False, immediate=True)
        self.refresh()

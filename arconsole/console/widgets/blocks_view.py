"""The active blocks pane: every block with a live countdown, sortable and filterable.

Rows are keyed by block key. The countdown is `expires_at - now` on the console's clock at
each tick (never a decremented counter), and the block nearest expiry is highlighted.
Actions never use the cursor position: they take the block *captured* when the key was
pressed (`selected_block`), a copy that later changes to the table cannot alter.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, ClassVar

from textual.binding import Binding, BindingType
from textual.message import Message

from arconsole.console.filters import Predicate
from arconsole.console.widgets.line_table import Column, LineTable
from arconsole.durations import format_remaining


def state_label(block: dict[str, Any]) -> str:
    """active, reversing, failed, untracked or restored (an active block from the state file)."""
    state = str(block.get("state", "?"))
    if state == "active" and block.get("restored"):
        state = "restored"
    if block.get("dry_run"):
        state += " (dry)"
    return state


@dataclass(slots=True)
class BlockEntry:
    """A block as the table shows it: the engine's JSON plus the countdown."""

    block: dict[str, Any]
    remaining: float = 0.0
    version: int = 0  # bumped at each change: drawn rows are cached by it

    @property
    def key(self) -> str:
        return str(self.block.get("key", ""))

    @property
    def command(self) -> str:
        return str(self.block.get("command") or "")

    @property
    def name(self) -> str:
        return str(self.block.get("name") or "")

    @property
    def srcip(self) -> str | None:
        value = self.block.get("srcip")
        return None if value is None else str(value)

    @property
    def user(self) -> str | None:
        value = self.block.get("user")
        return None if value is None else str(value)

    @property
    def who(self) -> str:
        return self.srcip or self.user or "-"

    @property
    def state(self) -> str:
        return state_label(self.block)

    @property
    def target(self) -> str:
        return str(self.block.get("target") or "")

    @property
    def rule_id(self) -> str | None:
        value = self.block.get("rule_id")
        return None if value is None else str(value)

    @property
    def offences(self) -> int:
        return int(self.block.get("offences") or 0)

    @property
    def expires_at(self) -> float:
        return float(self.block.get("expires_at") or 0.0)

    @property
    def started_at(self) -> float:
        return float(self.block.get("started_at") or 0.0)

    @property
    def counts_down(self) -> bool:
        return str(self.block.get("state")) in ("active", "failed", "reversing")


# (title shown, sort key); the first is the default: nearest expiry first.
SORTS: list[tuple[str, Callable[[BlockEntry], Any]]] = [
    ("left", lambda e: (not e.counts_down, e.expires_at, e.key)),
    ("srcip/user", lambda e: (e.who, e.key)),
    ("started", lambda e: (e.started_at, e.key)),
    ("offences", lambda e: (e.offences, e.key)),
    ("state", lambda e: (e.state, e.expires_at, e.key)),
    ("key", lambda e: e.key),
]


def block_columns(width: int) -> list[Column]:
    wide = width >= 84
    columns = [
        Column("who", "SRCIP/USER", 15),
        Column("left", "LEFT", 7),
        Column("state", "STATE", 9),
        Column("command", "COMMAND", 14),
        Column("target", "TARGET", 6),
        Column("offences", "OFF", 3),
    ]
    if wide:
        columns.append(Column("started", "STARTED", 8))
    used = sum(c.width + 1 for c in columns) + 1
    return [*columns, Column("key", "KEY", max(10, width - used))]


class BlocksView(LineTable):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "app.reverse_block", "Reverse", id="reverse-block"),
        Binding("e", "app.extend_block", "Extend", id="extend-block"),
        Binding("R", "app.bulk_reverse", "Reverse all shown", show=False, id="bulk-reverse"),
        Binding("s", "cycle_sort", "Sort", id="sort-blocks"),
        Binding("S", "flip_sort", "Sort order", show=False, id="flip-sort"),
    ]
    empty_text = "no active blocks"

    class SortChanged(Message):
        """The sort column or order changed (the pane title says which)."""

    class Opened(Message):
        def __init__(self, block: dict[str, Any]) -> None:
            super().__init__()
            self.block = block

    def __init__(self, clock: Callable[[], float], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.clock = clock
        self.entries: dict[str, BlockEntry] = {}
        self._rows: list[BlockEntry] = []
        self._index: dict[str, int] = {}
        self._filter: Predicate | None = None
        self.sort_index = 0
        self.sort_reverse = False
        self.nearest_key: str | None = None

    # ------------------------------------------------------------------ data

    def set_blocks(self, blocks: list[dict[str, Any]]) -> None:
        self.entries = {str(b["key"]): BlockEntry(dict(b)) for b in blocks}
        self._reorder()

    def apply(self, changes: dict[str, dict[str, Any] | None]) -> None:
        """Block key -> its latest JSON, or None when it is gone (reversed)."""
        for key, block in changes.items():
            if block is None:
                self.entries.pop(key, None)
            elif key in self.entries:
                entry = self.entries[key]
                entry.block = dict(block)
                entry.version += 1
            else:
                self.entries[key] = BlockEntry(dict(block))
        self._reorder()

    def set_filter(self, predicate: Predicate | None) -> None:
        self._filter = predicate
        self._reorder()

    @property
    def filtered(self) -> bool:
        return self._filter is not None

    def tick(self) -> None:
        """Recompute every countdown on the console's clock; redraw."""
        now = self.clock()
        nearest: BlockEntry | None = None
        for entry in self.entries.values():
            entry.remaining = max(0.0, entry.expires_at - now)
            if entry.counts_down and str(entry.block.get("state")) != "reversing" and (
                nearest is None or entry.expires_at < nearest.expires_at
            ):
                nearest = entry
        self.nearest_key = nearest.key if nearest is not None else None
        self.refresh()

    def _reorder(self) -> None:
        self.tick()
        rows = list(self.entries.values())
        if self._filter is not None:
            keep = self._filter
            rows = [row for row in rows if keep(row)]
        rows.sort(key=SORTS[self.sort_index][1], reverse=self.sort_reverse)
        self._rows = rows
        self._index = {row.key: i for i, row in enumerate(rows)}
        self.data_changed()

    @property
    def visible_entries(self) -> list[BlockEntry]:
        return list(self._rows)

    @property
    def sort_title(self) -> str:
        return SORTS[self.sort_index][0] + (" ↓" if self.sort_reverse else " ↑")

    def next_expiry(self) -> BlockEntry | None:
        return self.entries.get(self.nearest_key) if self.nearest_key else None

    # ------------------------------------------------------------------ actions

    def action_cycle_sort(self) -> None:
        self.sort_index = (self.sort_index + 1) % len(SORTS)
        self._reorder()
        self.post_message(self.SortChanged())

    def action_flip_sort(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self._reorder()
        self.post_message(self.SortChanged())

    def selected_block(self) -> dict[str, Any] | None:
        """A copy of the selected block, as it is now (captured at key press)."""
        row = self.selected
        return dict(row.block) if isinstance(row, BlockEntry) else None

    # ------------------------------------------------------------------ LineTable

    def columns(self, width: int) -> list[Column]:
        return block_columns(width)

    def row_count(self) -> int:
        return len(self._rows)

    def row_at(self, index: int) -> BlockEntry | None:
        return self._rows[index] if 0 <= index < len(self._rows) else None

    def row_id(self, row: object) -> Hashable:
        assert isinstance(row, BlockEntry)
        return row.key

    def index_of(self, row_id: Hashable) -> int | None:
        return self._index.get(row_id) if isinstance(row_id, str) else None

    def row_signature(self, row: object) -> Hashable:
        assert isinstance(row, BlockEntry)
        return (row.version, int(row.remaining), row.key == self.nearest_key)

    def row_style(self, row: object) -> str | None:
        assert isinstance(row, BlockEntry)
        if row.key == self.nearest_key:
            return "expiring"
        return None

    def cell(self, row: object, attr: str) -> tuple[str, str | None]:
        assert isinstance(row, BlockEntry)
        if attr == "left":
            if not row.counts_down:
                return "-", "dim"
            return format_remaining(int(row.remaining)), None
        if attr == "state":
            state = row.state
            if state.startswith(("failed", "untracked")):
                return state, "failed"
            if state.startswith("reversing"):
                return state, "medium"
            return state, None
        if attr == "started":
            return time.strftime("%H:%M:%S", time.localtime(row.started_at)), "dim"
        if attr == "offences":
            return str(row.offences), ("high" if row.offences > 1 else None)
        if attr == "who":
            return row.who, None
        value = getattr(row, attr)
        return ("-", "dim") if value in (None, "") else (str(value), None)

    def open_row(self, row: object) -> None:
        assert isinstance(row, BlockEntry)
        self.post_message(self.Opened(dict(row.block)))

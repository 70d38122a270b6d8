"""The active blocks pane: every block with a live countdown, sortable and filterable.

Rows are keyed by block key. The countdown is `expires_at - now` on the console's clock at
each tick (never a decremented counter), and the block nearest expiry is highlighted.
Actions never use the cursor position: they take the block *captured* when the key was
pressed (`selected_block`), a copy that later changes to the table cannot alter.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, ClassVar

from textual.binding import Binding, BindingType
from textual.message import Message

from arconsole.console.filters import Predicate
from arconsole.console.widgets.line_table import Column, LineTable
from arconsole.durations import format_remaining
from arconsole.engine.link import BlockInfo
from arconsole.engine.model import BlockState


def who_order(block: BlockInfo) -> tuple[int, int, str]:
    """Addresses in address order (192.0.2.20 before 192.0.2.100; IPv4 before IPv6), then
    anything that is not an address (a user, a malformed srcip) by its text."""
    who = block.who
    try:
        address = ipaddress.ip_address(who)
    except ValueError:
        return (1, 0, who)
    return (0, (address.version << 128) | int(address), "")


@dataclass(slots=True)
class BlockEntry:
    """A block as the table shows it: the link's typed block plus the countdown."""

    block: BlockInfo
    remaining: float = 0.0
    version: int = 0  # bumped at each change: drawn rows are cached by it

    @property
    def key(self) -> str:
        return self.block.key

    @property
    def who(self) -> str:
        return self.block.who

    @property
    def state(self) -> str:
        return self.block.label


# (title shown, sort key); the first is the default: nearest expiry first.
SORTS: list[tuple[str, Callable[[BlockEntry], Any]]] = [
    ("left", lambda e: (not e.block.counts_down, e.block.expires_at, e.key)),
    ("srcip/user", lambda e: (who_order(e.block), e.key)),
    ("started", lambda e: (e.block.started_at, e.key)),
    ("offences", lambda e: (e.block.offences, e.key)),
    ("state", lambda e: (e.state, e.block.expires_at, e.key)),
    ("key", lambda e: e.key),
]


def block_columns(width: int, *, nodes: bool = False) -> list[Column]:
    """At 80 columns the offence count and start time give way to TARGET and DELIVERY, and
    with several nodes attached the KEY (it starts with the node) gives way to NODE."""
    wide = width >= 84
    columns = [Column("node", "NODE", 9)] if nodes else []
    columns += [
        Column("who", "SRCIP/USER", 15),
        Column("left", "LEFT", 7),
        Column("state", "STATE", 9),
        Column("command", "COMMAND", 14 if wide else 13),
        Column("target", "TARGET", 12 if wide else 9),
        Column("delivery", "DELIVERY", 9),
    ]
    if wide:
        columns.append(Column("offences", "OFF", 3))
        columns.append(Column("started", "STARTED", 8))
    used = sum(c.width + 1 for c in columns) + 1
    if nodes and width < 100:
        return columns
    return [*columns, Column("key", "KEY", max(10 if wide else 9, width - used))]


class BlocksView(LineTable):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "main('reverse_block')", "Reverse", id="reverse-block"),
        Binding("e", "main('extend_block')", "Extend", id="extend-block"),
        Binding("R", "main('bulk_reverse')", "Reverse all shown", show=False,
                id="bulk-reverse"),
        Binding("s", "cycle_sort", "Sort", id="sort-blocks"),
        Binding("S", "flip_sort", "Sort order", show=False, id="flip-sort"),
    ]
    empty_text = "no active blocks"

    class SortChanged(Message):
        """The sort column or order changed (the pane title says which)."""

    class Opened(Message):
        def __init__(self, block: BlockInfo) -> None:
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
        self.tick_time: float | None = None  # the latest tick's second: every countdown uses it
        self.node_names: list[str] = []  # several engines attached: a NODE column

    # ------------------------------------------------------------------ data

    def set_blocks(self, blocks: list[BlockInfo]) -> None:
        self.entries = {b.key: BlockEntry(b) for b in blocks}
        self._reorder()

    def apply(self, changes: dict[str, BlockInfo | None]) -> None:
        """Block key -> its latest state, or None when it is gone (reversed)."""
        for key, block in changes.items():
            if block is None:
                self.entries.pop(key, None)
            elif key in self.entries:
                entry = self.entries[key]
                entry.block = block
                entry.version += 1
            else:
                self.entries[key] = BlockEntry(block)
        self._reorder()

    def set_fleet(self, blocks: list[BlockInfo]) -> None:
        """The fleet rows (blocks on agents) now: those not listed any more are gone."""
        keep = {b.key for b in blocks}
        for key in [k for k, e in self.entries.items() if e.block.on_agent and k not in keep]:
            del self.entries[key]
        self.apply({b.key: b for b in blocks})

    def set_filter(self, predicate: Predicate | None) -> None:
        self._filter = predicate
        self._reorder()

    @property
    def filtered(self) -> bool:
        return self._filter is not None

    def tick(self, now: float | None = None) -> None:
        """Recompute every countdown for the tick at `now` (a whole second of the clock);
        between ticks (new blocks, a new sort), the last tick's second is used again, so no
        second is ever shown from two different readings of the clock."""
        if now is not None:
            self.tick_time = now
        elif self.tick_time is None:
            self.tick_time = float(int(self.clock()))
        now = self.tick_time
        nearest: BlockEntry | None = None
        for entry in self.entries.values():
            block = entry.block
            entry.remaining = max(0.0, block.expires_at - now)
            if block.counts_down and block.state is not BlockState.REVERSING and (
                nearest is None or block.expires_at < nearest.block.expires_at
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

    def node_counts(self) -> str:
        """`node01 3 · node02 1`: blocks per node, when several engines are attached."""
        if not self.node_names:
            return ""
        counts = dict.fromkeys(self.node_names, 0)
        for entry in self.entries.values():
            counts[entry.block.node] = counts.get(entry.block.node, 0) + 1
        return " · ".join(f"{node} {n}" for node, n in counts.items())

    def next_expiry(self) -> BlockEntry | None:
        return self.entries.get(self.nearest_key) if self.nearest_key else None

    # ------------------------------------------------------------------ actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "main":
            # Actions of this pane's own screen, gated there (read-only, a dialog open).
            return self.screen.check_action(str(parameters[0]), ())
        return True

    async def action_main(self, action: str) -> None:
        await self.screen.run_action(action)

    def action_cycle_sort(self) -> None:
        self.sort_index = (self.sort_index + 1) % len(SORTS)
        self._reorder()
        self.post_message(self.SortChanged())

    def action_flip_sort(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self._reorder()
        self.post_message(self.SortChanged())

    def selected_block(self) -> BlockInfo | None:
        """The selected block, as it is now (captured at key press; it is immutable)."""
        row = self.selected
        return row.block if isinstance(row, BlockEntry) else None

    # ------------------------------------------------------------------ LineTable

    def columns(self, width: int) -> list[Column]:
        return block_columns(width, nodes=bool(self.node_names))

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
        block = row.block
        if attr == "left":
            if not block.counts_down:
                return "-", "dim"
            return format_remaining(int(row.remaining)), None
        if attr == "state":
            if block.state in (BlockState.FAILED, BlockState.UNTRACKED):
                return row.state, "failed"
            if block.state is BlockState.REVERSING:
                return row.state, "medium"
            return row.state, None
        if attr == "started":
            return time.strftime("%H:%M:%S", time.localtime(block.started_at)), "dim"
        if attr == "offences":
            return str(block.offences), ("high" if block.offences > 1 else None)
        if attr == "who":
            return row.who, None
        if attr == "target":
            return block.target_label, (None if block.on_agent else "dim")
        if attr == "delivery":
            if block.delivery in ("failed", "unconfirmed"):
                return block.delivery, "failed"
            return block.delivery, ("dim" if block.delivery == "-" else None)
        value = getattr(block, attr)
        return ("-", "dim") if value in (None, "") else (str(value), None)

    def open_row(self, row: object) -> None:
        assert isinstance(row, BlockEntry)
        self.post_message(self.Opened(row.block))

"""A table drawn line by line: only the rows in view cost anything, whatever the row count.

Both the alerts and the blocks panes change many times a second. Textual's DataTable keeps a
cursor by *index* (rows expiring above it move it to another block) and inserting at the top
means re-sorting everything. This base draws rows on demand from the subclass's own ordered
data, and keeps the cursor on a row *identity*, re-anchored after every change.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import ClassVar, NamedTuple

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.reactive import Reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from arconsole.console.text import fit


def update_scrollbars(widget: ScrollView, size: Size) -> None:
    """Resize the scrollbar thumb and clamp the scroll for a new virtual size, no layout."""
    if widget.is_mounted and widget.container_size:
        widget._scroll_update(size)
    widget.refresh()


class Column(NamedTuple):
    attr: str
    title: str
    width: int


# The line-cursor keys every list pane shares (the log's `end` follows instead of stopping).
CURSOR_BINDINGS: list[BindingType] = [
    Binding("up,k", "cursor(-1)", "Up", show=False),
    Binding("down,j", "cursor(1)", "Down", show=False),
    Binding("pageup", "page(-1)", "Page up", show=False),
    Binding("pagedown", "page(1)", "Page down", show=False),
    Binding("home,g", "first", "First", show=False),
]


class LineTable(ScrollView, can_focus=True):
    BINDINGS: ClassVar[list[BindingType]] = [
        *CURSOR_BINDINGS,
        Binding("end,G", "last", "Last", show=False),
        Binding("enter", "open", "Details", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "table--header",
        "table--cursor",
        "table--cursor-blurred",
        "table--escape",
        "table--dim",
        "table--high",
        "table--medium",
        "table--good",
        "table--expiring",
        "table--failed",
    }

    # Rows change many times a second: a new row count must not cost a whole-screen layout
    # (Textual's default for `virtual_size`). The scrollbar is always shown, so its presence
    # never changes the layout, and only its thumb is updated.
    virtual_size: Reactive[Size] = Reactive(Size(0, 0), layout=False)

    DEFAULT_CSS = """
    LineTable {
        overflow-x: hidden;
        overflow-y: scroll;
        scrollbar-size-vertical: 1;
    }
    LineTable > .table--header { text-style: bold; color: $text-muted; }
    LineTable > .table--cursor {
        background: $block-cursor-background;
        color: $block-cursor-foreground;
        text-style: $block-cursor-text-style;
    }
    LineTable > .table--cursor-blurred { background: $block-cursor-blurred-background; }
    LineTable > .table--escape { color: $escaped-text; text-style: reverse; }
    LineTable > .table--dim { color: $text-muted; }
    LineTable > .table--high { color: $severity-high; text-style: bold; }
    LineTable > .table--medium { color: $severity-medium; }
    LineTable > .table--good { color: $success; }
    LineTable > .table--expiring { color: $block-expiring; text-style: bold; }
    LineTable > .table--failed { color: $block-failed; text-style: bold; }
    """

    empty_text = "nothing to show"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.cursor = 0
        self._cursor_id: Hashable | None = None
        self._styles: dict[str, Style] = {}
        self._strips: LRUCache[Hashable, Strip] = LRUCache(512)  # rows drawn, by what shows
        self._pass: tuple[int, Style, list[Column], bool] | None = None

    def watch_virtual_size(self, size: Size) -> None:
        update_scrollbars(self, size)

    # ------------------------------------------------------------------ for subclasses

    def columns(self, width: int) -> list[Column]:
        raise NotImplementedError

    def row_count(self) -> int:
        raise NotImplementedError

    def row_at(self, index: int) -> object | None:
        raise NotImplementedError

    def row_id(self, row: object) -> Hashable:
        raise NotImplementedError

    def index_of(self, row_id: Hashable) -> int | None:
        raise NotImplementedError

    def cell(self, row: object, attr: str) -> tuple[str, str | None]:
        """(text, style name or None) of one cell; the text is raw, escaped when drawn."""
        raise NotImplementedError

    def row_style(self, row: object) -> str | None:
        """A style name for the whole row (e.g. the block nearest expiry)."""
        return None

    def open_row(self, row: object) -> None:
        """Enter (or double click) on a row."""

    # ------------------------------------------------------------------ cursor

    @property
    def selected(self) -> object | None:
        return self.row_at(self.cursor)

    @property
    def selected_id(self) -> Hashable | None:
        row = self.selected
        return self.row_id(row) if row is not None else None

    def data_changed(self) -> None:
        """Rows were added, removed or reordered: keep the cursor on the same row."""
        anchored = self.index_of(self._cursor_id) if self._cursor_id is not None else None
        if anchored is not None:
            self.cursor = anchored
        self._clamp()
        self._set_size()
        self._scroll_cursor_into_view()
        self.refresh()

    def _clamp(self) -> None:
        count = self.row_count()
        self.cursor = max(0, min(self.cursor, count - 1)) if count else 0
        row = self.row_at(self.cursor)
        self._cursor_id = self.row_id(row) if row is not None else None

    def _set_size(self) -> None:
        self.virtual_size = Size(0, self.row_count() + 1)

    def move_to(self, index: int) -> None:
        self.cursor = index
        self._clamp()
        self._scroll_cursor_into_view()
        self.refresh()

    def select_id(self, row_id: Hashable) -> bool:
        index = self.index_of(row_id)
        if index is None:
            return False
        self.move_to(index)
        return True

    @property
    def rows_in_view(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def _scroll_cursor_into_view(self) -> None:
        top = round(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + self.rows_in_view:
            self.scroll_to(y=self.cursor - self.rows_in_view + 1, animate=False, immediate=True)

    def action_cursor(self, delta: int) -> None:
        self.move_to(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self.move_to(self.cursor + direction * self.rows_in_view)

    def action_first(self) -> None:
        self.move_to(0)

    def action_last(self) -> None:
        self.move_to(self.row_count() - 1)

    def action_open(self) -> None:
        row = self.selected
        if row is not None:
            self.open_row(row)

    def on_click(self, event: events.Click) -> None:
        if event.y <= 0:
            return
        index = round(self.scroll_y) + event.y - 1
        if 0 <= index < self.row_count():
            self.move_to(index)
            if event.chain >= 2:
                self.action_open()

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    def on_resize(self) -> None:
        self._scroll_cursor_into_view()

    # ------------------------------------------------------------------ drawing

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()
        self._strips.clear()

    def style_of(self, name: str) -> Style:
        style = self._styles.get(name)
        if style is None:
            style = self.get_component_rich_style(f"table--{name}", partial=True)
            self._styles[name] = style
        return style

    def row_signature(self, row: object) -> Hashable:
        """What a row's drawing depends on besides its identity (a countdown, a state)."""
        return None

    def render_lines(self, crop: Region) -> list[Strip]:
        # Per-pass values, computed once rather than for each of the visible lines.
        width = self.scrollable_content_region.width
        self._pass = (width, self.rich_style, self.columns(width), self.has_focus)
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        width, base, columns, focused = self._pass or (
            self.scrollable_content_region.width, self.rich_style,
            self.columns(self.scrollable_content_region.width), self.has_focus)
        if y == 0:
            return self._header(width, base, columns)
        index = round(self.scroll_y) + y - 1
        row = self.row_at(index)
        if row is None:
            if index == 0 and not self.row_count():
                text = self.empty_text[:width].ljust(width)
                return Strip([Segment(text, base + self.style_of("dim"))], width)
            return Strip.blank(width, base)
        is_cursor = index == self.cursor
        key = (self.row_id(row), self.row_signature(row), is_cursor, focused, width, base)
        strip = self._strips.get(key)
        if strip is None:
            strip = self._row(row, is_cursor, focused, width, base, columns)
            self._strips[key] = strip
        return strip

    def _header(self, width: int, base: Style, columns: list[Column]) -> Strip:
        style = base + self.style_of("header")
        segments = [
            Segment(title[:cell_width].ljust(cell_width) + " ", style)
            for _, title, cell_width in columns
        ]
        return Strip(segments).crop_extend(0, width, base)

    def _row(self, row: object, is_cursor: bool, focused: bool, width: int, base: Style,
             columns: list[Column]) -> Strip:
        overlay: Style | None = None
        if is_cursor:
            overlay = self.style_of("cursor" if focused else "cursor-blurred")
        whole = self.row_style(row)
        row_base = base + self.style_of(whole) if whole else base
        escape_style = self.style_of("escape")
        segments: list[Segment] = []
        for attr, _, cell_width in columns:
            value, style_name = self.cell(row, attr)
            style = row_base + self.style_of(style_name) if style_name else row_base
            if overlay is not None:
                style = style + overlay
            for piece, is_escape in fit(value, cell_width):
                piece_style = style
                if is_escape:
                    piece_style = style + escape_style
                    if overlay is not None:
                        piece_style = piece_style + overlay
                segments.append(Segment(piece, piece_style))
            segments.append(Segment(" ", style))
        fill = row_base + overlay if overlay is not None else row_base
        return Strip(segments).crop_extend(0, width, fill)

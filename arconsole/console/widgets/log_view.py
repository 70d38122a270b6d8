"""A log tail with a line cursor: follows the end until the operator moves up.

Built on Textual's `Log` (plain strings, lazy rendering, `write_lines` batching, `max_lines`).
Lines are escaped before they are written, so a log line carrying terminal escapes shows them
as text. Moving the cursor up stops following (toolong's auto-pause) and counts the lines
that arrive meanwhile; `end`/`G` follows again.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from rich.segment import Segment
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import Reactive
from textual.strip import Strip
from textual.widgets import Log

from arconsole.console.text import escape_text
from arconsole.console.widgets.line_table import CURSOR_BINDINGS, update_scrollbars

MAX_LINES = 2_000  # per tab: a tail, not an archive (the files and the state DB keep it all)
MAX_LINE_LENGTH = 2_000


class LogView(Log):
    BINDINGS: ClassVar[list[BindingType]] = [
        *CURSOR_BINDINGS,
        Binding("end,G", "follow", "Follow", id="follow-log"),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {"log-view--cursor"}
    DEFAULT_CSS = """
    LogView { overflow-y: scroll; }
    LogView > .log-view--cursor { background: $block-cursor-blurred-background; }
    LogView:focus > .log-view--cursor {
        background: $block-cursor-background;
        color: $block-cursor-foreground;
    }
    """

    class FollowChanged(Message):
        def __init__(self, view: LogView) -> None:
            super().__init__()
            self.view = view

    # Every batch of lines changes the virtual size: redraw, but never re-layout the screen.
    virtual_size: Reactive[Size] = Reactive(Size(0, 0), layout=False)

    def watch_virtual_size(self, size: Size) -> None:
        update_scrollbars(self, size)

    def __init__(self, *, max_lines: int = MAX_LINES, id: str | None = None) -> None:
        super().__init__(max_lines=max_lines, auto_scroll=True, id=id)
        self.cursor_line: int | None = None  # None: on the last line, following
        self.unseen = 0  # lines written while not following

    @property
    def following(self) -> bool:
        return self.cursor_line is None

    def add_lines(self, lines: Iterable[str]) -> None:
        """Escape and append; keeps the cursor on its line when old lines are pruned."""
        escaped = [escape_text(line, limit=MAX_LINE_LENGTH) for line in lines]
        if not escaped:
            return
        before = len(self.lines)
        self.write_lines(escaped, scroll_end=self.following)
        if self.cursor_line is not None:
            pruned = before + len(escaped) - len(self.lines)
            self.cursor_line = max(0, self.cursor_line - pruned)
            self.unseen += len(escaped)
            self.post_message(self.FollowChanged(self))

    @property
    def current_line(self) -> str | None:
        """The line under the cursor (the last one while following)."""
        if not self.lines:
            return None
        index = self.cursor_line if self.cursor_line is not None else len(self.lines) - 1
        return self.lines[min(index, len(self.lines) - 1)]

    def _set_cursor(self, index: int) -> None:
        last = len(self.lines) - 1
        if last < 0:
            return
        index = max(0, min(index, last))
        was_following = self.following
        self.cursor_line = index
        self.auto_scroll = False
        top = round(self.scroll_y)
        height = max(1, self.scrollable_content_region.height)
        if index < top:
            self.scroll_to(y=index, animate=False, immediate=True)
        elif index >= top + height:
            self.scroll_to(y=index - height + 1, animate=False, immediate=True)
        self._render_line_cache.clear()
        self.refresh()
        if was_following:
            self.post_message(self.FollowChanged(self))

    def _current_index(self) -> int:
        return self.cursor_line if self.cursor_line is not None else len(self.lines) - 1

    def action_cursor(self, delta: int) -> None:
        target = self._current_index() + delta
        if delta > 0 and target >= len(self.lines) - 1:
            self.action_follow()
            return
        self._set_cursor(target)

    def action_page(self, direction: int) -> None:
        height = max(1, self.scrollable_content_region.height)
        target = self._current_index() + direction * height
        if direction > 0 and target >= len(self.lines) - 1:
            self.action_follow()
            return
        self._set_cursor(target)

    def action_first(self) -> None:
        self._set_cursor(0)

    def action_follow(self) -> None:
        self.cursor_line = None
        self.unseen = 0
        self.auto_scroll = True
        self.scroll_end(animate=False, immediate=True, x_axis=False)
        self._render_line_cache.clear()
        self.refresh()
        self.post_message(self.FollowChanged(self))

    def _render_line(self, y: int, scroll_x: int, width: int) -> Strip:
        strip = super()._render_line(y, scroll_x, width)
        cursor = self._current_index() if self.lines else -1
        if y != cursor or (self.following and not self.has_focus):
            return strip
        style = self.get_component_rich_style("log-view--cursor")
        return Strip(
            [Segment(text, (seg_style + style) if seg_style else style, control)
             for text, seg_style, control in strip],
            strip.cell_length,
        )

    def on_resize(self) -> None:
        # Lines written while the pane was hidden (or smaller) were scrolled to an end that
        # has moved since: a pane that says "following" must show the newest line.
        if self.following:
            self.call_after_refresh(self._stay_at_end)

    def on_show(self) -> None:
        self.on_resize()

    def _stay_at_end(self) -> None:
        if self.following:
            self.scroll_end(animate=False, immediate=True, x_axis=False)

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

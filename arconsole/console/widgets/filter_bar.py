"""The `/` filter bar under a pane: applied as it is typed, errors shown, never guessed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Static

from arconsole.console.filters import Field, FilterError, Predicate, compile_filter


class FilterBar(Vertical):
    """An input with a hint line; posts `Applied` with a predicate (None = no filter)."""

    DEFAULT_CSS = """
    FilterBar { height: auto; display: none; }
    FilterBar.-open { display: block; }
    FilterBar Input { border: none; height: 1; padding: 0 1; background: $boost; }
    FilterBar Input.-invalid { color: $error; }
    FilterBar .filter-hint { height: 1; color: $text-muted; padding: 0 1; }
    FilterBar .filter-hint.-error { color: $error; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel filter", show=False),
    ]

    class Applied(Message):
        def __init__(self, bar: FilterBar, text: str, predicate: Predicate | None,
                     done: bool) -> None:
            super().__init__()
            self.bar = bar
            self.text = text
            self.predicate = predicate
            self.done = done  # Enter or Escape: give focus back to the pane

    def __init__(self, fields: Mapping[str, Field], free_text: tuple[str, ...],
                 hint: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.fields = fields
        self.free_text = free_text
        self.hint = hint
        self.text = ""  # the filter in force
        self._before = ""

    def compose(self) -> ComposeResult:
        yield Input(placeholder="filter: words, field:value, level>=10, !negation",
                    id=f"{self.id}-input" if self.id else None)
        yield Static(Text(self.hint), classes="filter-hint")

    @property
    def input(self) -> Input:
        return self.query_one(Input)

    def open(self) -> None:
        self._before = self.text
        self.add_class("-open")
        self.input.value = self.text
        self.input.cursor_position = len(self.text)
        # Focus now, not after a refresh (Widget.focus defers): keys typed right after `/`
        # (fast typing, a paste, an SSH packet) must land in the filter, never on the pane's
        # own bindings (`r` reverse, `p` pause...).
        self.screen.set_focus(self.input)

    def _compile(self, text: str) -> Predicate | None:
        return compile_filter(text, self.fields, self.free_text) if text.strip() else None

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._apply(event.value, done=False)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self._apply(event.value, done=True):
            self.remove_class("-open")

    def _apply(self, text: str, *, done: bool) -> bool:
        hint = self.query_one(".filter-hint", Static)
        try:
            predicate = self._compile(text)
        except FilterError as error:
            self.input.add_class("-invalid")
            hint.add_class("-error")
            hint.update(Text(str(error)))
            return False
        self.input.remove_class("-invalid")
        hint.remove_class("-error")
        hint.update(Text(self.hint))
        self.text = text.strip()
        self.post_message(self.Applied(self, self.text, predicate, done))
        return True

    def action_cancel(self) -> None:
        """Escape: back to the filter in force before `/` was pressed."""
        self.remove_class("-open")
        self.input.remove_class("-invalid")
        self.text = self._before
        try:
            predicate = self._compile(self._before)
        except FilterError:
            predicate, self.text = None, ""
        self.post_message(self.Applied(self, self.text, predicate, True))

    def clear(self) -> None:
        self.text = ""
        self.remove_class("-open")
        self.post_message(self.Applied(self, "", None, True))


"""`?`: every key, generated from the live bindings (so it cannot drift from what works)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.dom import DOMNode
from textual.screen import ModalScreen
from textual.widgets import Static

if TYPE_CHECKING:
    from textual.app import App


# Textual's generic scrolling keys: true everywhere, not worth a line in every section.
_NOISE = frozenset({"scroll_left", "scroll_right", "page_left", "page_right", "scroll_home",
                    "scroll_end", "scroll_up", "scroll_down", "screen.copy_text"})


Section = tuple[str, tuple[DOMNode, ...]]


def bindings_table(app: App[object], sections: list[Section]) -> Table:
    """One row per binding of each section's nodes (keymap applied), grouped by section."""
    table = Table.grid(padding=(0, 2))
    table.add_column(no_wrap=True, style="bold")
    table.add_column()
    keymap = getattr(app, "_keymap", {})  # the operator's remappings, as Textual applies them
    for title, nodes in sections:
        rows: dict[str, list[str]] = {}
        for node in nodes:
            live = node._bindings.copy()
            if keymap:
                live.apply_keymap(keymap)
            for bindings in live.key_to_bindings.values():
                for binding in bindings:
                    if not binding.description or binding.system or binding.action in _NOISE:
                        continue
                    rows.setdefault(binding.description, []).append(
                        app.get_key_display(binding))
        if not rows:
            continue
        table.add_row(Text(title, style="underline"), Text(""))
        for description, keys in rows.items():
            table.add_row(Text(" ".join(dict.fromkeys(keys))), Text(description))
        table.add_row(Text(""), Text(""))
    return table


FILTER_HELP = (
    "Filters (/): words match anywhere; field:value, field=value, level>=10, !negation.\n"
    "Alert fields: level rule srcip agent user desc fired alert.  "
    "Block fields: key command name srcip user state target rule offences remaining.\n"
    "srcip:203.0.113.0/24 matches a network.  Enter keeps the filter, Escape restores it."
)


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical {
        width: 90; max-width: 100%; height: 90%; border: thick $primary; background: $surface;
    }
    HelpScreen .help-title { text-style: bold; padding: 0 1; background: $panel; }
    HelpScreen VerticalScroll { padding: 0 1; }
    HelpScreen .help-note { color: $text-muted; margin-top: 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark,f1", "close", "Close", id="close-help"),
    ]

    def __init__(self, sections: list[Section]) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        self.table = bindings_table(self.app, self.sections)
        with Vertical():
            yield Static(Text("arconsole keys"), classes="help-title")
            with VerticalScroll(id="help-body"):
                yield Static(self.table, id="help-table")
                yield Static(Text(FILTER_HELP), classes="help-note")

    def on_mount(self) -> None:
        self.query_one("#help-body").focus()

    def plain_text(self, width: int = 100) -> str:
        """The key table as text (what the operator reads, for tests and copying)."""
        import io

        from rich.console import Console

        console = Console(width=width, file=io.StringIO(), color_system=None)
        with console.capture() as capture:
            console.print(self.table)
        return capture.get()

    def action_close(self) -> None:
        self.dismiss(None)

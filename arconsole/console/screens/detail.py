"""Read-only detail views: an alert (its JSON and why each response fired or not), a block."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from rich.console import Group, RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from arconsole.config.model import Config
from arconsole.console.alert_ring import AlertRow
from arconsole.console.text import literal
from arconsole.engine.link import BlockInfo


def json_text(raw: str | dict[str, Any]) -> Text:
    """Pretty JSON, every line escaped: the alert's own bytes never reach the terminal."""
    try:
        data = json.loads(raw) if isinstance(raw, str) else raw
        pretty = json.dumps(data, indent=2, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):  # deeper than json goes: shown as it is
        pretty = raw if isinstance(raw, str) else repr(raw)
    text = Text(no_wrap=False, end="")
    for number, line in enumerate(pretty.splitlines()):
        if number:
            text.append("\n")
        text.append_text(literal(line, limit=2_000))
    return text


class DetailScreen(ModalScreen[None]):
    """A titled, scrollable, read-only view; Escape, q or Enter closes it."""

    DEFAULT_CSS = """
    DetailScreen { align: center middle; }
    DetailScreen > Vertical {
        width: 90%; height: 90%; border: thick $primary; background: $surface;
    }
    DetailScreen .detail-title { text-style: bold; padding: 0 1; background: $panel; }
    DetailScreen VerticalScroll { padding: 0 1; }
    DetailScreen .detail-section { text-style: bold; color: $primary; margin-top: 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,enter", "close", "Close", id="close-detail"),
        Binding("c", "copy", "Copy", id="copy-detail"),
    ]

    def __init__(self, title: str, sections: list[tuple[str, RenderableType]],
                 *, copy_text: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.sections = sections
        self.copy_text = copy_text  # what `c` copies while this is open

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(literal(self.title_text, limit=200), classes="detail-title")
            with VerticalScroll(id="detail-body"):
                for heading, body in self.sections:
                    yield Static(Text(heading), classes="detail-section")
                    yield Static(body)

    def on_mount(self) -> None:
        self.query_one("#detail-body").focus()

    def action_close(self) -> None:
        self.dismiss(None)

    def action_copy(self) -> None:
        """Copy the whole detail to the operator's clipboard (OSC 52)."""
        self.app.copy_to_clipboard(self.copy_text)
        self.notify(f"copied the details ({len(self.copy_text)} characters) to your clipboard",
                    markup=False)


def alert_detail(row: AlertRow, config: Config | None, *, observe: bool,
                 transport: bool = False) -> DetailScreen:
    """An alert: why each response fired or not (explain), then its JSON."""
    from arconsole.console.explain import explain_alert

    title = (f"alert {row.alert_id}  rule {row.rule_id}  level {row.level}  "
             f"srcip {row.srcip or '-'}")
    return DetailScreen(title, [
        ("Why each response fired or not (explain)",
         explain_alert(config, row.raw, observe=observe, transport=transport)),
        ("Alert JSON", json_text(row.raw)),
    ], copy_text=row.raw)


def block_detail(block: BlockInfo) -> DetailScreen:
    """A block, as the JSON the engine gives for it."""
    data = block.to_json()
    return DetailScreen(f"block {block.key}", [("Block", json_text(data))],
                        copy_text=json.dumps(data, indent=2))


def group(*parts: RenderableType) -> Group:
    return Group(*parts)

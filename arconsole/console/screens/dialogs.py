"""Confirmations that name exactly what will be done, captured when the key was pressed.

Every dialog receives its facts (block key, address, remaining time, the program that will
run) as plain values when it opens: nothing in it reads the table again, so rows moving or
expiring behind it cannot change its target. The focused button is always Cancel, so a stray
Enter never confirms; `y` confirms, `n` and Escape cancel.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from arconsole.console.text import literal

Facts = list[tuple[str, str]]


def facts_table(facts: Facts) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for name, value in facts:
        table.add_row(Text(name), literal(value, limit=500, wrap=True))
    return table


DIALOG_CSS = """
.dialog {
    width: 80; max-width: 100%; height: auto; max-height: 100%;
    border: thick $error; background: $surface; padding: 1 2;
}
.dialog.-calm { border: thick $primary; }
.dialog-title { text-style: bold; margin-bottom: 1; }
.dialog-note { color: $text-muted; margin-top: 1; }
.dialog-error { color: $error; height: auto; }
.dialog-buttons { height: auto; margin-top: 1; align-horizontal: right; }
.dialog-buttons Button { margin-left: 2; }
.dialog Input { margin-top: 1; }
.dialog Select { margin-top: 1; }
"""


class ConfirmScreen(ModalScreen[bool]):
    """Yes or no on one precisely named action."""

    DEFAULT_CSS = "ConfirmScreen { align: center middle; }" + DIALOG_CSS
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Confirm", id="confirm-yes"),
        Binding("n,escape", "answer(False)", "Cancel", id="confirm-no"),
    ]

    def __init__(self, title: str, facts: Facts, confirm_label: str, *,
                 note: str | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.facts = facts
        self.confirm_label = confirm_label
        self.note = note

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text(self.title_text), classes="dialog-title")
            yield Static(facts_table(self.facts), id="confirm-facts")
            if self.note:
                yield Static(Text(self.note), classes="dialog-note")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel (n)", id="cancel")
                yield Button(f"{self.confirm_label} (y)", id="confirm", variant="error")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm")


class ExtendScreen(ModalScreen[int | None]):
    """How long to add to one named block."""

    DEFAULT_CSS = "ExtendScreen { align: center middle; }" + DIALOG_CSS
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="extend-cancel"),
    ]

    def __init__(self, facts: Facts, default: str = "10m") -> None:
        super().__init__()
        self.facts = facts
        self.default = default

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -calm"):
            yield Static(Text("Extend block"), classes="dialog-title")
            yield Static(facts_table(self.facts))
            yield Input(self.default, placeholder="e.g. 90s, 10m, 2h", id="extend-by")
            yield Label("", classes="dialog-error", id="extend-error")
            yield Static(Text("Enter extends by this long; Escape cancels."),
                         classes="dialog-note")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Extend", id="confirm", variant="warning")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def _seconds(self) -> int | None:
        from arconsole.durations import parse_duration

        text = self.query_one(Input).value
        try:
            seconds = int(parse_duration(text))
        except Exception:
            self.query_one("#extend-error", Label).update(
                Text(f"not a duration: {text!r} (use e.g. 90s, 10m, 2h)"))
            return None
        if seconds <= 0:
            self.query_one("#extend-error", Label).update(Text("give a positive duration"))
            return None
        return seconds

    @on(Input.Submitted)
    def _submitted(self) -> None:
        seconds = self._seconds()
        if seconds is not None:
            self.dismiss(seconds)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id != "confirm":
            self.dismiss(None)
            return
        self._submitted()

    def action_cancel(self) -> None:
        self.dismiss(None)


@dataclass(frozen=True, slots=True)
class ManualBlock:
    address: str
    command: str
    seconds: int


class ManualBlockScreen(ModalScreen[ManualBlock | None]):
    """Which address to block, with which command, for how long."""

    DEFAULT_CSS = "ManualBlockScreen { align: center middle; }" + DIALOG_CSS
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="block-cancel"),
    ]

    def __init__(self, commands: list[str], *, address: str = "", command: str | None = None,
                 default_timeout: str = "10m") -> None:
        super().__init__()
        self.commands = commands
        self.address = address
        self.command = command if command in commands else (commands[0] if commands else None)
        self.default_timeout = default_timeout

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -calm"):
            yield Static(Text("Block an address by hand"), classes="dialog-title")
            yield Input(self.address, placeholder="address, e.g. 203.0.113.7", id="block-address")
            yield Select([(c, c) for c in self.commands], value=self.command or Select.BLANK,
                         allow_blank=not self.commands, id="block-command",
                         prompt="command")
            yield Input(self.default_timeout, placeholder="for how long: 90s, 10m, 2h",
                        id="block-timeout")
            yield Label("", classes="dialog-error", id="block-error")
            yield Static(Text("Enter continues to a confirmation; Escape cancels."),
                         classes="dialog-note")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Continue", id="confirm", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#block-address", Input).focus()

    def _error(self, text: str) -> None:
        self.query_one("#block-error", Label).update(Text(text))

    def _request(self) -> ManualBlock | None:
        from arconsole.durations import parse_duration

        address = self.query_one("#block-address", Input).value.strip()
        try:
            address = str(ipaddress.ip_address(address))
        except ValueError:
            self._error(f"not an IP address: {address!r}")
            return None
        command = self.query_one("#block-command", Select).value
        if not isinstance(command, str):
            self._error("choose a command")
            return None
        timeout_text = self.query_one("#block-timeout", Input).value
        try:
            seconds = int(parse_duration(timeout_text))
        except Exception:
            self._error(f"not a duration: {timeout_text!r}")
            return None
        return ManualBlock(address, command, seconds)

    @on(Input.Submitted)
    def _submitted(self) -> None:
        request = self._request()
        if request is not None:
            self.dismiss(request)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id != "confirm":
            self.dismiss(None)
            return
        self._submitted()

    def action_cancel(self) -> None:
        self.dismiss(None)


class BulkReverseScreen(ModalScreen[bool]):
    """Reversing many blocks at once asks the operator to type how many."""

    DEFAULT_CSS = "BulkReverseScreen { align: center middle; }" + DIALOG_CSS
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="bulk-cancel"),
    ]

    def __init__(self, keys: list[str], filter_text: str) -> None:
        super().__init__()
        self.keys = keys
        self.filter_text = filter_text

    def compose(self) -> ComposeResult:
        count = len(self.keys)
        facts: Facts = [("filter", self.filter_text or "(none: every block)"),
                        ("blocks", str(count))]
        for key in self.keys[:8]:
            facts.append(("", key))
        if count > 8:
            facts.append(("", f"... and {count - 8} more"))
        with Vertical(classes="dialog"):
            yield Static(Text(f"Reverse {count} blocks"), classes="dialog-title")
            yield Static(facts_table(facts))
            yield Input(placeholder=f"type {count} to reverse them all", id="bulk-confirm")
            yield Label("", classes="dialog-error", id="bulk-error")
            yield Static(Text("Each block's stored delete runs now; Escape cancels."),
                         classes="dialog-note")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        if event.value.strip() == str(len(self.keys)):
            self.dismiss(True)
            return
        self.query_one("#bulk-error", Label).update(
            Text(f"type exactly {len(self.keys)} to confirm, or Escape to cancel"))

    def action_cancel(self) -> None:
        self.dismiss(False)

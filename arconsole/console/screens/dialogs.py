"""Confirmations that name exactly what will be done, captured when the key was pressed.

Every dialog receives its facts (block key, address, remaining time, the program that will
run) as plain values when it opens: nothing in it reads the table again, so rows moving or
expiring behind it cannot change its target. The focused button is always Cancel, so a stray
Enter never confirms; `y` confirms, `n` and Escape cancel.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import ClassVar, Literal, TypeVar, cast

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from arconsole.console.text import literal
from arconsole.wording import counted

Facts = list[tuple[str, str]]


def facts_table(facts: Facts) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for name, value in facts:
        table.add_row(Text(name), literal(value, limit=500, wrap=True))
    return table


DIALOG_CSS = """
Dialog { align: center middle; }
Dialog .dialog {
    width: 80; max-width: 100%; height: auto; max-height: 100%;
    border: thick $error; background: $surface; padding: 1 2;
}
Dialog .dialog.-calm { border: thick $primary; }
Dialog .dialog-title { text-style: bold; margin-bottom: 1; }
Dialog .dialog-note { color: $text-muted; margin-top: 1; }
Dialog .dialog-error { color: $error; height: auto; }
Dialog .dialog-buttons { height: auto; margin-top: 1; align-horizontal: right; }
Dialog .dialog-buttons Button { margin-left: 2; }
Dialog .dialog Input { margin-top: 1; }
Dialog .dialog Select { margin-top: 1; }
"""

ResultT = TypeVar("ResultT")


class Dialog(ModalScreen[ResultT]):
    """The frame every dialog shares: a title, the facts, the subclass's fields, an error
    line (when there are fields), a note and the buttons; Escape cancels, Enter in a field
    or the confirm button submits, and only a valid `answer()` closes the dialog."""

    DEFAULT_CSS = DIALOG_CSS
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="dialog-cancel"),
    ]
    calm = True  # a blue frame; False: red, for what cannot be undone
    has_fields = True
    cancel_label: str | None = "Cancel"
    confirm_label: str | None = None
    confirm_variant: Literal["warning", "error"] = "warning"

    def __init__(self, title: str, facts: Facts | None = None, *,
                 note: str | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.facts: Facts = facts or []
        self.note = note

    def fields(self) -> ComposeResult:
        """The subclass's inputs, between the facts and the note."""
        yield from ()

    def answer(self) -> ResultT | None:
        """The dialog's result, or None (after `show_error`) to stay open."""
        raise NotImplementedError

    def cancelled(self) -> ResultT | None:
        return None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog" if not self.calm else "dialog -calm"):
            yield Static(literal(self.title_text, wrap=True), classes="dialog-title")
            if self.facts:
                yield Static(facts_table(self.facts), id="dialog-facts")
            yield from self.fields()
            if self.has_fields:
                yield Label("", classes="dialog-error", id="dialog-error")
            if self.note:  # may name an agent: attacker text, drawn literally
                yield Static(literal(self.note, wrap=True), classes="dialog-note")
            if self.confirm_label:
                with Horizontal(classes="dialog-buttons"):
                    yield Button(self.cancel_label or "Cancel", id="cancel")
                    yield Button(self.confirm_label, id="confirm", variant=self.confirm_variant)

    def show_error(self, text: str) -> None:
        self.query_one("#dialog-error", Label).update(literal(text, wrap=True))

    def action_submit(self) -> None:
        result = self.answer()
        if result is not None:
            self.dismiss(result)

    def action_cancel(self) -> None:
        self.dismiss(self.cancelled())

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_submit()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "confirm":
            self.action_submit()
        else:
            self.action_cancel()


class ConfirmScreen(Dialog[bool]):
    """Yes or no on one precisely named action. The focused button is Cancel."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "submit", "Confirm", id="confirm-yes"),
        Binding("n,escape", "cancel", "Cancel", id="confirm-no"),
    ]
    calm = False
    has_fields = False
    cancel_label = "Cancel (n)"
    confirm_variant = "error"

    def __init__(self, title: str, facts: Facts, confirm_label: str, *,
                 note: str | None = None) -> None:
        super().__init__(title, facts, note=note)
        self.confirm_label = f"{confirm_label} (y)"

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def answer(self) -> bool:
        return True

    def cancelled(self) -> bool:
        return False


def _duration(text: str) -> int | None:
    from arconsole.durations import parse_duration

    try:
        return int(parse_duration(text))
    except ValueError:
        return None


class ExtendScreen(Dialog[int]):
    """How long to add to one named block."""

    confirm_label = "Extend"

    def __init__(self, facts: Facts, default: str = "10m") -> None:
        super().__init__("Extend block", facts,
                         note="Enter extends by this long; Escape cancels.")
        self.default = default

    def fields(self) -> ComposeResult:
        yield Input(self.default, placeholder="e.g. 90s, 10m, 2h", id="extend-by")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def answer(self) -> int | None:
        text = self.query_one(Input).value
        seconds = _duration(text)
        if seconds is None:
            self.show_error(f"not a duration: {text!r} (use e.g. 90s, 10m, 2h)")
            return None
        if seconds <= 0:
            self.show_error("give a positive duration")
            return None
        return seconds


@dataclass(frozen=True, slots=True)
class ManualBlock:
    address: str
    command: str
    seconds: int
    node: str = ""  # the engine that blocks it, when several are attached


class ManualBlockScreen(Dialog[ManualBlock]):
    """Which address to block, with which command, for how long; and on which node, when
    several engines are attached (the selected row's node is offered; none is guessed)."""

    confirm_label = "Continue"

    def __init__(self, commands: list[str], *, address: str = "", command: str | None = None,
                 default_timeout: str = "10m", nodes: list[str] | None = None,
                 node: str | None = None) -> None:
        super().__init__("Block an address by hand",
                         note="Enter continues to a confirmation; Escape cancels.")
        self.commands = commands
        self.address = address
        self.command = command if command in commands else (commands[0] if commands else None)
        self.default_timeout = default_timeout
        self.nodes = nodes or []
        self.node = node if node in self.nodes else None

    def fields(self) -> ComposeResult:
        if len(self.nodes) > 1:
            yield Select([(n, n) for n in self.nodes], value=self.node or Select.NULL,
                         id="block-node", prompt="node: which engine blocks it")
        yield Input(self.address, placeholder="address, e.g. 203.0.113.7", id="block-address")
        if self.commands:
            yield Select([(c, c) for c in self.commands], value=self.command or Select.NULL,
                         allow_blank=False, id="block-command", prompt="command")
        else:  # no config to list them (several nodes attached): the engine checks the name
            yield Input("firewall-drop", placeholder="command name, as in the node's config",
                        id="block-command")
        yield Input(self.default_timeout, placeholder="for how long: 90s, 10m, 2h",
                    id="block-timeout")

    def on_mount(self) -> None:
        if len(self.nodes) > 1 and self.node is None:
            self.query_one("#block-node", Select).focus()  # the one thing nobody can guess
        else:
            self.query_one("#block-address", Input).focus()

    def answer(self) -> ManualBlock | None:
        node = ""
        if len(self.nodes) > 1:
            chosen = self.query_one("#block-node", Select).value
            if not isinstance(chosen, str):
                self.show_error("choose the node whose engine blocks it")
                return None
            node = chosen
        address = self.query_one("#block-address", Input).value.strip()
        try:
            address = str(ipaddress.ip_address(address))
        except ValueError:
            self.show_error(f"not an IP address: {address!r}")
            return None
        field = self.query_one("#block-command")
        command = field.value.strip() if isinstance(field, Input) else cast(Select[str],
                                                                             field).value
        if not isinstance(command, str) or not command:
            self.show_error("choose a command")
            return None
        timeout_text = self.query_one("#block-timeout", Input).value
        seconds = _duration(timeout_text)
        if seconds is None or seconds <= 0:
            self.show_error(f"not a duration: {timeout_text!r}")
            return None
        return ManualBlock(address, command, seconds, node)


class BulkReverseScreen(Dialog[bool]):
    """Reversing many blocks at once asks the operator to type how many."""

    calm = False
    confirm_label = None  # typing the count is the confirmation

    def __init__(self, keys: list[str], filter_text: str) -> None:
        count = len(keys)
        facts: Facts = [("filter", filter_text or "(none: every block)"),
                        ("blocks", str(count))]
        facts.extend(("", key) for key in keys[:8])
        if count > 8:
            facts.append(("", f"... and {count - 8} more"))
        super().__init__(f"Reverse {counted(count, 'block')}", facts,
                         note="Each block's stored delete runs now; Escape cancels.")
        self.keys = keys
        self.filter_text = filter_text

    def fields(self) -> ComposeResult:
        them = "it" if len(self.keys) == 1 else "them all"
        yield Input(placeholder=f"type {len(self.keys)} to reverse {them}", id="bulk-confirm")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def answer(self) -> bool | None:
        if self.query_one(Input).value.strip() == str(len(self.keys)):
            return True
        self.show_error(f"type exactly {len(self.keys)} to confirm, or Escape to cancel")
        return None

    def cancelled(self) -> bool:
        return False

"""The state store banner: under the header while the state file cannot be written (the store
fault, issue 11 item 1) or when the store found something wrong at open (item 6).

A fault says what failed, since when, what the engine does meanwhile (no new stateful
response, deletes and stateless ones go on) and that it retries by itself; it goes away when
the engine says the file is writable again. Warnings (a world-writable state directory...)
stay for as long as the console runs: they are true until the operator fixes them and the
engine restarts. Every message is shown literally: it can hold a path, which is anyone's text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static

from arconsole.console.text import literal
from arconsole.durations import format_remaining

PAUSED_WORDS = ("new stateful responses are paused (deletes and stateless responses go on); "
                "the engine retries the state file with backoff and resumes by itself")


@dataclass(frozen=True, slots=True)
class StoreState:
    fault: str | None = None
    since: float | None = None
    warnings: tuple[str, ...] = ()


def banner_text(state: StoreState, now: float, stamp: str) -> Text:
    """What the banner says: the fault first (with `stamp`, the start as HH:MM:SS), then
    each warning on its own line."""
    text = Text()
    if state.fault is not None:
        lasting = ""
        if state.since is not None:
            lasting = f" since {stamp} ({format_remaining(int(max(0.0, now - state.since)))})"
        text.append(f"✖ STATE STORE FAULT{lasting}: ")
        text.append_text(literal(state.fault, limit=300, wrap=True))
        text.append(f"\n  {PAUSED_WORDS}")
    for warning in state.warnings:
        if text:
            text.append("\n")
        text.append("⚠ state store: ")
        text.append_text(literal(warning, limit=300, wrap=True))
    return text


class StoreBanner(Static):
    """Hidden while the store is sound; `-fault` (alarm colours) or `-warning` otherwise."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.state = StoreState()
        self._shown: tuple[StoreState, str] | None = None

    def show_state(self, state: StoreState, now: float, stamp: str) -> None:
        self.state = state
        text = banner_text(state, now, stamp)
        key = (state, text.plain)
        if key == self._shown:
            return  # the tick calls this every second: redraw only what changed
        self._shown = key
        self.set_class(state.fault is not None, "-fault")
        self.set_class(state.fault is None and bool(state.warnings), "-warning")
        self.update(text)

    @property
    def lines(self) -> Sequence[str]:
        """The banner as plain lines (empty when hidden)."""
        if self.state.fault is None and not self.state.warnings:
            return []
        return str(self._shown[1] if self._shown else "").splitlines()

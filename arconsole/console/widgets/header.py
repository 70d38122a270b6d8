"""The header strip: engine mode, config state, rates with sparklines, next expiry, badges.

Two lines, always visible. Everything shown is one immutable `HeaderState`, the `state`
reactive, which the main screen computes from its own reactives and binds here (`data_bind`):
nothing here reads the engine, and nobody calls it by hand. It may change ten times a second,
so it only redraws the parts that changed and never asks for a layout (every part has a fixed
or fractional width).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.console import RenderableType
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult, RenderResult
from textual.containers import Horizontal
from textual.reactive import var
from textual.renderables.sparkline import Sparkline as SparklineRenderable
from textual.widget import Widget
from textual.widgets import Sparkline, Static

from arconsole.console.text import literal
from arconsole.wording import counted


@dataclass(frozen=True, slots=True)
class HeaderState:
    mode: str = "starting"  # enforce | dry-run
    demo: str = ""  # "timeouts cut to 40 s" in the demo; empty otherwise
    attached: bool = False
    engine_gone: bool = False
    generation: int = 0
    config_note: str = ""  # "reloaded 12:00:01: 1 response changed", ...
    rejected: bool = False
    alerts_per_second: float = 0.0
    blocks: int = 0
    next_expiry: str = ""  # "0:41 203.0.113.5" or ""
    not_shown: int = 0
    paused: bool = False
    new_while_paused: int = 0
    new_above: int = 0  # alerts that arrived above the cursor while it is off the top row
    read_only: bool = False
    errors: int = 0
    nodes: str = ""  # "node01 3 · node02 1" when several engines are attached
    store_fault: bool = False  # the state file cannot be written (the banner says more)

    def badges(self) -> list[tuple[str, str]]:
        """(text, style name) of every badge that is on, in a fixed order."""
        badges = []
        if self.rejected:
            badges.append(("CONFIG REJECTED", "alarm"))
        if self.paused:
            more = f" +{self.new_while_paused} new" if self.new_while_paused else ""
            badges.append((f"PAUSED{more}", "paused"))
        elif self.new_above:
            badges.append((f"+{self.new_above} new", "paused"))
        if self.read_only:
            badges.append(("READ-ONLY", "read-only"))
        if self.store_fault:
            badges.append(("STORE FAULT", "alarm"))
        if self.errors:
            badges.append((f"ERRORS {self.errors}", "alarm"))
        if self.engine_gone:
            badges.append(("ENGINE GONE", "alarm"))
        return badges


def _rate(value: float) -> str:
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    if value >= 10 or value == 0:
        return f"{value:.0f}"
    return f"{value:.1f}"


def from_zero(data: Sequence[float]) -> list[float]:
    """Samples for a sparkline scaled from zero: Textual scales from the smallest sample and
    draws a lone sample full height, so an idle rate would show a full bar."""
    values = list(data)
    if not values or max(values) <= 0:
        return [0.0, 0.0]
    return values if min(values) <= 0 else [0.0, *values]


class RateSparkline(Sparkline):
    """A sparkline of a rate or a count: empty at zero, full only at the peak."""

    def render(self) -> RenderResult:
        renderable = super().render()
        if isinstance(renderable, SparklineRenderable):
            renderable.data = from_zero(self.data or ())
        return renderable


class HeaderStrip(Widget):
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "header--title", "header--mode", "header--dim", "header--paused", "header--read-only",
        "header--alarm", "header--expiry", "header--warning",
    }
    DEFAULT_CSS = """
    HeaderStrip { height: 2; background: $panel; }
    HeaderStrip Horizontal { height: 1; }
    HeaderStrip #header-top { width: 1fr; height: 1; }
    HeaderStrip #h-rate { width: 15; padding: 0 1; }
    HeaderStrip #h-blocks { width: 12; padding: 0 1; }
    HeaderStrip #h-tail { width: 1fr; padding: 0 1; }
    HeaderStrip Sparkline { width: 1fr; max-width: 40; min-width: 8; }
    HeaderStrip > .header--title { text-style: bold; color: $primary; }
    HeaderStrip > .header--mode { text-style: bold; }
    HeaderStrip > .header--dim { color: $text-muted; }
    HeaderStrip > .header--paused { background: $badge-paused; color: $background;
                                    text-style: bold; }
    HeaderStrip > .header--read-only { background: $badge-read-only; color: $background;
                                       text-style: bold; }
    HeaderStrip > .header--alarm { background: $error; color: $background; text-style: bold; }
    HeaderStrip > .header--expiry { color: $block-expiring; }
    HeaderStrip > .header--warning { color: $warning; text-style: bold; }
    """

    state: var[HeaderState] = var(HeaderState, init=False)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._shown: dict[str, object] = {}
        self._composed = False

    def watch_state(self, state: HeaderState) -> None:
        self.show(state)

    def compose(self) -> ComposeResult:
        yield Static("", id="header-top")
        with Horizontal(id="header-bottom"):
            yield Static("", id="h-rate")
            yield RateSparkline([], id="spark-alerts")
            yield Static("", id="h-blocks")
            yield RateSparkline([], id="spark-blocks")
            yield Static("", id="h-tail")

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"header--{name}", partial=True)

    def _set(self, selector: str, key: object, build: RenderableType | None = None) -> None:
        """Update one part only when what it shows changed, and never with a layout."""
        if self._shown.get(selector) == key:
            return
        self._shown[selector] = key
        self.query_one(selector, Static).update(build if build is not None else Text(str(key)),
                                                layout=False)

    def on_mount(self) -> None:
        self._composed = True  # children are mounted before their parent's Mount
        self.show(self.state)

    def show(self, state: HeaderState) -> None:
        if not self._composed:
            return  # shown on mount
        mode = state.mode.upper() if state.mode else "STARTING"
        if state.attached:
            mode = f"ATTACHED · {mode}"
        if state.demo:
            mode = f"DEMO · {mode}"
        config = f"config gen {state.generation}" + (
            f" · {state.config_note}" if state.config_note else "")
        if state.demo:
            config = f"{state.demo} · {config}"
        if state.nodes:
            config = f"{state.nodes} · {config}"
        badges = state.badges()
        top_key = (mode, config, tuple(badges))
        if self._shown.get("#header-top") != top_key:
            left = Text(no_wrap=True, overflow="ellipsis")
            left.append(" arconsole ", self._style("title"))
            left.append(f" {mode} ", self._style("mode"))
            left.append(" ")
            left.append_text(literal(config, self._style("dim"), limit=90))
            right = Text(no_wrap=True, justify="right")
            for text, style in badges:
                right.append(" ")
                right.append(f" {text} ", self._style(style))
            grid = Table.grid(expand=True)
            grid.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
            grid.add_column(justify="right", no_wrap=True)
            grid.add_row(left, right)
            self._set("#header-top", top_key, grid)
        self._set("#h-rate", f"alerts/s {_rate(state.alerts_per_second)}")
        self._set("#h-blocks", f"blocks {state.blocks}")
        tail_key = (state.next_expiry, state.not_shown)
        if self._shown.get("#h-tail") != tail_key:
            tail = Text(no_wrap=True, overflow="ellipsis")
            if state.next_expiry:
                tail.append_text(literal(f"next expiry {state.next_expiry}",
                                         self._style("expiry"), limit=60))
            else:
                tail.append("no expiry due", self._style("dim"))
            if state.not_shown:
                tail.append(f"  {counted(state.not_shown, 'alert')} not shown",
                            self._style("warning"))
            self._set("#h-tail", tail_key, tail)

    def show_rates(self, alerts: Sequence[float], blocks: Sequence[float]) -> None:
        if not self._composed:
            return  # a tick can come first under a flood at start
        self.query_one("#spark-alerts", Sparkline).data = list(alerts)
        self.query_one("#spark-blocks", Sparkline).data = list(blocks)

    @property
    def badge_texts(self) -> list[str]:
        """The badges on now (what the operator sees at the top right)."""
        return [text for text, _ in self.state.badges()]

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._shown.clear()  # redraw with the new theme's colours
        if self._composed:
            self.call_later(self.show, self.state)

"""The console's main screen: the four panes and the header, fed by the engine's events.

The screen composes the panes, turns the engine's event batches into screen updates (at most a
few times a second, whatever the alert rate), ticks the countdowns once a second, and routes
the panes' keys. Operator actions run through `ActionFlows`. Header state lives in reactives:
setting one recomputes the `header` value, which is bound to the header strip.

What it delegates: the layout and keys (`main_layout`), what a batch changes on screen
(`engine_view`), when to draw (`console.pacing`), pane titles (`console.pane_titles`), the
rates for the sparklines (`console.rates`), what a key takes from the selection
(`console.selection`), which actions run (`console.action_gate`), the palette
(`console.palette`), the detail views (`detail`), the header's counts
(`console.header_counts`), the active-responses.log tab's source (`console.ar_log`).
"""

from __future__ import annotations

import asyncio
import gc
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, cast

from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import BindingType
from textual.dom import DOMNode
from textual.reactive import var
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Static, TabbedContent

from arconsole.config.model import Config, Flavour, Role
from arconsole.console.action_gate import action_state
from arconsole.console.alert_ring import AlertRing, AlertRow
from arconsole.console.ar_log import ArLogSource
from arconsole.console.bridge import EventBridge
from arconsole.console.flows import (
    ERROR_TOAST_SECONDS,
    INFO_TOAST_SECONDS,
    ActionFlows,
    stamp,
)
from arconsole.console.header_counts import refresh_counts
from arconsole.console.pacing import (
    FLEET_REFRESH,
    INPUT_GRACE,
    DrawPacer,
    Throttle,
    next_tick_delay,
)
from arconsole.console.palette import main_screen_commands
from arconsole.console.pane_titles import PaneTitles
from arconsole.console.rates import RateSampler
from arconsole.console.screens.detail import DetailScreen, alert_detail, block_detail
from arconsole.console.screens.engine_view import (
    attach_lines,
    load_config,
    show_batch,
    show_store,
)
from arconsole.console.screens.main_layout import (
    MAIN_BINDINGS,
    PANE_IDS,
    PANE_TITLES,
    main_layout,
)
from arconsole.console.selection import block_target, selected_text
from arconsole.console.text import escape_text
from arconsole.console.undelivered import UndeliveredDigest
from arconsole.console.widgets.alerts_view import AlertsView
from arconsole.console.widgets.blocks_view import BlocksView
from arconsole.console.widgets.config_tree import ConfigTree
from arconsole.console.widgets.filter_bar import FilterBar
from arconsole.console.widgets.header import HeaderState, HeaderStrip
from arconsole.console.widgets.log_view import LogView
from arconsole.console.widgets.store_banner import StoreBanner
from arconsole.engine.link import EngineLink


class MainScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = MAIN_BINDINGS

    # Header state: each change recomputes `header`, bound to the header strip.
    mode: var[str] = var("starting")
    demo: var[str] = var("")
    attached: var[bool] = var(False)
    engine_gone: var[bool] = var(False)
    generation: var[int] = var(0)
    config_note: var[str] = var("")
    rejected: var[bool] = var(False)
    read_only: var[bool] = var(False)
    errors: var[int] = var(0)
    store_fault: var[bool] = var(False)  # the state file cannot be written (banner below)
    paused: var[bool] = var(False)
    new_while_paused: var[int] = var(0)
    new_above: var[int] = var(0)
    alerts_per_second: var[float] = var(0.0)
    blocks: var[int] = var(0)
    next_expiry: var[str] = var("")
    nodes: var[str] = var("")  # blocks per node when several engines are attached
    not_shown: var[int] = var(0)
    header: var[HeaderState] = var(HeaderState)
    last_result: var[str] = var("")  # the latest action outcome, in the blocks pane

    def __init__(self, link: EngineLink | None, *, clock: Callable[[], float], live: bool,
                 flavour: Flavour, role: Role | None, operator: str,
                 alert_capacity: int) -> None:
        super().__init__()
        self._initial_link = link
        self.clock = clock
        self.live = live  # False in tests: no timers; tick() and poll_files() are called by hand
        self.flavour = flavour
        self.role = role
        self.operator = operator
        self.link: EngineLink | None = None
        self.config: Config | None = None
        self.ready = asyncio.Event()  # attached: the engine's blocks and config are shown
        self._composed = asyncio.Event()
        self.ring = AlertRing(alert_capacity)
        self.bridge = EventBridge(alert_capacity=alert_capacity)
        self.flows = ActionFlows(self)
        self.undelivered = UndeliveredDigest()
        self._flush_pending = False
        self.input_at = 0.0  # monotonic time of the operator's latest key (set by the app)
        self._pacer = DrawPacer()
        self.fleet_reads = Throttle(FLEET_REFRESH)  # see engine_view.fleet_changed
        self.rates = RateSampler()
        self._ar_log: ArLogSource | None = None
        self._titles = PaneTitles()

    def compute_header(self) -> HeaderState:
        return HeaderState(
            mode=self.mode, demo=self.demo, attached=self.attached,
            engine_gone=self.engine_gone, generation=self.generation,
            config_note=self.config_note, rejected=self.rejected,
            alerts_per_second=self.alerts_per_second, blocks=self.blocks,
            next_expiry=self.next_expiry, not_shown=self.not_shown, paused=self.paused,
            new_while_paused=self.new_while_paused, new_above=self.new_above,
            read_only=self.read_only, errors=self.errors, nodes=self.nodes,
            store_fault=self.store_fault,
        )

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield from main_layout(self.ring, self.clock, MainScreen.header)

    # The widgets, looked up once: timers and workers may still run while the app closes,
    # after the DOM is gone; they then update detached widgets, which is harmless.
    @cached_property
    def alerts_view(self) -> AlertsView:
        return self.query_one("#alerts", AlertsView)

    @cached_property
    def blocks_view(self) -> BlocksView:
        return self.query_one("#blocks", BlocksView)

    @cached_property
    def config_tree(self) -> ConfigTree:
        return self.query_one("#config-tree", ConfigTree)

    @cached_property
    def event_log(self) -> LogView:
        return self.query_one("#event-log", LogView)

    @cached_property
    def ar_log(self) -> LogView:
        return self.query_one("#ar-log", LogView)

    @cached_property
    def header_strip(self) -> HeaderStrip:
        return self.query_one("#header", HeaderStrip)

    @cached_property
    def store_banner(self) -> StoreBanner:
        return self.query_one("#store-banner", StoreBanner)

    @cached_property
    def panes(self) -> dict[str, Widget]:
        return {name: self.query_one(f"#{name}") for name in PANE_IDS}

    def on_mount(self) -> None:
        for name in ("alerts_view", "blocks_view", "config_tree", "event_log", "ar_log",
                     "header_strip", "store_banner", "panes"):
            getattr(self, name)  # look every widget up while the DOM is complete
        for pane, title in PANE_TITLES.items():
            self.panes[pane].border_title = title
        self.update_titles()
        self.alerts_view.focus()
        self._composed.set()
        if self.live:
            self.set_timer(next_tick_delay(self.clock()), self._live_tick, name="tick")
            self.set_interval(0.5, self.poll_files, name="tail")
        if self._initial_link is not None:
            self.run_worker(self.attach(self._initial_link), group="attach",
                            exit_on_error=False)

    # ------------------------------------------------------------------ engine

    async def attach(self, link: EngineLink) -> None:
        """Start showing `link`'s engine: its blocks and config now, its events from now on."""
        await self._composed.wait()
        self.link = link
        status = link.status
        self.read_only = status.read_only
        self.generation = status.generation
        self.mode = status.mode
        self.attached = status.attached
        self._ar_log = ArLogSource(Path(status.home))
        self.blocks_view.node_names = list(getattr(link, "links", ()))
        self.blocks_view.set_blocks(link.blocks())
        show_store(self, status)
        await load_config(self, first=True)
        self.run_worker(self._pump(link), group="bridge", exit_on_error=False)
        self.poll_files()
        self.refresh_bindings()
        self.update_titles()
        self.refresh_counts()
        self.event_log.add_lines(attach_lines(status, self.clock(), self.demo))
        self.ready.set()
        if self.live:
            self._settle_heap()

    @staticmethod
    def _settle_heap() -> None:
        """Start-up objects (Textual's DOM and styles, the config, the engine) live as long as
        the console: move them out of the collector's sight. Measured under a flood, full
        collections scanning them paused the loop (engine included) for 200+ ms."""
        gc.collect()
        gc.freeze()

    async def _pump(self, link: EngineLink) -> None:
        try:
            await self.bridge.pump(link, self._wake)
        except Exception as error:  # the console must survive a broken stream
            self.event_log.add_lines([f"{stamp(self.clock())} error   event stream: {error}"])
        self.engine_gone = self.attached

    def _wake(self) -> None:
        """Called after every engine batch: schedule one screen update (coalesced)."""
        if self._flush_pending:
            return
        self._flush_pending = True
        delay = self._pacer.delay() if self.live else 0.0
        if delay > 0:
            self.set_timer(delay, self._apply_batch)
        else:
            self.call_later(self._apply_batch)

    def ui_alive(self) -> bool:
        """False once the console is closing: timers and workers then leave the UI alone."""
        return self.header_strip.is_attached and self.blocks_view.is_attached

    def _apply_batch(self) -> None:
        now = time.monotonic()
        if self.live and self._pacer.defer(now, self.input_at):
            self.set_timer(INPUT_GRACE, self._apply_batch)
            return
        since = self._pacer.drawing(now)
        self._flush_pending = False
        if not self.ui_alive():
            return
        batch = self.bridge.take()
        self._pacer.taken(batch.alerts_seen, since)
        if batch.empty:
            self.refresh_counts()
            return
        show_batch(self, batch)

    @work(group="config", exclusive=True, exit_on_error=False)
    async def reload_tree(self) -> None:
        """Load the config again for the config pane (the engine reloaded it)."""
        await load_config(self, first=False)

    # ------------------------------------------------------------------ clock

    def _live_tick(self) -> None:
        self.tick()
        if self.ui_alive():
            self.set_timer(next_tick_delay(self.clock()), self._live_tick, name="tick")

    def tick(self, elapsed: float | None = None) -> None:
        """Once a second: rates, sparklines, countdowns, next expiry."""
        if not self.ui_alive():
            return
        received = self.bridge.alerts_total + self.bridge.pending_alerts
        self.alerts_per_second = self.rates.sample_alerts(received, elapsed)
        self.blocks_view.tick(math.floor(self.clock()))
        self.rates.sample_blocks(len(self.blocks_view.entries))
        self.header_strip.show_rates(self.rates.alert_rates, self.rates.block_counts)
        if self.store_fault and self.link is not None:
            show_store(self, self.link.status)  # how long it has lasted
        summary = self.undelivered.summary(self.clock())
        if summary is not None:
            self.event_log.add_lines([summary])
        self.refresh_counts()

    def poll_files(self) -> None:
        if self._ar_log is not None and self.ui_alive():
            lines, said = self._ar_log.poll(self.clock())
            self.ar_log.add_lines(lines)
            self.event_log.add_lines(said)

    # ------------------------------------------------------------------ presentation

    def refresh_counts(self) -> None:
        """The header's numbers, read from the panes' data (reactives redraw what changed)."""
        if self.ui_alive():
            refresh_counts(self)

    def watch_last_result(self) -> None:
        self.update_titles()

    def watch_read_only(self) -> None:
        self.refresh_bindings()

    def update_titles(self) -> None:
        if not self.is_mounted or not self.ui_alive():
            return
        self._titles.update(self)

    @property
    def active_log(self) -> LogView:
        """The log tab shown now."""
        return self.ar_log if self._active_log_id() == "ar-log" else self.event_log

    # ------------------------------------------------------------------ action gate

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return action_state(action, dialog_open=self.is_attached and self.app.screen is not self,
                            read_only=self.read_only, linked=self.link is not None)

    def action_refuse(self, action: str) -> None:
        self.flows.refuse_read_only(action)

    # ------------------------------------------------------------------ panes

    def _active_log_id(self) -> str:
        active = cast(TabbedContent, self.panes["log-tabs"]).active
        return "ar-log" if active == "tab-ar" else "event-log"

    def action_focus_pane(self, pane: str) -> None:
        self.set_class(pane == "config", "-pane-config")
        self.set_class(pane == "log", "-pane-log")
        if pane == "config":
            self.config_tree.focus()
        elif pane == "alerts":
            self.alerts_view.focus()
        elif pane == "blocks":
            self.blocks_view.focus()
        else:
            self.active_log.focus()

    def action_toggle_maximize(self) -> None:
        if self.maximized is not None:
            self.minimize()
            return
        focused = self.focused
        panes = [a for a in (focused.ancestors if focused else []) if a.has_class("pane")]
        if panes and isinstance(panes[0], Widget):
            self.maximized = panes[0]

    @on(ConfigTree.NodeHighlighted)
    def _config_node_highlighted(self, event: ConfigTree.NodeHighlighted[Any]) -> None:
        self.show_config_detail()

    def show_config_detail(self) -> None:
        tree = self.config_tree
        node = tree.cursor_node
        detail = cast(Static, self.panes["config-detail"])
        detail.update(tree.describe(node.data if node is not None else None))

    def action_next_log(self) -> None:
        tabs = cast(TabbedContent, self.panes["log-tabs"])
        tabs.active = "tab-events" if tabs.active == "tab-ar" else "tab-ar"
        self.action_focus_pane("log")
        self.update_titles()

    @on(LogView.FollowChanged)
    @on(BlocksView.SortChanged)
    def _titles_changed(self) -> None:
        self.update_titles()

    @on(AlertsView.NewAboveChanged)
    def _new_above_changed(self) -> None:
        self.new_above = self.alerts_view.new_above
        self.update_titles()

    # ------------------------------------------------------------------ filter and pause

    def _filter_target(self) -> str:
        focused = self.focused
        if focused is not None and (focused is self.blocks_view
                                    or self.panes["blocks-pane"] in focused.ancestors):
            return "blocks"
        return "alerts"

    def action_filter(self) -> None:
        self.open_filter(self._filter_target())

    def open_filter(self, target: str) -> None:
        if self.has_class("-pane-config") or self.has_class("-pane-log"):
            self.action_focus_pane(target)
        cast(FilterBar, self.panes[f"{target}-filter"]).open()

    @on(FilterBar.Applied)
    def _filter_applied(self, event: FilterBar.Applied) -> None:
        if event.bar.id == "alerts-filter":
            self.ring.set_filter(event.predicate)
            self.alerts_view.data_changed()
            if event.done:
                self.alerts_view.focus()
        else:
            self.blocks_view.set_filter(event.predicate)
            if event.done:
                self.blocks_view.focus()
        self.update_titles()

    def action_clear_filter(self) -> None:
        target = self._filter_target()
        bar = cast(FilterBar, self.panes[f"{target}-filter"])
        if bar.text:
            bar.clear()

    def action_toggle_pause(self) -> None:
        if self.ring.paused:
            added = self.ring.resume()
            self.alerts_view.rows_added(added)
            self.alerts_view.data_changed()
        else:
            self.ring.pause()
        self.update_titles()
        self.refresh_counts()

    # ------------------------------------------------------------------ details, help, copy

    @on(AlertsView.Opened)
    def _open_alert(self, event: AlertsView.Opened) -> None:
        self.app.push_screen(self.alert_detail(event.row))

    def alert_detail(self, row: AlertRow) -> DetailScreen:
        link = self.link
        transport = link is not None and link.status.agent_transport
        return alert_detail(row, self.config, observe=self.mode == "observe",
                            transport=transport)

    @on(BlocksView.Opened)
    def _open_block(self, event: BlocksView.Opened) -> None:
        self.app.push_screen(block_detail(event.block))

    def help_sections(self) -> list[tuple[str, tuple[DOMNode, ...]]]:
        """The `?` screen's sections: the keys of the app and each pane, in that order."""
        return [("Everywhere", (self.app, self)), ("Blocks pane (3)", (self.blocks_view,)),
                ("Alerts pane (2)", (self.alerts_view,)), ("Log pane (4)", (self.event_log,)),
                ("Config pane (1)", (self.config_tree,))]

    def action_copy(self) -> None:
        """Copy the selected alert, block, log line or config node to the operator's
        clipboard (OSC 52: the terminal on the operator's side, even over SSH)."""
        text, what = selected_text(self.focused)
        if not text:
            self.notify("nothing selected to copy", severity="warning", markup=False)
            return
        self.app.copy_to_clipboard(text)
        # `what` names the row by its key or id: attacker text, shown escaped.
        self.notify(f"copied {escape_text(what, limit=200)} ({len(text)} characters) to your "
                    "clipboard", markup=False)

    # ------------------------------------------------------------------ operator actions

    def action_reverse_block(self) -> None:
        block = self.blocks_view.selected_block()
        if block is None:
            self.notify("no block selected", severity="warning", markup=False)
            return
        self.flows.reverse(block)

    def action_extend_block(self) -> None:
        block = self.blocks_view.selected_block()
        if block is None:
            self.notify("no block selected", severity="warning", markup=False)
            return
        self.flows.extend(block)

    def action_manual_block(self) -> None:
        """Block by hand: the selected alert's address; with several engines attached, the
        selected row's node (an alert's or a block's) is offered; with none selected, asked."""
        self.flows.manual_block(*block_target(self.focused))

    def action_bulk_reverse(self) -> None:
        keys = [entry.key for entry in self.blocks_view.visible_entries
                if entry.block.reversible]
        if not keys:
            self.notify("no reversible block is shown", severity="warning", markup=False)
            return
        self.flows.bulk_reverse(keys, cast(FilterBar, self.panes["blocks-filter"]).text)

    def action_reload_config(self) -> None:
        self.flows.reload()

    # FlowHost: what the flows use of this screen.

    def push_dialog(self, screen: Screen[Any], callback: Callable[[Any], None]) -> None:
        self.app.push_screen(screen, callback)

    def run_job(self, job: Awaitable[None]) -> None:
        self.run_worker(job, group="actions", exit_on_error=False)

    def toast(self, text: str, *, error: bool) -> None:
        self.notify(text, severity="error" if error else "information", markup=False,
                    timeout=ERROR_TOAST_SECONDS if error else INFO_TOAST_SECONDS)

    def log_lines(self, lines: Sequence[str]) -> None:
        self.event_log.add_lines(lines)

    # ------------------------------------------------------------------ palette

    def system_commands(self) -> Iterable[SystemCommand]:
        return main_screen_commands(self)

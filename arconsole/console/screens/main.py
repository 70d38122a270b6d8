"""The console's main screen: the four panes and the header, fed by the engine's events.

The screen composes the panes, turns the engine's event batches into screen updates (at most a
few times a second, whatever the alert rate), ticks the countdowns once a second, and routes
the panes' keys. Operator actions run through `ActionFlows`. Header state lives in reactives:
setting one recomputes the `header` value, which is bound to the header strip.
"""

from __future__ import annotations

import asyncio
import gc
import json
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from functools import cached_property, partial
from pathlib import Path
from typing import Any, ClassVar, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.dom import DOMNode
from textual.reactive import var
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Static, TabbedContent, TabPane

from arconsole.config.model import Config, Flavour, Role
from arconsole.console.alert_ring import AlertRing, AlertRow
from arconsole.console.bridge import EventBridge
from arconsole.console.config_outline import build_outline
from arconsole.console.file_tail import FileTail
from arconsole.console.filters import (
    ALERT_FIELDS,
    ALERT_FREE_TEXT,
    BLOCK_FIELDS,
    BLOCK_FREE_TEXT,
)
from arconsole.console.flows import READ_ONLY_WORDS, ActionFlows, stamp
from arconsole.console.screens.detail import DetailScreen, json_text
from arconsole.console.text import escape_text, literal
from arconsole.console.undelivered import UndeliveredDigest
from arconsole.console.widgets.alerts_view import AlertsView
from arconsole.console.widgets.blocks_view import BlocksView
from arconsole.console.widgets.config_tree import ConfigTree
from arconsole.console.widgets.filter_bar import FilterBar
from arconsole.console.widgets.header import HeaderState, HeaderStrip
from arconsole.console.widgets.log_view import LogView
from arconsole.console.widgets.store_banner import StoreBanner, StoreState
from arconsole.durations import format_remaining
from arconsole.engine.eventlog import describe
from arconsole.engine.events import (
    AlertHandled,
    ConfigLoaded,
    ConfigRejected,
    DeliveryChanged,
    Event,
    FleetChanged,
    StoreHealthChanged,
    Undelivered,
)
from arconsole.engine.link import BlockInfo, EngineLink, LinkStatus

# Lists are redrawn at most five times a second, twice a second in a flood: drawing costs per
# frame, not per alert, and nobody reads faster (htop and k9s refresh every 1.5-2 s). Keys do
# not wait for this: their widgets redraw at once.
FLUSH_INTERVAL = 0.2
FLOOD_FLUSH_INTERVAL = 0.5
FLOOD_RATE = 1_000  # alerts a second that make it a flood
RATE_HISTORY = 300  # five minutes of one-second samples for the sparklines
TICK_MARGIN = 0.02  # ticks land this long after the clock's whole second
# A key pressed less than this long ago gets its frame first: the batch waits (at most
# INPUT_DEFER_MAX), so redrawing a flood never delays what the operator asked for.
INPUT_GRACE = 0.15
INPUT_DEFER_MAX = 1.0

# Actions that change engine state: hidden when read-only; their keys then say so.
WRITE_ACTIONS = frozenset(READ_ONLY_WORDS)
ALWAYS_SHOWN = frozenset({"copy"})  # dialogs copy too


def next_tick_delay(now: float) -> float:
    """Seconds until just after the clock's next whole second: every tick then shows a new
    second, exactly one later than the one before (no second shown twice, none skipped)."""
    return math.floor(now) + 1.0 + TICK_MARGIN - now


class MainScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter", id="filter"),
        Binding("space,p", "toggle_pause", "Pause", id="pause"),
        Binding("b", "manual_block", "Block IP", id="manual-block"),
        Binding("c", "copy", "Copy", id="copy"),
        Binding("ctrl+r", "reload_config", "Reload config", show=False, id="reload-config"),
        Binding("1", "focus_pane('config')", "Config pane", show=False, id="pane-config"),
        Binding("2", "focus_pane('alerts')", "Alerts pane", show=False, id="pane-alerts"),
        Binding("3", "focus_pane('blocks')", "Blocks pane", show=False, id="pane-blocks"),
        Binding("4", "focus_pane('log')", "Log pane", show=False, id="pane-log"),
        Binding("l", "next_log", "Next log tab", show=False, id="next-log"),
        Binding("escape", "clear_filter", "Clear filter (or leave a maximized pane)",
                show=False, id="clear-filter"),
        Binding("z", "toggle_maximize", "Maximize pane (again: restore)", show=False,
                id="maximize-pane"),
        Binding("tab", "app.focus_next", "Next pane", show=False, id="focus-next"),
        Binding("shift+tab", "app.focus_previous", "Previous pane", show=False,
                id="focus-previous"),
        # Read-only: the write keys are hidden, and these (never shown) say why nothing
        # happens. Checked after the panes' own bindings, which are off in read-only mode.
        Binding("r,R", "refuse('reverse_block')", show=False, id="refuse-reverse"),
        Binding("e", "refuse('extend_block')", show=False, id="refuse-extend"),
        Binding("b", "refuse('manual_block')", show=False, id="refuse-block"),
        Binding("ctrl+r", "refuse('reload_config')", show=False, id="refuse-reload"),
    ]

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
        self._deferred_since: float | None = None
        self.input_at = 0.0  # monotonic time of the operator's latest key (set by the app)
        self._flooded = False
        self._last_flush = 0.0
        self._last_tick: float | None = None
        self._last_alerts_total = 0
        self._alert_rates: deque[float] = deque(maxlen=RATE_HISTORY)
        self._block_counts: deque[float] = deque(maxlen=RATE_HISTORY)
        self._ar_tail: FileTail | None = None
        self._titles: dict[tuple[str, str], str] = {}

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
        yield HeaderStrip(id="header").data_bind(state=MainScreen.header)
        yield StoreBanner(id="store-banner")
        yield Static("", id="config-banner")
        with Horizontal(id="body"):
            with Vertical(id="config-pane", classes="pane"):
                yield ConfigTree(id="config-tree")
                yield Static("", id="config-detail")
            with Vertical(id="center"):
                with Vertical(id="alerts-pane", classes="pane"):
                    yield AlertsView(self.ring, id="alerts")
                    yield FilterBar(ALERT_FIELDS, ALERT_FREE_TEXT,
                                    "level>=10  srcip:203.0.113.0/24  rule:5712  !fired:-  "
                                    "Enter keeps, Escape restores", id="alerts-filter")
                with Vertical(id="blocks-pane", classes="pane"):
                    yield BlocksView(self.clock, id="blocks")
                    yield FilterBar(BLOCK_FIELDS, BLOCK_FREE_TEXT,
                                    "srcip:198.51.100.0/24  state:failed  remaining<60  "
                                    "Enter keeps, Escape restores", id="blocks-filter")
        with Vertical(id="log-pane", classes="pane"), \
                TabbedContent(id="log-tabs", initial="tab-events"):
            with TabPane("active-responses.log", id="tab-ar"):
                yield LogView(id="ar-log")
            with TabPane("events", id="tab-events"):
                yield LogView(id="event-log")
        yield Footer()

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
    def _panes(self) -> dict[str, Widget]:
        return {name: self.query_one(f"#{name}") for name in (
            "config-pane", "config-detail", "alerts-pane", "blocks-pane", "log-pane",
            "config-banner",
            "alerts-filter", "blocks-filter", "log-tabs")}

    def on_mount(self) -> None:
        for name in ("alerts_view", "blocks_view", "config_tree", "event_log", "ar_log",
                     "header_strip", "store_banner", "_panes"):
            getattr(self, name)  # look every widget up while the DOM is complete
        self._panes["config-pane"].border_title = "1 Config"
        self._panes["alerts-pane"].border_title = "2 Alerts"
        self._panes["blocks-pane"].border_title = "3 Blocks"
        self._panes["log-pane"].border_title = "4 Log"
        self._update_titles()
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
        self._ar_tail = FileTail(Path(status.home) / "logs" / "active-responses.log")
        self.blocks_view.node_names = list(getattr(link, "links", ()))
        self.blocks_view.set_blocks(link.blocks())
        self._show_store(status)
        await self._load_config(first=True)
        self.run_worker(self._pump(link), group="bridge", exit_on_error=False)
        self.poll_files()
        self.refresh_bindings()
        self._update_titles()
        self._refresh_counts()
        where = "attached to the engine" if status.attached else "engine started"
        self.event_log.add_lines([
            f"{stamp(self.clock())} info    {where}: mode {status.mode}, config "
            f"{status.config} (generation {status.generation}), home {status.home}"
            + (", read-only" if status.read_only else "")
        ])
        if self.demo:
            self.event_log.add_lines([
                f"{stamp(self.clock())} info    DEMO: {self.demo}; the scripts only record "
                f"what they would do ({status.home}/logs/demo-actions.log)"])
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
        delay = 0.0
        if self.live:
            interval = FLOOD_FLUSH_INTERVAL if self._flooded else FLUSH_INTERVAL
            delay = self._last_flush + interval - time.monotonic()
        if delay > 0:
            self.set_timer(delay, self._apply_batch)
        else:
            self.call_later(self._apply_batch)

    def _ui_alive(self) -> bool:
        """False once the console is closing: timers and workers then leave the UI alone."""
        return self.header_strip.is_attached and self.blocks_view.is_attached

    def _apply_batch(self) -> None:
        now = time.monotonic()
        if self.live and now - self.input_at < INPUT_GRACE:
            first = self._deferred_since = self._deferred_since or now
            if now - first < INPUT_DEFER_MAX:
                self.set_timer(INPUT_GRACE, self._apply_batch)
                return
        self._deferred_since = None
        self._flush_pending = False
        since, self._last_flush = now - self._last_flush, now
        if not self._ui_alive():
            return
        batch = self.bridge.take()
        self._flooded = batch.alerts_seen >= FLOOD_RATE * min(since, 1.0)
        if batch.empty:
            self._refresh_counts()
            return
        lines: list[str] = []
        with self.app.batch_update():
            if batch.alerts:
                added = self.ring.add_events(batch.alerts)
                self.alerts_view.rows_added(added)
                lines.extend(self._log_line(a) for a in batch.alerts if a.fired)
            if batch.blocks:
                self.blocks_view.apply({
                    key: (None if event.change == "reversed" else BlockInfo.of_event(event))
                    for key, event in batch.blocks.items()
                })
            if self.link is not None and any(
                    isinstance(e, FleetChanged | DeliveryChanged) for e in batch.events):
                self.blocks_view.set_fleet([b for b in self.link.blocks() if b.on_agent])
            for event in batch.events:
                if isinstance(event, StoreHealthChanged):
                    # The banner shows the link's state now; the Notice is the log line.
                    if self.link is not None:
                        self._show_store(self.link.status)
                    continue
                if isinstance(event, Undelivered):
                    said = self.undelivered.add(event)
                    if said is not None:
                        lines.append(said)
                    continue
                lines.append(self._log_line(event))
                self._note_event(event)
            summary = self.undelivered.summary(self.clock())
            if summary is not None:
                lines.append(summary)
            if batch.events_not_shown:
                lines.append(f"{stamp(self.clock())} warning {batch.events_not_shown} events "
                             "not shown: the console fell behind")
            if lines:
                self.event_log.add_lines(lines)
            self._update_titles()
            self._refresh_counts()

    def _log_line(self, event: Event) -> str:
        level, text = describe(event)
        if level == "error" and not isinstance(event, AlertHandled):
            self.errors += 1
        return f"{stamp(event.at)} {level:<7} {text}"

    def _note_event(self, event: Event) -> None:
        if isinstance(event, ConfigLoaded):
            self.generation = event.generation
            self.config_note = f"reloaded {stamp(event.at)}: {event.summary}"
            self.rejected = False
            self._show_banner(None)
            self._reload_tree()
        elif isinstance(event, ConfigRejected):
            self.rejected = True
            self.config_note = f"reload rejected {stamp(event.at)}"
            self._show_banner(event)

    def _show_store(self, status: LinkStatus) -> None:
        """The store banner and badge as the engine says now: a fault until it clears,
        the warnings found at open for as long as the console runs."""
        state = StoreState(status.store_fault, status.store_fault_since, status.store_warnings)
        since = stamp(state.since) if state.since is not None else ""
        self.store_banner.show_state(state, self.clock(), since)
        self.store_fault = state.fault is not None

    def _show_banner(self, event: ConfigRejected | None) -> None:
        banner = cast(Static, self._panes["config-banner"])
        if event is None:
            banner.remove_class("-on")
            return
        text = Text("✖ Config reload rejected: ")
        text.append_text(literal(event.first_error, limit=300, wrap=True))
        text.append(f"\n{event.errors} error(s). The engine keeps generation "
                    f"{self.generation}, the last good config; the file is reloaded when "
                    "saved (ctrl+r retries).")
        banner.update(text)
        banner.add_class("-on")

    @work(group="config", exclusive=True, exit_on_error=False)
    async def _reload_tree(self) -> None:
        await self._load_config(first=False)

    async def _load_config(self, *, first: bool) -> None:
        from arconsole.config.loader import ConfigReadError, load_config

        if self.link is None:
            return
        path = Path(self.link.status.config)
        try:
            config = await asyncio.to_thread(load_config, path, flavour=self.flavour,
                                             role=self.role)
        except ConfigReadError as error:
            self.event_log.add_lines([f"{stamp(self.clock())} error   cannot read {path}: "
                                      f"{error}"])
            return
        if not config.ok and not first:
            return  # changed again, to something broken: the engine reports it
        self.config = config
        self.config_tree.show(build_outline(config, generation=self.generation),
                              mark_changes=not first)
        self._show_config_detail()
        self._update_titles()

    # ------------------------------------------------------------------ clock

    def _live_tick(self) -> None:
        self.tick()
        if self._ui_alive():
            self.set_timer(next_tick_delay(self.clock()), self._live_tick, name="tick")

    def tick(self, elapsed: float | None = None) -> None:
        """Once a second: rates, sparklines, countdowns, next expiry."""
        if not self._ui_alive():
            return
        now = time.monotonic()
        if elapsed is None:
            elapsed = now - self._last_tick if self._last_tick is not None else 1.0
        self._last_tick = now
        received = self.bridge.alerts_total + self.bridge.pending_alerts
        rate = (received - self._last_alerts_total) / max(elapsed, 1e-6)
        self._last_alerts_total = received
        self._alert_rates.append(rate)
        self.alerts_per_second = rate
        self.blocks_view.tick(math.floor(self.clock()))
        self._block_counts.append(float(len(self.blocks_view.entries)))
        self.header_strip.show_rates(self._alert_rates, self._block_counts)
        if self.store_fault and self.link is not None:
            self._show_store(self.link.status)  # how long it has lasted
        summary = self.undelivered.summary(self.clock())
        if summary is not None:
            self.event_log.add_lines([summary])
        self._refresh_counts()

    def poll_files(self) -> None:
        if self._ar_tail is not None and self._ui_alive():
            lines = self._ar_tail.poll()
            if lines:
                self.ar_log.add_lines(lines)

    # ------------------------------------------------------------------ presentation

    def _refresh_counts(self) -> None:
        """The header's numbers, read from the panes' data (reactives redraw what changed)."""
        if not self._ui_alive():
            return
        dropped = self.link.dropped_alerts if self.link is not None else 0
        self.not_shown = dropped + self.bridge.alerts_not_shown_total + self.ring.not_shown
        self.paused = self.ring.paused
        self.new_while_paused = self.ring.new_while_paused
        self.new_above = self.alerts_view.new_above
        self.blocks = len(self.blocks_view.entries)
        self.nodes = self.blocks_view.node_counts()
        entry = self.blocks_view.next_expiry()
        self.next_expiry = (f"{format_remaining(int(entry.remaining))} {entry.who}"
                            if entry is not None else "")

    def watch_last_result(self) -> None:
        self._update_titles()

    def watch_read_only(self) -> None:
        self.refresh_bindings()

    def _title(self, pane: str, which: str, text: str) -> None:
        """Set a pane's border title or subtitle, only when it changes: a new title repaints
        the whole pane, so the ones that change at every batch live in the header instead."""
        key = (pane, which)
        if self._titles.get(key) == text:
            return
        self._titles[key] = text
        setattr(self._panes[pane], which, literal(text, limit=110))

    def _update_titles(self) -> None:
        if not self.is_mounted or not self._ui_alive():
            return
        alerts = []
        alerts_filter = cast(FilterBar, self._panes["alerts-filter"]).text
        if alerts_filter:
            alerts.append(f"filter: {alerts_filter}")
        if self.ring.paused:
            alerts.append("PAUSED")
        elif self.alerts_view.new_above:
            alerts.append(f"+{self.alerts_view.new_above} new above · g shows them")
        self._title("alerts-pane", "border_subtitle", " · ".join(alerts))
        blocks_view = self.blocks_view
        visible, total = blocks_view.row_count(), len(blocks_view.entries)
        count = f"{visible}/{total}" if visible != total else str(total)
        self._title("blocks-pane", "border_title", f"3 Blocks ({count})")
        blocks = [f"sort {blocks_view.sort_title}"]
        blocks_filter = cast(FilterBar, self._panes["blocks-filter"]).text
        if blocks_filter:
            blocks.append(f"filter: {blocks_filter}")
        if self.last_result:
            blocks.append(self.last_result)
        self._title("blocks-pane", "border_subtitle", " · ".join(blocks))
        self._title("config-pane", "border_subtitle",
                    f"gen {self.generation}" if self.generation else "")
        log_view = self.ar_log if self._active_log_id() == "ar-log" else self.event_log
        self._title("log-pane", "border_subtitle",
                    "following" if log_view.following else "paused · end follows")

    # ------------------------------------------------------------------ action gate

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action not in ALWAYS_SHOWN and self.is_attached and self.app.screen is not self:
            return False  # a dialog is open: the footer behind it lists only what works
        if action in WRITE_ACTIONS:
            if self.read_only:
                return False  # hidden; the `refuse` bindings say why the key does nothing
            return None if self.link is None else True
        if action == "refuse":
            return self.read_only
        return True

    def action_refuse(self, action: str) -> None:
        self.flows.refuse_read_only(action)

    # ------------------------------------------------------------------ panes

    def _active_log_id(self) -> str:
        active = cast(TabbedContent, self._panes["log-tabs"]).active
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
            (self.ar_log if self._active_log_id() == "ar-log" else self.event_log).focus()

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
        self._show_config_detail()

    def _show_config_detail(self) -> None:
        tree = self.config_tree
        node = tree.cursor_node
        detail = cast(Static, self._panes["config-detail"])
        detail.update(tree.describe(node.data if node is not None else None))

    def action_next_log(self) -> None:
        tabs = cast(TabbedContent, self._panes["log-tabs"])
        tabs.active = "tab-events" if tabs.active == "tab-ar" else "tab-ar"
        self.action_focus_pane("log")
        self._update_titles()

    @on(LogView.FollowChanged)
    @on(BlocksView.SortChanged)
    def _titles_changed(self) -> None:
        self._update_titles()

    @on(AlertsView.NewAboveChanged)
    def _new_above_changed(self) -> None:
        self.new_above = self.alerts_view.new_above
        self._update_titles()

    # ------------------------------------------------------------------ filter and pause

    def _filter_target(self) -> str:
        focused = self.focused
        if focused is not None and (focused is self.blocks_view
                                    or self._panes["blocks-pane"] in focused.ancestors):
            return "blocks"
        return "alerts"

    def action_filter(self) -> None:
        self.open_filter(self._filter_target())

    def open_filter(self, target: str) -> None:
        if self.has_class("-pane-config") or self.has_class("-pane-log"):
            self.action_focus_pane(target)
        cast(FilterBar, self._panes[f"{target}-filter"]).open()

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
        self._update_titles()

    def action_clear_filter(self) -> None:
        target = self._filter_target()
        bar = cast(FilterBar, self._panes[f"{target}-filter"])
        if bar.text:
            bar.clear()

    def action_toggle_pause(self) -> None:
        if self.ring.paused:
            added = self.ring.resume()
            self.alerts_view.rows_added(added)
            self.alerts_view.data_changed()
        else:
            self.ring.pause()
        self._update_titles()
        self._refresh_counts()

    # ------------------------------------------------------------------ details, help, copy

    @on(AlertsView.Opened)
    def _open_alert(self, event: AlertsView.Opened) -> None:
        self.app.push_screen(self.alert_detail(event.row))

    def alert_detail(self, row: AlertRow) -> DetailScreen:
        from arconsole.console.explain import explain_alert

        title = (f"alert {row.alert_id}  rule {row.rule_id}  level {row.level}  "
                 f"srcip {row.srcip or '-'}")
        return DetailScreen(title, [
            ("Why each response fired or not (explain)",
             explain_alert(self.config, row.raw, observe=self.mode == "observe")),
            ("Alert JSON", json_text(row.raw)),
        ], copy_text=row.raw)

    @on(BlocksView.Opened)
    def _open_block(self, event: BlocksView.Opened) -> None:
        block = event.block.to_json()
        self.app.push_screen(DetailScreen(f"block {event.block.key}",
                                          [("Block", json_text(block))],
                                          copy_text=json.dumps(block, indent=2)))

    def help_sections(self) -> list[tuple[str, tuple[DOMNode, ...]]]:
        return [
            ("Everywhere", (self.app, self)),
            ("Blocks pane (3)", (self.blocks_view,)),
            ("Alerts pane (2)", (self.alerts_view,)),
            ("Log pane (4)", (self.event_log,)),
            ("Config pane (1)", (self.config_tree,)),
        ]

    def action_copy(self) -> None:
        """Copy the selected alert, block, log line or config node to the operator's
        clipboard (OSC 52: the terminal on the operator's side, even over SSH)."""
        text, what = self._selection()
        if not text:
            self.notify("nothing selected to copy", severity="warning", markup=False)
            return
        self.app.copy_to_clipboard(text)
        self.notify(f"copied {what} ({len(text)} characters) to your clipboard", markup=False)

    def _selection(self) -> tuple[str, str]:
        focused = self.focused
        if isinstance(focused, AlertsView):
            row = focused.selected_alert
            return (row.raw, f"alert {row.alert_id}") if row else ("", "")
        if isinstance(focused, BlocksView):
            block = focused.selected_block()
            return ((json.dumps(block.to_json(), indent=2), f"block {block.key}")
                    if block else ("", ""))
        if isinstance(focused, LogView):
            return focused.current_line or "", "the log line"
        if isinstance(focused, ConfigTree):
            node = focused.cursor_node
            if node is not None and node.data is not None:
                item = node.data
                line = f" (line {item.line})" if item.line is not None else ""
                return f"{item.title} {item.detail}".strip() + line, "the config node"
        return "", ""

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
        address, node = "", ""
        focused = self.focused
        if isinstance(focused, AlertsView) and focused.selected_alert is not None:
            address = focused.selected_alert.srcip or ""
            node = focused.selected_alert.node
        elif isinstance(focused, BlocksView):
            block = focused.selected_block()
            node = block.node if block is not None else ""
        self.flows.manual_block(address, node)

    def action_bulk_reverse(self) -> None:
        keys = [entry.key for entry in self.blocks_view.visible_entries
                if entry.block.reversible]
        if not keys:
            self.notify("no reversible block is shown", severity="warning", markup=False)
            return
        self.flows.bulk_reverse(keys, cast(FilterBar, self._panes["blocks-filter"]).text)

    def action_reload_config(self) -> None:
        self.flows.reload()

    # FlowHost: what the flows use of this screen.

    def push_dialog(self, screen: Screen[Any], callback: Callable[[Any], None]) -> None:
        self.app.push_screen(screen, callback)

    def run_job(self, job: Awaitable[None]) -> None:
        self.run_worker(job, group="actions", exit_on_error=False)

    def toast(self, text: str, *, error: bool) -> None:
        from arconsole.console.flows import ERROR_TOAST_SECONDS, INFO_TOAST_SECONDS

        self.notify(text, severity="error" if error else "information", markup=False,
                    timeout=ERROR_TOAST_SECONDS if error else INFO_TOAST_SECONDS)

    def log_lines(self, lines: Sequence[str]) -> None:
        self.event_log.add_lines(lines)

    # ------------------------------------------------------------------ palette

    def system_commands(self) -> Iterable[SystemCommand]:
        yield SystemCommand("Pause or resume alerts", "Freeze the alerts list (space)",
                            self.action_toggle_pause)
        yield SystemCommand("Filter alerts", "level>=10, srcip:1.2.3.4, rule:5712 ... (/)",
                            partial(self.open_filter, "alerts"))
        yield SystemCommand("Filter blocks", "state:failed, remaining<60 ... (/ in blocks)",
                            partial(self.open_filter, "blocks"))
        for pane in ("config", "alerts", "blocks", "log"):
            yield SystemCommand(f"Go to the {pane} pane", f"Focus the {pane} pane",
                                partial(self.action_focus_pane, pane))
        if self.link is None or self.read_only:
            return
        yield SystemCommand("Reload config", "Load ossec.conf again (ctrl+r)",
                            self.action_reload_config)
        yield SystemCommand("Block an address", "Block an IP by hand (b)",
                            self.action_manual_block)
        yield SystemCommand("Reverse every shown block", "Typed confirmation (R in blocks)",
                            self.action_bulk_reverse)
        for entry in self.blocks_view.visible_entries[:200]:
            yield SystemCommand(
                escape_text(f"Reverse {entry.key}", limit=80),
                escape_text(f"{entry.who}, {format_remaining(int(entry.remaining))} left, "
                            f"{entry.state}", limit=80),
                partial(self.flows.reverse, entry.block),
            )

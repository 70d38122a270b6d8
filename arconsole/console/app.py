"""The operator console: config, alerts, active blocks and logs of one engine, by keyboard.

The console talks to the engine only through an `EngineLink` (in-process or over the control
socket): it acts by calling the link and learns every outcome from the engine's events,
which reach it through the `EventBridge` (batched, coalesced, never holding the engine back).
Read-only mode is enforced by the engine façade; the console only greys the keys out.
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from functools import cached_property, partial
from pathlib import Path
from typing import Any, ClassVar, cast

from rich.text import Text
from textual import events, on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Input, Static, TabbedContent, TabPane

from arconsole.config.executables import PROGRAM_DIR
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
from arconsole.console.screens.detail import DetailScreen, json_text
from arconsole.console.screens.dialogs import (
    BulkReverseScreen,
    ConfirmScreen,
    ExtendScreen,
    Facts,
    ManualBlock,
    ManualBlockScreen,
)
from arconsole.console.screens.help import HelpScreen
from arconsole.console.text import escape_text, literal
from arconsole.console.themes import (
    APP_VARIABLES,
    DEFAULT_THEME,
    FALLBACK_THEME,
    ThemeFailure,
    default_theme_name,
    load_themes,
    shipped_theme_dir,
    user_theme_dir,
)
from arconsole.console.widgets.alerts_view import AlertsView
from arconsole.console.widgets.blocks_view import BlocksView
from arconsole.console.widgets.config_tree import ConfigTree
from arconsole.console.widgets.filter_bar import FilterBar
from arconsole.console.widgets.header import HeaderState, HeaderStrip
from arconsole.console.widgets.log_view import LogView
from arconsole.durations import format_remaining
from arconsole.engine.eventlog import describe
from arconsole.engine.events import (
    AlertHandled,
    ConfigLoaded,
    ConfigRejected,
    Event,
)
from arconsole.engine.link import EngineLink

# Lists are redrawn at most five times a second, twice a second in a flood: drawing costs per
# frame, not per alert, and nobody reads faster (htop and k9s refresh every 1.5-2 s). Keys do
# not wait for this: their widgets redraw at once.
FLUSH_INTERVAL = 0.2
FLOOD_FLUSH_INTERVAL = 0.5
FLOOD_RATE = 1_000  # alerts a second that make it a flood
RATE_HISTORY = 300  # five minutes of one-second samples for the sparklines

# Actions that change engine state: greyed out when read-only (the engine refuses them anyway).
WRITE_ACTIONS = frozenset(
    {"reverse_block", "extend_block", "bulk_reverse", "manual_block", "reload_config"}
)
# Actions of the main screen only: a key typed in a dialog must never open another one.
MAIN_SCREEN_ACTIONS = WRITE_ACTIONS | {
    "filter", "toggle_pause", "focus_pane", "help", "next_log", "clear_filter",
}


def _stamp(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at))


class ConsoleApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "arconsole"
    # Below 100 columns the config pane hides; below 30 lines the log pane does (keys 1, 4).
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]  # noqa: RUF012
    VERTICAL_BREAKPOINTS = [(0, "-short"), (30, "-tall")]  # noqa: RUF012
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", priority=True, id="quit",
                tooltip="Leave the console; blocks stay in place."),
        Binding("question_mark,f1", "help", "Help", id="help"),
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
        Binding("escape", "clear_filter", "Clear filter", show=False, id="clear-filter"),
    ]

    def __init__(
        self,
        link: EngineLink | None = None,
        *,
        clock: Callable[[], float] = time.time,
        theme: str | None = None,
        theme_dirs: Sequence[Path] | None = None,
        flavour: Flavour = Flavour.WAZUH,
        role: Role | None = None,
        alert_capacity: int = 5_000,
        live: bool = True,
        operator: str | None = None,
    ) -> None:
        super().__init__()
        from arconsole.engine.operator import current_operator

        self._initial_link = link
        self.link: EngineLink | None = None
        self.clock = clock
        self.live = live  # False in tests: no timers; tick() and poll_files() are called by hand
        self.flavour = flavour
        self.role = role
        self.operator = operator or f"{current_operator()} (console)"
        self.ring = AlertRing(alert_capacity)
        self.bridge = EventBridge(alert_capacity=alert_capacity)
        self.header_state = HeaderState()
        self.config: Config | None = None
        self.read_only = False
        self.ready = asyncio.Event()
        self.results: deque[dict[str, Any]] = deque(maxlen=200)  # action outcomes, newest last
        self.last_result = ""
        self._flush_pending = False
        self._flooded = False
        self._last_flush = 0.0
        self._last_tick: float | None = None
        self._last_alerts_total = 0
        self._alert_rates: deque[float] = deque(maxlen=RATE_HISTORY)
        self._block_counts: deque[float] = deque(maxlen=RATE_HISTORY)
        self._errors = 0
        self._ar_tail: FileTail | None = None
        self._generation = 0
        self._config_note = ""
        self._exit_hooks: list[Callable[[], Awaitable[None]]] = []
        self._titles: dict[tuple[str, str], str] = {}
        self.theme_failures, self.theme_notice = self._install_themes(theme, theme_dirs)

    def add_exit_hook(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Run `hook` when the console closes (e.g. stop an engine started for it)."""
        self._exit_hooks.append(hook)

    async def on_unmount(self) -> None:
        for hook in self._exit_hooks:
            try:
                await hook()
            except Exception as error:  # closing must go on whatever one hook does
                self.log.error(f"exit hook failed: {error}")

    # ------------------------------------------------------------------ themes

    def _install_themes(
        self, wanted: str | None, theme_dirs: Sequence[Path] | None
    ) -> tuple[list[ThemeFailure], str]:
        directories = [shipped_theme_dir(), *(theme_dirs if theme_dirs is not None
                                              else [user_theme_dir()])]
        themes, failures = load_themes(directories)
        for theme in themes:
            self.register_theme(theme)
        name = wanted or default_theme_name()
        notice = ""
        if name not in self.available_themes:
            fallback = DEFAULT_THEME if DEFAULT_THEME in self.available_themes else FALLBACK_THEME
            notice = f"theme {name!r} is not available; using {fallback!r}"
            name = fallback
        self.theme = name
        return failures, notice

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(APP_VARIABLES)

    def _report_theme_problems(self) -> None:
        parts = [f"{failure.error}" for failure in self.theme_failures]
        if self.theme_notice:
            parts.append(self.theme_notice)
        if parts:
            count = len(self.theme_failures)
            title = f"{count} theme file(s) could not be loaded" if count else "Theme"
            self.notify("\n".join(parts), title=title, severity="warning", timeout=10,
                        markup=False)

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield HeaderStrip(id="header")
        yield Static("", id="config-banner")
        with Horizontal(id="body"):
            with Vertical(id="config-pane", classes="pane"):
                yield ConfigTree(id="config-tree")
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

    @property
    def main_screen(self) -> Screen[Any]:
        return self.screen_stack[0]

    # The widgets, looked up once: timers and workers may still run while the app closes,
    # after the DOM is gone; they then update detached widgets, which is harmless.
    @cached_property
    def alerts_view(self) -> AlertsView:
        return self.main_screen.query_one("#alerts", AlertsView)

    @cached_property
    def blocks_view(self) -> BlocksView:
        return self.main_screen.query_one("#blocks", BlocksView)

    @cached_property
    def config_tree(self) -> ConfigTree:
        return self.main_screen.query_one("#config-tree", ConfigTree)

    @cached_property
    def event_log(self) -> LogView:
        return self.main_screen.query_one("#event-log", LogView)

    @cached_property
    def ar_log(self) -> LogView:
        return self.main_screen.query_one("#ar-log", LogView)

    @cached_property
    def header_strip(self) -> HeaderStrip:
        return self.main_screen.query_one("#header", HeaderStrip)

    @cached_property
    def _panes(self) -> dict[str, Widget]:
        screen = self.main_screen
        return {name: screen.query_one(f"#{name}") for name in (
            "config-pane", "alerts-pane", "blocks-pane", "log-pane", "config-banner",
            "alerts-filter", "blocks-filter", "log-tabs")}

    def on_mount(self) -> None:
        for name in ("alerts_view", "blocks_view", "config_tree", "event_log", "ar_log",
                     "header_strip", "_panes"):
            getattr(self, name)  # look every widget up while the DOM is complete
        self._panes["config-pane"].border_title = "1 Config"
        self._panes["alerts-pane"].border_title = "2 Alerts"
        self._panes["blocks-pane"].border_title = "3 Blocks"
        self._panes["log-pane"].border_title = "4 Log"
        self._update_titles()
        self._update_header()
        self._report_theme_problems()
        self.alerts_view.focus()
        if self.live:
            self.set_interval(1.0, self.tick, name="tick")
            self.set_interval(0.5, self.poll_files, name="tail")
        if self._initial_link is not None:
            self.run_worker(self.attach(self._initial_link), group="attach",
                            exit_on_error=False)

    # ------------------------------------------------------------------ engine

    async def attach(self, link: EngineLink) -> None:
        """Start showing `link`'s engine: its blocks and config now, its events from now on."""
        self.link = link
        status = link.status
        self.read_only = status.read_only
        self._generation = status.generation
        self.header_state.mode = status.mode
        self.header_state.attached = status.attached
        self.header_state.read_only = status.read_only
        self._ar_tail = FileTail(Path(status.home) / "logs" / "active-responses.log")
        self.blocks_view.set_blocks(link.blocks())
        await self._load_config(first=True)
        self.run_worker(self._pump(link), group="bridge", exit_on_error=False)
        self.poll_files()
        self.refresh_bindings()
        self._update_titles()
        self._update_header()
        where = "attached to the engine" if status.attached else "engine started"
        self.event_log.add_lines([
            f"{_stamp(self.clock())} info    {where}: mode {status.mode}, config "
            f"{status.config} (generation {status.generation}), home {status.home}"
            + (", read-only" if status.read_only else "")
        ])
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
            self.event_log.add_lines([f"{_stamp(self.clock())} error   event stream: {error}"])
        self.header_state.engine_gone = self.header_state.attached
        self._update_header()

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
        self._flush_pending = False
        now = time.monotonic()
        since, self._last_flush = now - self._last_flush, now
        if not self._ui_alive():
            return
        batch = self.bridge.take()
        self._flooded = batch.alerts_seen >= FLOOD_RATE * min(since, 1.0)
        if batch.empty:
            self._update_header()
            return
        lines: list[str] = []
        with self.batch_update():
            if batch.alerts:
                added = self.ring.add_events(batch.alerts)
                self.alerts_view.rows_added(added)
                lines.extend(self._log_line(a) for a in batch.alerts if a.fired)
            if batch.blocks:
                self.blocks_view.apply({
                    key: (None if event.change == "reversed" else event.block)
                    for key, event in batch.blocks.items()
                })
            for event in batch.events:
                lines.append(self._log_line(event))
                self._note_event(event)
            if batch.events_not_shown:
                lines.append(f"{_stamp(self.clock())} warning {batch.events_not_shown} events "
                             "not shown: the console fell behind")
            if lines:
                self.event_log.add_lines(lines)
            self._update_titles()
            self._update_header()

    def _log_line(self, event: Event) -> str:
        level, text = describe(event)
        if level == "error" and not isinstance(event, AlertHandled):
            self._errors += 1
        return f"{_stamp(event.at)} {level:<7} {text}"

    def _note_event(self, event: Event) -> None:
        if isinstance(event, ConfigLoaded):
            self._generation = event.generation
            self._config_note = f"reloaded {_stamp(event.at)}: {event.summary}"
            self.header_state.rejected = False
            self._show_banner(None)
            self._reload_tree()
        elif isinstance(event, ConfigRejected):
            self.header_state.rejected = True
            self._config_note = f"reload rejected {_stamp(event.at)}"
            self._show_banner(event)

    def _show_banner(self, event: ConfigRejected | None) -> None:
        banner = cast(Static, self._panes["config-banner"])
        if event is None:
            banner.remove_class("-on")
            return
        text = Text("✖ Config reload rejected: ")
        text.append_text(literal(event.first_error, limit=300, wrap=True))
        text.append(f"\n{event.errors} error(s). The engine keeps generation "
                    f"{self._generation}, the last good config; the file is reloaded when "
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
            self.event_log.add_lines([f"{_stamp(self.clock())} error   cannot read {path}: "
                                      f"{error}"])
            return
        if not config.ok and not first:
            return  # changed again, to something broken: the engine reports it
        self.config = config
        self.config_tree.show(build_outline(config, generation=self._generation),
                              mark_changes=not first)
        self._update_titles()

    # ------------------------------------------------------------------ clock

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
        self.header_state.alerts_per_second = rate
        self.blocks_view.tick()
        self._block_counts.append(float(len(self.blocks_view.entries)))
        self.header_strip.show_rates(self._alert_rates, self._block_counts)
        self._update_header()

    def poll_files(self) -> None:
        if self._ar_tail is not None and self._ui_alive():
            lines = self._ar_tail.poll()
            if lines:
                self.ar_log.add_lines(lines)

    # ------------------------------------------------------------------ presentation

    @property
    def not_shown(self) -> int:
        dropped = self.link.dropped_alerts if self.link is not None else 0
        return dropped + self.bridge.alerts_not_shown_total + self.ring.not_shown

    def _update_header(self) -> None:
        if not self._ui_alive():
            return
        state = self.header_state
        state.generation = self._generation
        state.config_note = self._config_note
        state.paused = self.ring.paused
        state.new_while_paused = self.ring.new_while_paused
        state.read_only = self.read_only
        state.errors = self._errors
        state.not_shown = self.not_shown
        state.blocks = len(self.blocks_view.entries)
        entry = self.blocks_view.next_expiry()
        state.next_expiry = (f"{format_remaining(int(entry.remaining))} {entry.who}"
                             if entry is not None else "")
        self.header_strip.show(state)

    def _title(self, pane: str, which: str, text: str) -> None:
        """Set a pane's border title or subtitle, only when it changes: a new title repaints
        the whole pane, so the ones that change at every batch live in the header instead."""
        key = (pane, which)
        if self._titles.get(key) == text:
            return
        self._titles[key] = text
        setattr(self._panes[pane], which, literal(text, limit=110))

    def _update_titles(self) -> None:
        if not self._ui_alive():
            return
        alerts = []
        alerts_filter = cast(FilterBar, self._panes["alerts-filter"]).text
        if alerts_filter:
            alerts.append(f"filter: {alerts_filter}")
        if self.ring.paused:
            alerts.append("PAUSED")
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
                    f"gen {self._generation}" if self._generation else "")
        log_view = self.ar_log if self._active_log_id() == "ar-log" else self.event_log
        self._title("log-pane", "border_subtitle",
                    "following" if log_view.following else "paused · end follows")

    # ------------------------------------------------------------------ keys

    async def _on_key(self, event: events.Key) -> None:
        """Type-ahead goes where the operator is typing.

        Textual queues each key on the widget focused when it arrived. When several arrive
        at once (fast typing, a paste, one SSH packet with `/` and a whole filter), the keys
        after `/` are queued on the pane, and reach the app only after `/` has moved the
        focus to the filter input: a printable key that bubbled up while an input has the
        focus was meant for that input, never for a binding.
        """
        focused = self.screen.focused
        if isinstance(focused, Input) and event.is_printable and event.is_forwarded:
            # prevent_default: Textual would run App._on_key (the bindings) next.
            event.prevent_default()
            event.stop()
            focused._forward_event(events.Key(event.key, event.character))

    # ------------------------------------------------------------------ action gate

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in MAIN_SCREEN_ACTIONS and len(self.screen_stack) > 1:
            return False
        if action in WRITE_ACTIONS and (self.link is None or self.read_only):
            return None  # shown greyed out: the engine would refuse anyway
        return True

    # ------------------------------------------------------------------ panes

    def _active_log_id(self) -> str:
        active = cast(TabbedContent, self._panes["log-tabs"]).active
        return "ar-log" if active == "tab-ar" else "event-log"

    def action_focus_pane(self, pane: str) -> None:
        screen = self.main_screen
        screen.set_class(pane == "config", "-pane-config")
        screen.set_class(pane == "log", "-pane-log")
        if pane == "config":
            self.config_tree.focus()
        elif pane == "alerts":
            self.alerts_view.focus()
        elif pane == "blocks":
            self.blocks_view.focus()
        else:
            (self.ar_log if self._active_log_id() == "ar-log" else self.event_log).focus()

    def action_next_log(self) -> None:
        tabs = cast(TabbedContent, self._panes["log-tabs"])
        tabs.active = "tab-events" if tabs.active == "tab-ar" else "tab-ar"
        self.action_focus_pane("log")
        self._update_titles()

    @on(LogView.FollowChanged)
    @on(BlocksView.SortChanged)
    def _titles_changed(self) -> None:
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
        if self.main_screen.has_class("-pane-config") or self.main_screen.has_class("-pane-log"):
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
        self._update_header()

    # ------------------------------------------------------------------ details, help, copy

    @on(AlertsView.Opened)
    def _open_alert(self, event: AlertsView.Opened) -> None:
        self.push_screen(self.alert_detail(event.row))

    def alert_detail(self, row: AlertRow) -> DetailScreen:
        from arconsole.console.explain import explain_alert

        title = (f"alert {row.alert_id}  rule {row.rule_id}  level {row.level}  "
                 f"srcip {row.srcip or '-'}")
        return DetailScreen(title, [
            ("Why each response fired or not (explain)", explain_alert(self.config, row.raw)),
            ("Alert JSON", json_text(row.raw)),
        ], copy_text=row.raw)

    @on(BlocksView.Opened)
    def _open_block(self, event: BlocksView.Opened) -> None:
        block = event.block
        self.push_screen(DetailScreen(f"block {block.get('key')}",
                                      [("Block", json_text(block))],
                                      copy_text=json.dumps(block, indent=2)))

    def action_help(self) -> None:
        self.push_screen(HelpScreen([
            ("Everywhere", self),
            ("Blocks pane (3)", self.blocks_view),
            ("Alerts pane (2)", self.alerts_view),
            ("Log pane (4)", self.event_log),
            ("Config pane (1)", self.config_tree),
        ]))

    def action_copy(self) -> None:
        """Copy the selected alert, block, log line or config node to the operator's
        clipboard (OSC 52: the terminal on the operator's side, even over SSH)."""
        text, what = self._selection()
        if not text:
            self.notify("nothing selected to copy", severity="warning", markup=False)
            return
        self.copy_to_clipboard(text)
        self.notify(f"copied {what} ({len(text)} characters) to your clipboard", markup=False)

    def _selection(self) -> tuple[str, str]:
        screen = self.screen
        if isinstance(screen, DetailScreen):
            return screen.copy_text, "the details"
        focused = self.focused
        if isinstance(focused, AlertsView):
            row = focused.selected_alert
            return (row.raw, f"alert {row.alert_id}") if row else ("", "")
        if isinstance(focused, BlocksView):
            block = focused.selected_block()
            return ((json.dumps(block, indent=2), f"block {block.get('key')}")
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

    def _who(self, block: dict[str, Any]) -> str:
        return str(block.get("srcip") or block.get("user") or "-")

    def _remaining(self, block: dict[str, Any]) -> str:
        if block.get("state") == "untracked":
            return "never expires (untracked)"
        left = int(max(0.0, float(block.get("expires_at", 0)) - self.clock()))
        return f"{format_remaining(left)} at {_stamp(self.clock())}"

    def _block_facts(self, block: dict[str, Any]) -> Facts:
        return [
            ("key", str(block.get("key"))),
            ("address/user", self._who(block)),
            ("remaining", self._remaining(block)),
            ("state", str(block.get("state"))),
            ("response", f"{block.get('name')} (command {block.get('command')}, "
                         f"target {block.get('target')})"),
            ("offences", str(block.get("offences"))),
        ]

    def action_reverse_block(self) -> None:
        block = self.blocks_view.selected_block()
        if block is None:
            self.notify("no block selected", severity="warning", markup=False)
            return
        self.confirm_reverse(block)

    def confirm_reverse(self, block: dict[str, Any]) -> None:
        """Ask to reverse exactly `block` (a copy taken now), then reverse it by key."""
        key = str(block["key"])
        program = f"{PROGRAM_DIR}/{block.get('executable')}"
        runs = (f"{program} delete (argv)" if block.get("protocol") == "argv"
                else f"{program} with the stored delete message")
        facts = [*self._block_facts(block), ("runs", runs)]
        self.push_screen(
            ConfirmScreen("Reverse this block now?", facts, "Reverse",
                          note="The block is lifted now and its timer dropped. "
                               "Written to the audit log."),
            partial(self._confirmed, "reverse", [key]),
        )

    def _confirmed(self, action: str, keys: list[str], answer: bool | None) -> None:
        if answer:
            self.run_reverse(keys)
        else:
            self.last_result = f"{action} cancelled"
            self._update_titles()

    def run_reverse(self, keys: list[str]) -> None:
        self.run_worker(self._reverse(keys), group="actions", exit_on_error=False)

    async def _reverse(self, keys: list[str]) -> None:
        assert self.link is not None
        try:
            results = await self.link.reverse(keys, self.operator)
        except Exception as error:
            self._refused("reverse", ", ".join(keys), error)
            return
        self._show_results(results)

    def action_extend_block(self) -> None:
        block = self.blocks_view.selected_block()
        if block is None:
            self.notify("no block selected", severity="warning", markup=False)
            return
        key = str(block["key"])

        def extended(seconds: int | None) -> None:
            if seconds:
                self.run_worker(self._extend(key, seconds), group="actions",
                                exit_on_error=False)
            else:
                self.last_result = "extend cancelled"
                self._update_titles()

        self.push_screen(ExtendScreen(self._block_facts(block)), extended)

    async def _extend(self, key: str, seconds: int) -> None:
        assert self.link is not None
        try:
            result = await self.link.extend(key, seconds, self.operator)
        except Exception as error:
            self._refused("extend", key, error)
            return
        self._show_results([result])

    def action_manual_block(self) -> None:
        address = ""
        focused = self.focused
        if isinstance(focused, AlertsView) and focused.selected_alert is not None:
            address = focused.selected_alert.srcip or ""
        commands = [c.name for c in self.config.commands] if self.config else []
        default = "firewall-drop" if "firewall-drop" in commands else None
        self.push_screen(ManualBlockScreen(commands, address=address, command=default),
                         self._manual_requested)

    def _manual_requested(self, request: ManualBlock | None) -> None:
        if request is None:
            self.last_result = "block cancelled"
            self._update_titles()
            return
        executable = None
        if self.config is not None:
            command = self.config.command(request.command)
            executable = command.executable if command else None
        facts: Facts = [
            ("address", request.address),
            ("command", request.command),
            ("for", format_remaining(request.seconds)),
            ("runs", f"{PROGRAM_DIR}/{executable or '?'} add, then its check_keys handshake"),
            ("operator", self.operator),
        ]
        self.push_screen(
            ConfirmScreen("Block this address now?", facts, "Block",
                          note="A white-listed address or your own SSH client is refused. "
                               "Written to the audit log."),
            partial(self._manual_confirmed, request),
        )

    def _manual_confirmed(self, request: ManualBlock, answer: bool | None) -> None:
        if not answer:
            self.last_result = "block cancelled"
            self._update_titles()
            return
        self.run_worker(self._add(request), group="actions", exit_on_error=False)

    async def _add(self, request: ManualBlock) -> None:
        assert self.link is not None
        try:
            result = await self.link.add(request.command, request.address, self.operator,
                                         timeout=request.seconds, force=False)
        except Exception as error:
            self._refused("add", request.address, error)
            return
        self._show_results([result])

    def action_bulk_reverse(self) -> None:
        keys = [entry.key for entry in self.blocks_view.visible_entries
                if str(entry.block.get("state")) in ("active", "failed")]
        if not keys:
            self.notify("no reversible block is shown", severity="warning", markup=False)
            return
        filter_text = cast(FilterBar, self._panes["blocks-filter"]).text
        self.push_screen(BulkReverseScreen(keys, filter_text),
                         partial(self._confirmed, "bulk reverse", keys))

    def action_reload_config(self) -> None:
        self.run_worker(self._reload(), group="actions", exit_on_error=False)

    async def _reload(self) -> None:
        assert self.link is not None
        try:
            ok = await self.link.reload()
        except Exception as error:
            self._refused("reload", "config", error)
            return
        self.notify("config reloaded" if ok else "config reload rejected: see the banner",
                    severity="information" if ok else "error", markup=False)

    def _refused(self, action: str, target: str, error: BaseException) -> None:
        text = f"{action} {target}: REFUSED: {error}"
        self.results.append({"ok": False, "action": action, "target": target,
                             "detail": str(error)})
        self.last_result = escape_text(text, limit=200)
        self.notify(self.last_result, severity="error", timeout=12, markup=False)
        self.event_log.add_lines([f"{_stamp(self.clock())} error   {text}"])
        self._update_titles()

    def _show_results(self, results: Iterable[dict[str, Any]]) -> None:
        for result in results:
            self.results.append(result)
            mark = "done" if result.get("ok") else "FAILED"
            text = f"{result.get('action')} {result.get('target')}: {mark}: {result.get('detail')}"
            self.last_result = escape_text(text, limit=200)
            self.notify(escape_text(text, limit=600), severity=(
                "information" if result.get("ok") else "error"), timeout=12, markup=False)
        self._update_titles()

    # ------------------------------------------------------------------ palette

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Pause or resume alerts", "Freeze the alerts list (space)",
                            self.action_toggle_pause)
        yield SystemCommand("Filter alerts", "level>=10, srcip:1.2.3.4, rule:5712 ... (/)",
                            partial(self.open_filter, "alerts"))
        yield SystemCommand("Filter blocks", "state:failed, remaining<60 ... (/ in blocks)",
                            partial(self.open_filter, "blocks"))
        yield SystemCommand("Help", "Every key of the console (?)", self.action_help)
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
                partial(self.confirm_reverse, dict(entry.block)),
            )

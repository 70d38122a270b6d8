"""The main screen's keys and layout: the header, the store and config banners, the four
panes (config, alerts, blocks, log) with their filter bars and log tabs, and the footer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.reactive import Reactive
from textual.widgets import Footer, Static, TabbedContent, TabPane

from arconsole.console.alert_ring import AlertRing
from arconsole.console.filters import (
    ALERT_FIELDS,
    ALERT_FREE_TEXT,
    BLOCK_FIELDS,
    BLOCK_FREE_TEXT,
)
from arconsole.console.widgets.alerts_view import AlertsView
from arconsole.console.widgets.blocks_view import BlocksView
from arconsole.console.widgets.config_tree import ConfigTree
from arconsole.console.widgets.filter_bar import FilterBar
from arconsole.console.widgets.header import HeaderStrip
from arconsole.console.widgets.log_view import LogView
from arconsole.console.widgets.store_banner import StoreBanner

# The screen's keys; the panes' own keys are on their widgets.
MAIN_BINDINGS: list[BindingType] = [
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

# The containers the screen looks up by id, and the panes' numbered border titles.
PANE_IDS = ("config-pane", "config-detail", "alerts-pane", "blocks-pane", "log-pane",
            "config-banner", "alerts-filter", "blocks-filter", "log-tabs")
PANE_TITLES = {"config-pane": "1 Config", "alerts-pane": "2 Alerts",
               "blocks-pane": "3 Blocks", "log-pane": "4 Log"}


def main_layout(ring: AlertRing, clock: Callable[[], float],
                header: Reactive[Any]) -> ComposeResult:
    """The widgets, composed in the screen's context (`header` is the screen's reactive the
    header strip is bound to)."""
    yield HeaderStrip(id="header").data_bind(state=header)
    yield StoreBanner(id="store-banner")
    yield Static("", id="config-banner")
    with Horizontal(id="body"):
        with Vertical(id="config-pane", classes="pane"):
            yield ConfigTree(id="config-tree")
            yield Static("", id="config-detail")
        with Vertical(id="center"):
            with Vertical(id="alerts-pane", classes="pane"):
                yield AlertsView(ring, id="alerts")
                yield FilterBar(ALERT_FIELDS, ALERT_FREE_TEXT,
                                "level>=10  srcip:203.0.113.0/24  rule:5712  !fired:-  "
                                "Enter keeps, Escape restores", id="alerts-filter")
            with Vertical(id="blocks-pane", classes="pane"):
                yield BlocksView(clock, id="blocks")
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

"""What the engine says, shown on the main screen: one batch of its events at a time (alerts,
block changes, fleet rows, log lines, config and store news), the first lines on attaching,
its config in the config pane, the config-rejected banner and the store banner. The screen
decides when a batch is drawn; this decides what it changes."""

from __future__ import annotations

import asyncio
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual.widgets import Static

from arconsole.config.model import Config
from arconsole.console.bridge import BridgeBatch
from arconsole.console.config_outline import OutlineChanges, OutlineItem, build_outline
from arconsole.console.flows import stamp
from arconsole.console.text import literal
from arconsole.console.widgets.store_banner import StoreState
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
from arconsole.engine.link import BlockInfo, LinkStatus
from arconsole.wording import counted

if TYPE_CHECKING:
    from arconsole.console.screens.main import MainScreen


def show_batch(screen: MainScreen, batch: BridgeBatch) -> None:
    """Apply one non-empty batch: new alert rows, changed blocks, fleet rows when deliveries
    changed, one log line per event (undelivered ones digested), header and titles."""
    lines: list[str] = []
    with screen.app.batch_update():
        if batch.alerts:
            added = screen.ring.add_events(batch.alerts)
            screen.alerts_view.rows_added(added)
            lines.extend(log_line(screen, a) for a in batch.alerts if a.fired)
        if batch.blocks:
            screen.blocks_view.apply({
                key: (None if event.change == "reversed" else BlockInfo.of_event(event))
                for key, event in batch.blocks.items()
            })
        if any(isinstance(e, FleetChanged | DeliveryChanged) for e in batch.events):
            fleet_changed(screen)
        for event in batch.events:
            if isinstance(event, StoreHealthChanged):
                # The banner shows the link's state now; the Notice is the log line.
                if screen.link is not None:
                    show_store(screen, screen.link.status)
                continue
            if isinstance(event, Undelivered):
                said = screen.undelivered.add(event)
                if said is not None:
                    lines.append(said)
                continue
            lines.append(log_line(screen, event))
            _note_event(screen, event)
        summary = screen.undelivered.summary(screen.clock())
        if summary is not None:
            lines.append(summary)
        if batch.events_not_shown:
            lines.append(f"{stamp(screen.clock())} warning {batch.events_not_shown} events "
                         "not shown: the console fell behind")
        if lines:
            screen.event_log.add_lines(lines)
        screen.update_titles()
        screen.refresh_counts()


def fleet_changed(screen: MainScreen) -> None:
    """Deliveries or fleet rows changed: read the fleet rows again, at most once a second in
    a live console (`pacing.FLEET_REFRESH`; the last change is always shown). Read now, the
    rows leave the titles and header counts to the batch (it refreshes them once, last)."""
    wait = screen.fleet_reads.ask(time.monotonic()) if screen.live else 0.0
    if wait == 0.0:
        _read_fleet_rows(screen)
    elif wait is not None:
        screen.set_timer(wait, partial(_read_fleet, screen))


def _read_fleet(screen: MainScreen) -> None:
    """The fleet rows read later (the throttle's timer), with the titles and counts."""
    if _read_fleet_rows(screen):
        screen.update_titles()
        screen.refresh_counts()


def _read_fleet_rows(screen: MainScreen) -> bool:
    """The blocks pane's fleet rows read again from the link; False when there is nothing
    to read them from (no link, or the screen is going)."""
    screen.fleet_reads.ran(time.monotonic())
    if screen.link is None or not screen.ui_alive():
        return False
    screen.blocks_view.set_fleet([b for b in screen.link.blocks() if b.on_agent])
    return True


def log_line(screen: MainScreen, event: Event) -> str:
    """The event's line in the events log; an error (other than an alert's) counts in the
    header."""
    level, text = describe(event)
    if level == "error" and not isinstance(event, AlertHandled):
        screen.errors += 1
    return f"{stamp(event.at)} {level:<7} {text}"


def _note_event(screen: MainScreen, event: Event) -> None:
    if isinstance(event, ConfigLoaded):
        screen.generation = event.generation
        screen.config_note = f"reloaded {stamp(event.at)}: {event.summary}"
        screen.rejected = False
        show_config_banner(screen, None)
        screen.reload_tree()
    elif isinstance(event, ConfigRejected):
        screen.rejected = True
        screen.config_note = f"reload rejected {stamp(event.at)}"
        show_config_banner(screen, event)


def attach_lines(status: LinkStatus, now: float, demo: str) -> list[str]:
    """The events log's first lines: which engine, its mode, config and home; a demo's note."""
    where = "attached to the engine" if status.attached else "engine started"
    lines = [f"{stamp(now)} info    {where}: mode {status.mode}, config "
             f"{status.config} (generation {status.generation}), home {status.home}"
             + (", read-only" if status.read_only else "")]
    if demo:
        lines.append(f"{stamp(now)} info    DEMO: {demo}; the scripts only record "
                     f"what they would do ({status.home}/logs/demo-actions.log)")
    return lines


async def load_config(screen: MainScreen, *, first: bool) -> None:
    """Read the engine's config file (on a thread) into the config pane. A reload that reads
    a broken file keeps the pane as it was: the engine reports that reload."""
    from arconsole.config.loader import ConfigReadError
    from arconsole.config.loader import load_config as read_config

    if screen.link is None:
        return
    path = Path(screen.link.status.config)
    generation = screen.generation
    shown = screen.config_tree.outline

    def read() -> tuple[Config, OutlineItem, OutlineChanges]:
        # All off the loop: a 1 MiB config takes ~0.4 s to read, as much to outline, and
        # ~0.3 s to compare with the outline shown.
        config = read_config(path, flavour=screen.flavour, role=screen.role)
        outline = build_outline(config, generation=generation)
        return config, outline, OutlineChanges.between(shown, outline)

    try:
        config, outline, changes = await asyncio.to_thread(read)
    except ConfigReadError as error:
        screen.event_log.add_lines([f"{stamp(screen.clock())} error   cannot read {path}: "
                                    f"{error}"])
        return
    if not config.ok and not first:
        return  # changed again, to something broken: the engine reports it
    screen.config = config
    still = screen.config_tree.outline is shown  # else another load was shown meanwhile
    screen.config_tree.show(outline, mark_changes=not first, changes=changes if still else None)
    screen.show_config_detail()
    screen.update_titles()


def show_store(screen: MainScreen, status: LinkStatus) -> None:
    """The store banner and badge as the engine says now: a fault until it clears, the
    warnings found at open for as long as the console runs."""
    state = StoreState(status.store_fault, status.store_fault_since, status.store_warnings)
    since = stamp(state.since) if state.since is not None else ""
    screen.store_banner.show_state(state, screen.clock(), since)
    screen.store_fault = state.fault is not None


def show_config_banner(screen: MainScreen, event: ConfigRejected | None) -> None:
    """The banner under the header while the engine keeps the last good config (its first
    error, escaped); hidden once a reload is accepted."""
    banner = cast(Static, screen.panes["config-banner"])
    if event is None:
        banner.remove_class("-on")
        return
    text = Text("✖ Config reload rejected: ")
    text.append_text(literal(event.first_error, limit=300, wrap=True))
    text.append(f"\n{counted(event.errors, 'error')}. The engine keeps generation "
                f"{screen.generation}, the last good config; the file is reloaded when "
                "saved (ctrl+r retries).")
    banner.update(text)
    banner.add_class("-on")

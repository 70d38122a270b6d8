"""The header's numbers (alerts not shown, pause, new rows, blocks, blocks per node, the next
expiry), read from the panes' data into the main screen's reactives."""

from __future__ import annotations

from typing import TYPE_CHECKING

from arconsole.durations import format_remaining

if TYPE_CHECKING:
    from arconsole.console.screens.main import MainScreen


def refresh_counts(screen: MainScreen) -> None:
    """Set the header's reactives from the panes (a reactive redraws only when it changed)."""
    dropped = screen.link.dropped_alerts if screen.link is not None else 0
    screen.not_shown = dropped + screen.bridge.alerts_not_shown_total + screen.ring.not_shown
    screen.paused = screen.ring.paused
    screen.new_while_paused = screen.ring.new_while_paused
    screen.new_above = screen.alerts_view.new_above
    screen.blocks = len(screen.blocks_view.entries)
    screen.nodes = screen.blocks_view.node_counts()
    entry = screen.blocks_view.next_expiry()
    screen.next_expiry = (f"{format_remaining(int(entry.remaining))} {entry.who}"
                          if entry is not None else "")

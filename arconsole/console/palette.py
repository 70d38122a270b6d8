"""The main screen's entries in the command palette (ctrl+p)."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import TYPE_CHECKING

from textual.app import SystemCommand

from arconsole.console.text import escape_text
from arconsole.durations import format_remaining

if TYPE_CHECKING:
    from arconsole.console.screens.main import MainScreen

# Reverse commands listed for the blocks shown, at most: the palette filters as one types.
MAX_BLOCK_COMMANDS = 200


def main_screen_commands(screen: MainScreen) -> Iterable[SystemCommand]:
    """Pause, filter and pane moves always; with a writable engine attached, reload, block,
    bulk reverse and a reverse command for each block shown (its key and who, escaped)."""
    yield SystemCommand("Pause or resume alerts", "Freeze the alerts list (space)",
                        screen.action_toggle_pause)
    yield SystemCommand("Filter alerts", "level>=10, srcip:1.2.3.4, rule:5712 ... (/)",
                        partial(screen.open_filter, "alerts"))
    yield SystemCommand("Filter blocks", "state:failed, remaining<60 ... (/ in blocks)",
                        partial(screen.open_filter, "blocks"))
    for pane in ("config", "alerts", "blocks", "log"):
        yield SystemCommand(f"Go to the {pane} pane", f"Focus the {pane} pane",
                            partial(screen.action_focus_pane, pane))
    if screen.link is None or screen.read_only:
        return
    yield SystemCommand("Reload config", "Load ossec.conf again (ctrl+r)",
                        screen.action_reload_config)
    yield SystemCommand("Block an address", "Block an IP by hand (b)",
                        screen.action_manual_block)
    yield SystemCommand("Reverse every shown block", "Typed confirmation (R in blocks)",
                        screen.action_bulk_reverse)
    for entry in screen.blocks_view.visible_entries[:MAX_BLOCK_COMMANDS]:
        yield SystemCommand(
            escape_text(f"Reverse {entry.key}", limit=80),
            escape_text(f"{entry.who}, {format_remaining(int(entry.remaining))} left, "
                        f"{entry.state}", limit=80),
            partial(screen.flows.reverse, entry.block),
        )

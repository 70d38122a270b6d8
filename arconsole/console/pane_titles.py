"""The panes' border titles and subtitles: filters, pause, sort, the latest action's outcome,
the config generation, whether the log follows. Set only when they change: a new title
repaints the whole pane, so what changes at every batch lives in the header instead."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from arconsole.console.text import literal
from arconsole.console.widgets.filter_bar import FilterBar

if TYPE_CHECKING:
    from arconsole.console.screens.main import MainScreen

TITLE_LIMIT = 110  # characters of a title shown; a filter can be long


class PaneTitles:
    """Remembers what each pane's title says, to set only what changed."""

    def __init__(self) -> None:
        self._titles: dict[tuple[str, str], str] = {}

    def update(self, screen: MainScreen) -> None:
        alerts = []
        alerts_filter = cast(FilterBar, screen.panes["alerts-filter"]).text
        if alerts_filter:
            alerts.append(f"filter: {alerts_filter}")
        if screen.ring.paused:
            alerts.append("PAUSED")
        elif screen.alerts_view.new_above:
            alerts.append(f"+{screen.alerts_view.new_above} new above · g shows them")
        self._set(screen, "alerts-pane", "border_subtitle", " · ".join(alerts))
        blocks_view = screen.blocks_view
        visible, total = blocks_view.row_count(), len(blocks_view.entries)
        count = f"{visible}/{total}" if visible != total else str(total)
        self._set(screen, "blocks-pane", "border_title", f"3 Blocks ({count})")
        blocks = [f"sort {blocks_view.sort_title}"]
        blocks_filter = cast(FilterBar, screen.panes["blocks-filter"]).text
        if blocks_filter:
            blocks.append(f"filter: {blocks_filter}")
        if screen.last_result:
            blocks.append(screen.last_result)
        self._set(screen, "blocks-pane", "border_subtitle", " · ".join(blocks))
        self._set(screen, "config-pane", "border_subtitle",
                  f"gen {screen.generation}" if screen.generation else "")
        self._set(screen, "log-pane", "border_subtitle",
                  "following" if screen.active_log.following else "paused · end follows")

    def _set(self, screen: MainScreen, pane: str, which: str, text: str) -> None:
        key = (pane, which)
        if self._titles.get(key) == text:
            return
        self._titles[key] = text
        setattr(screen.panes[pane], which, literal(text, limit=TITLE_LIMIT))

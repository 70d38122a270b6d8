"""The operator console: config, alerts, active blocks and logs of one engine, by keyboard.

The app itself is small: themes, the global keys (quit, help, the palette), type-ahead, and
the hooks run at exit. Everything the operator sees is the `MainScreen` (the panes, fed by the
engine's events), and every write action is a flow in `console/flows.py`.
The console talks to the engine only through an `EngineLink` (in-process or over the control
socket): it acts by calling the link and learns every outcome from the engine's events.
Read-only mode is enforced by the engine façade; the console hides the keys and says why.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from textual import events
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Input

from arconsole.config.model import Flavour, Role
from arconsole.console.screens.help import HelpScreen
from arconsole.console.screens.main import MainScreen
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
from arconsole.engine.link import EngineLink
from arconsole.wording import counted


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
        demo: str = "",
    ) -> None:
        super().__init__()
        from arconsole.engine.operator import current_operator

        self.main = MainScreen(link, clock=clock, live=live, flavour=flavour, role=role,
                               operator=operator or f"{current_operator()} (console)",
                               alert_capacity=alert_capacity)
        self.main.demo = demo
        self._exit_hooks: list[Callable[[], Awaitable[None]]] = []
        self.theme_failures, self.theme_notice = self._install_themes(theme, theme_dirs)

    def get_default_screen(self) -> Screen[Any]:
        return self.main

    def on_mount(self) -> None:
        self._report_theme_problems()

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
            title = f"{counted(count, 'theme file')} could not be loaded" if count else "Theme"
            self.notify("\n".join(parts), title=title, severity="warning", timeout=10,
                        markup=False)

    # ------------------------------------------------------------------ keys

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            self.main.input_at = time.monotonic()  # the next batch redraw waits for its frame
        await super().on_event(event)

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

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # A key typed in a dialog never opens another one.
        return not (action == "help" and self.screen is not self.main)

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.main.help_sections()))

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Help", "Every key of the console (?)", self.action_help)
        if screen is self.main:
            yield from self.main.system_commands()

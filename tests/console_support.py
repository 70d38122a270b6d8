"""A real engine (recording scripts, SQLite state, a manual clock) under a headless console;
for several nodes, engines serving their control sockets and a console on their MultiLink."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine_support import (
    alert_line,
    command,
    make_home,
    new_engine,
    recorder,
    records,
    response,
)
from textual.pilot import Pilot

from arconsole.console.app import ConsoleApp
from arconsole.engine.clock import ManualClock
from arconsole.engine.control import ControlServer, serve_control
from arconsole.engine.engine import Engine
from arconsole.engine.link import LocalLink
from arconsole.engine.multilink import MultiLink

T0 = 1_700_000_000.0

__all__ = ["T0", "Console", "alert_line", "console", "console_on", "deletes",
           "make_console_home", "screen_text", "serving", "settle", "wait_for"]


def make_console_home(tmp: Path) -> Path:
    """firewall-drop (rules 5712, 5763; 600 s) and host-deny (level >= 12; 120 s), both
    recording scripts; white list 127.0.0.1 and 10.0.0.0/8."""
    return make_home(
        tmp,
        [command("firewall-drop"), command("host-deny")],
        [response("firewall-drop", rules_id="5712,5763", timeout=600),
         response("host-deny", level=12, timeout=120)],
        scripts={"firewall-drop": recorder(), "host-deny": recorder()},
    )


@dataclass
class Console:
    app: ConsoleApp
    pilot: Pilot[int]
    engine: Engine
    link: LocalLink
    home: Path
    clock: ManualClock

    async def feed(self, *lines: bytes) -> None:
        """Alerts through the real engine, then wait until the screen shows them."""
        for line in lines:
            await self.engine.handle_line(line)
        await settle(self)

    async def press(self, *keys: str) -> None:
        await self.pilot.press(*keys)
        await settle(self)

    async def advance(self, seconds: float) -> None:
        """Move the clock: the engine expires what is due; the console ticks once."""
        self.clock.advance(seconds)
        now = self.clock.now()

        def timers_caught_up() -> bool:
            due = self.engine.timers.next_due()
            return due is None or due > now

        await wait_for(self.pilot, timers_caught_up, what="the engine's timers")
        await settle(self)
        self.app.main.tick(elapsed=1.0)
        await self.pilot.pause()

    def shown_keys(self) -> list[str]:
        return [entry.key for entry in self.app.main.blocks_view.visible_entries]


async def wait_for(pilot: Pilot[Any], predicate: Callable[[], bool], timeout: float = 10.0,
                   what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.01)


async def settle(c: Console) -> None:
    """Until the engine is idle and every event it published is on screen."""
    await c.engine.drain()
    subscription = c.link._subscription

    def idle() -> bool:
        return (not subscription._events and not c.app.main.bridge.dirty
                and not c.app.main._flush_pending and not c.engine.context.tasks)

    await wait_for(c.pilot, idle, what="the console to catch up")
    await c.pilot.pause()


@asynccontextmanager
async def console(tmp_path: Path, *, size: tuple[int, int] = (120, 36), read_only: bool = False,
                  home: Path | None = None, **engine_options: Any) -> AsyncIterator[Console]:
    home = home or make_console_home(tmp_path)
    clock = ManualClock(T0)
    engine = new_engine(home, clock, read_only=read_only, **engine_options)
    await engine.start(follow=False)
    link = LocalLink(engine)
    app = ConsoleApp(link, clock=clock.now, live=False, theme="arconsole-dark", theme_dirs=[],
                     operator="tester")
    try:
        async with app.run_test(size=size, notifications=True) as pilot:
            await wait_for(pilot, app.main.ready.is_set, what="the console to attach")
            c = Console(app, pilot, engine, link, home, clock)
            await settle(c)
            yield c
    finally:
        await link.close()
        await engine.stop()


@asynccontextmanager
async def console_on(
    multi: MultiLink, *, size: tuple[int, int] = (120, 36), clock: Callable[[], float] = time.time,
) -> AsyncIterator[tuple[ConsoleApp, Pilot[int]]]:
    """A headless console attached to several nodes' engines (ready: its first lines shown),
    driven by the pilot; the link is closed after."""
    app = ConsoleApp(multi, clock=clock, live=False, theme="arconsole-dark", theme_dirs=[],
                     operator="tester")
    try:
        async with app.run_test(size=size, notifications=True) as pilot:
            await wait_for(pilot, app.main.ready.is_set, what="the console to attach")
            yield app, pilot
            app.exit()
    finally:
        await multi.close()


@asynccontextmanager
async def serving(engines: list[Engine]) -> AsyncIterator[list[Engine]]:
    """`engines` started (no following), each serving its control socket (several nodes for
    a `MultiLink`); the sockets and the engines stopped after."""
    started: list[Engine] = []
    controls: list[ControlServer] = []
    try:
        for engine in engines:
            await engine.start(follow=False)
            started.append(engine)
            control = await serve_control(engine)
            if control is not None:
                controls.append(control)
        yield engines
    finally:
        for control in controls:
            await control.stop()
        for engine in started:
            await engine.stop()


def deletes(home: Path) -> list[str]:
    """The srcip of every delete the recording scripts received, in order."""
    import json

    found = []
    for entry in records(home):
        message = json.loads(entry["stdin"]) if entry.get("stdin") else {}
        if message.get("command") == "delete":
            found.append(message["parameters"]["alert"]["data"]["srcip"])
    return found


def screen_text(app: Any) -> str:
    """The screen as plain text, read from the public SVG export (one line per row)."""
    import html
    import re

    svg = app.export_screenshot()
    rows: dict[int, dict[int, str]] = {}
    for match in re.finditer(
            r'<text [^>]*x="([\d.]+)"[^>]*clip-path="url\(#terminal-\d+-line-(\d+)\)">'
            r"([^<]*)</text>", svg):
        column = round(float(match.group(1)) / 12.2)  # Rich's SVG cell width
        rows.setdefault(int(match.group(2)), {})[column] = html.unescape(match.group(3))
    lines = []
    for number in sorted(rows):
        line = ""
        for column, text in sorted(rows[number].items()):
            line = line.ljust(column) + text.replace("\xa0", " ")
        lines.append(line)
    return "\n".join(lines)

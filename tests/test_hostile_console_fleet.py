"""The console draws every attacker-controlled fleet field literally: agent names, programs and
keys from AR log alerts (spoofable on an agent) carrying Textual/Rich markup (`[bold]`,
`[@click=app.quit]`), terminal escapes and bidi controls. Real engine, real Textual app: the
blocks pane, the row's detail and the reverse dialog show the text as written (escapes made
visible), never as styles, links or terminal control.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from console_support import Console, console, screen_text, settle, wait_for

from arconsole.console.text import escape_text
from tests.fleet_support import bind_queue, fleet_home, fleet_options
from tests.test_hostile_fleet import ar_alert

NAME = "[bold]nm[/bold][@click=app.quit]Q[/]\x1b[31m\u202ez"
# The key must be an address or a user name to keep a row (fleet_bounds): the program and the
# agent name carry the markup and the escapes.
PROGRAM = "active-response/bin/[@click=app.quit]f[reverse]\x1b]0;t\x07"
KEY = "198.51.100.7"


def assert_literal(text: str) -> None:
    assert "\x1b" not in text and "\u202e" not in text and "\x07" not in text
    assert "\\x1b" in text or "\\u202e" in text  # escapes are shown, not dropped


@asynccontextmanager
async def showing_a_hostile_row(tmp_path: Path) -> AsyncIterator[Console]:
    """A console on an engine with agents whose blocks pane shows one fleet row made of
    NAME, PROGRAM and KEY."""
    home = fleet_home(tmp_path)
    queue = bind_queue(home)
    try:
        async with console(tmp_path, size=(220, 40), home=home,
                           **fleet_options(home)) as c:
            await c.feed(ar_alert("002", PROGRAM, KEY, agent_name=NAME))
            await wait_for(c.pilot, lambda: len(c.shown_keys()) == 1, what="the fleet row")
            yield c
    finally:
        queue.close()


async def test_hostile_fleet_fields_render_literally(tmp_path: Path) -> None:
    async with showing_a_hostile_row(tmp_path) as c:
        await c.press("3")
        await settle(c)
        text = screen_text(c.app)
        assert "002:[@click=app.quit]f[reverse]\\x1b]0;t\\x07-198.51.100.7" in text
        assert "002 [bold]n" in text  # the agent name, markup as written
        assert_literal(text)
        assert c.app.is_running

        await c.press("enter")  # the row's detail
        await settle(c)
        detail = screen_text(c.app)
        assert "[@click=app.quit]" in detail and "[reverse]" in detail
        assert_literal(detail)
        await c.press("escape")
        await settle(c)

        await c.press("r")  # the reverse dialog names the key
        await settle(c)
        dialog = screen_text(c.app)
        assert "[reverse]" in dialog
        assert "\x1b" not in dialog and "\x07" not in dialog
        await c.press("escape")
        await settle(c)
        assert c.app.is_running


async def test_copying_a_hostile_row_names_it_literally(tmp_path: Path) -> None:
    async with showing_a_hostile_row(tmp_path) as c:
        await c.press("3", "c")  # the toast says what was copied: the row's key
        await settle(c)
        (key,) = c.shown_keys()
        (toast,) = [n.message for n in c.app._notifications]
        assert toast.startswith(f"copied block {escape_text(key)} (")
        assert_literal(toast)
        assert_literal(screen_text(c.app))
        assert c.app.is_running


async def test_the_fleet_cap_is_told_in_the_event_log(tmp_path: Path) -> None:
    """A flood of spoofed adds over an agent's cap: one line in the console's event log (the
    engine's notice), however many lines are refused."""
    from tests.test_hostile_fleet_flood import address, ar_line

    home = fleet_home(tmp_path)
    queue = bind_queue(home)
    try:
        async with console(tmp_path, size=(220, 40), home=home) as c:
            store = c.engine.fleet.table.store
            assert store is not None
            c.engine.fleet.attach(store, per_agent=3)
            await c.feed(*(ar_line("007", address(n), 1_700_000_000.0) for n in range(6)))
            told = [line for line in c.app.main.event_log.lines if "fleet table:" in line]
            assert len(told) == 1
            assert "agent 007 reached the cap of 3 active rows" in told[0]
            assert len(c.shown_keys()) == 3
    finally:
        queue.close()

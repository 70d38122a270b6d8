"""Snapshots of the console's meaningful states, at 120x36 and 80x24.

Deterministic by construction: a manual clock for the engine and the console, no console
timers (`live=False`: the test ticks by hand), UTC, a home path that is the same in every run
(it is shown on screen: the relative `ossec`, from the test's own tmp_path as working
directory, so that two runs at once never share a home), and an engine that is idle before
the picture is taken. Update with `--snapshot-update` only
after looking at the report.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from console_support import T0, Console, alert_line, make_console_home, settle
from engine_support import new_engine
from textual.pilot import Pilot

from arconsole.console.app import ConsoleApp
from arconsole.engine.clock import ManualClock
from arconsole.engine.link import LocalLink

WIDE = (120, 36)
NARROW = (80, 24)

Steps = Callable[[Console], Awaitable[None]]


@pytest.fixture(autouse=True)
def in_own_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's home is `ossec` under its own tmp_path, which is the working directory."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True)
def utc() -> Iterator[None]:
    before = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if before is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = before
    time.tzset()


def scenario(steps: Steps | None = None, *,
             demo: str = "") -> tuple[ConsoleApp, Callable[..., object]]:
    """A console app and the `run_before` that starts its engine and plays `steps`."""
    home = make_console_home(Path())  # `ossec`, relative: the same text on screen in every run
    clock = ManualClock(T0)
    app = ConsoleApp(clock=clock.now, live=False, theme="arconsole-dark", theme_dirs=[],
                     operator="snapshot", demo=demo)

    async def run_before(pilot: Pilot[int]) -> None:
        engine = new_engine(home, clock)
        await engine.start(follow=False)
        link = LocalLink(engine)

        async def stop() -> None:
            await link.close()
            await engine.stop()

        app.add_exit_hook(stop)
        await app.main.attach(link)
        c = Console(app, pilot, engine, link, home, clock)
        await settle(c)
        if steps is not None:
            await steps(c)
        await settle(c)
        app.clear_notifications()
        await pilot.pause()

    return app, run_before


def alerts(first: int, count: int) -> list[bytes]:
    """A mix: brute force (fires firewall-drop), web scans (level 12: host-deny), noise."""
    kinds = [("5712", 10), ("5710", 5), ("31151", 12), ("5501", 3)]
    lines = []
    for n in range(first, first + count):
        rule, level = kinds[n % len(kinds)]
        lines.append(alert_line(f"{int(T0)}.{n}", rule_id=rule, level=level,
                                srcip=f"203.0.113.{n}" if rule != "5501" else None))
    return lines


async def feed_each(c: Console, lines: list[bytes]) -> None:
    """One alert at a time: the screen sees every step (batching would vary between runs)."""
    for line in lines:
        await c.feed(line)


async def busy(c: Console) -> None:
    for index, line in enumerate(alerts(0, 14)):
        await c.feed(line)
        c.clock.advance(5)
        if index % 2:
            c.app.main.tick(elapsed=1.0)
    await c.advance(3)


async def paused(c: Console) -> None:
    await feed_each(c, alerts(0, 4))
    await c.pilot.press("space")
    await feed_each(c, alerts(4, 6))
    c.app.main.tick(elapsed=1.0)


async def confirm(c: Console) -> None:
    await busy(c)
    await c.pilot.press("3", "down", "r")


async def rejected(c: Console) -> None:
    await feed_each(c, alerts(0, 3))
    conf = c.home / "etc" / "ossec.conf"
    conf.write_text(conf.read_text().replace("<timeout>600</timeout>",
                                             "<timeout>ten minutes</timeout>"))
    await c.link.reload()


async def detail(c: Console) -> None:
    await feed_each(c, alerts(0, 3))
    await c.pilot.press("enter")


async def help_screen(c: Console) -> None:
    await c.pilot.press("question_mark")


async def held(c: Console) -> None:
    """The cursor off the top row holds the list: "+N new", as a pause says it."""
    await feed_each(c, alerts(0, 4))
    await c.pilot.press("down", "down")
    await feed_each(c, alerts(4, 7))
    c.app.main.tick(elapsed=1.0)


class TestWide:
    def test_empty(self, snap_compare: Callable[..., bool]) -> None:
        app, run_before = scenario()
        assert snap_compare(app, run_before=run_before, terminal_size=WIDE)

    def test_demo(self, snap_compare: Callable[..., bool]) -> None:
        app, run_before = scenario(paused, demo="timeouts cut to 40 s")
        assert snap_compare(app, run_before=run_before, terminal_size=WIDE)

    def test_held_by_the_cursor(self, snap_compare: Callable[..., bool]) -> None:
        app, run_before = scenario(held)
        assert snap_compare(app, run_before=run_before, terminal_size=WIDE)

    def test_busy(self, snap_compare: Callable[..., bool]) -> None:
        app, run_before = scenario(busy)
        assert snap_compare(app, run_before=run_before, terminal_size=WIDE)

    def test_paused(self, snap_compare: Callable[..., bool]) -> None:
        app, run_before = scenario(paused)
        assert snap_compare(app, run_before=run_before, terminal_size=WIDE)

    def test_confirm_dialog(self, snap_compare: Callable[..., bool]) -> None:
        app, run_before = scenario(confirm)
        assert snap_compare(app, run_before=run_before, terminal_size=WIDE)

    def test_rejected_config_banner(self, snap_compare: Callable[..., bool]) -> None:
        app, run_before = scenario(rejected)
        assert snap_compare(app, run_before=run_before, terminal_size=WIDE)

    def test_alert_detail(self, snap_compare: Callable[..., bool]) -> None:
        app, run_before = scenario(detail)
        assert snap_compare(app, run_before=run_before, terminal_size=WIDE)

    def test_help(self, snap_compare: Callable[..., bool]) -> None:
        app, run_before = scenario(help_screen)
        assert snap_compare(app, run_before=run_before, terminal_size=WIDE)


class TestNarrow:
    def test_empty(self, snap_compare: Callable[..., bool]) -> None:
        app, run_before = scenario()
        assert snap_compare(app, run_before=run_before, terminal_size=NARROW)

    def test_busy(self, snap_compare: Callable[..., bool]) -> None:
        app, run_before = scenario(busy)
        assert snap_compare(app, run_before=run_before, terminal_size=NARROW)

    def test_confirm_dialog(self, snap_compare: Callable[..., bool]) -> None:
        app, run_before = scenario(confirm)
        assert snap_compare(app, run_before=run_before, terminal_size=NARROW)

    def test_paused(self, snap_compare: Callable[..., bool]) -> None:
        app, run_before = scenario(paused)
        assert snap_compare(app, run_before=run_before, terminal_size=NARROW)

    def test_rejected_config_banner(self, snap_compare: Callable[..., bool]) -> None:
        app, run_before = scenario(rejected)
        assert snap_compare(app, run_before=run_before, terminal_size=NARROW)

    def test_alert_detail(self, snap_compare: Callable[..., bool]) -> None:
        app, run_before = scenario(detail)
        assert snap_compare(app, run_before=run_before, terminal_size=NARROW)

    def test_help(self, snap_compare: Callable[..., bool]) -> None:
        app, run_before = scenario(help_screen)
        assert snap_compare(app, run_before=run_before, terminal_size=NARROW)


def test_two_runs_at_once_do_not_share_a_home(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A second run making its home (another working directory) leaves the first's intact;
    a fixed home under /tmp was wiped and rebuilt by whichever run came second."""
    first_run, second_run = tmp_path / "first", tmp_path / "second"
    first_run.mkdir()
    second_run.mkdir()
    monkeypatch.chdir(first_run)
    scenario()
    conf = (first_run / "ossec" / "etc" / "ossec.conf")
    conf.write_text(conf.read_text() + "<!-- the first run's edit -->\n")
    monkeypatch.chdir(second_run)
    scenario()
    assert conf.read_text().endswith("<!-- the first run's edit -->\n")
    assert (second_run / "ossec" / "etc" / "ossec.conf").is_file()
    assert not os.path.samefile(first_run / "ossec", second_run / "ossec")

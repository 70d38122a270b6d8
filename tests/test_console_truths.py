"""The console says what is really happening (issue 12 items 3, 4 and 8).

A log pane that says "following" shows the newest line, whatever was hidden or resized; an
alerts list held by the cursor says how many arrived above; read-only keys say why they do
nothing; addresses sort as addresses; the TIME column is the alert's own time; countdowns
come from one tick; an idle sparkline is empty; a bulk action leaves one toast.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from console_support import T0, alert_line, console, screen_text, settle, wait_for
from rich.console import Console as RichConsole
from textual.renderables.sparkline import Sparkline as SparklineRenderable

from arconsole.console.screens.dialogs import BulkReverseScreen
from arconsole.console.screens.main import next_tick_delay
from arconsole.console.widgets.alerts_view import alert_time
from arconsole.console.widgets.blocks_view import SORTS, BlockEntry
from arconsole.console.widgets.header import from_zero
from arconsole.engine.link import BlockInfo


def brute(n: int, srcip: str, *, level: int = 10, rule: str = "5712") -> bytes:
    return alert_line(f"{int(T0)}.{n}", rule_id=rule, level=level, srcip=srcip)


def noise(n: int) -> bytes:
    return alert_line(f"{int(T0)}.{n}", rule_id="5501", level=3, srcip=f"198.51.100.{n % 250}")


@pytest.fixture
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


# ---------------------------------------------------------------------- item 3: log follows


async def test_log_pane_hidden_then_resized_still_shows_the_newest_line(tmp_path: Path) -> None:
    async with console(tmp_path, size=(80, 24)) as c:
        await c.press("4", "3")  # the log pane shows, then hides again (short terminal)
        log = c.app.main.event_log
        assert log.following and log.region.height == 0
        log.add_lines([f"line {n:03d} of the flood" for n in range(300)])
        await settle(c)
        await c.pilot.resize_terminal(120, 36)
        await c.pilot.pause()
        await wait_for(c.pilot, lambda: log.region.height > 0, what="the log pane to show")
        await c.pilot.pause()
        assert log.following
        assert round(log.scroll_y) == log.max_scroll_y
        text = screen_text(c.app)
        assert "line 299 of the flood" in text
        assert "following" in text


async def test_log_pane_keeps_following_through_a_resize_while_shown(tmp_path: Path) -> None:
    async with console(tmp_path, size=(120, 36)) as c:
        log = c.app.main.event_log
        log.add_lines([f"early {n}" for n in range(100)])
        await settle(c)
        await c.pilot.resize_terminal(120, 50)
        log.add_lines([f"late {n}" for n in range(5)])
        await c.pilot.resize_terminal(120, 36)
        await c.pilot.pause()
        assert round(log.scroll_y) == log.max_scroll_y
        assert "late 4" in screen_text(c.app)


# ---------------------------------------------------------------------- item 3: +N new


async def test_alerts_held_by_the_cursor_say_how_many_arrived_above(tmp_path: Path) -> None:
    async with console(tmp_path) as c:
        for n in range(5):
            await c.feed(noise(n))
        await c.press("2", "down", "down")
        held = c.app.main.alerts_view.selected_alert
        assert held is not None
        for n in range(5, 9):
            await c.feed(noise(n))
        assert c.app.main.alerts_view.selected_alert is held  # it did not move
        assert "+4 new" in c.app.main.header_strip.badge_texts
        assert "+4 new" in screen_text(c.app).splitlines()[0]
        assert "+4 new above" in str(c.app.query_one("#alerts-pane").border_subtitle)
        await c.press("g")  # back on top: the newest are shown, the count goes
        assert c.app.main.alerts_view.cursor == 0
        assert not any("new" in badge for badge in c.app.main.header_strip.badge_texts)
        assert "new above" not in str(c.app.query_one("#alerts-pane").border_subtitle)


async def test_explicit_pause_counts_once_not_twice(tmp_path: Path) -> None:
    async with console(tmp_path) as c:
        for n in range(3):
            await c.feed(noise(n))
        await c.press("2", "down", "space")
        for n in range(3, 6):
            await c.feed(noise(n))
        assert c.app.main.header_strip.badge_texts == ["PAUSED +3 new"]


# ---------------------------------------------------------------------- item 4: read-only


async def test_read_only_hides_write_keys_and_says_why_they_do_nothing(tmp_path: Path) -> None:
    async with console(tmp_path) as c:
        await c.feed(brute(1, "203.0.113.5"))
    async with console(tmp_path, read_only=True, home=c.home) as c:
        await c.press("3")
        footer = screen_text(c.app).splitlines()[-1]
        assert "Sort" in footer  # the footer is the blocks pane's
        for hidden in ("Reverse", "Extend", "Block IP"):
            assert hidden not in footer, footer
        said = {
            "r": "read-only: reversing is off",
            "R": "read-only: reversing is off",
            "e": "read-only: extending is off",
            "b": "read-only: blocking is off",
            "ctrl+r": "read-only: reloading the config is off",
        }
        for key, text in said.items():
            c.app.clear_notifications()
            await c.press(key)
            assert len(c.app.screen_stack) == 1, key
            messages = [n.message for n in c.app._notifications]
            assert messages == [text], (key, messages)
        assert list(c.engine.blocks) == ["firewall-drop-203.0.113.5"]


async def test_writable_console_still_offers_and_opens_them(tmp_path: Path) -> None:
    async with console(tmp_path) as c:
        await c.feed(brute(1, "203.0.113.5"))
        await c.press("3")
        footer = screen_text(c.app).splitlines()[-1]
        assert "Reverse" in footer and "Extend" in footer and "Block IP" in footer
        await c.press("r")
        assert len(c.app.screen_stack) == 2
        assert not [n for n in c.app._notifications if "read-only" in n.message]


# ---------------------------------------------------------------------- item 8


def test_addresses_sort_as_addresses_then_users() -> None:
    def entry(key: str, srcip: str | None = None, user: str | None = None) -> BlockEntry:
        return BlockEntry(BlockInfo(key=key, srcip=srcip, user=user))

    entries = [entry("a", "192.0.2.44"), entry("b", "192.0.2.20"), entry("c", "2001:db8::1"),
               entry("d", "192.0.2.100"), entry("e", user="mallory"), entry("f", "10.0.0.9")]
    title, key = SORTS[1]
    assert title == "srcip/user"
    assert [e.block.who for e in sorted(entries, key=key)] == [
        "10.0.0.9", "192.0.2.20", "192.0.2.44", "192.0.2.100", "2001:db8::1", "mallory"]


async def test_time_column_is_the_alerts_own_timestamp(tmp_path: Path, utc: None) -> None:
    async with console(tmp_path) as c:
        c.clock.advance(3_600)  # read an hour after it happened
        line = alert_line(f"{int(T0)}.1", rule_id="5501", level=3, srcip="198.51.100.1")
        await c.feed(line)
        row = c.app.main.ring.newest(1)[0]
        happened = alert_time(row)
        assert abs(happened - row.at) >= 60  # not when it was read
        shown = time.strftime("%H:%M:%S", time.gmtime(happened))
        rows = [line for line in screen_text(c.app).splitlines() if "198.51.100.1" in line]
        assert len(rows) == 1 and shown in rows[0], rows
        assert time.strftime("%H:%M:%S", time.gmtime(row.at)) not in rows[0]


def test_alert_time_falls_back_to_the_id_epoch() -> None:
    from arconsole.console.alert_ring import AlertRow
    from arconsole.engine.events import AlertHandled

    event = AlertHandled(at=T0 + 999, line=1, alert_id="1700000123.42", rule_id="1",
                         level=3, description="", agent_id=None, agent_name=None, srcip=None,
                         dstuser=None, fired=(), raw="** Alert 1700000123.42: - syslog")
    assert alert_time(AlertRow(1, event)) == 1_700_000_123.0
    dated = AlertHandled(at=T0 + 999, line=1, alert_id="x", rule_id="1", level=3,
                         description="", agent_id=None, agent_name=None, srcip=None,
                         dstuser=None, fired=(),
                         raw='{"timestamp":"2023-11-14T22:13:20.000+0000","id":"x"}')
    assert alert_time(AlertRow(2, dated)) == 1_700_000_000.0


def test_ticks_land_on_each_whole_second_once() -> None:
    for now in (T0, T0 + 0.2, T0 + 0.999, T0 + 0.5):
        delay = next_tick_delay(now)
        assert 0 < delay <= 1.03
        assert int(now + delay) == int(now) + 1


async def test_countdown_shows_every_second_once(tmp_path: Path) -> None:
    async with console(tmp_path) as c:
        await c.feed(brute(1, "203.0.113.1"))
        view = c.app.main.blocks_view
        key = "firewall-drop-203.0.113.1"

        def left() -> str:
            return view.cell(view.entries[key], "left")[0]

        def move_to(offset: float) -> None:
            c.clock.advance(T0 + offset - c.clock.now())

        shown = []
        # Ticks land at uneven points just after each second (timer jitter); between them a
        # batch (another block arriving late in the second) redraws the table.
        for second, jitter in zip(range(1, 7), (0.02, 0.35, 0.01, 0.3, 0.05, 0.2), strict=True):
            move_to(second + jitter)
            c.app.main.tick(elapsed=1.0)
            shown.append(left())
            move_to(second + 0.95)
            await c.feed(brute(10 + second, f"198.51.100.{second}"))
            assert left() == shown[-1], "a batch between ticks changed the shown second"
        assert shown == ["9:59", "9:58", "9:57", "9:56", "9:55", "9:54"]


def test_idle_sparkline_is_empty_not_a_full_bar() -> None:
    def drawn(data: list[float]) -> str:
        out = RichConsole(width=20, file=io.StringIO(), color_system=None)
        with out.capture() as capture:
            out.print(SparklineRenderable(data, width=20), end="")
        return capture.get()

    assert "█" in drawn([0.0])  # Textual alone: one idle sample is a full bar
    for idle in ([0.0], [0.0, 0.0, 0.0], []):
        assert "█" not in drawn(from_zero(idle)), idle
    steady = drawn(from_zero([5.0, 5.0, 5.0]))
    assert "█" in steady  # a steady non-zero rate is high, not the baseline
    assert drawn(from_zero([0.0, 10.0])).count("█") == drawn([0.0, 10.0]).count("█")


async def test_bulk_reverse_leaves_one_summary_toast(tmp_path: Path) -> None:
    async with console(tmp_path) as c:
        for n, address in enumerate(("203.0.113.1", "203.0.113.2", "203.0.113.3")):
            await c.feed(brute(n, address))
        c.app.clear_notifications()
        await c.press("3", "R")
        assert isinstance(c.app.screen, BulkReverseScreen)
        await c.press("3", "enter")
        await wait_for(c.pilot, lambda: not c.engine.blocks, what="the reversals")
        await wait_for(c.pilot, lambda: len(c.app.main.flows.results) == 3, what="outcomes")
        await settle(c)
        toasts = list(c.app._notifications)
        assert len(toasts) == 1, [t.message for t in toasts]
        assert toasts[0].message.startswith("reverse 3 blocks: 3 done")
        assert toasts[0].timeout <= 10



# ---------------------------------------------------------------------- item 6: demo noise


def test_undelivered_is_said_once_per_response_then_counted() -> None:
    from arconsole.console.undelivered import UndeliveredDigest
    from arconsole.engine.events import Undelivered

    digest = UndeliveredDigest(every=60)

    def event(at: float, response: str, target: str) -> Undelivered:
        return Undelivered(at=T0 + at, response=response, target=target, alert_id=f"{at}")

    first = digest.add(event(0, "route-null300", "001"))
    assert first is not None and "route-null300 for agent 001" in first
    assert "not delivered: no agent transport configured" in first
    assert digest.add(event(0, "disable-account300", "all")) is not None  # its own first
    for n in range(1, 30):
        assert digest.add(event(n, "route-null300", f"00{n % 3 + 1}")) is None
        assert digest.add(event(n, "disable-account300", "all")) is None
    assert digest.summary(T0 + 30) is None  # not a minute yet
    line = digest.summary(T0 + 61)
    assert line is not None
    assert "disable-account300 ×29 (agents all)" in line
    assert "route-null300 ×29 (agents 001, 002, 003)" in line
    assert digest.summary(T0 + 200) is None  # counted once
    assert digest.total == 60


async def test_console_groups_undelivered_responses(tmp_path: Path) -> None:
    from engine_support import command, make_home, recorder, response

    home = make_home(tmp_path, [command("route-null")],
                     [response("route-null", location="all", rules_id="5712", timeout=60)],
                     scripts={"route-null": recorder()})
    async with console(tmp_path, home=home) as c:
        for n in range(6):
            await c.feed(brute(n, f"203.0.113.{n}"))
        lines = [line for line in c.app.main.event_log.lines if "not delivered" in line]
        assert len(lines) == 1, lines
        assert c.app.main.undelivered.total >= 6


# ---------------------------------------------------------------------- item 7: config pane


async def test_config_detail_line_explains_the_selected_node(tmp_path: Path) -> None:
    from arconsole.commands.demo import prepare_home

    home = prepare_home(tmp_path / "demo-home", max_timeout=600)
    async with console(tmp_path, home=home) as c:
        tree = c.app.main.config_tree
        await c.press("1")
        labels = {}
        for _ in range(12):
            node = tree.cursor_node
            if node is not None and node.data is not None:
                labels[node.data.path] = str(tree.describe(node.data))
            await c.press("down")
        responses = {path: text for path, text in labels.items()
                     if path.startswith("responses/")}
        assert responses, list(labels)
        settings = responses["responses/1"]  # numbered as Wazuh counts them, from 1
        assert settings.startswith("execd settings (no <command>")
        assert "never fires" in settings
        drop = next(text for text in responses.values() if text.startswith("firewall-drop600"))
        assert "Wazuh's name for this response" in drop
        assert "firewall-drop followed by its timeout (600 s)" in drop
        assert "rules 5710,5712,5763" in drop  # the whole detail, not cut at the pane
        stateless = next(text for text in responses.values()
                         if text.startswith("notify-admin0"))
        assert "stateless" in stateless
        # What the operator sees: the pane's detail line shows the selected node in full.
        await c.press("home")
        for _ in range(4):
            await c.press("down")
        shown = screen_text(c.app)
        lines = shown.splitlines()
        start = next(i for i, line in enumerate(lines) if line[1:31] == "─" * 30)
        end = next(i for i, line in enumerate(lines) if i > start and line.startswith("╰"))
        # Below the tree, in the config pane, wrapped.
        detail = " ".join(" ".join(line[1:31] for line in lines[start + 1:end]).split())
        assert "firewall-drop600 is Wazuh's name for this response" in detail, detail
        tree_column = [line[:32] for line in shown.splitlines()]
        assert not any(line.strip(" │├└▼▶").startswith("0 ") for line in tree_column)
        assert "command None" not in shown


async def test_help_lists_tab_escape_and_maximize(tmp_path: Path) -> None:
    from arconsole.console.screens.help import HelpScreen

    async with console(tmp_path) as c:
        await c.press("question_mark")
        assert isinstance(c.app.screen, HelpScreen)
        table = c.app.screen.plain_text()
        for words in ("Next pane", "Clear filter (or leave a maximized pane)", "Maximize pane"):
            assert words in table, table
        await c.press("escape", "1", "z")
        assert c.app.main.maximized is c.app.query_one("#config-pane")
        await c.press("z")
        assert c.app.main.maximized is None


# ---------------------------------------------------------------------- issue 13 item 8


async def test_a_key_gets_its_frame_before_the_next_batch_redraw(tmp_path: Path) -> None:
    import time as clock

    async with console(tmp_path) as c:
        main = c.app.main
        await c.feed(noise(1))
        assert len(main.ring) == 1
        main.live = True  # the deferral is for live consoles only (tests tick by hand)
        # The batch's own draw counts as scheduled already, so that it waits for the one
        # below: on a slow machine a draw that was due (the last one > FLUSH_INTERVAL ago)
        # would take the batch before the key, and there would be nothing left to defer.
        main._flush_pending = True
        try:
            await c.engine.handle_line(noise(2))
            await c.engine.drain()
            await wait_for(c.pilot, lambda: main.bridge.dirty, what="the batch")
            await c.pilot.press("down")  # the operator types: the app notes when
            assert clock.monotonic() - main.input_at < 0.15
            main._apply_batch()
            assert len(main.ring) == 1 and main.bridge.dirty  # deferred, not dropped
            await wait_for(c.pilot, lambda: len(main.ring) == 2, timeout=5,
                           what="the deferred batch")
        finally:
            main.live = False


# ---------------------------------------------------------------------- issue 12 item 1


async def test_alert_detail_says_what_would_follow_a_firing_response(tmp_path: Path) -> None:
    from arconsole.console.screens.detail import DetailScreen

    async with console(tmp_path) as c:
        no_address = alert_line(f"{int(T0)}.1", rule_id="5712", level=12, srcip=None)
        from_agent = alert_line(f"{int(T0)}.2", rule_id="5712", level=10,
                                srcip="198.51.100.7", agent_id="001")
        for line in (no_address, from_agent):
            await c.engine.handle_line(line)
        await settle(c)
        rows = {row.alert_id: row for row in c.app.main.ring.newest(5)}
        first = c.app.main.alert_detail(rows[f"{int(T0)}.1"])
        second = c.app.main.alert_detail(rows[f"{int(T0)}.2"])
        assert isinstance(first, DetailScreen)
        why = str(first.sections[0][1])
        assert "at server: fires, but firewall-drop needs srcip and this alert has none" in why
        agent = str(second.sections[0][1])
        assert "at 001: not delivered to agent 001: no agent transport configured" in agent


async def test_a_bulk_reverse_with_failures_toasts_them_on_lines_of_their_own(
        tmp_path: Path) -> None:
    from engine_support import recorder, write_script

    async with console(tmp_path) as c:
        for n, address in enumerate(("203.0.113.1", "203.0.113.2")):
            await c.feed(brute(n, address))
        write_script(c.home, "firewall-drop", recorder(exit_code=1))  # deletes now fail
        c.app.clear_notifications()
        await c.press("3", "R")
        assert isinstance(c.app.screen, BulkReverseScreen)
        await c.press("2", "enter")
        await wait_for(c.pilot, lambda: len(c.app.main.flows.results) == 2, what="outcomes")
        await settle(c)
        (toast,) = [t.message for t in c.app._notifications]
        lines = toast.split("\n")
        assert lines[0] == "reverse 2 blocks: 0 done, 2 FAILED", toast
        assert len(lines) == 3 and all(": FAILED: " in line for line in lines[1:]), toast
        assert "\\n" not in toast  # the separators are line breaks, not escapes


async def test_fleet_rows_are_read_at_most_once_a_second_and_the_last_change_shows(
        tmp_path: Path) -> None:
    """A live console reads the (embedded engine's) fleet rows at most once a second; a
    change that comes sooner is shown when the second is up, not lost."""
    from tests.fleet_support import bind_queue, fleet_home, fleet_options
    from tests.test_hostile_fleet import ar_alert

    home = fleet_home(tmp_path)
    queue = bind_queue(home)
    try:
        async with console(tmp_path, home=home, **fleet_options(home)) as c:
            main = c.app.main
            main.live = True
            try:
                await c.feed(ar_alert("002", "active-response/bin/firewall-drop",
                                      "198.51.100.7"))
                await wait_for(c.pilot, lambda: len(c.shown_keys()) == 1, what="one row")
                read_at = time.monotonic()
                await c.feed(ar_alert("002", "active-response/bin/firewall-drop",
                                      "198.51.100.8"))
                if time.monotonic() - read_at < 0.9:
                    assert len(c.shown_keys()) == 1  # within the second: not read yet
                await wait_for(c.pilot, lambda: len(c.shown_keys()) == 2, timeout=5,
                               what="the second row, a second later")
                # the read put off to its timer refreshes the titles and counts itself
                assert main.blocks == 2
                assert str(main.panes["blocks-pane"].border_title) == "3 Blocks (2)"
            finally:
                main.live = False
    finally:
        queue.close()

"""Every operator flow of the console, driven by keys against a real engine.

The engine is real (recording scripts as subprocesses, SQLite state file, manual clock); the
console runs headless. Assertions are on what the engine did (its blocks, the deletes the
scripts received, the audit log) as much as on what the screen shows.
"""

from __future__ import annotations

import json
from pathlib import Path

from console_support import (
    T0,
    Console,
    alert_line,
    console,
    deletes,
    screen_text,
    settle,
    wait_for,
)
from textual.widgets import Input

from arconsole.console.screens.detail import DetailScreen
from arconsole.console.screens.dialogs import (
    BulkReverseScreen,
    ConfirmScreen,
    ExtendScreen,
    ManualBlockScreen,
)
from arconsole.console.screens.help import HelpScreen
from arconsole.console.widgets.filter_bar import FilterBar


def brute(n: int, srcip: str, *, level: int = 10, rule: str = "5712") -> bytes:
    return alert_line(f"{int(T0)}.{n}", rule_id=rule, level=level, srcip=srcip)


async def three_blocks(c: Console) -> None:
    """Blocks that expire in order: .1 at +600 s, .2 at +700 s, .3 at +800 s."""
    await c.feed(brute(1, "203.0.113.1"))
    c.clock.advance(100)
    await c.feed(brute(2, "203.0.113.2"))
    c.clock.advance(100)
    await c.feed(brute(3, "203.0.113.3"))
    assert c.shown_keys() == ["firewall-drop-203.0.113.1", "firewall-drop-203.0.113.2",
                        "firewall-drop-203.0.113.3"]


def dialog_facts(c: Console) -> dict[str, str]:
    screen = c.app.screen
    assert isinstance(screen, ConfirmScreen)
    return dict(screen.facts)


# ---------------------------------------------------------------------- reverse


async def test_reverse_no_escape_then_yes(tmp_path: Path) -> None:
    async with console(tmp_path) as c:
        await c.feed(brute(1, "203.0.113.9"))
        key = "firewall-drop-203.0.113.9"
        assert c.shown_keys() == [key] and key in c.engine.blocks
        await c.press("3", "r")
        facts = dialog_facts(c)
        assert facts["key"] == key and facts["address/user"] == "203.0.113.9"
        assert facts["remaining"].startswith("10:00")
        await c.press("n")
        assert len(c.app.screen_stack) == 1 and key in c.engine.blocks
        await c.press("r")
        await c.press("escape")
        assert key in c.engine.blocks
        await c.press("r")
        await c.press("enter")  # the focused button is Cancel: a stray Enter never confirms
        assert key in c.engine.blocks and deletes(c.home) == []
        await c.press("r", "y")
        await wait_for(c.pilot, lambda: key not in c.engine.blocks, what="the reversal")
        await settle(c)
        assert deletes(c.home) == ["203.0.113.9"]
        assert c.shown_keys() == []
        result = c.app.main.flows.results[-1]
        assert result.ok and result.target == key
        assert "active-response/bin/firewall-drop" in result.detail
        assert key in c.app.main.last_result
        audit = c.engine.store.list_audit()
        assert [(e.operator, e.action, e.target) for e in audit] == [("tester", "reverse", key)]
        assert "exit 0" in audit[0].detail


async def test_reverse_hits_the_captured_block_while_rows_expire_above(tmp_path: Path) -> None:
    async with console(tmp_path) as c:
        await three_blocks(c)
        await c.press("3", "end")
        target = "firewall-drop-203.0.113.3"
        assert c.app.main.blocks_view.selected_id == target
        await c.advance(401)  # T0+601: .1 expires, the row above the cursor goes away
        assert c.shown_keys() == ["firewall-drop-203.0.113.2", target]
        assert c.app.main.blocks_view.selected_id == target  # the cursor stayed on its block
        await c.press("r")
        assert dialog_facts(c)["key"] == target
        await c.advance(100)  # T0+701: .2 expires while the dialog is open
        assert c.shown_keys() == [target]
        await c.press("y")
        await wait_for(c.pilot, lambda: target not in c.engine.blocks, what="the reversal")
        await settle(c)
        assert deletes(c.home) == ["203.0.113.1", "203.0.113.2", "203.0.113.3"]
        assert [r.target for r in c.app.main.flows.results] == [target]


async def test_extend(tmp_path: Path) -> None:
    async with console(tmp_path) as c:
        await c.feed(brute(1, "198.51.100.4"))
        key = "firewall-drop-198.51.100.4"
        await c.press("3", "e")
        assert isinstance(c.app.screen, ExtendScreen)
        field = c.app.screen.query_one(Input)
        field.value = ""
        await c.pilot.press(*"5m", "enter")
        await wait_for(c.pilot, lambda: c.engine.blocks[key].timeout == 900, what="extension")
        await settle(c)
        outcome = c.app.main.flows.results[-1]
        assert outcome.ok and outcome.action == "extend"
        entry = c.app.main.blocks_view.entries[key]
        assert entry.remaining == 900
        await c.advance(30)
        assert c.app.main.blocks_view.entries[key].remaining == 870


async def test_bulk_reverse_needs_the_typed_count(tmp_path: Path) -> None:
    async with console(tmp_path) as c:
        await three_blocks(c)
        await c.feed(brute(9, "198.51.100.9"))
        await c.press("3", "slash")
        c.app.query_one("#blocks-filter", FilterBar).input.value = "srcip:203.0.113.0/24"
        await c.press("enter")
        assert len(c.app.main.blocks_view.visible_entries) == 3
        await c.press("R")
        assert isinstance(c.app.screen, BulkReverseScreen)
        await c.press(*"2", "enter")  # wrong count: nothing happens
        assert isinstance(c.app.screen, BulkReverseScreen) and len(c.engine.blocks) == 4
        field = c.app.screen.query_one(Input)
        field.value = ""
        await c.press("3", "enter")
        await wait_for(c.pilot, lambda: len(c.engine.blocks) == 1, what="bulk reversal")
        assert list(c.engine.blocks) == ["firewall-drop-198.51.100.9"]
        assert sorted(deletes(c.home)) == ["203.0.113.1", "203.0.113.2", "203.0.113.3"]


# ---------------------------------------------------------------------- manual block


async def test_manual_block_refused_for_a_white_listed_address(tmp_path: Path) -> None:
    async with console(tmp_path) as c:
        await c.press("b")
        assert isinstance(c.app.screen, ManualBlockScreen)
        c.app.screen.query_one("#block-address", Input).value = "10.1.2.3"
        await c.press("enter")
        facts = dialog_facts(c)
        assert facts["address"] == "10.1.2.3" and facts["command"] == "firewall-drop"
        await c.press("y")
        await wait_for(c.pilot, lambda: bool(c.app.main.flows.results), what="the refusal")
        result = c.app.main.flows.results[-1]
        assert not result.ok and "white-listed" in result.detail
        assert c.engine.blocks == {} and deletes(c.home) == []
        assert "FAILED" in c.app.main.last_result


async def test_manual_block_takes_the_selected_alerts_address(tmp_path: Path) -> None:
    async with console(tmp_path) as c:
        await c.feed(alert_line(f"{int(T0)}.5", rule_id="5710", level=5, srcip="192.0.2.44"))
        await c.press("2", "b")
        assert c.app.screen.query_one("#block-address", Input).value == "192.0.2.44"
        await c.press("enter", "y")
        key = "firewall-drop-192.0.2.44"
        await wait_for(c.pilot, lambda: key in c.engine.blocks, what="the manual block")
        await settle(c)
        assert c.engine.blocks[key].manual and key in c.shown_keys()


# ---------------------------------------------------------------------- read-only


async def test_read_only_refuses_every_change(tmp_path: Path) -> None:
    async with console(tmp_path) as c:
        await c.feed(brute(1, "203.0.113.5"))
    # The same home, now read-only: the block is restored, nothing can change it.
    async with console(tmp_path, read_only=True, home=c.home) as c:
        key = "firewall-drop-203.0.113.5"
        assert c.shown_keys() == [key]
        assert "READ-ONLY" in c.app.main.header_strip.badge_texts
        assert "READ-ONLY" in screen_text(c.app).splitlines()[0]
        await c.press("3")
        for key_name in ("r", "e", "R", "b", "ctrl+r"):
            await c.press(key_name)
            assert len(c.app.screen_stack) == 1, key_name
        # Even called directly, past the greyed-out keys, the engine façade refuses.
        await c.app.main.flows._reverse([key])
        await c.app.main.flows._extend(key, 60)
        from arconsole.console.screens.dialogs import ManualBlock

        await c.app.main.flows._add(ManualBlock("198.51.100.1", "firewall-drop", 60))
        assert [r.ok for r in c.app.main.flows.results] == [False, False, False]
        assert all("read-only" in r.detail for r in c.app.main.flows.results)
        assert list(c.engine.blocks) == [key] and c.engine.blocks[key].timeout == 600
        assert deletes(c.home) == []


# ---------------------------------------------------------------------- alerts


async def test_pause_and_resume(tmp_path: Path) -> None:
    async with console(tmp_path) as c:
        await c.feed(*[brute(n, f"198.51.100.{n}", level=5, rule="5710") for n in range(3)])
        await c.press("space")
        await c.feed(*[brute(n, f"198.51.100.{n}", level=5, rule="5710") for n in range(3, 8)])
        view = c.app.main.alerts_view
        assert view.selected_alert is not None and view.selected_alert.srcip == "198.51.100.2"
        header = c.app.main.header_strip
        assert "PAUSED +5 new" in header.badge_texts
        assert "PAUSED +5 new" in screen_text(c.app).splitlines()[0]
        assert "PAUSED" in str(c.app.query_one("#alerts-pane").border_subtitle)
        await c.press("space")
        assert not any(b.startswith("PAUSED") for b in header.badge_texts)
        assert view.selected_alert.srcip == "198.51.100.7"  # type: ignore[union-attr]
        assert len(c.app.main.ring) == 8


async def test_cursor_stays_on_its_alert_while_new_ones_arrive(tmp_path: Path) -> None:
    async with console(tmp_path) as c:
        await c.feed(*[brute(n, f"198.51.100.{n}", level=5, rule="5710") for n in range(5)])
        await c.press("2", "down", "down")
        chosen = c.app.main.alerts_view.selected_alert
        assert chosen is not None and chosen.srcip == "198.51.100.2"
        await c.feed(*[brute(n, f"198.51.100.{n}", level=5, rule="5710") for n in range(5, 9)])
        assert c.app.main.alerts_view.selected_alert == chosen


async def test_filter_alerts(tmp_path: Path) -> None:
    async with console(tmp_path) as c:
        await c.feed(
            brute(1, "203.0.113.1"),
            alert_line(f"{int(T0)}.2", rule_id="5710", level=5, srcip="198.51.100.2"),
            alert_line(f"{int(T0)}.3", rule_id="5501", level=3, srcip=None),
        )
        await c.press("2", "slash")
        c.app.query_one("#alerts-filter", FilterBar).input.value = "level>=5"
        await c.press("enter")
        assert [r.rule_id for r in c.app.main.ring.newest(10)] == ["5710", "5712"]
        await c.press("slash")
        bar = c.app.query_one("#alerts-filter", FilterBar)
        bar.input.value = "srcip:198.51.100.2"
        await c.press("enter")
        assert [r.srcip for r in c.app.main.ring.newest(10)] == ["198.51.100.2"]
        await c.press("slash")
        bar.input.value = "levle>=3"  # a typo is shown as an error, the filter in force stays
        await c.pilot.pause()
        assert bar.input.has_class("-invalid")
        await c.press("escape")
        assert bar.text == "srcip:198.51.100.2" and len(c.app.main.ring) == 1
        await c.press("escape")  # Escape on the pane clears the filter
        assert len(c.app.main.ring) == 3


async def test_hostile_alert_is_shown_escaped(tmp_path: Path) -> None:
    hostile = {
        "timestamp": "2026-11-23T10:00:00.000+0000",
        "rule": {"level": 10, "id": "5712",
                 "description": "[bold red]x[/] \x1b]52;c;cHduZWQ=\x07 \x1b[2J \u202eevil"},
        "id": f"{int(T0)}.66", "agent": {"id": "000", "name": "m\x1b[31m"},
        "data": {"srcip": "203.0.113.66", "dstuser": "root"},
        "full_log": "\x1b]0;pwned\x07",
    }
    async with console(tmp_path) as c:
        await c.feed(json.dumps(hostile).encode())
        screen = screen_text(c.app)
        assert "\x1b" not in screen and "\u202e" not in screen and "\x07" not in screen
        assert "\\x1b" in screen and "[bold red]x[/]" in screen
        await c.press("2", "enter")
        assert isinstance(c.app.screen, DetailScreen)
        detail = screen_text(c.app)
        assert "\x1b" not in detail and "\\u202e" in detail
        assert "FIRES" in detail and "firewall-drop600" in detail
        assert "\\u001b]52;c;cHduZWQ=" in detail  # the JSON shows the escapes as text
        await c.press("escape")
        assert len(c.app.screen_stack) == 1


async def test_copy_selected_alert_block_and_log_line(tmp_path: Path) -> None:
    async with console(tmp_path) as c:
        line = brute(1, "203.0.113.8")
        await c.feed(line)
        await c.press("2", "c")
        assert json.loads(c.app.clipboard) == json.loads(line)
        await c.press("3", "c")
        assert json.loads(c.app.clipboard)["key"] == "firewall-drop-203.0.113.8"
        await c.press("4")  # the events tab is the one shown first
        assert c.app.main.event_log.has_focus
        await c.press("c")
        assert c.app.clipboard == c.app.main.event_log.lines[-1]


# ---------------------------------------------------------------------- config


async def test_reload_accepted_keeps_the_tree_and_marks_changes(tmp_path: Path) -> None:
    async with console(tmp_path) as c:
        tree = c.app.main.config_tree
        commands = tree.node_for("commands")
        assert commands is not None
        commands.collapse()
        white_list = tree.node_for("white_list")
        assert white_list is not None
        white_list.expand()
        tree.move_cursor(tree.node_for("responses/1"))
        await c.pilot.pause()
        conf = c.home / "etc" / "ossec.conf"
        conf.write_text(conf.read_text().replace(
            "<rules_id>5712,5763</rules_id><timeout>600</timeout>",
            "<rules_id>5712,5763</rules_id><timeout>900</timeout>"))
        await c.press("ctrl+r")
        await wait_for(c.pilot, lambda: c.engine.generation == 2, what="the reload")
        await settle(c)
        await wait_for(c.pilot, lambda: "responses/1" in tree.changed, what="the tree")
        await c.pilot.pause()
        assert "responses/2" not in tree.changed
        assert not tree.node_for("commands").is_expanded  # type: ignore[union-attr]
        assert tree.node_for("white_list").is_expanded  # type: ignore[union-attr]
        assert tree.cursor_node is tree.node_for("responses/1")
        assert c.app.main.header.generation == 2


async def test_a_nodes_children_are_made_when_it_is_first_expanded(tmp_path: Path) -> None:
    """The ossec.conf element tree (most of a big config's items) is made a level at a time,
    as the operator expands it; an expansion inside a collapsed node survives a reload."""
    async with console(tmp_path) as c:
        tree = c.app.main.config_tree
        section = tree.node_for("tree")
        assert section is not None and section.data is not None
        assert not section.is_expanded and section.allow_expand
        assert list(section.children) == []  # nothing made below a collapsed node
        everything = sum(1 for _ in tree.outline.walk())  # type: ignore[union-attr]
        assert len(tree._by_path) < everything
        section.expand()
        await c.pilot.pause()
        root_element = section.data.children[0]
        assert [child.data for child in section.children] == section.data.children
        inner = tree.node_for(root_element.path)
        assert inner is not None and list(inner.children) == []
        inner.expand()
        await c.pilot.pause()
        assert len(inner.children) == len(root_element.children) > 0
        section.collapse()  # the inner node stays expanded inside it
        conf = c.home / "etc" / "ossec.conf"
        conf.write_text(conf.read_text().replace("<timeout>600</timeout>",
                                                 "<timeout>900</timeout>"))
        await c.press("ctrl+r")
        await wait_for(c.pilot, lambda: c.engine.generation == 2, what="the reload")
        await settle(c)
        await wait_for(c.pilot, lambda: bool(tree.changed), what="the tree")
        again = tree.node_for("tree")
        inner = tree.node_for(root_element.path)
        assert again is not None and not again.is_expanded
        assert inner is not None and inner.is_expanded
        assert len(inner.children) == len(root_element.children)


async def test_reload_rejected_shows_a_banner_and_keeps_the_last_good_config(
        tmp_path: Path) -> None:
    async with console(tmp_path) as c:
        conf = c.home / "etc" / "ossec.conf"
        good = conf.read_text()
        conf.write_text(good.replace("<timeout>600</timeout>", "<timeout>soon</timeout>"))
        await c.press("ctrl+r")
        await wait_for(c.pilot, lambda: c.app.main.header.rejected, what="the rejection")
        banner = c.app.query_one("#config-banner")
        assert banner.has_class("-on")
        text = str(banner.render())
        line = next(n for n, t in enumerate(conf.read_text().splitlines(), 1) if "soon" in t)
        assert f"{conf}:{line}:" in text
        assert c.engine.generation == 1
        await c.feed(brute(1, "203.0.113.4"))  # the last good config still fires
        assert c.engine.blocks["firewall-drop-203.0.113.4"].timeout == 600
        conf.write_text(good)
        await c.press("ctrl+r")
        await wait_for(c.pilot, lambda: not banner.has_class("-on"), what="the banner to go")


# ---------------------------------------------------------------------- keys, layout


async def test_help_is_generated_from_the_live_bindings(tmp_path: Path) -> None:
    async with console(tmp_path) as c:
        c.app.set_keymap({"reverse-block": "x"})
        await c.press("question_mark")
        assert isinstance(c.app.screen, HelpScreen)
        table = c.app.screen.plain_text()
        rows = {line.split(None, 1)[1].strip(): line.split(None, 1)[0]
                for line in table.splitlines() if line.strip() and len(line.split(None, 1)) == 2}
        assert rows["Reverse"] == "x" and rows["Extend"] == "e" and rows["Filter"] == "/"
        assert "Pause" in screen_text(c.app)  # on screen, not only in the table
        await c.press("escape")
        await c.feed(brute(1, "203.0.113.2"))
        await c.press("3", "x")  # the remapped key works
        assert isinstance(c.app.screen, ConfirmScreen)


async def test_narrow_terminal_shows_alerts_and_blocks_and_switches(tmp_path: Path) -> None:
    async with console(tmp_path, size=(80, 24)) as c:
        app = c.app
        assert app.main.alerts_view.display and app.main.blocks_view.display
        assert app.query_one("#config-pane").region.width == 0
        assert app.query_one("#log-pane").region.height == 0
        await c.press("1")
        assert app.query_one("#config-pane").region.width > 0
        assert app.query_one("#center").region.width == 0
        await c.press("4")
        assert app.query_one("#log-pane").region.height > 10
        await c.press("2")
        assert app.main.alerts_view.region.height > 3 and app.main.blocks_view.region.height > 3


async def test_countdown_and_next_expiry(tmp_path: Path) -> None:
    async with console(tmp_path) as c:
        await c.feed(brute(1, "203.0.113.1"))
        c.clock.advance(10)
        await c.feed(brute(2, "203.0.113.2", level=12))  # host-deny too: 120 s
        await c.advance(20)
        view = c.app.main.blocks_view
        assert view.nearest_key == "host-deny-203.0.113.2"
        assert view.entries["firewall-drop-203.0.113.1"].remaining == 570
        assert c.app.main.header.next_expiry == "1:40 203.0.113.2"


async def test_palette_lists_console_actions_and_blocks(tmp_path: Path) -> None:
    async with console(tmp_path) as c:
        await c.feed(brute(1, "203.0.113.3"))
        titles = [command.title for command in c.app.get_system_commands(c.app.screen)]
        assert "Pause or resume alerts" in titles
        assert "Reverse firewall-drop-203.0.113.3" in titles


# ---------------------------------------------------------------------- attached, logs, mouse


async def test_attached_console_acts_through_the_engines_socket(tmp_path: Path) -> None:
    from console_support import make_console_home
    from engine_support import new_engine

    from arconsole.console.app import ConsoleApp
    from arconsole.engine.clock import ManualClock
    from arconsole.engine.control import serve_control
    from arconsole.engine.link import SocketLink

    home = make_console_home(tmp_path)
    engine = new_engine(home, ManualClock(T0), control_socket=True)
    await engine.start(follow=False)
    control = await serve_control(engine)
    link = await SocketLink.connect(engine.options.socket_path)
    app = ConsoleApp(link, clock=lambda: T0, live=False, theme_dirs=[])
    try:
        async with app.run_test(size=(120, 36), notifications=True) as pilot:
            await wait_for(pilot, app.main.ready.is_set, what="the console to attach")
            assert "ATTACHED" in screen_text(app).splitlines()[0]
            await engine.handle_line(brute(1, "203.0.113.21"))
            await engine.drain()
            key = "firewall-drop-203.0.113.21"
            await wait_for(pilot, lambda: key in app.main.blocks_view.entries, what="the block")
            await pilot.press("3", "r")
            await pilot.pause()
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("y")
            await wait_for(pilot, lambda: key not in engine.blocks, what="the reversal")
            await wait_for(pilot, lambda: key not in app.main.blocks_view.entries, what="the row")
            assert deletes(home) == ["203.0.113.21"]
            assert engine.store.list_audit()[0].target == key
    finally:
        await link.close()
        if control is not None:
            await control.stop()
        await engine.stop()


async def test_active_responses_log_tab_follows_the_file_escaped(tmp_path: Path) -> None:
    async with console(tmp_path) as c:
        log = c.home / "logs" / "active-responses.log"
        log.write_text("2026/11/23 10:00:00 active-response/bin/firewall-drop: first\n")
        c.app.main.poll_files()
        with open(log, "a") as handle:
            handle.write("2026/11/23 10:00:01 x: \x1b]0;title\x07 second\n")
        c.app.main.poll_files()
        lines = c.app.main.ar_log.lines
        assert lines[-2].endswith("first")
        assert lines[-1].endswith("x: \\x1b]0;title\\x07 second")
        await c.press("4", "l")
        assert c.app.main.ar_log.has_focus
        await c.press("c")
        assert c.app.clipboard == lines[-1]


async def test_sort_keys_and_mouse_selection(tmp_path: Path) -> None:
    async with console(tmp_path) as c:
        await c.feed(brute(1, "203.0.113.30"))
        c.clock.advance(50)
        await c.feed(brute(2, "198.51.100.30"))
        assert c.shown_keys() == ["firewall-drop-203.0.113.30", "firewall-drop-198.51.100.30"]
        await c.press("3", "s")  # next sort: srcip/user
        assert c.shown_keys() == ["firewall-drop-198.51.100.30", "firewall-drop-203.0.113.30"]
        await c.press("S")  # and the other way round
        assert c.shown_keys() == ["firewall-drop-203.0.113.30", "firewall-drop-198.51.100.30"]
        assert "srcip/user ↓" in str(c.app.query_one("#blocks-pane").border_subtitle)
        view = c.app.main.blocks_view
        await c.pilot.click(view, offset=(5, 2))  # the second row (the first is the header)
        await c.pilot.pause()
        assert view.selected_id == "firewall-drop-198.51.100.30"


async def test_command_palette_offers_the_consoles_actions(tmp_path: Path) -> None:
    from textual.command import CommandPalette

    async with console(tmp_path) as c:
        await c.feed(brute(1, "203.0.113.31"))
        await c.press("ctrl+p")
        assert isinstance(c.app.screen, CommandPalette)
        c.app.screen.query_one(Input).value = "reverse firewall-drop-203.0.113.31"
        await wait_for(c.pilot, lambda: "203.0.113.31" in screen_text(c.app), what="a hit")
        await c.press("enter")
        await wait_for(c.pilot, lambda: isinstance(c.app.screen, ConfirmScreen),
                       what="the confirmation")
        assert dialog_facts(c)["key"] == "firewall-drop-203.0.113.31"
        await c.press("n")
        assert "firewall-drop-203.0.113.31" in c.engine.blocks


async def test_keys_typed_right_after_slash_go_to_the_filter(tmp_path: Path) -> None:
    """An SSH packet can carry `/` and the whole filter at once: none of it may reach the
    pane's bindings (here `r` would open a reversal, `p` pause the alerts)."""
    from textual import events

    async with console(tmp_path) as c:
        await c.feed(brute(1, "203.0.113.40"))
        await c.press("3")
        driver = c.app._driver
        assert driver is not None
        for char in "/rep":
            driver.send_message(events.Key("slash" if char == "/" else char, char))
        await c.pilot.pause()
        await c.press("enter")
        assert len(c.app.screen_stack) == 1 and not c.app.main.ring.paused
        assert c.app.query_one("#blocks-filter", FilterBar).text == "rep"


async def test_an_unreadable_active_responses_log_is_said_once_and_its_return_too(
        tmp_path: Path) -> None:
    async with console(tmp_path) as c:
        log = c.home / "logs" / "active-responses.log"
        log.mkdir()  # not a file the tab can follow
        c.app.main.poll_files()
        c.app.main.poll_files()
        said = [line for line in c.app.main.event_log.lines if "active-responses.log" in line]
        assert len(said) == 1, said
        assert f"warning cannot read {log}: not a regular file" in said[0]
        log.rmdir()
        log.write_text("2026/11/23 10:00:00 active-response/bin/firewall-drop: back\n")
        c.app.main.poll_files()
        c.app.main.poll_files()
        assert c.app.main.ar_log.lines[-1].endswith("back")
        said = [line for line in c.app.main.event_log.lines if "active-responses.log" in line]
        assert len(said) == 2 and said[1].endswith(f"info    reading {log} again"), said

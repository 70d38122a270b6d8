"""`b` (block by hand) with several managers attached (issue 14 item 5): the block goes to the
node the operator chose, never to whichever engine was attached first.

Two real `arconsole run` engines (their own homes, node names, state files and control
sockets); the console attaches to both through a `MultiLink` and is driven by keys.
The selected row's node is offered, a block's or an alert's (each alert carries the node that
read it); with no row selected the dialog asks, starting on the node field, and refuses to go on
without one.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from console_support import console_on, make_console_home, screen_text, serving, wait_for

from arconsole.console.screens.dialogs import ConfirmScreen, ManualBlockScreen
from arconsole.engine.control import engine_listening, request
from arconsole.engine.link import SocketLink
from arconsole.engine.multilink import MultiLink
from arconsole.engine.options import socket_path_for
from tests.engine_support import alert_line

REPO = Path(__file__).resolve().parents[1]


def node_home(tmp: Path, name: str) -> Path:
    home = make_console_home(tmp / name)
    conf = home / "etc" / "ossec.conf"
    conf.write_text(conf.read_text().replace("<node_name>node01<", f"<node_name>{name}<"))
    return home


def socket_of(home: Path) -> Path:
    return socket_path_for(home / "var" / "arconsole" / "state.db")


def blocked_on(home: Path) -> set[str]:
    """The addresses the engine of `home` holds blocks for, as it answers itself."""
    answer = request(socket_of(home), {"op": "list"})
    return {str(b.get("srcip")) for b in answer["blocks"]}


@pytest.fixture
def two_nodes(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    homes = [node_home(tmp_path, "node-a"), node_home(tmp_path, "node-b")]
    engines = []
    try:
        for home in homes:
            log = (home.parent / "run.log").open("wb")
            engines.append(subprocess.Popen(
                [sys.executable, "-m", "arconsole", "run", str(home / "etc" / "ossec.conf"),
                 "--home", str(home)], cwd=home, stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONPATH": str(REPO)}))
        deadline = time.monotonic() + 60
        for home, engine in zip(homes, engines, strict=True):
            while not engine_listening(socket_of(home)):
                assert engine.poll() is None, (home.parent / "run.log").read_text()
                assert time.monotonic() < deadline, "an engine never listened"
                time.sleep(0.1)
        yield homes[0], homes[1]
    finally:
        for engine in engines:
            engine.terminate()
        for engine in engines:
            assert engine.wait(timeout=60) == 0


async def attach(homes: tuple[Path, Path]) -> MultiLink:
    return MultiLink([await SocketLink.connect(socket_of(home)) for home in homes])


async def test_b_on_a_selected_block_blocks_on_that_blocks_node(
        two_nodes: tuple[Path, Path]) -> None:
    home_a, home_b = two_nodes
    with open(home_b / "logs" / "alerts" / "alerts.json", "ab") as out:
        out.write(alert_line("1.1", rule_id="5712", srcip="203.0.113.9") + b"\n")
    multi = await attach(two_nodes)
    assert list(multi.links) == ["node-a", "node-b"]  # node-a first: the old default
    async with console_on(multi) as (app, pilot):
        main = app.main
        await wait_for(pilot, lambda: len(main.blocks_view.entries) == 1, timeout=30,
                       what="node-b's block")
        await pilot.press("3")
        assert main.blocks_view.selected_block().node == "node-b"  # type: ignore[union-attr]
        await pilot.press("b")
        dialog = app.screen
        assert isinstance(dialog, ManualBlockScreen)
        assert dialog.node == "node-b"  # offered: the selected row's node
        assert dialog.focused is not None and dialog.focused.id == "block-address"
        await pilot.press(*"198.51.100.7", "enter")
        assert isinstance(app.screen, ConfirmScreen)
        assert "node-b" in screen_text(app)  # the confirmation names the node
        await pilot.press("y")
        await wait_for(pilot, lambda: "198.51.100.7" in blocked_on(home_b), timeout=30,
                       what="the block on node-b")
        assert blocked_on(home_a) == set()  # never the first node's
        await wait_for(pilot, lambda: len(main.blocks_view.entries) == 2, timeout=30,
                       what="the new row")
        assert {e.block.node for e in main.blocks_view.entries.values()} == {"node-b"}


async def test_b_from_the_alerts_pane_asks_which_node_and_needs_an_answer(
        two_nodes: tuple[Path, Path]) -> None:
    home_a, home_b = two_nodes
    async with console_on(await attach(two_nodes)) as (app, pilot):
        await pilot.press("2", "b")
        dialog = app.screen
        assert isinstance(dialog, ManualBlockScreen) and dialog.node is None
        assert dialog.focused is not None and dialog.focused.id == "block-node"
        # Without a node nothing goes on: the dialog stays and says why.
        await pilot.press("tab", *"198.51.100.8", "enter")
        assert app.screen is dialog
        assert "choose the node whose engine blocks it" in screen_text(app)
        # By keys: back to the node field, open it, the second node, take it.
        await pilot.press("shift+tab", "enter", "down", "down", "enter")
        await pilot.pause()
        await pilot.press("tab", "enter")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await wait_for(pilot, lambda: "198.51.100.8" in blocked_on(home_b), timeout=30,
                       what="the block on node-b")
        assert blocked_on(home_a) == set()


async def test_b_on_a_selected_alert_offers_the_node_that_read_it(
        two_nodes: tuple[Path, Path]) -> None:
    home_a, home_b = two_nodes
    async with console_on(await attach(two_nodes)) as (app, pilot):
        main = app.main
        # A level-3 alert: shown, fires nothing on node-b's config.
        with open(home_b / "logs" / "alerts" / "alerts.json", "ab") as out:
            out.write(alert_line("2.1", rule_id="5501", level=3,
                                 srcip="198.51.100.20") + b"\n")
        await wait_for(pilot, lambda: main.alerts_view.selected_alert is not None,
                       timeout=30, what="node-b's alert")
        await pilot.press("2")
        assert main.alerts_view.selected_alert.node == "node-b"  # type: ignore[union-attr]
        await pilot.press("b")
        dialog = app.screen
        assert isinstance(dialog, ManualBlockScreen) and dialog.node == "node-b"
        await pilot.press("enter")  # the alert's address, on the alert's node
        assert isinstance(app.screen, ConfirmScreen)
        assert "node-b" in screen_text(app)
        await pilot.press("y")
        await wait_for(pilot, lambda: "198.51.100.20" in blocked_on(home_b), timeout=30,
                       what="the block on node-b")
        assert blocked_on(home_a) == set()


async def test_a_multilink_add_without_a_node_runs_nothing(two_nodes: tuple[Path, Path]) -> None:
    home_a, home_b = two_nodes
    multi = await attach(two_nodes)
    try:
        outcome = await multi.add("firewall-drop", "198.51.100.9", "tester", timeout=60,
                                  force=False)
        assert not outcome.ok and "say which one" in outcome.detail
        unknown = await multi.add("firewall-drop", "198.51.100.9", "tester", timeout=60,
                                  force=False, node="node-c")
        assert not unknown.ok and "node-c" in unknown.detail
        done = await multi.add("firewall-drop", "198.51.100.9", "tester", timeout=60,
                               force=False, node="node-a")
        assert done.ok and done.block is not None and done.block.node == "node-a", done
        assert await asyncio.to_thread(blocked_on, home_a) == {"198.51.100.9"}
        assert await asyncio.to_thread(blocked_on, home_b) == set()
    finally:
        await multi.close()


async def test_a_nodes_store_warning_is_shown_with_its_node(tmp_path: Path) -> None:
    """The store banner with several nodes: each warning says which node's state it is."""
    from arconsole.engine.clock import ManualClock
    from tests.engine_support import T0, new_engine

    engines = []
    for name in ("node-a", "node-b"):
        home = node_home(tmp_path, name)
        state_dir = home / "var" / "shared"
        state_dir.mkdir(parents=True)
        if name == "node-b":
            state_dir.chmod(0o777)
        engines.append(new_engine(home, ManualClock(T0), control_socket=True,
                                  state_path=state_dir / "state.db"))
    async with serving(engines):
        multi = MultiLink([await SocketLink.connect(e.options.socket_path) for e in engines])
        [warning] = multi.status.store_warnings
        assert warning.startswith("node-b: state directory ") and "writable by other" in warning
        async with console_on(multi) as (app, pilot):
            await wait_for(pilot, lambda: "⚠ state store: node-b: state directory"
                           in screen_text(app), what="node-b's warning on screen")
            assert "node-a: state directory" not in screen_text(app)

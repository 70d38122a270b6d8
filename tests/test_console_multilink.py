"""Several managers (issue 14 item 5): one console link on several engines' control sockets.

Two real engines on two homes serve their sockets; a `MultiLink` merges their blocks, each
tagged with its node, and every action reaches only the engine that owns the block.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from console_support import T0, alert_line, make_console_home, serving
from engine_support import new_engine

from arconsole.engine.clock import ManualClock
from arconsole.engine.engine import Engine
from arconsole.engine.link import SocketLink
from arconsole.engine.multilink import MultiLink


def brute(n: int, srcip: str) -> bytes:
    return alert_line(f"{int(T0)}.{n}", rule_id="5712", level=10, srcip=srcip)


def two_engines(tmp_path: Path) -> list[Engine]:
    """Engines on two homes (a and b) that will serve their control sockets."""
    return [new_engine(make_console_home(tmp_path / name), ManualClock(T0), control_socket=True)
            for name in ("a", "b")]


async def test_two_engines_merge_with_node_and_actions_go_to_their_own_node(
        tmp_path: Path) -> None:
    async with serving(two_engines(tmp_path)) as engines:
        first, second = engines
        await first.handle_line(brute(1, "203.0.113.1"))
        await second.handle_line(brute(2, "203.0.113.2"))
        await second.handle_line(brute(3, "203.0.113.1"))  # the same key on both nodes
        for engine in engines:
            await engine.drain()
        links = [await SocketLink.connect(e.options.socket_path) for e in engines]
        node_a = links[0].node
        multi = MultiLink(links)
        try:
            names = list(multi.links)
            assert len(names) == 2 and names[0] == node_a and names[1] != names[0]
            name_b = names[1]
            shown = {(b.node, b.key) for b in multi.blocks()}
            assert shown == {
                (node_a, f"{node_a}/firewall-drop-203.0.113.1"),
                (name_b, f"{name_b}/firewall-drop-203.0.113.1"),
                (name_b, f"{name_b}/firewall-drop-203.0.113.2"),
            }
            assert multi.counts() == {node_a: 1, name_b: 2}

            outcomes = await multi.reverse([f"{name_b}/firewall-drop-203.0.113.1",
                                            "nowhere/firewall-drop-203.0.113.1"], "tester")
            assert [o.ok for o in outcomes] == [False, True]
            assert outcomes[0].detail == "no attached node owns this block"
            assert outcomes[1].target == f"{name_b}/firewall-drop-203.0.113.1"
            assert list(first.blocks) == ["firewall-drop-203.0.113.1"]  # untouched
            assert list(second.blocks) == ["firewall-drop-203.0.113.2"]

            extended = await multi.extend(f"{node_a}/firewall-drop-203.0.113.1", 60, "tester")
            assert extended.ok and extended.block is not None
            assert extended.block.node == node_a and extended.block.timeout == 660

            # Events arrive tagged with their node.
            stream = multi.events()

            async def caught_up() -> None:
                while f"{name_b}/firewall-drop-203.0.113.1" in {b.key for b in multi.blocks()}:
                    await anext(stream)

            await asyncio.wait_for(caught_up(), timeout=10)
            assert multi.counts() == {node_a: 1, name_b: 1}
            await stream.aclose()
        finally:
            await multi.close()


def test_status_answer_names_the_node(tmp_path: Path) -> None:
    from arconsole.engine.requests import status_of

    async def main() -> dict[str, object]:
        engine = new_engine(make_console_home(tmp_path), ManualClock(T0))
        await engine.start(follow=False)
        try:
            return status_of(engine)
        finally:
            await engine.stop()

    status = asyncio.run(main())
    assert "node" in status and isinstance(status["node"], str)


async def test_console_attached_to_two_nodes_shows_node_column_counts_and_routes_r(
        tmp_path: Path) -> None:
    from console_support import console_on, screen_text, wait_for

    from arconsole.console.screens.dialogs import ConfirmScreen

    async with serving(two_engines(tmp_path)) as engines:
        first, second = engines
        await first.handle_line(brute(1, "203.0.113.1"))
        await second.handle_line(brute(2, "203.0.113.2"))
        await second.handle_line(brute(3, "203.0.113.3"))
        for engine in engines:
            await engine.drain()
        multi = MultiLink([await SocketLink.connect(e.options.socket_path) for e in engines])
        name_a, name_b = multi.links
        async with console_on(multi, size=(80, 24), clock=lambda: T0) as (app, pilot):
            await pilot.pause()
            text = screen_text(app)
            assert f"{name_a} 1 · {name_b} 2" in text.splitlines()[0]  # per-node counts
            assert "NODE" in text
            pane = text[text.index("3 Blocks"):]
            row = next(line for line in pane.splitlines() if "203.0.113.3" in line)
            assert name_b[:8] in row
            # r on node b's block reverses it there, and only there.
            await pilot.press("3", "slash", *"node:", *name_b, "enter")
            await pilot.pause()
            view = app.main.blocks_view
            assert {e.block.node for e in view.visible_entries} == {name_b}
            await pilot.press("r")
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("y")
            await wait_for(pilot, lambda: len(second.blocks) == 1, what="node b's reversal")
            assert len(first.blocks) == 1
            await wait_for(pilot, lambda: f"{name_b} 1" in app.main.nodes,
                           what="the header's count to follow")


def test_attach_to_a_socket_nobody_serves_is_one_line_and_exit_1(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    missing = tmp_path / "node2.sock"
    result = subprocess.run(
        [sys.executable, "-m", "arconsole", "--attach", str(missing), "--attach",
         str(missing)], capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"arconsole: cannot attach to the engine on {missing}: [Errno 2] No such file or "
        "directory"]
    assert "Traceback" not in result.stderr

"""The console shows the fleet (issue 14 items 3-6): blocks on agents beside the server's,
with TARGET and DELIVERY, filtered by `agent:001`, reversed on the agent with `r`.

Real engine, real Unix datagram socket standing for Wazuh's queue, real control socket for
the attached link: the agent rows come from arconsole's own delivery and from a rule-651 AR
log alert (a block Wazuh's execd holds).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from console_support import T0, Console, console, screen_text, settle, wait_for
from engine_support import alert_line, command, make_home, new_engine, recorder, response

from arconsole.console.bridge import BridgeBatch
from arconsole.console.screens.engine_view import show_batch
from arconsole.engine.clock import ManualClock
from arconsole.engine.control import serve_control
from arconsole.engine.events import DeliveryChanged, FleetChanged
from arconsole.engine.fleet_table import expected_end
from arconsole.engine.link import BlockInfo, LocalLink, SocketLink
from tests.fleet_support import API_AGENTS, bind_queue, fleet_home, fleet_options, received
from tests.test_fleet_agent_blocks import ar_651

OURS = "001:firewall-drop-203.0.113.9"  # arconsole's own block on agent 001
WAZUHS = "002:firewall-drop-198.51.100.7"  # a block agent 002's execd holds


def attack_on_001() -> bytes:
    return alert_line("7.1", rule_id="5710", level=5, agent_id="001", srcip="203.0.113.9")


def mixed_home(tmp_path: Path) -> Path:
    """firewall-drop on the attacked agent (5710, 60 s) and on this server (5712, 600 s)."""
    import json

    home = make_home(tmp_path, [command("firewall-drop")], [
        response("firewall-drop", location="local", rules_id="5710", timeout=60),
        response("firewall-drop", location="server", rules_id="5712", timeout=600),
    ], scripts={"firewall-drop": recorder()})
    (home / "agents.json").write_text(json.dumps(API_AGENTS))
    return home


def local_brute() -> bytes:
    return alert_line(f"{int(T0)}.5", rule_id="5712", level=10, srcip="192.0.2.50")


async def delivered(engine: object) -> None:
    delivery = engine.agent_delivery  # type: ignore[attr-defined]
    for _ in range(3):
        await asyncio.sleep(0)
    await delivery.wait_idle()


@asynccontextmanager
async def fleet_console(tmp_path: Path, **changes: Any) -> AsyncIterator[
        tuple[Console, socket.socket]]:
    """A console on `mixed_home`'s engine, and the datagram socket standing for Wazuh's
    queue (closed after)."""
    home = mixed_home(tmp_path)
    queue = bind_queue(home)
    try:
        async with console(tmp_path, home=home, **fleet_options(home), **changes) as c:
            yield c, queue
    finally:
        queue.close()


async def show_three_rows(c: Console) -> None:
    """An attack on agent 001 (arconsole's block there), a block agent 002's execd holds and
    a brute force on this server: three rows in the blocks pane."""
    await c.feed(attack_on_001(), ar_651("002", "198.51.100.7"), local_brute())
    await delivered(c.engine)
    await wait_for(c.pilot, lambda: len(c.shown_keys()) == 3, what="three rows")


async def test_local_and_socket_links_give_the_same_fleet_rows(tmp_path: Path) -> None:
    home = fleet_home(tmp_path)
    queue = bind_queue(home)
    engine = new_engine(home, ManualClock(T0), control_socket=True,
                        **fleet_options(home))
    await engine.start(follow=False)
    control = await serve_control(engine)
    local = LocalLink(engine)
    try:
        await engine.handle_line(attack_on_001())
        await engine.handle_line(ar_651("002", "198.51.100.7"))
        await engine.drain()
        await delivered(engine)
        assert len(received(queue)) == 1
        remote = await SocketLink.connect(engine.options.socket_path)
        try:
            fleet = [b for b in local.blocks() if b.on_agent]
            assert all(isinstance(b, BlockInfo) for b in fleet)
            by_key = {b.key: b for b in fleet}
            assert set(by_key) == {OURS, WAZUHS}
            ours, wazuhs = by_key[OURS], by_key[WAZUHS]
            assert (ours.target_label, ours.delivery, ours.srcip) == (
                "001 web-01", "sent", "203.0.113.9")
            assert ours.counts_down and ours.expires_at == T0 + 60 and not ours.held_by_agent
            assert (wazuhs.target_label, wazuhs.delivery) == ("002 web-01", "observed")
            assert wazuhs.held_by_agent and "keeps its own timer until" in wazuhs.note
            assert remote.blocks() == local.blocks()

            # The agent's own log confirms arconsole's delivery: both links see it.
            stream = remote.events()
            await engine.handle_line(ar_651("001", "203.0.113.9"))
            await engine.drain()

            def confirmed(link: LocalLink | SocketLink) -> bool:
                return any(b.key == OURS and b.delivery == "confirmed" for b in link.blocks())

            async def caught_up() -> None:
                while not confirmed(remote):
                    await anext(stream)

            await asyncio.wait_for(caught_up(), timeout=10)
            assert confirmed(local)
            assert remote.blocks() == local.blocks()
        finally:
            await remote.close()
    finally:
        await local.close()
        await control.stop()
        await engine.stop()
        queue.close()


async def test_blocks_pane_shows_target_and_delivery_and_filters_by_agent(
        tmp_path: Path) -> None:
    async with fleet_console(tmp_path, size=(80, 40)) as (c, _):
        await show_three_rows(c)
        await c.press("3")  # the blocks pane
        await settle(c)
        text = screen_text(c.app)
        assert "TARGET" in text and "DELIVERY" in text
        pane = text[text.index("3 Blocks"):]
        pane = pane[:pane.index("╰")]
        rows = {line for line in pane.splitlines() if "firewall-d" in line}
        row_of = {ip: next(r for r in rows if ip in r)
                  for ip in ("203.0.113.9", "198.51.100.7", "192.0.2.50")}
        assert "001 web-…" in row_of["203.0.113.9"] and "sent" in row_of["203.0.113.9"]
        assert "002 web-…" in row_of["198.51.100.7"]
        assert "observed" in row_of["198.51.100.7"]
        assert "server" in row_of["192.0.2.50"]
        assert all(len(line) <= 80 for line in text.splitlines())

        # The agent logs the add: the row says confirmed, live.
        await c.feed(ar_651("001", "203.0.113.9"))
        await wait_for(c.pilot, lambda: any(
            e.block.delivery == "confirmed" for e in c.app.main.blocks_view.entries.values()),
            what="the delivery to be confirmed")

        await c.press("slash", *"agent:001", "enter")
        await settle(c)
        assert c.shown_keys() == [OURS]
        await c.press("slash", "ctrl+u", *"agent:web", "enter")
        await settle(c)
        assert sorted(c.shown_keys()) == sorted([OURS, WAZUHS])  # by name too
        await c.press("slash", "ctrl+u", *"delivery:observed", "enter")
        await settle(c)
        assert c.shown_keys() == [WAZUHS]


async def test_a_batch_with_a_fleet_change_refreshes_titles_and_counts_once(
        tmp_path: Path) -> None:
    """Fleet rows read at once inside a batch leave the pane titles and the header counts to
    the batch, which refreshes each once (an immediate read refreshed them a second time)."""
    async with fleet_console(tmp_path, size=(80, 40)) as (c, _):
        await c.feed(attack_on_001(), ar_651("002", "198.51.100.7"))
        await delivered(c.engine)
        await wait_for(c.pilot, lambda: len(c.shown_keys()) == 2, what="two agent rows")
        main = c.app.main
        calls: Counter[str] = Counter()

        def counting(owner: object, name: str) -> None:
            real = getattr(owner, name)

            def counted(*args: object) -> None:
                calls[name] += 1
                real(*args)
            setattr(owner, name, counted)

        counting(main, "update_titles")
        counting(main, "refresh_counts")
        counting(main.blocks_view, "set_fleet")
        show_batch(main, BridgeBatch(events=[
            FleetChanged(at=T0, change="refreshed"),
            DeliveryChanged(at=T0, delivery_id=1, response="firewall-drop",
                            program="firewall-drop", agent="001", key=None,
                            state="sent", reason=""),
        ]))
        assert calls == {"set_fleet": 1, "update_titles": 1, "refresh_counts": 1}
        assert main.blocks == 2 and str(main.panes["blocks-pane"].border_title) == (
            "3 Blocks (2)")


def dialog_text(screen: str) -> str:
    """The open dialog's words as one line (its rows sit between two `█` borders)."""
    inner = [line.split("█")[1] for line in screen.splitlines() if line.count("█") >= 2]
    return " ".join(" ".join(inner).split())


async def select(c: object, key: str) -> None:
    """Put the blocks pane's cursor on `key`."""
    view = c.app.main.blocks_view  # type: ignore[attr-defined]
    await c.press("3")  # type: ignore[attr-defined]
    await c.press("home")  # type: ignore[attr-defined]
    for _ in range(len(view.entries)):
        block = view.selected_block()
        if block is not None and block.key == key:
            return
        await c.press("down")  # type: ignore[attr-defined]
    raise AssertionError(f"{key} is not among the rows: {list(view.entries)}")


async def test_r_on_a_wazuh_held_row_reverses_on_the_agent_and_states_the_consequence(
        tmp_path: Path) -> None:
    from arconsole.console.screens.dialogs import ConfirmScreen

    async with fleet_console(tmp_path, size=(100, 40)) as (c, queue):
        await show_three_rows(c)
        received(queue)  # the add sent to agent 001
        await select(c, WAZUHS)
        await c.press("r")
        assert isinstance(c.app.screen, ConfirmScreen)
        text = screen_text(c.app)
        row = c.engine.fleet.table.find(WAZUHS)
        assert row is not None
        end = expected_end(row)
        assert end is not None
        until = dt.datetime.fromtimestamp(end[1]).strftime("%H:%M:%S")
        flat = dialog_text(text)
        assert f"the agent keeps its own timer until {until}" in flat
        assert "a repeat before then is not re-blocked" in flat
        assert "002 web-01" in flat
        await c.press("y")
        await wait_for(c.pilot, lambda: bool(c.app.main.flows.results), what="an outcome")
        await delivered(c.engine)
        outcome = c.app.main.flows.results[-1]
        assert outcome.ok and outcome.target == WAZUHS
        sent = received(queue)
        assert len(sent) == 1 and sent[0].startswith(b"(local_source) [] NNS 002 ")
        assert b'"command":"!arconsole-reverse"' in sent[0]
        assert b'"extra_args":["firewall-drop","198.51.100.7"]' in sent[0]
        assert WAZUHS in {a.target for a in c.engine.store.list_audit()}

        # arconsole's own block: its timer is dropped, and the row goes.
        await select(c, OURS)
        await c.press("r")
        assert isinstance(c.app.screen, ConfirmScreen)
        assert "arconsole's timer is dropped" in dialog_text(screen_text(c.app))
        await c.press("y")
        await wait_for(c.pilot, lambda: OURS not in c.shown_keys(),
                       what="arconsole's agent block to go")
        await delivered(c.engine)
        sent = received(queue)
        assert len(sent) == 1 and sent[0].startswith(b"(local_source) [] NNS 001 ")


async def test_read_only_refuses_r_on_a_fleet_row(tmp_path: Path) -> None:
    async with fleet_console(tmp_path, read_only=True) as (c, queue):
        await c.feed(ar_651("002", "198.51.100.7"))
        await wait_for(c.pilot, lambda: c.shown_keys() == [WAZUHS], what="the fleet row")
        await c.press("3")
        c.app.clear_notifications()
        await c.press("r")
        assert len(c.app.screen_stack) == 1
        assert [n.message for n in c.app._notifications] == [
            "read-only: reversing is off"]
        await delivered(c.engine)
        assert received(queue) == []


async def test_observe_mode_header_and_wazuh_will_run_in_the_alert_detail(
        tmp_path: Path) -> None:
    from arconsole.console.screens.detail import DetailScreen
    from arconsole.engine.options import Mode

    home = mixed_home(tmp_path)
    async with console(tmp_path, size=(120, 40), home=home, mode=Mode.OBSERVE,
                       agents_file=home / "agents.json") as c:
        assert "OBSERVE" in screen_text(c.app).splitlines()[0]
        await c.feed(attack_on_001(), local_brute())
        assert c.engine.blocks == {}  # Wazuh's execd runs them: arconsole runs nothing
        await c.press("2", "home", "enter")  # the newest alert: the server's brute force
        assert isinstance(c.app.screen, DetailScreen)
        detail = " ".join(screen_text(c.app).split())
        assert "Wazuh will run active-response/bin/firewall-drop on the manager" in detail
        assert "would run" not in detail
        await c.press("escape", "down", "enter")
        detail = " ".join(screen_text(c.app).split())
        assert "Wazuh will run active-response/bin/firewall-drop on agent 001" in detail
        assert "would run" not in detail and "not delivered" not in detail

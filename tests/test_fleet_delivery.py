"""Delivery through `wazuh-queue`: the exact datagrams on a real Unix datagram socket bound at
HOME/queue/alerts/ar (spec 6.3 A and C, fleet.md F1), the inventory, and delivery records."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from arconsole.engine.agent_messages import agent_datagram, header_flags, reverse_json
from arconsole.engine.agents import AgentDirectory, load_client_keys
from arconsole.engine.options import parse_agent_transport
from tests.engine_support import alert_line, started
from tests.fleet_support import (
    API_AGENTS,
    bind_queue,
    expected,
    fleet_engine,
    fleet_home,
    queue_path,
    received,
    stored_deliveries,
)


def test_inventory_reads_the_api_answer_the_plain_list_and_client_keys(tmp_path: Path) -> None:
    agents = AgentDirectory.from_json(json.dumps(API_AGENTS).encode())
    assert agents.active_ids == ("001", "002", "004")  # never 000, never disconnected
    assert agents.get("4") is not None and not agents.get("4").speaks_json  # type: ignore[union-attr]
    assert agents.get("002").speaks_json  # type: ignore[union-attr]
    assert agents.get("001").ip == "192.0.2.1"  # type: ignore[union-attr]
    plain = AgentDirectory.from_json(b'[{"id": 7, "name": "x", "status": "active"}]')
    assert plain.active_ids == ("007",) and plain.get("007").speaks_json  # type: ignore[union-attr]
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "client.keys").write_text(
        "001 web-01 any 0123abcd\n002 !removed 10.0.0.2 ffff\n# comment\n003 db-01 10.0.0.3 ab\n"
    )
    keys = load_client_keys(tmp_path)
    assert [a.id for a in keys.agents] == ["001", "003"]
    assert keys.active_ids == ("001", "003") and keys.versions_unknown


def test_header_and_message_bytes_follow_6_3() -> None:
    from arconsole.config.model import LocationFlag

    assert header_flags(LocationFlag.REMOTE_AGENT) == "NRN"
    assert header_flags(LocationFlag.SPECIFIC_AGENT) == "NNS"
    assert header_flags(LocationFlag.ALL_AGENTS) == "NNS"
    assert reverse_json(node_name="n", program="firewall-drop", key="203.0.113.9") == (
        b'{"version":1,"origin":{"name":"n","module":"arconsole"},"command":"!arconsole-reverse",'
        b'"parameters":{"extra_args":["firewall-drop","203.0.113.9"],'
        b'"alert":{"data":{"srcip":"203.0.113.9"}}}}'
    )
    with pytest.raises(ValueError):
        agent_datagram("NRN", "001", b"x" * 70000)
    with pytest.raises(ValueError):
        agent_datagram("NRN", "1;", b"{}")


def test_agent_transport_option_values(tmp_path: Path) -> None:
    assert parse_agent_transport("none", tmp_path) is None
    assert parse_agent_transport("wazuh-queue", tmp_path) == tmp_path / "queue/alerts/ar"
    assert parse_agent_transport("wazuh-queue=/x/ar", tmp_path) == Path("/x/ar")
    with pytest.raises(ValueError):
        parse_agent_transport("ssh", tmp_path)


async def test_conformance_local_defined_agent_and_all_on_a_real_socket(tmp_path: Path) -> None:
    home = fleet_home(tmp_path)
    queue = bind_queue(home)
    engine = await fleet_engine(home)
    delivery = engine.agent_delivery
    assert delivery is not None
    try:
        local = alert_line("1.1", rule_id="5710", level=5, agent_id="001",
                           srcip="203.0.113.9")
        defined = alert_line("1.2", rule_id="5711", level=5, agent_id="001",
                             srcip="203.0.113.10")
        everyone = alert_line("1.3", rule_id="5712", level=10, agent_id="001",
                              srcip="203.0.113.11")
        for line in (local, defined, everyone):
            await engine.handle_line(line)
        await engine.drain()
        await delivery.wait_idle()
        got = received(queue)
        assert got == [
            expected("NRN", "001", "firewall-drop", local),
            expected("NNS", "002", "host-deny", defined),
            # all: every active agent of the inventory, never 000 nor the disconnected 003;
            # 004 (4.1.5) does not read JSON and is recorded as undeliverable instead.
            expected("NNS", "001", "firewall-drop", everyone),
            expected("NNS", "002", "firewall-drop", everyone),
        ]
        records = {(r.agent, r.response, r.state) for r in stored_deliveries(engine.store)}
        assert ("004", "firewall-drop0", "failed") in records
        failed = next(r for r in stored_deliveries(engine.store, "failed"))
        assert "older than 4.2" in failed.reason and failed.agent == "004"
        assert len(stored_deliveries(engine.store, "sent")) == 4
        # The server-side execd is never sent anything for these routes.
        assert not (home / "record.jsonl").exists()
    finally:
        await engine.stop()
        queue.close()


async def test_queue_missing_at_start_is_retried_until_it_appears(tmp_path: Path) -> None:
    home = fleet_home(tmp_path)
    engine = await fleet_engine(home)
    delivery = engine.agent_delivery
    assert delivery is not None
    try:
        line = alert_line("2.1", rule_id="5710", level=5, agent_id="001", srcip="203.0.113.9")
        await engine.handle_line(line)
        await engine.drain()
        import asyncio

        for _ in range(200):  # the sender is retrying: no socket yet
            if delivery.last_error:
                break
            await asyncio.sleep(0.01)
        assert "No such file" in delivery.last_error
        assert [r.state for r in stored_deliveries(engine.store)] == ["queued"]
        queue = bind_queue(home)
        await delivery.wait_idle()
        assert received(queue) == [expected("NRN", "001", "firewall-drop", line)]
        assert [r.state for r in stored_deliveries(engine.store)] == ["sent"]
        queue.close()
    finally:
        await engine.stop()


async def test_client_keys_inventory_without_agents_file(tmp_path: Path) -> None:
    home = fleet_home(tmp_path)
    (home / "etc" / "client.keys").write_text("001 web-01 any k1\n005 app-05 any k5\n")
    queue = bind_queue(home)
    engine = await started(home, agent_queue=queue_path(home))
    delivery = engine.agent_delivery
    assert delivery is not None
    try:
        line = alert_line("3.1", rule_id="5712", level=10, agent_id="001", srcip="203.0.113.9")
        await engine.handle_line(line)
        await engine.drain()
        await delivery.wait_idle()
        assert received(queue) == [expected("NNS", "001", "firewall-drop", line),
                                   expected("NNS", "005", "firewall-drop", line)]
        events = [e.message for e in engine.store.list_events()]
        assert any("versions are unknown" in m for m in events)
    finally:
        await engine.stop()
        queue.close()


class Reader:
    """remoted's side: a thread reading the bound socket until it is closed."""

    def __init__(self, home: Path) -> None:
        import threading

        self.sock = bind_queue(home)
        self.sock.settimeout(0.05)
        self.got: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.got.append(self.sock.recv(70000))
            except TimeoutError:
                continue

    def close(self) -> list[bytes]:
        if self._stop.is_set():
            return []
        self._stop.set()
        self._thread.join()
        self.got += received(self.sock)
        self.sock.close()
        return self.got


async def test_socket_removed_and_recreated_mid_burst_loses_nothing(tmp_path: Path) -> None:
    """remoted restarting in the middle of a 1,000-response burst: every response arrives
    exactly once, in order per agent."""
    import asyncio

    async def until(condition: Callable[[], bool]) -> None:
        for _ in range(1000):
            if condition():
                return
            await asyncio.sleep(0.01)
        raise AssertionError("condition not reached")

    home = fleet_home(tmp_path)
    reader = Reader(home)
    path = queue_path(home)
    engine = await fleet_engine(home)
    delivery = engine.agent_delivery
    assert delivery is not None
    got: list[bytes] = []
    try:
        for n in range(1000):
            agent = "001" if n % 2 else "002"
            await engine.handle_line(alert_line(
                f"9.{n}", rule_id="5710", level=5, agent_id=agent,
                srcip=f"198.51.{n // 250}.{n % 250}"))
            if n == 300:
                await until(lambda: delivery.sent >= 301)  # part of the burst is out
                got += reader.close()
                path.unlink()  # remoted gone: ENOENT, then a fresh socket
            if n == 450:
                await until(lambda: "No such file" in delivery.last_error)
            if n == 600:
                reader = Reader(home)
        await engine.drain()
        await asyncio.wait_for(delivery.wait_idle(), 30)
    finally:
        await engine.stop()
        got += reader.close()
    ids = [json.loads(d.split(b" ", 4)[4][:-1])["parameters"]["alert"]["id"] for d in got]
    assert len(ids) == 1000 and len(set(ids)) == 1000
    for agent in ("001", "002"):
        mine = [int(i.split(".")[1]) for d, i in zip(got, ids, strict=True)
                if d.split(b" ")[3].decode() == agent]
        assert mine == sorted(mine) and len(mine) == 500


async def test_observe_mode_runs_and_sends_nothing_but_decides_and_follows(
    tmp_path: Path,
) -> None:
    """`--mode observe`: Wazuh's own execd runs the responses; arconsole decides (the alert
    event names what Wazuh will run), sends nothing, runs nothing."""
    from arconsole.engine.events import AlertHandled, Event
    from arconsole.engine.options import Mode
    from tests.engine_support import recorder, write_script

    home = fleet_home(tmp_path)
    (home / "etc" / "ossec.conf").write_text((home / "etc" / "ossec.conf").read_text().replace(
        "</ossec_config>", "<active-response><command>firewall-drop</command><location>server"
        "</location><rules_id>5710</rules_id><timeout>60</timeout></active-response>"
        "</ossec_config>"))
    write_script(home, "firewall-drop", recorder())
    queue = bind_queue(home)
    engine = await fleet_engine(home, mode=Mode.OBSERVE)
    subscription = engine.bus.subscribe()
    try:
        await engine.handle_line(alert_line("7.1", rule_id="5710", level=5, agent_id="001",
                                            srcip="203.0.113.9"))
        await engine.drain()
        await engine.agent_delivery.wait_idle()  # type: ignore[union-attr]
        seen: list[Event] = subscription.drain()
        handled = [e for e in seen if isinstance(e, AlertHandled)]
        assert handled and handled[0].fired == ("firewall-drop60", "firewall-drop60")
        assert received(queue) == []
        assert not (home / "record.jsonl").exists()
        assert engine.blocks == {}
    finally:
        await engine.stop()
        queue.close()


async def test_run_warns_of_double_delivery_on_the_managers_own_config(tmp_path: Path) -> None:
    home = fleet_home(tmp_path)  # its config is HOME/etc/ossec.conf, as a manager's
    engine = await fleet_engine(home)
    try:
        events = [e.message for e in engine.store.list_events()]
        assert any("double delivery" in m and "firewall-drop60" in m for m in events)
    finally:
        await engine.stop()
    own = tmp_path / "arconsole.conf"
    own.write_text((home / "etc" / "ossec.conf").read_text())
    engine = await fleet_engine(home, config_path=own)
    try:
        assert not any("double delivery" in e.message for e in engine.store.list_events()
                       if e.at > 0 and "arconsole.conf" in e.message)
    finally:
        await engine.stop()

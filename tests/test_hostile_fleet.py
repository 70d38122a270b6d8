"""The fleet surface attacked (issue 14 is new attacker-controlled input): AR log alerts with
crafted programs, keys and agent names, decoy rows, agent keys that cannot reach an agent.

Everything in an AR log alert is the attacker's: a spoofed log line on an agent decodes as a
rule-651 alert as well as a real one does. Real engine, real Unix datagram socket standing for
Wazuh's queue. The holes these tests found are closed: ambiguous reverse keys, keys the
agent's helper refuses, agent ids past 999, table growth from spoofed deletes, and bursts of
"agent started" alerts.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from arconsole.commands.blocks_fleet import format_fleet
from arconsole.engine.agent_messages import AgentMessageError, agent_datagram
from arconsole.engine.clock import ManualClock
from arconsole.engine.fleet_store import FleetStore
from arconsole.engine.fleet_table import ArLogEntry, FleetTable
from arconsole.engine.store import StateStore
from tests.engine_support import T0
from tests.fleet_support import bind_queue, fleet_engine, fleet_home, received, settle


def ar_alert(agent: str, program_path: str, key: str, *, agent_name: str = "web-01",
             command: str = "add", rule_id: str = "651") -> bytes:
    """A rule-651/652 AR log alert with the given (hostile) fields."""
    trigger = {"timestamp": "2023-11-14T22:13:20.000+0000",
               "rule": {"level": "5", "description": "sshd: x", "id": "5710",
                        "groups": ["syslog", "sshd"]},
               "agent": {"id": agent, "name": agent_name}, "data": {"srcip": key}}
    alert = {"timestamp": "2023-11-14T22:13:22.000+0000",
             "rule": {"level": 3, "description": "Host Blocked", "id": rule_id,
                      "groups": ["ossec", "active_response"]},
             "agent": {"id": agent, "name": agent_name}, "id": "1700000002.9",
             "data": {"srcip": key, "command": command,
                      "origin": {"module": "wazuh-execd", "name": "node01"},
                      "parameters": {"alert": trigger, "extra_args": [],
                                     "program": program_path}},
             "location": "/var/ossec/logs/active-responses.log"}
    return json.dumps(alert, separators=(",", ":")).encode()


HOSTILE_NAME = "\x1b]0;pwned\x07[bold red]x[/][@click=app.quit]q[/]\u202eevil\u2028"


async def test_hostile_fleet_fields_are_listed_literally(tmp_path: Path) -> None:
    home = fleet_home(tmp_path)
    queue = bind_queue(home)
    engine = await fleet_engine(home, ManualClock(T0))
    try:
        await engine.handle_line(ar_alert(
            "002", "active-response/bin/fw\x1b[2J[bold]x\u202e", "198.51.100.7",
            agent_name=HOSTILE_NAME))
        await engine.handle_line(ar_alert(
            "002", "active-response/bin/../../../../bin/sh", "198.51.100.8"))
        # A key that is no address nor user name keeps no row at all (fleet_bounds).
        await engine.handle_line(ar_alert(
            "002", "active-response/bin/fw", "198.51.100.7\x1b[31m\n", agent_name=HOSTILE_NAME))
        await engine.drain()
        listing = engine.fleet.listing()
        assert len(listing) == 2
        assert engine.fleet.counts()["refused_bad_key"] == 1
        text = format_fleet(listing)
        for bad in ("\x1b", "\u202e", "\u2028", "\x07"):
            assert bad not in text
        assert text.count("\n") == 2  # the heading and one line per row: none forged
        assert {row["program"] for row in listing} >= {"sh"}  # never a path
    finally:
        await engine.stop()
        queue.close()


async def test_a_decoy_row_cannot_capture_the_operators_reverse(tmp_path: Path) -> None:
    home = fleet_home(tmp_path)
    queue = bind_queue(home)
    engine = await fleet_engine(home, ManualClock(T0))
    try:
        await engine.handle_line(ar_alert("002", "active-response/bin/firewall",
                                          "drop-198.51.100.7"))  # the decoy, planted first
        await engine.handle_line(ar_alert("002", "active-response/bin/firewall-drop",
                                          "198.51.100.7"))  # the block Wazuh's execd holds
        await engine.drain()
        results = await engine.reverse_blocks(["002:firewall-drop-198.51.100.7"], "tester")
        await settle(engine)
        sent = received(queue)
        real_reverse = [d for d in sent if b'"extra_args":["firewall-drop","198.51.100.7"]' in d]
        # The operator is told the key is ambiguous, with both candidates, and nothing is sent.
        assert not real_reverse and not results[0].ok and "ambiguous" in results[0].detail
        assert "'firewall'" in results[0].detail and "'firewall-drop'" in results[0].detail
        assert sent == []
    finally:
        await engine.stop()
        queue.close()


async def test_reverse_is_not_reported_sent_for_a_key_the_agent_must_refuse(
        tmp_path: Path) -> None:
    home = fleet_home(tmp_path)
    queue = bind_queue(home)
    engine = await fleet_engine(home, ManualClock(T0))
    try:
        key = "198.51.100.7;touch pwned"
        await engine.handle_line(ar_alert("002", "active-response/bin/firewall-drop", key))
        await engine.drain()
        results = await engine.reverse_blocks([f"002:firewall-drop-{key}"], "tester")
        await settle(engine)
        assert not results[0].ok
        assert received(queue) == []
    finally:
        await engine.stop()
        queue.close()


@pytest.mark.parametrize(("agent_id", "ok"), [
    ("001", True), ("999", True), ("1000", True), ("12345678", True), ("01", False),
    ("123456789", False), ("\u0661\u0662\u0663", False), ("12a", False), ("-12", False)])
def test_agent_ids_in_the_header_are_three_to_eight_ascii_digits(agent_id: str,
                                                                 ok: bool) -> None:
    if ok:
        assert agent_datagram("NRN", agent_id, b"{}").startswith(
            f"(local_source) [] NRN {agent_id} {{".encode())
    else:
        with pytest.raises(AgentMessageError):
            agent_datagram("NRN", agent_id, b"{}")


async def test_agents_past_999_are_reached(tmp_path: Path) -> None:
    home = fleet_home(tmp_path)
    agents = {"data": {"affected_items": [
        {"id": "1000", "name": "big-1000", "ip": "192.0.2.10", "version": "Wazuh v4.14.7",
         "status": "active"}]}}
    (home / "agents.json").write_text(json.dumps(agents))
    queue = bind_queue(home)
    engine = await fleet_engine(home, ManualClock(T0))
    try:
        from tests.engine_support import alert_line

        await engine.handle_line(alert_line("9.1", rule_id="5710", level=5, agent_id="1000",
                                            srcip="203.0.113.9"))
        await engine.drain()
        await settle(engine)
        sent = received(queue)
        assert len(sent) == 1 and sent[0].startswith(b"(local_source) [] NRN 1000 {")
    finally:
        await engine.stop()
        queue.close()


async def test_deletes_of_unknown_blocks_do_not_grow_the_table(tmp_path: Path) -> None:
    home = fleet_home(tmp_path)
    queue = bind_queue(home)
    engine = await fleet_engine(home, ManualClock(T0))
    try:
        for i in range(500):
            await engine.handle_line(ar_alert(
                "002", "active-response/bin/firewall-drop", f"10.9.{i >> 8}.{i & 255}",
                command="delete", rule_id="652"))
        await engine.drain()
        assert len(engine.fleet.table.rows) == 0
    finally:
        await engine.stop()
        queue.close()



def _entry(key: str, command: str, at: float) -> ArLogEntry:
    return ArLogEntry(agent="002", agent_name="web-01", program="firewall-drop", key=key,
                      command=command, rule_id="651" if command == "add" else "652", at=at,
                      trigger=None, origin_module="wazuh-execd")


def test_lifted_rows_are_pruned_by_count_and_age_and_stay_pruned(tmp_path: Path) -> None:
    store = StateStore.open(tmp_path / "state.db")
    fleet_store = FleetStore(store)
    try:
        table = FleetTable(fleet_store, lifted_keep=10)
        table.apply(_entry("192.0.2.1", "add", T0), None)  # active: never pruned
        for i in range(200):  # spoofed add + delete pairs, every key new
            key = f"10.9.{i >> 8}.{i & 255}"
            table.apply(_entry(key, "add", T0 + i), None)
            table.apply(_entry(key, "delete", T0 + i), None)
        lifted = [row for row in table.rows.values() if not row.active]
        assert 10 <= len(lifted) <= 11 and table.rows[("002", "firewall-drop", "192.0.2.1")]
        assert ("002", "firewall-drop", "10.9.0.199") in table.rows  # the newest are kept
        # A day later, one more lift: every lifted row older than the retention goes.
        table.apply(_entry("192.0.2.2", "add", T0 + 90_000), None)
        table.apply(_entry("192.0.2.2", "delete", T0 + 90_000), None)
        assert sorted(key for (_, _, key) in table.rows) == ["192.0.2.1", "192.0.2.2"]
    finally:
        fleet_store.close()
        store.close()
    store = StateStore.open(tmp_path / "state.db")
    try:  # the state file forgot them too (the rows log folded in before the delete)
        with FleetStore(store) as reader:
            assert sorted(row.key for row in reader.load_rows()) == ["192.0.2.1", "192.0.2.2"]
    finally:
        store.close()


async def test_a_burst_of_agent_started_alerts_resends_the_blocks_once(
        tmp_path: Path) -> None:
    """20 "agent started" alerts in a second: the agent's blocks go out at the first only;
    a start after the 10 s window is a start again."""
    from tests.engine_support import alert_line

    home = fleet_home(tmp_path)
    queue = bind_queue(home)
    clock = ManualClock(T0)
    engine = await fleet_engine(home, clock)
    started_alert = alert_line("9.9", rule_id="503", level=3, agent_id="001", srcip=None,
                               groups=["ossec"])
    try:
        await engine.handle_line(alert_line("9.1", rule_id="5710", level=5, agent_id="001",
                                            srcip="203.0.113.9"))
        await engine.drain()
        await settle(engine)
        (block,) = received(queue)
        for _ in range(20):
            await engine.handle_line(started_alert)
            clock.advance(0.4)
        await engine.drain()
        await settle(engine)
        assert received(queue) == [block]  # once, not 20 times
        clock.advance(2)  # 10 s after the first: the window has ended
        await engine.handle_line(started_alert)
        await engine.drain()
        await settle(engine)
        assert received(queue) == [block]
    finally:
        await engine.stop()
        queue.close()

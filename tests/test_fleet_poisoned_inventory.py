"""`location=all` fans out over the inventory, whose entries the agents partly write (Wazuh's
API gives an agent's reported version as is): a poisoned entry first in the inventory costs at
most that agent's delivery, recorded `failed` with the reason like any other undeliverable one;
the agents after it are sent to, and every record of the alert (those before it too) is in the
state file. Real engine, real state file, real Unix datagram socket for Wazuh's queue.

The exact outcome is asserted, at the inventory (which entries are kept, as what) and at the
delivery (who is sent to, who is refused, with which message): each test fails when the
inventory's bounds go (an unbounded version pattern made `int()` raise on 5,000 digits, and
agent 001 lost its delivery; checked by reverting it), when an agent older than 4.2 is sent the
JSON message, or when the refusal's reason carries the whole 5,000-digit id.
"""

from __future__ import annotations

import json
from pathlib import Path

from arconsole.engine.agents import load_agents
from arconsole.engine.clock import ManualClock
from tests.engine_support import T0, alert_line
from tests.fleet_support import (
    bind_queue,
    expected,
    fleet_engine,
    fleet_home,
    received,
    settle,
    stored_deliveries,
)

DIGITS = "9" * 5000  # past int()'s 4300 digits
LONG_ID = "1" * 5000


def poisoned_inventory(home: Path) -> None:
    agents = [
        {"id": "001", "name": "web-01", "status": "active", "version": f"Wazuh v{DIGITS}.1"},
        {"id": LONG_ID, "name": "long", "status": "active", "version": "Wazuh v4.14.7"},
        {"id": "002", "name": "db-01", "status": "active", "version": "Wazuh v4.14.7"},
        {"id": "3", "name": "old-01", "status": "active", "version": "Wazuh v4.1.5"},
        {"id": "005", "name": "app-01", "status": "active", "version": "Wazuh v4.14.7"},
    ]
    (home / "agents.json").write_text(json.dumps(agents))


LONG_REFUSED = f"bad header 'NNS' for agent '{LONG_ID[:16]}'... (5,000 characters)"
OLD_REFUSED = ("agent 003 runs Wazuh v4.1.5, older than 4.2: it does not read the JSON "
               "message, so it cannot be delivered")


def test_the_inventory_keeps_every_entry_as_what_it_is(tmp_path: Path) -> None:
    home = fleet_home(tmp_path)
    poisoned_inventory(home)
    inventory = load_agents(home / "agents.json")
    assert [(a.id, a.name, a.version_known, a.speaks_json) for a in inventory.agents] == [
        ("001", "web-01", False, True),  # a version past any bound: unknown, taken as >= 4.2
        (LONG_ID, "long", True, True),  # no agent id: kept as text, refused at delivery
        ("002", "db-01", True, True),
        ("003", "old-01", True, False),  # "3" is agent 003
        ("005", "app-01", True, True),
    ]
    assert inventory.active_ids == ("001", LONG_ID, "002", "003", "005")


async def test_all_reaches_every_agent_after_a_poisoned_entry(tmp_path: Path) -> None:
    home = fleet_home(tmp_path)
    poisoned_inventory(home)
    queue = bind_queue(home)
    engine = await fleet_engine(home, ManualClock(T0))
    try:
        first = alert_line("1.1", rule_id="5712", level=10, agent_id="002",
                           srcip="203.0.113.11")
        second = alert_line("1.2", rule_id="5712", level=10, agent_id="002",
                            srcip="203.0.113.12")
        for line in (first, second):
            await engine.handle_line(line)
            await engine.drain()
            await settle(engine)
        # 001's version is unknown (taken as 4.2 or later, as for any unknown version).
        assert received(queue) == [
            expected("NNS", agent, "firewall-drop", line)
            for line in (first, second) for agent in ("001", "002", "005")]
        records = [(r.agent[:8], r.key, r.state, r.reason)
                   for r in stored_deliveries(engine.store)]
        assert sorted(records) == sorted(
            [(agent, key, "sent", "") for key in ("203.0.113.11", "203.0.113.12")
             for agent in ("001", "002", "005")]
            + [(LONG_ID[:8], key, "failed", LONG_REFUSED)
               for key in ("203.0.113.11", "203.0.113.12")]
            + [("003", key, "failed", OLD_REFUSED)
               for key in ("203.0.113.11", "203.0.113.12")])
        assert engine.stats.input_errors == 0
    finally:
        await engine.stop()
        queue.close()


async def test_the_delivery_stages_own_fan_out_for_all_survives_it_too(tmp_path: Path) -> None:
    """The decider names each agent of `location=all`; the delivery stage's own fan-out (the
    target `all`, what it gets when the decider had no inventory) is held to the same."""
    from arconsole.alerts.ar_lines import decode_json_line

    home = fleet_home(tmp_path)
    poisoned_inventory(home)
    queue = bind_queue(home)
    engine = await fleet_engine(home, ManualClock(T0))
    delivery = engine.agent_delivery
    assert delivery is not None and engine.config is not None
    try:
        [everyone] = [r for r in engine.config.responses if r.rules_id == "5712"]
        line = alert_line("1.3", rule_id="5712", level=10, agent_id="002",
                          srcip="203.0.113.13")
        persisted = delivery.deliver(everyone, "all", decode_json_line(line), T0)
        assert persisted is not None
        await persisted
        await settle(engine)
        assert received(queue) == [expected("NNS", agent, "firewall-drop", line)
                                   for agent in ("001", "002", "005")]
        assert sorted((r.agent[:8], r.state, r.reason)
                      for r in stored_deliveries(engine.store)) == [
            ("001", "sent", ""), ("002", "sent", ""), ("003", "failed", OLD_REFUSED),
            ("005", "sent", ""), (LONG_ID[:8], "failed", LONG_REFUSED)]
    finally:
        await engine.stop()
        queue.close()

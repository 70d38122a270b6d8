"""`--agents FILE` is re-read when its content changes, not only at a config reload: the file
is watched (folder events plus a content-digest poll, as the config is); `all` reaches the
agents the new file lists as active; a file gone bad keeps the agents known before, and says
why. A real file, a real watcher, a real datagram socket."""

from __future__ import annotations

import asyncio
import copy
import json
import time
from pathlib import Path

from arconsole.engine.bus import Subscription
from arconsole.engine.events import Notice
from tests.engine_support import alert_line
from tests.fleet_support import (
    API_AGENTS,
    bind_queue,
    expected,
    fleet_engine,
    fleet_home,
    received,
)


async def next_notice(events: Subscription, text: str, timeout: float = 10.0) -> Notice:
    """The first notice containing `text` (the watcher polls once a second at worst)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"no notice with {text!r}"
        async with asyncio.timeout(left):
            batch = await events.next_batch()
        for event in batch:
            if isinstance(event, Notice) and text in event.message:
                return event


async def test_agents_file_is_re_read_when_it_changes(tmp_path: Path) -> None:
    home = fleet_home(tmp_path)
    queue = bind_queue(home)
    agents_file = home / "agents.json"
    engine = await fleet_engine(home, watch_config=True)
    delivery = engine.agent_delivery
    assert delivery is not None
    events = engine.bus.subscribe()
    try:
        await asyncio.wait_for(engine.agents_watch_ready.wait(), 10)
        # 002 disconnected, a new 005 active: written as editors do (temporary file, rename).
        changed = copy.deepcopy(API_AGENTS)
        items = changed["data"]["affected_items"]  # type: ignore[index]
        items[2]["status"] = "disconnected"
        items.append({"id": "005", "name": "new-01", "ip": "192.0.2.5",
                      "version": "Wazuh v4.14.7", "status": "active"})
        temporary = agents_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(changed))
        temporary.replace(agents_file)
        notice = await next_notice(events, "agents re-read from")
        assert "6 agents, 3 active" in notice.message  # 001, 004 (too old to reach), 005
        everyone = alert_line("8.1", rule_id="5712", level=10, agent_id="001",
                              srcip="203.0.113.11")
        await engine.handle_line(everyone)
        await engine.drain()
        await delivery.wait_idle()
        assert received(queue) == [expected("NNS", "001", "firewall-drop", everyone),
                                   expected("NNS", "005", "firewall-drop", everyone)]

        # A file gone bad: the agents known before are kept, and the operator is told.
        agents_file.write_text("{not json")
        warning = await next_notice(events, "the agents known before are kept")
        assert warning.level == "warning" and str(agents_file) in warning.message
        again = alert_line("8.2", rule_id="5712", level=10, agent_id="001",
                           srcip="203.0.113.12")
        await engine.handle_line(again)
        await engine.drain()
        await delivery.wait_idle()
        assert received(queue) == [expected("NNS", "001", "firewall-drop", again),
                                   expected("NNS", "005", "firewall-drop", again)]
    finally:
        events.close()
        await engine.stop()
        queue.close()

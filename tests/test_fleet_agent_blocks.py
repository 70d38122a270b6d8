"""arconsole owns its agent-side blocks: a repeat refreshes the timer and sends nothing, expiry
sends `!arconsole-reverse` (exact bytes on a real socket), blocks survive an engine restart, and
an agent's "started" alert (rule 503) makes its active blocks go out again."""

from __future__ import annotations

import asyncio
from pathlib import Path

from arconsole.engine.clock import ManualClock
from tests.engine_support import T0, alert_line, started
from tests.test_fleet_delivery import bind_queue, expected, fleet_home, received

REVERSE = (
    b'(local_source) [] NNS 001 {"version":1,"origin":{"name":"node01","module":"arconsole"},'
    b'"command":"!arconsole-reverse","parameters":{"extra_args":["firewall-drop",'
    b'"203.0.113.9"],"alert":{"data":{"srcip":"203.0.113.9"}}}}\0'
)


async def settle(engine: object) -> None:
    delivery = engine.agent_delivery  # type: ignore[attr-defined]
    for _ in range(3):
        await asyncio.sleep(0)
    await delivery.wait_idle()


async def test_repeat_refreshes_expiry_reverses_and_restart_keeps_it(tmp_path: Path) -> None:
    home = fleet_home(tmp_path)
    queue = bind_queue(home)
    path = home / "queue" / "alerts" / "ar"
    clock = ManualClock(T0)
    engine = await started(home, clock, agents_file=home / "agents.json", agent_queue=path)
    first = alert_line("5.1", rule_id="5710", level=5, agent_id="001", srcip="203.0.113.9")
    try:
        await engine.handle_line(first)
        await engine.drain()
        await settle(engine)
        assert received(queue) == [expected("NRN", "001", "firewall-drop", first)]
        clock.advance(40)
        await engine.handle_line(alert_line("5.2", rule_id="5710", level=5, agent_id="001",
                                            srcip="203.0.113.9"))
        await engine.drain()
        await settle(engine)
        assert received(queue) == []  # a repeat: nothing sent
        blocks = engine.agent_delivery.blocks.blocks  # type: ignore[union-attr]
        assert blocks[("001", "firewall-drop", "203.0.113.9")].expires_at == T0 + 40 + 60
        clock.advance(59)  # 99 s: the first add alone would have expired at 60
        await asyncio.sleep(0.05)
        await settle(engine)
        assert received(queue) == []
    finally:
        await engine.stop()
    # A restart keeps the block and its timer.
    engine = await started(home, clock, agents_file=home / "agents.json", agent_queue=path)
    try:
        assert ("001", "firewall-drop", "203.0.113.9") in \
            engine.agent_delivery.blocks.blocks  # type: ignore[union-attr]
        # The agent restarted: its active block is sent again.
        await engine.handle_line(alert_line("5.3", rule_id="503", level=3, agent_id="001",
                                            srcip=None, groups=["ossec"]))
        await engine.drain()
        await settle(engine)
        assert received(queue) == [expected("NRN", "001", "firewall-drop", first)]
        clock.advance(2)  # 101 s > 100: expired
        for _ in range(50):
            await asyncio.sleep(0.01)
            if not engine.agent_delivery.blocks.blocks:  # type: ignore[union-attr]
                break
        await settle(engine)
        assert received(queue) == [REVERSE]
        assert engine.agent_delivery.blocks.blocks == {}  # type: ignore[union-attr]
    finally:
        await engine.stop()
        queue.close()

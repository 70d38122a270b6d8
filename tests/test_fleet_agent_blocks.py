"""arconsole owns its agent-side blocks: a repeat refreshes the timer and sends nothing, expiry
sends `!arconsole-reverse` (exact bytes on a real socket), blocks survive an engine restart, and
an agent's "started" alert (rule 503) makes its active blocks go out again."""

from __future__ import annotations

import asyncio
from pathlib import Path

from arconsole.engine.clock import ManualClock
from tests.engine_support import T0, alert_line
from tests.fleet_support import bind_queue, expected, fleet_engine, fleet_home, received, settle

REVERSE = (
    b'(local_source) [] NNS 001 {"version":1,"origin":{"name":"node01","module":"arconsole"},'
    b'"command":"!arconsole-reverse","parameters":{"extra_args":["firewall-drop",'
    b'"203.0.113.9"],"alert":{"data":{"srcip":"203.0.113.9"}}}}\0'
)


async def test_repeat_refreshes_expiry_reverses_and_restart_keeps_it(tmp_path: Path) -> None:
    home = fleet_home(tmp_path)
    queue = bind_queue(home)
    clock = ManualClock(T0)
    engine = await fleet_engine(home, clock)
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
    engine = await fleet_engine(home, clock)
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


def ar_651(agent: str, srcip: str) -> bytes:
    """A rule-651 alert shaped like the real sample (trigger scalars as strings)."""
    import json

    trigger = {"timestamp": "2023-11-14T22:13:20.000+0000",
               "rule": {"level": "5", "description": "sshd: Attempt to login using a "
                        "non-existent user", "id": "5710", "groups": ["syslog", "sshd"]},
               "agent": {"id": agent, "name": "web-01"}, "id": "1700000000.1",
               "data": {"srcip": srcip}, "location": "journald"}
    alert = {"timestamp": "2023-11-14T22:13:22.000+0000",
             "rule": {"level": 3, "description": "Host Blocked by firewall-drop Active Response",
                      "id": "651", "groups": ["ossec", "active_response"]},
             "agent": {"id": agent, "name": "web-01"}, "id": "1700000002.9",
             "data": {"srcip": srcip, "command": "add", "origin": {"module": "wazuh-execd",
                      "name": "node01"}, "parameters": {"alert": trigger, "extra_args": [],
                      "program": "active-response/bin/firewall-drop"}},
             "location": "/var/ossec/logs/active-responses.log"}
    return json.dumps(alert, separators=(",", ":")).encode()


async def test_blocks_reverse_agent_keys_for_arconsole_and_wazuh_blocks(tmp_path: Path) -> None:
    home = fleet_home(tmp_path)
    queue = bind_queue(home)
    clock = ManualClock(T0)
    engine = await fleet_engine(home, clock)
    try:
        await engine.handle_line(alert_line("6.1", rule_id="5710", level=5, agent_id="001",
                                            srcip="203.0.113.9"))
        await engine.handle_line(ar_651("002", "198.51.100.7"))  # a block Wazuh's execd holds
        await engine.drain()
        await settle(engine)
        received(queue)
        results = await engine.reverse_blocks(
            ["001:firewall-drop-203.0.113.9", "002:firewall-drop-198.51.100.7",
             "003:firewall-drop-192.0.2.1"], "tester")
        await settle(engine)
        assert [r.ok for r in results] == [True, True, False]
        assert results[2].detail == "no such block"
        assert "the agent keeps its own timer until" in results[1].detail
        assert "a repeat before then is not re-blocked" in results[1].detail
        assert received(queue) == [
            REVERSE,
            REVERSE.replace(b"NNS 001", b"NNS 002").replace(b"203.0.113.9", b"198.51.100.7"),
        ]
        audit = engine.store.list_audit()
        assert {a.target for a in audit} >= {"001:firewall-drop-203.0.113.9",
                                             "002:firewall-drop-198.51.100.7"}
        assert engine.agent_delivery.blocks.blocks == {}  # type: ignore[union-attr]
    finally:
        await engine.stop()
        queue.close()


async def test_blocks_list_shows_agent_blocks_and_the_consequence(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    home = fleet_home(tmp_path)
    queue = bind_queue(home)
    engine = await fleet_engine(home, ManualClock(T0))
    try:
        await engine.handle_line(alert_line("8.1", rule_id="5710", level=5, agent_id="001",
                                            srcip="203.0.113.9"))
        await engine.handle_line(ar_651("002", "198.51.100.7"))
        await engine.drain()
        await settle(engine)
    finally:
        await engine.stop()
        queue.close()
    repo = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-m", "arconsole", "blocks", "list", "--home", str(home)],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(repo)},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "blocks on agents:" in lines
    ours = next(line for line in lines if "001:firewall-drop-203.0.113.9" in line)
    assert "(arconsole's timer)" in ours
    wazuh = next(line for line in lines if "002:firewall-drop-198.51.100.7" in line)
    assert "the agent keeps its own timer until" in wazuh
    assert "a repeat before then is not re-blocked" in wazuh


def offenders_home(tmp_path: Path) -> Path:
    """firewall-drop on the agent, 60 s, with `<repeated_offenders>2,10</repeated_offenders>`."""
    import json

    from tests.engine_support import command, make_home, response
    from tests.fleet_support import API_AGENTS

    home = make_home(tmp_path, [command("firewall-drop")], [
        response("firewall-drop", location="local", rules_id="5710", timeout=60,
                 extra="<repeated_offenders>2,10</repeated_offenders>"),
    ])
    (home / "agents.json").write_text(json.dumps(API_AGENTS))
    return home


async def test_repeated_offenders_escalate_agent_blocks_per_agent_and_persist(
    tmp_path: Path,
) -> None:
    """Spec 7.5 for arconsole's agent blocks: counts per (agent, response, key), a repeat
    during a block escalates it and resets it to the new duration, counts survive a restart."""
    home = offenders_home(tmp_path)
    queue = bind_queue(home)
    clock = ManualClock(T0)
    ident = ("001", "firewall-drop", "203.0.113.9")

    def trigger(alert_id: str, agent: str = "001") -> bytes:
        return alert_line(alert_id, rule_id="5710", level=5, agent_id=agent,
                          srcip="203.0.113.9")

    engine = await fleet_engine(home, clock)
    try:
        blocks = engine.agent_delivery.blocks.blocks  # type: ignore[union-attr]
        first = trigger("7.1")
        await engine.handle_line(first)
        await engine.drain()
        await settle(engine)
        assert received(queue) == [expected("NRN", "001", "firewall-drop", first)]
        assert blocks[ident].expires_at == T0 + 60  # first time: the base timeout
        clock.advance(10)
        await engine.handle_line(trigger("7.2"))  # a repeat: escalated to 2 min from now
        await engine.drain()
        await settle(engine)
        assert received(queue) == []
        assert blocks[ident].expires_at == T0 + 10 + 120
        # Another agent, same address: its own count, so the base timeout.
        other = trigger("7.3", agent="002")
        await engine.handle_line(other)
        await engine.drain()
        await settle(engine)
        assert received(queue) == [expected("NRN", "002", "firewall-drop", other)]
        assert blocks[("002", "firewall-drop", "203.0.113.9")].expires_at == T0 + 10 + 60
        clock.advance(61)  # T0+71: past the base 60 s of the first block, not its 130
        for _ in range(50):
            await asyncio.sleep(0.01)
            if ("002", "firewall-drop", "203.0.113.9") not in blocks:
                break
        await settle(engine)
        assert ident in blocks
        assert received(queue) == [REVERSE.replace(b"NNS 001", b"NNS 002")]
        clock.advance(60)  # T0+131: the escalated block ends
        for _ in range(50):
            await asyncio.sleep(0.01)
            if ident not in blocks:
                break
        await settle(engine)
        assert received(queue) == [REVERSE]
    finally:
        await engine.stop()
    # The counts are in the state file: after a restart, the next trigger gets 10 min.
    clock.advance(3600)
    engine = await fleet_engine(home, clock)
    try:
        again = trigger("7.4")
        await engine.handle_line(again)
        await engine.drain()
        await settle(engine)
        assert received(queue) == [expected("NRN", "001", "firewall-drop", again)]
        blocks = engine.agent_delivery.blocks.blocks  # type: ignore[union-attr]
        assert blocks[ident].expires_at == clock.now() + 600
        assert engine.store.get_offences("agent 001 firewall-drop60 203.0.113.9") == 2
        assert engine.store.get_offences("agent 002 firewall-drop60 203.0.113.9") == 0
    finally:
        await engine.stop()
        queue.close()


def ar_reverse_logged(agent: str, srcip: str) -> bytes:
    """The agent's arconsole-reverse script logged the reversal (rule 657, program
    arconsole-reverse): what confirms a `!arconsole-reverse` delivery."""
    import json

    alert = json.loads(ar_651(agent, srcip))
    alert["rule"].update({"id": "657", "description": "Active response: arconsole-reverse"})
    alert["data"]["parameters"]["program"] = "active-response/bin/arconsole-reverse"
    alert["data"]["parameters"]["extra_args"] = ["firewall-drop", srcip]
    return json.dumps(alert, separators=(",", ":")).encode()


async def test_a_reversal_the_agent_never_confirmed_is_sent_again_when_it_starts(
    tmp_path: Path,
) -> None:
    """The block expired while the agent was down (remoted dropped the reversal): its 503
    sends the reversal again; once the agent logged it, a later 503 sends nothing; a key
    blocked again meanwhile is not reversed."""
    home = fleet_home(tmp_path)
    queue = bind_queue(home)
    clock = ManualClock(T0)
    engine = await fleet_engine(home, clock)
    blocks = engine.agent_delivery.blocks.blocks  # type: ignore[union-attr]
    started_alert = alert_line("9.9", rule_id="503", level=3, agent_id="001", srcip=None,
                               groups=["ossec"])
    try:
        await engine.handle_line(alert_line("9.1", rule_id="5710", level=5, agent_id="001",
                                            srcip="203.0.113.9"))
        await engine.drain()
        await settle(engine)
        received(queue)
        clock.advance(61)
        for _ in range(50):
            await asyncio.sleep(0.01)
            if not blocks:
                break
        await settle(engine)
        assert received(queue) == [REVERSE]  # into remoted, which the down agent never got
        await engine.handle_line(started_alert)
        await engine.drain()
        await settle(engine)
        assert received(queue) == [REVERSE]  # sent again
        await engine.handle_line(ar_reverse_logged("001", "203.0.113.9"))
        await engine.drain()
        await engine.handle_line(started_alert)
        await engine.drain()
        await settle(engine)
        assert received(queue) == []  # confirmed: not again
        # Unconfirmed again, but the key is blocked anew: the block goes out, not the reversal.
        clock.advance(10)
        again = alert_line("9.2", rule_id="5710", level=5, agent_id="001", srcip="203.0.113.9")
        await engine.handle_line(again)
        await engine.drain()
        await settle(engine)
        assert len(received(queue)) == 1
        clock.advance(61)
        for _ in range(50):
            await asyncio.sleep(0.01)
            if not blocks:
                break
        await settle(engine)
        assert received(queue) == [REVERSE]
        await engine.handle_line(alert_line("9.3", rule_id="5710", level=5, agent_id="001",
                                            srcip="203.0.113.9"))
        await engine.drain()
        await engine.handle_line(started_alert)
        await engine.drain()
        await settle(engine)
        got = received(queue)
        assert len(got) == 2 and REVERSE not in got
        assert all(b'"command":"!firewall-drop"' in datagram for datagram in got)
    finally:
        await engine.stop()
        queue.close()

"""The link returns typed values, the same whether the engine is in-process or attached.

One real engine (recording scripts, SQLite state, manual clock) serves its control socket;
a `LocalLink` and a `SocketLink` to it must give equal `BlockInfo` lists and `Outcome`s.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from console_support import T0, alert_line, make_console_home
from engine_support import new_engine

from arconsole.engine.clock import ManualClock
from arconsole.engine.control import serve_control
from arconsole.engine.link import BlockInfo, LocalLink, Outcome, SocketLink
from arconsole.engine.model import BlockState


def brute(n: int, srcip: str) -> bytes:
    return alert_line(f"{int(T0)}.{n}", rule_id="5712", level=10, srcip=srcip)


async def test_local_and_socket_links_return_the_same_typed_blocks_and_outcomes(
        tmp_path: Path) -> None:
    home = make_console_home(tmp_path)
    engine = new_engine(home, ManualClock(T0), control_socket=True)
    await engine.start(follow=False)
    control = await serve_control(engine)
    local = LocalLink(engine)
    try:
        await engine.handle_line(brute(1, "203.0.113.7"))
        await engine.handle_line(brute(2, "203.0.113.8"))
        await engine.drain()
        remote = await SocketLink.connect(engine.options.socket_path)
        try:
            blocks = local.blocks()
            assert all(isinstance(b, BlockInfo) for b in blocks)
            assert [b.key for b in blocks] == ["firewall-drop-203.0.113.7",
                                               "firewall-drop-203.0.113.8"]
            assert blocks[0].state is BlockState.ACTIVE and blocks[0].counts_down
            assert blocks[0].who == "203.0.113.7" and blocks[0].timeout == 600
            assert remote.blocks() == blocks

            local_outcome = await local.extend("firewall-drop-203.0.113.7", 60, "tester")
            remote_outcome = await remote.extend("firewall-drop-203.0.113.8", 60, "tester")
            for outcome in (local_outcome, remote_outcome):
                assert isinstance(outcome, Outcome) and outcome.ok
                assert outcome.action == "extend" and isinstance(outcome.block, BlockInfo)
                assert outcome.block.timeout == 660
            refused = await remote.extend("no-such-block", 60, "tester")
            assert isinstance(refused, Outcome) and not refused.ok

            reversed_ = await remote.reverse(["firewall-drop-203.0.113.7"], "tester")
            assert [type(o) for o in reversed_] == [Outcome] and reversed_[0].ok

            # The socket link keeps its blocks from the event stream: typed too.
            stream = remote.events()

            async def caught_up() -> None:
                while "firewall-drop-203.0.113.7" in {b.key for b in remote.blocks()}:
                    await anext(stream)

            await asyncio.wait_for(caught_up(), timeout=10)
            assert remote.blocks() == local.blocks()
            assert [b.key for b in local.blocks()] == ["firewall-drop-203.0.113.8"]
        finally:
            await remote.close()
    finally:
        await local.close()
        await control.stop()
        await engine.stop()


def test_block_info_round_trips_and_labels() -> None:
    data = {"key": "firewall-drop-198.51.100.4", "command": "firewall-drop",
            "name": "firewall-drop600", "state": "active", "srcip": "198.51.100.4",
            "started_at": T0, "expires_at": T0 + 600, "timeout": 600, "offences": 1,
            "restored": True, "dry_run": True, "unknown_future_field": 1}
    block = BlockInfo.from_json(data)
    assert block.state is BlockState.ACTIVE and block.label == "restored (dry)"
    assert block.to_json()["state"] == "active"
    assert BlockInfo.from_json(block.to_json()) == block
    failed = BlockInfo.from_json({**data, "state": "failed"})
    assert failed.reversible and failed.counts_down and failed.label == "failed (dry)"
    assert not BlockInfo.from_json({**data, "state": "untracked"}).counts_down

"""OSSEC flavour: the legacy argv protocol through the engine (scenarios B.9 G1-G6)."""

from __future__ import annotations

import json
from pathlib import Path

from arconsole.config.model import Flavour
from arconsole.engine.clock import ManualClock
from arconsole.engine.engine import Engine
from tests.engine_support import (
    ARGV_RECORDER,
    T0,
    alert_line,
    make_home,
    new_engine,
    wait_for,
)


def ossec_home(tmp_path: Path, expect: str = "srcip", timeout: int = 600) -> Path:
    commands = [
        "  <command><name>host-deny</name><executable>host-deny.sh</executable>"
        f"<expect>{expect}</expect><timeout_allowed>yes</timeout_allowed></command>",
    ]
    responses = [
        "  <active-response><command>host-deny</command><location>local</location>"
        f"<level>6</level><timeout>{timeout}</timeout></active-response>",
        "  <active-response><command>host-deny</command><location>local</location>"
        f"<rules_id>100</rules_id><timeout>{timeout}</timeout></active-response>",
    ]
    home = make_home(tmp_path, commands, responses)
    script = home / "active-response" / "bin" / "host-deny.sh"
    import sys

    script.write_text(ARGV_RECORDER.format(python=sys.executable, home=str(home)))
    script.chmod(0o755)
    return home


def argvs(home: Path) -> list[list[str]]:
    path = home / "record.jsonl"
    if not path.exists():
        return []
    return [json.loads(line)["argv"] for line in path.read_text().splitlines()]


async def started(home: Path, clock: ManualClock) -> Engine:
    engine = new_engine(home, clock, flavour=Flavour.OSSEC)
    await engine.start(follow=False)
    return engine


async def test_g1_add_argv_words(tmp_path: Path) -> None:
    home = ossec_home(tmp_path)
    engine = await started(home, ManualClock(T0))
    line = alert_line("1700000000.99", rule_id="5712", srcip="1.2.3.4")
    await engine.handle_line(line.replace(b"/var/log/secure", b"/var/log/auth.log"))
    await engine.drain()
    [argv] = argvs(home)
    assert argv == [str(home / "active-response" / "bin" / "host-deny.sh"), "add", "-", "1.2.3.4",
                    "1700000000.99", "5712", "/var/log/auth.log", "-"]
    await engine.stop()


async def test_g2_agent_location_with_spaces_becomes_separate_words(tmp_path: Path) -> None:
    home = ossec_home(tmp_path)
    conf = home / "etc" / "ossec.conf"
    # `local` on an agent's event targets that agent (undelivered here); `server` runs it here.
    conf.write_text(conf.read_text().replace("<location>local</location>",
                                             "<location>server</location>"))
    engine = await started(home, ManualClock(T0))
    await engine.handle_line(alert_line("1.1", agent_id="001", srcip="1.2.3.4"))
    await engine.drain()
    [argv] = argvs(home)
    assert argv[6:] == ["(web-01)", "any->/var/log/secure", "-"]
    await engine.stop()


async def test_g4_same_path_and_ip_is_not_run_again_and_restarts(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    home = ossec_home(tmp_path)
    engine = await started(home, clock)
    await engine.handle_line(alert_line("1.1", srcip="1.2.3.4"))
    await engine.drain()
    clock.advance(30)
    await engine.handle_line(alert_line("1.2", srcip="1.2.3.4"))
    await engine.drain()
    assert len(argvs(home)) == 1
    [block] = engine.blocks.values()
    assert block.key == f"{home / 'active-response' / 'bin' / 'host-deny.sh'}1.2.3.4"
    assert block.started_at == T0 + 30
    await engine.stop()


async def test_g5_two_responses_without_srcip_dedupe_on_dash(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    home = ossec_home(tmp_path, expect="")
    engine = await started(home, clock)
    await engine.handle_line(alert_line("1.1", srcip=None, level=7))
    await engine.handle_line(alert_line("1.2", srcip=None, rule_id="100", level=2))
    await engine.drain()
    assert len(argvs(home)) == 1
    assert argvs(home)[0][3] == "-"
    await engine.stop()


async def test_d6_expect_srcip_gates_alerts_without_it(tmp_path: Path) -> None:
    home = ossec_home(tmp_path, expect="srcip")
    engine = await started(home, ManualClock(T0))
    await engine.handle_line(alert_line("1.1", srcip=None))
    await engine.drain()
    assert argvs(home) == []
    await engine.stop()


async def test_g6_expiry_runs_the_delete_argv(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    home = ossec_home(tmp_path, timeout=5)
    engine = await started(home, clock)
    await engine.handle_line(alert_line("1700000000.5", srcip="1.2.3.4"))
    await engine.drain()
    clock.advance(6)
    await wait_for(lambda: len(argvs(home)) == 2)
    add, delete = argvs(home)
    assert delete[1] == "delete"
    assert delete[2:] == add[2:]
    await wait_for(lambda: not engine.blocks)
    await engine.stop()

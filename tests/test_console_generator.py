"""The demo's alert generator, and the private demo home it writes into."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import stat
import sys
from pathlib import Path

import pytest

from arconsole.alerts.jsonreader import decode_alert_line
from arconsole.commands.demo import DemoError, prepare_home, sample_conf_dir, shorten_timeouts
from arconsole.console.generator import AlertGenerator

TEST_NETS = [ipaddress.ip_network(n) for n in
             ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")]


def generate(tmp_path: Path, beats: int = 400, seed: int = 7) -> list[bytes]:
    path = tmp_path / "alerts.json"
    generator = AlertGenerator(path, white_listed=["192.0.2.250"], seed=seed,
                               clock=lambda: 1_700_000_000.5)
    for _ in range(beats):
        generator.write(generator.burst())
    return path.read_bytes().splitlines()


def test_alerts_are_real_alerts_json_lines(tmp_path: Path) -> None:
    lines = generate(tmp_path)
    alerts = [decode_alert_line(line) for line in lines]
    rules = {a.rule_id for a in alerts}
    assert {"5710", "5712", "31151", "5501"} <= rules | {"5763"} and "5712" in rules
    assert {a.agent_id for a in alerts} == {"000", "001", "002"}
    assert len({a.alert_id for a in alerts}) == len(alerts)
    for a in alerts:
        if a.srcip is not None:
            assert any(ipaddress.ip_address(a.srcip) in net for net in TEST_NETS)
        assert json.loads(a.raw)["rule"]["level"] == a.level


def test_story_beats_brute_force_repeat_offenders_white_list(tmp_path: Path) -> None:
    alerts = [decode_alert_line(line) for line in generate(tmp_path)]
    brute = [a for a in alerts if a.rule_id in ("5712", "5763")]
    by_ip: dict[str, int] = {}
    for a in brute:
        by_ip[a.srcip or "-"] = by_ip.get(a.srcip or "-", 0) + 1
    assert "192.0.2.250" in by_ip  # the white-listed source trips the rule too
    assert max(count for ip, count in by_ip.items() if ip != "192.0.2.250") >= 3  # repeats
    # A burst: failures from one address right before its correlation alert.
    index = next(i for i, a in enumerate(alerts) if a.rule_id == "5712" and i >= 2
                 and alerts[i - 1].rule_id in ("5710", "5716"))
    assert alerts[index - 1].srcip == alerts[index].srcip


def test_same_seed_same_stream(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert generate(tmp_path / "a", 50) == generate(tmp_path / "b", 50)


def test_shorten_timeouts() -> None:
    conf = ("<timeout>600</timeout><timeout> 15 </timeout>"
            "<repeated_offenders>30,60,120</repeated_offenders>")
    assert shorten_timeouts(conf, 40) == (
        "<timeout>40</timeout><timeout> 15 </timeout>"
        "<repeated_offenders>1,1,1</repeated_offenders>")
    assert "<repeated_offenders>5,5,5</repeated_offenders>" in shorten_timeouts(conf, 300)
    assert "<repeated_offenders>2,10,10</repeated_offenders>" in shorten_timeouts(
        conf.replace("30,60,120", "2,60,120"), 600)


def test_demo_home_is_a_private_runnable_copy(tmp_path: Path) -> None:
    home = prepare_home(tmp_path / "demo", max_timeout=30)
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert (home / "etc" / "arconsole-demo").is_file()
    assert (home / "logs" / "alerts" / "alerts.json").is_file()
    launcher = home / "active-response" / "bin" / "firewall-drop"
    assert launcher.read_text().splitlines()[0] == f"#!{sys.executable} -IS"
    assert os.access(launcher, os.X_OK)
    conf = (home / "etc" / "ossec.conf").read_text()
    timeouts = [int(t) for t in re.findall(r"<timeout>\s*(\d+)", conf)]
    assert timeouts and max(timeouts) <= 30
    # The repository's sample is untouched.
    original = (sample_conf_dir() / "active-response" / "bin" / "firewall-drop").read_text()
    assert original.splitlines()[0] == "#!/usr/bin/env -S python3 -S"
    # An earlier demo home is reused as it is; any other non-empty directory is refused.
    (home / "logs" / "marker").write_text("kept")
    assert prepare_home(home) == home and (home / "logs" / "marker").exists()
    other = tmp_path / "other"
    other.mkdir()
    (other / "precious").write_text("x")
    with pytest.raises(DemoError, match="not a demo home"):
        prepare_home(other)


async def test_generator_stops_with_its_reason_when_the_file_cannot_be_appended(
        tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    generator = AlertGenerator(tmp_path / "file" / "alerts.json", seed=1)
    reason = await generator.run(1000.0, seconds=5.0)
    assert reason == f"cannot append to {tmp_path}/file/alerts.json: Not a directory"
    assert generator.written == 0


async def test_the_demo_says_why_its_alerts_stopped(tmp_path: Path) -> None:
    import asyncio
    from functools import partial

    from console_support import console, wait_for

    from arconsole.commands.demo import say_why_alerts_stopped

    async with console(tmp_path) as c:
        (tmp_path / "file").write_text("")
        generator = AlertGenerator(tmp_path / "file" / "alerts.json", seed=1)
        c.app.clear_notifications()
        feed = asyncio.create_task(generator.run(1000.0, seconds=5.0))
        feed.add_done_callback(partial(say_why_alerts_stopped, c.app.main))
        await wait_for(c.pilot, lambda: bool(c.app._notifications), what="the toast")
        (toast,) = [n.message for n in c.app._notifications]
        assert toast == f"demo alerts stopped: cannot append to {tmp_path}/file/alerts.json: " \
                        "Not a directory"
        said = [line for line in c.app.main.event_log.lines if "demo alerts stopped" in line]
        assert len(said) == 1 and " error   demo alerts stopped: cannot append" in said[0]

"""An alert whose dstuser arconsole refuses as crafted is counted and told, as a srcip is.

Wazuh's analysisd warns (1272, "Invalid username '%s'. Possible logging attack.", spec 6.1)
each time it skips a response for one, and checks the srcip too (1271) before it skips; OSSEC's
analysisd does the same for the responses whose command expects a user. `arconsole` skipped
those responses silently. Now each refusal is counted (`status` refused_crafted_dstuser,
beside refused_crafted_srcip), the first is told as a warning, then at most one every ten
minutes with the running count, the attacker's text rendered literally and cut short.
"""

from __future__ import annotations

from pathlib import Path

from arconsole.engine.clock import ManualClock
from arconsole.engine.crafted_tell import CRAFTED_TELL_EVERY
from arconsole.engine.engine import Engine
from arconsole.engine.requests import status_of
from arconsole.safetext import literal
from tests.engine_support import T0, alert_line, records, started
from tests.test_crafted_srcip_told import wazuh_home
from tests.test_truthful_messages import run_dry_until

HOSTILE_USER = "CORP\\admin\x1b]0;pwned\x07[bold red]x[/]\u202e"


def told(engine: Engine, field: str = "dstuser") -> list[str]:
    return [event.message for event in engine.store.list_events(1000)
            if event.message.startswith(f"{field} '") and "refused as crafted" in event.message]


async def test_a_crafted_dstuser_is_counted_and_told_once_per_interval(tmp_path: Path) -> None:
    home = wazuh_home(tmp_path)
    clock = ManualClock(T0)
    engine = await started(home, clock)
    try:
        await engine.handle_line(alert_line("1.1", dstuser=HOSTILE_USER))
        await engine.handle_line(alert_line("1.2", dstuser="-rf"))
        await engine.handle_line(alert_line("1.3", dstuser="root"))  # fires
        await engine.drain()
        status = status_of(engine)
        assert status["refused_crafted_dstuser"] == 2
        assert status["refused_crafted_srcip"] == 0
        [message] = told(engine)  # the second: counted, not told
        assert message.startswith(f"dstuser '{literal(HOSTILE_USER)}' refused as crafted"), \
            message
        assert "1 refused so far" in message and "alert 1.1" in message, message
        assert "(status: refused_crafted_dstuser)" in message
        assert not any(char in message for char in "\x1b\x07\u202e")
        assert "1272" in message  # a form Wazuh's own check refuses, as Wazuh says
        clock.advance(CRAFTED_TELL_EVERY)
        await engine.handle_line(alert_line("1.4", dstuser="-rf"))
        [latest] = [m for m in told(engine) if "3 refused so far" in m]
        assert "starts with '-'" in latest and "1272" not in latest, latest
    finally:
        await engine.stop()
    assert [run["stdin"].count("root") for run in records(home)] == [1]


async def test_wazuh_warns_for_both_fields_of_one_alert(tmp_path: Path) -> None:
    """analysisd checks dstuser and srcip and warns for each before skipping (6.1)."""
    engine = await started(wazuh_home(tmp_path))
    try:
        await engine.handle_line(alert_line("1.1", dstuser="a b", srcip="1.2.3.4;id"))
        await engine.drain()
        status = status_of(engine)
        assert (status["refused_crafted_dstuser"], status["refused_crafted_srcip"]) == (1, 1)
        assert len(told(engine, "dstuser")) == 1 and len(told(engine, "srcip")) == 1
    finally:
        await engine.stop()


async def test_a_long_dstuser_is_cut_short(tmp_path: Path) -> None:
    engine = await started(wazuh_home(tmp_path))
    try:
        await engine.handle_line(alert_line("1.1", dstuser="a;" * 1_000))
        [message] = told(engine)
        assert len(message) < 600 and "2,000 characters" in message, message
    finally:
        await engine.stop()


async def test_ossec_counts_it_only_for_responses_that_expect_a_user(tmp_path: Path) -> None:
    from tests.test_engine_argv import argvs, ossec_home
    from tests.test_engine_argv import started as ossec_started

    # Two host-deny responses bind rule 100; their command expects a user.
    users = ossec_home(tmp_path / "user", expect="user")
    engine = await ossec_started(users, ManualClock(T0))
    try:
        await engine.handle_line(alert_line("1.1", rule_id="100", dstuser="a$b"))
        await engine.drain()
        assert status_of(engine)["refused_crafted_dstuser"] == 1  # once per alert
        [message] = told(engine)
        assert "its responses that expect a user of alert 1.1" in message, message
        assert "ossec-analysisd refuses it too" in message and "Wazuh" not in message
    finally:
        await engine.stop()
    assert argvs(users) == []
    # A command that expects srcip only: OSSEC never looks at the user, the response runs.
    srcips = ossec_home(tmp_path / "srcip")
    engine = await ossec_started(srcips, ManualClock(T0))
    try:
        await engine.handle_line(alert_line("1.1", rule_id="100", dstuser="a$b"))
        await engine.drain()
        assert status_of(engine)["refused_crafted_dstuser"] == 0 and told(engine) == []
    finally:
        await engine.stop()
    # (the second response is the same block key: execd runs it once)
    assert [argv[1:4] for argv in argvs(srcips)] == [["add", "-", "203.0.113.7"]]


def test_arconsole_run_warns_at_the_default_level(tmp_path: Path) -> None:
    home = wazuh_home(tmp_path)
    alerts = home / "logs" / "alerts" / "alerts.json"
    alerts.write_bytes(alert_line("1.1", dstuser="CORP\\admin") + b"\n")
    log = home / "run.log"
    run_dry_until(home, log, "--from-start",
                  until=lambda text: "refused as crafted" in text)
    [line] = [line for line in log.read_text().splitlines() if "refused as crafted" in line]
    assert " arconsole warning: dstuser 'CORP\\admin' refused as crafted" in line, line

"""An alert whose srcip arconsole refuses as crafted is told at the default log level.

Wazuh's analysisd warns (1271, "Invalid IP Address '%s'. Possible logging attack.", spec 6.1)
each time it skips a response for one; `arconsole run` logged it only at debug level (an alert
that fired nothing). Now each refusal is counted (`status` refused_crafted_srcip), the first is
told as a warning, then at most one every ten minutes with the running count, the attacker's
text rendered literally and cut short. Only alerts that had a response to skip count.
"""

from __future__ import annotations

from pathlib import Path

from arconsole.engine.clock import ManualClock
from arconsole.engine.crafted_tell import CRAFTED_TELL_EVERY
from arconsole.engine.engine import Engine
from arconsole.engine.requests import status_of
from arconsole.safetext import literal
from tests.engine_support import (
    T0,
    alert_line,
    command,
    make_home,
    recorder,
    records,
    response,
    started,
)
from tests.test_truthful_messages import run_dry_until

HOSTILE = "1.2.3.4;\x1b]0;pwned\x07[bold red]x[/]\u202e"


def told(engine: Engine) -> list[str]:
    return [event.message for event in engine.store.list_events(1000)
            if "refused as crafted" in event.message]


def wazuh_home(tmp_path: Path) -> Path:
    return make_home(tmp_path, [command("firewall-drop")],
                     [response("firewall-drop", level=5, timeout=60)],
                     {"firewall-drop": recorder()})


async def test_a_crafted_srcip_is_counted_and_told_once_per_interval(tmp_path: Path) -> None:
    home = wazuh_home(tmp_path)
    clock = ManualClock(T0)
    engine = await started(home, clock)
    try:
        await engine.handle_line(alert_line("1.1", srcip=HOSTILE))
        await engine.handle_line(alert_line("1.2", srcip="0xa.0.0.1"))
        await engine.handle_line(alert_line("1.3", srcip="203.0.113.7"))  # fires
        await engine.drain()
        assert status_of(engine)["refused_crafted_srcip"] == 2
        [message] = told(engine)  # the second: counted, not told
        assert "1 refused so far" in message and "alert 1.1" in message, message
        assert literal(HOSTILE) in message
        assert not any(char in message for char in "\x1b\x07\u202e")
        assert "1271" in message  # a form Wazuh's own check refuses, as Wazuh says
        clock.advance(CRAFTED_TELL_EVERY - 1)
        await engine.handle_line(alert_line("1.4", srcip="10."))
        assert len(told(engine)) == 1
        clock.advance(1)  # ten minutes after the first: told again, with the count
        await engine.handle_line(alert_line("1.5", srcip="10."))
        messages = told(engine)
        [latest] = [m for m in messages if "4 refused so far" in m]
        assert len(messages) == 2 and "hosts_access pattern" in latest, messages
        assert status_of(engine)["refused_crafted_srcip"] == 4
    finally:
        await engine.stop()
    assert [run["stdin"].count("203.0.113.7") for run in records(home)] == [1]


async def test_an_alert_that_binds_nothing_is_not_counted(tmp_path: Path) -> None:
    engine = await started(wazuh_home(tmp_path))
    try:
        await engine.handle_line(alert_line("1.1", srcip=HOSTILE, level=3))  # below level 5
        await engine.drain()
        assert status_of(engine)["refused_crafted_srcip"] == 0
        assert told(engine) == []
    finally:
        await engine.stop()


async def test_a_long_srcip_is_cut_short(tmp_path: Path) -> None:
    engine = await started(wazuh_home(tmp_path))
    try:
        await engine.handle_line(alert_line("1.1", srcip="1;" * 1_000))
        [message] = told(engine)
        assert len(message) < 600 and "2,000 characters" in message, message
    finally:
        await engine.stop()


async def test_ossec_counts_a_host_name_once_per_alert(tmp_path: Path) -> None:
    from tests.test_engine_argv import ossec_home
    from tests.test_engine_argv import started as ossec_started

    home = ossec_home(tmp_path)  # two host-deny responses bind rule 100 at level 10
    clock = ManualClock(T0)
    engine = await ossec_started(home, clock)
    try:
        await engine.handle_line(alert_line("1.1", rule_id="100", srcip="evil.example.net"))
        await engine.drain()
        assert status_of(engine)["refused_crafted_srcip"] == 1
        [message] = told(engine)
        assert "'evil.example.net'" in message and "host name" in message, message
        # OSSEC skips only the responses whose command expects a srcip: the words say so.
        assert "its responses that expect a srcip of alert 1.1" in message, message
        clock.advance(CRAFTED_TELL_EVERY)
        await engine.handle_line(alert_line("1.2", rule_id="100", srcip="1.2.3.4;id"))
        [latest] = [m for m in told(engine) if "2 refused so far" in m]
        assert "ossec-analysisd refuses it too" in latest and "Wazuh" not in latest, latest
    finally:
        await engine.stop()


def test_arconsole_run_warns_at_the_default_level(tmp_path: Path) -> None:
    home = wazuh_home(tmp_path)
    alerts = home / "logs" / "alerts" / "alerts.json"
    alerts.write_bytes(alert_line("1.1", srcip="0xa.0.0.1") + b"\n")
    log = home / "run.log"
    run_dry_until(home, log, "--from-start",
                  until=lambda text: "refused as crafted" in text)
    [line] = [line for line in log.read_text().splitlines() if "refused as crafted" in line]
    assert " arconsole warning: srcip '0xa.0.0.1' refused as crafted" in line, line
    assert "read 10.0.0.1" in line

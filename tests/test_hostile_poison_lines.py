"""A line that makes any stage after the reader raise is a bad line, not a stalled engine.

The follower is started again after the last line handled when something raises: a line
that raises every time it is handled stops the engine's intake for good (a log line a
second, no alert after it ever decided). Python's `int()` refuses more than 4300 digits
(ValueError), and an alert's rule id, agent id and an AR log alert's trigger level are
attacker text that the decision and the fleet turn into numbers. Real `arconsole run` on a
real file, a real response script.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.engine_support import alert_line, command, make_home, recorder, response
from tests.fleet_support import API_AGENTS
from tests.hostile_support import REPO, blocked, run_until_blocked

DIGITS = "9" * 5000  # past int()'s 4300


def edited(change: Callable[[dict[str, Any]], None]) -> bytes:
    document = json.loads(alert_line("1.1", srcip="203.0.113.66"))
    change(document)
    return json.dumps(document, separators=(",", ":")).encode()


def ar_line_in_another_layout() -> bytes:
    """A rule-651 line (keys in another order than analysisd's, so the fleet reads it with its
    checked reading) whose trigger rule's level is 5000 digits."""
    trigger = {"rule": {"level": DIGITS, "id": "5710", "groups": ["syslog"]},
               "data": {"srcip": "198.51.100.7"}}
    return json.dumps({
        "rule": {"id": "651", "level": 3, "description": "Host Blocked",
                 "groups": ["ossec", "active_response"]},
        "timestamp": "2023-11-14T22:13:22.000+0000", "agent": {"name": "web-02", "id": "002"},
        "id": "1.3", "location": "/var/ossec/logs/active-responses.log",
        "data": {"srcip": "198.51.100.7", "command": "add",
                 "origin": {"module": "wazuh-execd", "name": "node01"},
                 "parameters": {"alert": trigger, "extra_args": [],
                                "program": "active-response/bin/firewall-drop"}},
    }, separators=(",", ":")).encode()


POISON = {
    "rule-id": edited(lambda d: d["rule"].update(id=DIGITS)),
    "agent-id": edited(lambda d: d["agent"].update(id=DIGITS)),
    "ar-trigger-level": ar_line_in_another_layout(),
}


@pytest.mark.parametrize("name", list(POISON))
def test_the_engine_skips_the_line_and_decides_the_next(tmp_path: Path, name: str) -> None:
    home = make_home(tmp_path, [command("rec", timeout_allowed=False)],
                     [response("rec", level=5)], {"rec": recorder()})
    path = home / "logs" / "alerts" / "alerts.json"
    path.write_bytes(POISON[name] + b"\n" + alert_line("1.2", srcip="198.51.100.2") + b"\n")
    agents = home / "agents.json"  # the agent directory a local response is routed with
    agents.write_text(json.dumps(API_AGENTS))
    text = run_until_blocked(
        home, "198.51.100.2", "--from-start", "--agents", str(agents), "--agent-transport",
        f"wazuh-queue={home / 'queue' / 'alerts' / 'ar'}", what="the line after the poisoned one")
    # Decided (a nonsense id is only that) or refused as a bad line, and never again.
    assert "198.51.100.2" in blocked(home), text[-3000:]
    assert "starting again" not in text and "Traceback" not in text, text[-3000:]
    assert text.count("alert 1.2 ") == 1, text[-3000:]


def test_explain_decides_each_line_without_a_traceback(tmp_path: Path) -> None:
    conf = tmp_path / "ossec.conf"
    conf.write_text("<ossec_config><command><name>firewall-drop</name><executable>"
                    "firewall-drop</executable></command><active-response><command>"
                    "firewall-drop</command><location>local</location><level>5</level>"
                    "</active-response></ossec_config>")
    alerts = tmp_path / "alerts.json"
    alerts.write_bytes(b"\n".join(POISON.values()) + b"\n")
    done = subprocess.run(
        [sys.executable, "-m", "arconsole", "explain", "--format", "jsonl", str(conf),
         str(alerts)], capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)})
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.returncode in (0, 1) and len(done.stdout.splitlines()) == len(POISON)


def test_an_agent_reporting_a_poisoned_version_stalls_nothing(tmp_path: Path) -> None:
    """A compromised agent chooses the version it reports (Wazuh's API gives it as is): one
    of 5000 digits broke every delivery to it, and with it the follower, for good."""
    home = make_home(tmp_path, [command("rec", timeout_allowed=False)],
                     [response("rec", level=5)], {"rec": recorder()})
    agents = home / "agents.json"
    agents.write_text(json.dumps([
        {"id": "001", "name": "web-01", "status": "active", "version": f"Wazuh v{DIGITS}.1"},
        {"id": "002", "name": "db-01", "status": "active", "version": "Wazuh v4.14.7"}]))
    path = home / "logs" / "alerts" / "alerts.json"
    path.write_bytes(alert_line("1.1", agent_id="001", srcip="203.0.113.9") + b"\n"
                     + alert_line("1.2", agent_id="000", srcip="198.51.100.2") + b"\n")
    text = run_until_blocked(
        home, "198.51.100.2", "--from-start", "--agents", str(agents), "--agent-transport",
        f"wazuh-queue={home / 'queue' / 'alerts' / 'ar'}",
        what="the manager's own alert after the agent's")
    assert blocked(home) == ["198.51.100.2"], text[-3000:]
    assert "starting again" not in text and "Traceback" not in text, text[-3000:]


@pytest.mark.parametrize("level", [DIGITS, "²", "٣"],
                         ids=["5000-digits", "superscript", "arabic-indic"])
def test_a_poisoned_trigger_level_reads_alike_in_analysisd_layout(level: str) -> None:
    """In the layout analysisd writes (the fast AR reading's), a trigger level that is digits
    to `str.isdigit` but not to `int()` (5000 digits, a superscript, an Arabic-Indic digit)
    must not raise where the intake's exact reading decides the line: the line's layout
    decides speed, never outcome. The trigger then binds nothing (no rule of that level)."""
    from arconsole.alerts.ar_lines import read_ar_line
    from arconsole.alerts.jsonreader import decode_alert_line
    from bench.fleet import ar_alert_wazuh

    line = ar_alert_wazuh(1)
    assert line.count(b'"level":"5"') == 1  # the stringified trigger's level
    poisoned = line.replace(b'"level":"5"', b'"level":' + json.dumps(level).encode())
    read = read_ar_line(poisoned)
    assert read is not None
    alert, reading = read
    assert alert == decode_alert_line(poisoned)
    assert reading.program.endswith("/firewall-drop") and reading.trigger is None

"""OSSEC looks a `defined-agent` response's `<agent_id>` up by its text; arconsole does too.

OSSEC's analysisd passes the `<agent_id>` text to remoted, which finds the agent in client.keys
by its id string (ossec-hids `OS_IsAllowedID`: a hash of the ids as written), so `1` is not
the agent manage_agents registered as `001` (remoted logs 1320 "Agent '1' not found." and runs
nothing). Wazuh atoi()s the text (spec 3.1), so `1` is agent 001 there. arconsole normalised
the text in both flavours and, under OSSEC, sent to `001` what OSSEC sends to `1`. Now each
flavour targets what its daemon does, and `explain` and `check` say so.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from test_config_support import ar, load, only

from arconsole.config.diagnostics import Severity
from arconsole.config.model import Flavour
from arconsole.engine.clock import ManualClock
from arconsole.engine.events import Undelivered
from tests.engine_support import T0, alert_line, make_home, new_engine
from tests.test_engine_argv import ARGV_RECORDER
from tests.test_explain_crafted import run_explain


def home_with(tmp_path: Path, agent_ids: list[str]) -> Path:
    commands = ["  <command><name>host-deny</name><executable>host-deny.sh</executable>"
                "<expect>srcip</expect><timeout_allowed>yes</timeout_allowed></command>"]
    responses = [
        "  <active-response><command>host-deny</command><location>defined-agent</location>"
        f"<agent_id>{agent_id}</agent_id><level>6</level><timeout>600</timeout>"
        "</active-response>"
        for agent_id in agent_ids
    ]
    home = make_home(tmp_path, commands, responses)
    script = home / "active-response" / "bin" / "host-deny.sh"
    script.write_text(ARGV_RECORDER.format(python=sys.executable, home=str(home)))
    script.chmod(0o755)
    return home


@pytest.mark.parametrize(("flavour", "targets"), [
    ("ossec", [["1"], ["001"], ["0032"]]),
    ("wazuh", [["001"], ["001"], ["032"]]),
])
def test_explain_targets_the_agent_the_daemon_looks_up(
    tmp_path: Path, flavour: str, targets: list[list[str]]
) -> None:
    home = home_with(tmp_path, ["1", "001", "0032"])
    alerts = home / "alerts.json"
    alerts.write_bytes(alert_line("1.1", srcip="203.0.113.7") + b"\n")
    done = run_explain(home / "etc" / "ossec.conf", alerts, "--format", "jsonl",
                       "--flavour", flavour)
    assert done.returncode == 0, done.stderr
    [obj] = [json.loads(text) for text in done.stdout.splitlines()]
    responses = obj["responses"]
    assert [r["targets"] for r in responses] == targets
    reasons = [" | ".join(r["reasons"]) for r in responses]
    if flavour == "ossec":
        assert "only an agent registered as '1' gets it, not one registered as '001' " \
            "(remoted logs \"Agent '1' not found.\" (1320) when none is)" in reasons[0], reasons
        assert "1320" not in reasons[1]  # written as client.keys writes it: no surprise
        assert "registered as '0032'" in reasons[2]
    else:
        assert not any("1320" in reason for reason in reasons), reasons


async def test_the_ossec_engine_routes_to_the_id_as_written(tmp_path: Path) -> None:
    home = home_with(tmp_path, ["1", "001"])
    engine = new_engine(home, ManualClock(T0), flavour=Flavour.OSSEC)
    await engine.start(follow=False)
    subscription = engine.bus.subscribe()
    try:
        await engine.handle_line(alert_line("1.1", srcip="203.0.113.7"))
        await engine.drain()
        events = subscription.drain()
    finally:
        await engine.stop()
    undelivered = [e for e in events if isinstance(e, Undelivered)]
    assert sorted(e.target for e in undelivered) == ["001", "1"]


def test_check_warns_about_an_id_written_otherwise_than_client_keys() -> None:
    block = ar("<command>firewall-drop</command>", "<location>defined-agent</location>",
               "<agent_id>32</agent_id>", "<level>5</level>")
    config = load(block, flavour=Flavour.OSSEC)
    warning = only(config, "AR-AGENT-ID")
    assert warning.severity is Severity.WARNING
    assert warning.message == (
        "<agent_id>32</agent_id> reaches only an agent registered as '32': OSSEC's remoted "
        "looks the id up as written (agent 032, as manage_agents registers it, gets nothing: "
        "remoted logs \"Agent '32' not found.\" (1320))")
    assert warning.hint == "write the id as client.keys has it, e.g. 032"
    written = load(block.replace(">32<", ">032<"), flavour=Flavour.OSSEC)
    assert [d for d in written.diagnostics if d.code == "AR-AGENT-ID"] == []
    wazuh = load(block, flavour=Flavour.WAZUH)
    assert [d for d in wazuh.diagnostics if d.code == "AR-AGENT-ID"] == []


def test_a_reload_from_1_to_001_is_a_change_in_ossec_only() -> None:
    from arconsole.config.diff import diff_configs

    block = ar("<command>firewall-drop</command>", "<location>defined-agent</location>",
               "<agent_id>1</agent_id>", "<level>5</level>")
    rewritten = block.replace(">1<", ">001<")
    ossec = diff_configs(load(block, flavour=Flavour.OSSEC),
                         load(rewritten, flavour=Flavour.OSSEC))
    assert [change.fields for change in ossec.changed] == [("agent",)]
    wazuh = diff_configs(load(block), load(rewritten))
    assert wazuh.empty  # Wazuh reads both as agent 001

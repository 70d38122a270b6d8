"""What arconsole tells an operator is true, precise and said once (the truth2 sweep).

Each test pins one message that used to be wrong, vague or redundant, by its exact text or by
the property that was missing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from arconsole.engine.options import Mode

REPO = Path(__file__).resolve().parent.parent


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "arconsole", *args], capture_output=True,
                          text=True, timeout=60, check=False, cwd=REPO)


def test_run_help_says_what_every_mode_does() -> None:
    """`--mode` offered observe without a word on what it does."""
    result = run_cli("run", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())  # argparse wraps the help
    for mode in Mode:
        assert f"{mode.value}: " in text, mode
    assert "observe: Wazuh's own execd runs the responses" in text


def alert_json(rule_id: str, level: int = 5) -> str:
    return json.dumps({
        "timestamp": "2024-01-01T00:00:00.000+0000",
        "rule": {"level": level, "description": "t", "id": rule_id, "groups": ["sshd"]},
        "agent": {"id": "001", "name": "web"}, "id": "1.1",
        "data": {"srcip": "203.0.113.9"}, "location": "/var/log/auth.log"})


def test_explain_text_counts_agree_and_a_block_without_command_is_named_so(
    tmp_path: Path,
) -> None:
    """The header said '2 <active-response> block(s)', a block without <command> was labelled
    '#1 0' (its empty name plus timeout 0), the summary counted an unreadable line as an alert
    as well ('1 alert(s), 1 unreadable' for one line), and a rules_id list read exactly as
    written still said '(read as 5710)'."""
    conf = tmp_path / "ossec.conf"
    conf.write_text(
        "<ossec_config><global><white_list>10.0.0.1</white_list></global>"
        "<command><name>firewall-drop</name><executable>firewall-drop</executable>"
        "<timeout_allowed>yes</timeout_allowed></command>"
        "<active-response><repeated_offenders>30</repeated_offenders></active-response>"
        "<active-response><command>firewall-drop</command><location>local</location>"
        "<rules_id>5710</rules_id></active-response></ossec_config>")
    alerts = tmp_path / "alerts.json"
    alerts.write_text(alert_json("5712") + "\n{not json\n")
    done = run_cli("explain", "--format", "text", str(conf), str(alerts))
    assert done.returncode == 1, done.stderr
    out = done.stdout
    assert out.startswith(f"{conf}: 2 <active-response> blocks, flavour wazuh, "
                          "1 white-list entry\n")
    assert "  -  #1 (no <command>) (line 1): never fires: no <command>/<location>" in out
    assert "  -  #2 firewall-drop0 (line 1): not bound: rule 5712 is not in " \
        "<rules_id>5710</rules_id>\n" in out
    assert "\n1 alert, 1 unreadable; fired: nothing\n" in out

"""`arconsole check` on a Wazuh manager's own HOME/etc/ossec.conf routing responses to agents:
with `--agent-transport` it gives `run`'s double-delivery warning (same text), without it a
note that this matters when arconsole delivers too; other files and server-only routes get
nothing. Real subprocesses; the JSON keeps its fields and adds `agent_transport` and
`double_delivery`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from arconsole.config.double_delivery import double_delivery_warning
from arconsole.config.loader import load_config

REPO = Path(__file__).resolve().parents[1]

MANAGER = """<ossec_config>
  <command><name>firewall-drop</name><executable>firewall-drop</executable>
    <timeout_allowed>yes</timeout_allowed></command>
  <command><name>host-deny</name><executable>host-deny</executable>
    <timeout_allowed>yes</timeout_allowed></command>
  <active-response><command>host-deny</command><location>server</location>
    <rules_id>5712</rules_id><timeout>60</timeout></active-response>
  <active-response><command>firewall-drop</command><location>local</location>
    <rules_id>5710</rules_id><timeout>600</timeout></active-response>
</ossec_config>
"""


def check(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "arconsole", "check", *map(str, args)],
                          capture_output=True, text=True, timeout=60, cwd=REPO)


def manager_home(tmp_path: Path, text: str = MANAGER) -> Path:
    (tmp_path / "var" / "ossec" / "etc").mkdir(parents=True)
    config = tmp_path / "var" / "ossec" / "etc" / "ossec.conf"
    config.write_text(text)
    return config


def test_transport_given_warns_as_run_does(tmp_path: Path) -> None:
    config = manager_home(tmp_path)
    result = check(config, "--format", "json", "--agent-transport", "wazuh-queue")
    assert result.returncode == 0 and result.stderr == ""
    document = json.loads(result.stdout)
    for field in ("config", "flavour", "role", "role_detected", "diagnostics", "errors",
                  "warnings", "infos"):
        assert field in document  # the existing contract, unchanged
    assert document["agent_transport"] == "wazuh-queue" and document["double_delivery"] is True
    [double] = [d for d in document["diagnostics"] if d["code"] == "AR-DOUBLE-DELIVERY"]
    run_says = double_delivery_warning(load_config(config), config, config.parent.parent)
    assert double["severity"] == "warning" and double["message"] == run_says
    assert "firewall-drop600" in double["message"] and "host-deny60" not in double["message"]
    assert double["line"] == 8  # the first block routed to agents (line 8)
    assert document["warnings"] == sum(1 for d in document["diagnostics"]
                                       if d["severity"] == "warning")
    text = check(config, "--agent-transport", "wazuh-queue=/tmp/somewhere/ar")
    assert f"{config}:8:3: warning: {run_says} [AR-DOUBLE-DELIVERY]" in text.stdout


def test_without_transport_a_note_says_when_it_matters(tmp_path: Path) -> None:
    config = manager_home(tmp_path)
    document = json.loads(check(config, "--format", "json").stdout)
    assert document["agent_transport"] == "none" and document["double_delivery"] is False
    [double] = [d for d in document["diagnostics"] if d["code"] == "AR-DOUBLE-DELIVERY"]
    assert double["severity"] == "info"
    assert "if arconsole delivers too" in double["message"]
    assert "firewall-drop600" in double["message"]


def test_other_files_and_server_only_routes_get_nothing(tmp_path: Path) -> None:
    elsewhere = tmp_path / "arconsole.conf"
    elsewhere.write_text(MANAGER)
    document = json.loads(check(elsewhere, "--format", "json", "--agent-transport",
                                "wazuh-queue").stdout)
    assert document["double_delivery"] is False
    assert not [d for d in document["diagnostics"] if d["code"] == "AR-DOUBLE-DELIVERY"]
    # --home names HOME; the file is still not HOME/etc/ossec.conf: nothing.
    named = json.loads(check(elsewhere, "--format", "json", "--agent-transport",
                             "wazuh-queue", "--home", tmp_path).stdout)
    assert named["double_delivery"] is False
    server_only = manager_home(tmp_path / "s", MANAGER.replace("<location>local",
                                                               "<location>server"))
    document = json.loads(check(server_only, "--format", "json", "--agent-transport",
                                "wazuh-queue").stdout)
    assert document["double_delivery"] is False
    assert not [d for d in document["diagnostics"] if d["code"] == "AR-DOUBLE-DELIVERY"]


def test_bad_transport_is_a_usage_error(tmp_path: Path) -> None:
    config = manager_home(tmp_path)
    result = check(config, "--agent-transport", "carrier-pigeon")
    assert result.returncode == 2 and "unknown agent transport" in result.stderr
    assert "Traceback" not in result.stderr

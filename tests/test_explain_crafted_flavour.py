"""`arconsole explain` tells what the followed daemon does with a crafted srcip or dstuser.

Wazuh's analysisd checks both fields before every response of an alert and warns (1271/1272,
spec 6.1); OSSEC's (ossec-hids analysisd.c, spec 6.1 "OSSEC difference") checks a field only
for a response whose command expects it, with the same messages, and runs the others. The
reason used to say "Wazuh warns ... 1271" under `--flavour ossec` too.
Runs the real command on files in tmp_path.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_explain_crafted import run_explain

CONFIG = """<ossec_config>
  <command><name>firewall-drop</name><executable>firewall-drop</executable>
    <expect>srcip</expect><timeout_allowed>yes</timeout_allowed></command>
  <command><name>disable-account</name><executable>disable-account</executable>
    <expect>user</expect><timeout_allowed>yes</timeout_allowed></command>
  <command><name>notify</name><executable>notify</executable><expect></expect></command>
  <active-response><command>firewall-drop</command><location>local</location>
    <level>6</level><timeout>600</timeout></active-response>
  <active-response><command>disable-account</command><location>local</location>
    <level>6</level><timeout>600</timeout></active-response>
  <active-response><command>notify</command><location>local</location>
    <level>6</level></active-response>
</ossec_config>
"""


def alert(srcip: str, dstuser: str) -> str:
    return json.dumps({
        "timestamp": "2026-11-23T10:00:00.000+0000", "id": "1.1",
        "rule": {"level": 10, "id": "5712", "description": "x", "groups": ["sshd"]},
        "agent": {"id": "000", "name": "manager"}, "location": "/var/log/secure",
        "data": {"srcip": srcip, "dstuser": dstuser},
    })


def explained(tmp_path: Path, flavour: str, srcip: str, dstuser: str = "root") -> list[
        dict[str, object]]:
    (tmp_path / "ossec.conf").write_text(CONFIG)
    (tmp_path / "alerts.json").write_text(alert(srcip, dstuser) + "\n")
    done = run_explain(tmp_path / "ossec.conf", tmp_path / "alerts.json", "--format",
                       "jsonl", "--flavour", flavour)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    [obj] = [json.loads(text) for text in done.stdout.splitlines()]
    responses = obj["responses"]
    assert isinstance(responses, list)
    return responses


def reasons(response: dict[str, object]) -> str:
    found = response["reasons"]
    assert isinstance(found, list)
    return " | ".join(found)


def test_wazuh_warns_and_skips_every_response(tmp_path: Path) -> None:
    responses = explained(tmp_path, "wazuh", "1.2.3.4;id")
    assert [r["fires"] for r in responses] == [False, False, False]
    for response in responses:
        text = reasons(response)
        assert "Wazuh warns \"Invalid IP Address '1.2.3.4;id'. Possible logging attack. " \
            "(1271)\" and skips every response of the alert" in text, text


def test_ossec_warns_and_skips_only_the_response_that_expects_srcip(tmp_path: Path) -> None:
    firewall, account, notify = explained(tmp_path, "ossec", "1.2.3.4;id")
    assert [firewall["fires"], account["fires"], notify["fires"]] == [False, True, True]
    text = reasons(firewall)
    assert "ossec-analysisd warns \"Invalid IP Address '1.2.3.4;id'. Possible logging " \
        "attack. (1271)\" and skips this response (its command expects srcip" in text, text
    assert "Wazuh" not in text


def test_ossec_says_so_for_a_crafted_dstuser(tmp_path: Path) -> None:
    firewall, account, notify = explained(tmp_path, "ossec", "203.0.113.7", "a b")
    assert [firewall["fires"], account["fires"], notify["fires"]] == [True, False, True]
    text = reasons(account)
    assert "ossec-analysisd warns \"Invalid username 'a b'. Possible logging attack. " \
        "(1272)\" and skips this response (its command expects a user" in text, text
    assert "Wazuh" not in text


@pytest.mark.parametrize(("flavour", "who"), [("wazuh", "Wazuh"), ("ossec", "OSSEC")])
@pytest.mark.parametrize("srcip", ["0xa.0.0.1", "10.", "-10.0.0.1"])
def test_arconsoles_own_refusals_name_the_followed_daemon(
    tmp_path: Path, flavour: str, who: str, srcip: str
) -> None:
    text = reasons(explained(tmp_path, flavour, srcip)[0])
    assert f"stricter than {who}" in text, text
    other = "OSSEC" if who == "Wazuh" else "Wazuh"
    assert other not in text, text

"""AR log alerts read in one typed pass (`alerts/ar_lines.py`): the same Alert as the general
reader, the same fleet entry as the checked reading, and nothing for a line whose keys are
ambiguous between JSON readers.

`REAL_651` is a rule-651 line exactly as analysisd 4.14.7 wrote it in alerts.json during a run
of `../shared/tools/wazuh-4.14.7/start-lab` (agent 001's firewall-drop; only the pytest
temporary paths in `location` were replaced by the default ones). Everything in such a line is
the attacker's: a spoofed active-responses.log line on an agent becomes the same alert.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from arconsole.alerts.ar_lines import decode_json_line, read_ar_line, reading_of
from arconsole.alerts.jsonreader import decode_alert_line
from arconsole.alerts.model import Alert, AlertError
from arconsole.engine.fleet_table import checked_entry, read_ar_entry
from tests.engine_support import command, make_home, response, started

REAL_651 = (
    b'{"timestamp":"2026-12-03T15:06:07.123+0000","rule":{"level":3,"des'
    b'cription":"Host Blocked by firewall-drop Active Response","id":"65'
    b'1","firedtimes":1,"mail":false,"groups":["ossec","active_response"'
    b'],"pci_dss":["11.4"],"gpg13":["4.13"],"gdpr":["IV_35.7.d"],"nist_8'
    b'00_53":["SI.4"],"tsc":["CC6.1","CC6.8","CC7.2","CC7.3","CC7.4"]},"'
    b'agent":{"id":"001","name":"agent1"},"manager":{"name":"vm"},"id":"'
    b'1796310367.806","full_log":"2026/12/03 15:06:05 active-response/bi'
    b'n/firewall-drop: {\\"version\\":1,\\"origin\\":{\\"name\\":\\"node01\\",\\"'
    b'module\\":\\"wazuh-execd\\"},\\"command\\":\\"add\\",\\"parameters\\":{\\"ex'
    b'tra_args\\":[],\\"alert\\":{\\"timestamp\\":\\"2026-12-03T15:06:05.123+0'
    b'000\\",\\"rule\\":{\\"level\\":5,\\"description\\":\\"sshd: Attempt to log'
    b'in using a non-existent user\\",\\"id\\":\\"5710\\",\\"firedtimes\\":1,\\"'
    b'mail\\":false,\\"groups\\":[\\"syslog\\",\\"sshd\\",\\"authentication_fail'
    b'ed\\",\\"invalid_login\\"],\\"gdpr\\":[\\"IV_35.7.d\\",\\"IV_32.2\\"],\\"gpg'
    b'13\\":[\\"7.1\\"],\\"hipaa\\":[\\"164.312.b\\"],\\"nist_800_53\\":[\\"AU.14\\'
    b'",\\"AC.7\\",\\"AU.6\\"],\\"pci_dss\\":[\\"10.2.4\\",\\"10.2.5\\",\\"10.6.1\\"'
    b'],\\"tsc\\":[\\"CC6.1\\",\\"CC6.8\\",\\"CC7.2\\",\\"CC7.3\\"]},\\"agent\\":{\\"'
    b'id\\":\\"001\\",\\"name\\":\\"agent1\\"},\\"manager\\":{\\"name\\":\\"vm\\"},\\"'
    b'id\\":\\"1796310365.263\\",\\"full_log\\":\\"Dec  3 15:06:04 agent1 sshd'
    b'[4242]: Invalid user ke from 203.0.113.9 port 10013 ssh2\\",\\"prede'
    b'coder\\":{\\"program_name\\":\\"sshd\\",\\"timestamp\\":\\"Dec  3 15:06:04'
    b'\\",\\"hostname\\":\\"agent1\\"},\\"decoder\\":{\\"parent\\":\\"sshd\\",\\"nam'
    b'e\\":\\"sshd\\"},\\"data\\":{\\"srcip\\":\\"203.0.113.9\\",\\"srcport\\":\\"10'
    b'013\\",\\"srcuser\\":\\"ke\\"},\\"location\\":\\"/var/log/auth.log\\"},\\"pr'
    b'ogram\\":\\"active-response/bin/firewall-drop\\"}}","decoder":{"paren'
    b't":"ar_log_json","name":"ar_log_json"},"data":{"srcip":"203.0.113.'
    b'9","version":"1","origin":{"name":"node01","module":"wazuh-execd"}'
    b',"command":"add","parameters":{"extra_args":[],"alert":{"timestamp'
    b'":"2026-12-03T15:06:05.123+0000","rule":{"level":"5","description"'
    b':"sshd: Attempt to login using a non-existent user","id":"5710","f'
    b'iredtimes":"1","mail":"false","groups":["syslog","sshd","authentic'
    b'ation_failed","invalid_login"],"gdpr":["IV_35.7.d","IV_32.2"],"gpg'
    b'13":["7.1"],"hipaa":["164.312.b"],"nist_800_53":["AU.14","AC.7","A'
    b'U.6"],"pci_dss":["10.2.4","10.2.5","10.6.1"],"tsc":["CC6.1","CC6.8'
    b'","CC7.2","CC7.3"]},"agent":{"id":"001","name":"agent1"},"manager"'
    b':{"name":"vm"},"id":"1796310365.263","full_log":"Dec  3 15:06:04 a'
    b'gent1 sshd[4242]: Invalid user ke from 203.0.113.9 port 10013 ssh2'
    b'","predecoder":{"program_name":"sshd","timestamp":"Dec  3 15:06:04'
    b'","hostname":"agent1"},"decoder":{"parent":"sshd","name":"sshd"},"'
    b'data":{"srcip":"203.0.113.9","srcport":"10013","srcuser":"ke"},"lo'
    b'cation":"/var/log/auth.log"},"program":"active-response/bin/firewa'
    b'll-drop"}},"location":"/var/ossec/logs/active-responses.log"}'
)


def real() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(REAL_651)
    return document


def line_of(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def fast_alert(line: bytes) -> Alert:
    """The intake's decoding of `line`, which must have taken the one-pass reading."""
    alert = decode_json_line(line)
    assert reading_of(alert) is not None, "the one-pass reading did not vouch for the line"
    return alert


def test_the_real_651_is_read_in_one_pass_as_the_general_reader_reads_it() -> None:
    alert = fast_alert(REAL_651)
    assert alert == decode_alert_line(REAL_651)
    assert (alert.rule_id, alert.agent_id, alert.srcip) == ("651", "001", "203.0.113.9")
    assert "active_response" in alert.groups and "pci_dss_11.4," in alert.group_string
    entry = read_ar_entry(alert, 0.0)
    # The checked reading (the exact key check, then the lenient decode) says the same.
    assert entry is not None and entry == checked_entry(decode_alert_line(REAL_651), 0.0)
    assert (entry.agent, entry.program, entry.key, entry.command) == (
        "001", "firewall-drop", "203.0.113.9", "add")
    assert entry.trigger is not None and entry.trigger.rule_id == "5710"
    assert entry.trigger.level == 5  # a string in the line: its type given back
    # The trigger's compliance arrays in the order the line writes them (gdpr first).
    assert entry.trigger.group_string.startswith(
        "syslog,sshd,authentication_failed,invalid_login,gdpr_IV_35.7.d,")
    assert entry.trigger_timestamp == "2026-12-03T15:06:05.123+0000"


def variants() -> list[tuple[str, bytes]]:
    """Shapes a real AR line takes: other rules, keys, counters, array orders, a newline."""
    out: list[tuple[str, bytes]] = [("real", REAL_651), ("newline", REAL_651 + b"\n"),
                                    ("crlf", REAL_651 + b"\r\n")]
    for fired in (7, 1234):
        document = real()
        document["rule"]["firedtimes"] = fired
        document["data"]["parameters"]["alert"]["rule"]["firedtimes"] = str(fired)
        out.append((f"firedtimes {fired}", line_of(document)))
    document = real()
    document["rule"].update(id="652", description="Host Unblocked by firewall-drop Active "
                            "Response")
    document["data"]["command"] = "delete"
    out.append(("652 delete", line_of(document)))
    document = real()
    del document["data"]["srcip"]
    document["data"]["dstuser"] = "mallory"
    document["rule"].update(id="657", description="Active response: active-response/bin/"
                            "disable-account - add")
    document["data"]["parameters"]["program"] = "active-response/bin/disable-account"
    out.append(("657 user key", line_of(document)))
    document = real()
    rule = document["data"]["parameters"]["alert"]["rule"]
    arrays = {name: rule.pop(name) for name in ("gdpr", "gpg13", "hipaa", "nist_800_53",
                                                "pci_dss", "tsc")}
    rule.update(reversed(list(arrays.items())))  # the same arrays, the other way round
    out.append(("trigger arrays reversed", line_of(document)))
    document = real()
    document["data"]["parameters"]["alert"]["rule"]["mitre"] = {"id": ["T1110"]}
    out.append(("trigger with mitre", line_of(document)))
    document = real()
    del document["data"]["parameters"]["alert"]["rule"]
    out.append(("trigger without rule", line_of(document)))
    document = real()
    document["data"]["parameters"]["alert"]["rule"] = None
    out.append(("trigger rule null", line_of(document)))
    document = real()
    document["rule"]["groups"] = ["active_response", "ossec"]
    out.append(("own groups reordered", line_of(document)))
    return out


@pytest.mark.parametrize(("name", "line"), variants(), ids=[v[0] for v in variants()])
def test_each_shape_gives_the_general_alert_and_the_checked_entry(name: str, line: bytes
                                                                  ) -> None:
    alert = fast_alert(line)
    assert alert == decode_alert_line(line)
    assert read_ar_entry(alert, 0.0) == checked_entry(decode_alert_line(line), 0.0)


def test_the_reversed_trigger_arrays_bind_with_their_own_group_string() -> None:
    one, other = (read_ar_entry(fast_alert(line), 0.0)
                  for name, line in variants() if name in ("real", "trigger arrays reversed"))
    assert one is not None and other is not None
    assert one.trigger is not None and other.trigger is not None
    assert one.trigger.group_string != other.trigger.group_string
    assert sorted(one.trigger.group_string.split(",")) == sorted(
        other.trigger.group_string.split(","))


def test_lines_it_cannot_vouch_for_go_to_the_general_reader() -> None:
    """Spaces, an unknown key, a legacy line, a plain alert: the same result as before."""
    document = real()
    document["data"]["extra"] = "x"
    lines = [json.dumps(real()).encode(), line_of(document),
             b'{"timestamp":"2026-05-03T05:30:00.000+0000","rule":{"level":5,"description":'
             b'"sshd: x","id":"5710","groups":["sshd"]},"data":{"srcip":"203.0.113.9"}}']
    for line in lines:
        alert = decode_json_line(line)
        assert reading_of(alert) is None
        assert alert == decode_alert_line(line)
    assert read_ar_line(lines[0]) is None and read_ar_line(lines[1]) is None


def spoofed(name: str) -> bytes:
    """The real 651 with one key written twice or in another case: the first spelling (what
    Wazuh's cJSON and the agent's script read) says one thing, the last another."""
    text = REAL_651.decode()
    edits = {
        "command twice": ('"command":"add"', '"command":"delete","command":"add"'),
        "command recased": ('"command":"add"', '"Command":"delete","command":"add"'),
        "command with a NUL": ('"command":"add"', '"command\\u0000":"delete","command":"add"'),
        "program twice": ('"program":"active-response/bin/firewall-drop"}}',
                          '"program":"active-response/bin/host-deny",'
                          '"program":"active-response/bin/firewall-drop"}}'),
        "parameters recased": ('"parameters":{"extra_args":[],"alert":{"timestamp"',
                               '"PARAMETERS":{"program":"x"},'
                               '"parameters":{"extra_args":[],"alert":{"timestamp"'),
        "trigger rule id twice": ('"rule":{"level":"5",', '"rule":{"id":"1","level":"5",'),
        "trigger timestamp twice": ('"alert":{"timestamp":',
                                    '"alert":{"timestamp":"2020-01-01T00:00:00.000+0000",'
                                    '"timestamp":'),
        "trigger groups recased": ('"groups":["syslog"', '"Groups":["x"],"groups":["syslog"'),
        "rule level twice": ('"rule":{"level":3,', '"rule":{"level":15,"level":3,'),
        "rule groups recased": ('"groups":["ossec"', '"GROUPS":["x"],"groups":["ossec"'),
        "srcip twice": ('"data":{"srcip":"203.0.113.9",',
                        '"data":{"srcip":"10.0.0.1","srcip":"203.0.113.9",'),
        "agent id twice": ('"agent":{"id":"001","name":"agent1"},"manager":{"name":"vm"},"id":'
                           '"1796310367.806"',
                           '"agent":{"id":"002","id":"001","name":"agent1"},"manager":{"name":'
                           '"vm"},"id":"1796310367.806"'),
    }
    old, new = edits[name]
    assert text.count(old) >= 1
    at = text.rfind(old) if name.startswith("trigger") else text.find(old)
    return (text[:at] + new + text[at + len(old):]).encode()


SPOOFS = ["command twice", "command recased", "command with a NUL", "program twice",
          "parameters recased", "trigger rule id twice", "trigger timestamp twice",
          "trigger groups recased", "rule level twice", "rule groups recased", "srcip twice",
          "agent id twice"]


@pytest.mark.parametrize("name", SPOOFS)
def test_a_spoofed_line_with_ambiguous_keys_makes_no_entry(name: str) -> None:
    line = spoofed(name)
    assert read_ar_line(line) is None  # the one-pass reading never vouches for it
    try:
        alert = decode_json_line(line)
    except AlertError as error:  # a decision key (srcip, agent id): refused by the intake
        assert str(error).startswith("crafted: ")
        return
    assert reading_of(alert) is None
    with pytest.raises(AlertError, match=r"^crafted: "):  # a bad line: counted and skipped
        read_ar_entry(alert, 0.0)


async def test_the_engine_keeps_a_row_for_the_real_line_and_none_for_a_spoof(
        tmp_path: Path) -> None:
    home = make_home(tmp_path, [command("firewall-drop")],
                     [response("firewall-drop", rules_id="5710", timeout=600)])
    engine = await started(home)
    try:
        for name in SPOOFS:
            await engine.handle_line(spoofed(name) + b"\n")
        engine.fleet.flush()
        assert engine.fleet.table.rows == {}
        await engine.handle_line(REAL_651 + b"\n")
        row = engine.fleet.table.get("001", "firewall-drop", "203.0.113.9")
        assert row is not None and row.active
        assert (row.trigger_rule, row.timeout_min, row.timeout_max) == ("5710", 600, 600)
        assert len(engine.fleet.table.rows) == 1
    finally:
        await engine.stop()


def test_a_trigger_rule_seen_before_is_known_by_its_bytes_less_its_counter() -> None:
    """The trigger's rule is vouched for once; another trigger of it (its `firedtimes` counts
    up) shares that Alert; a rule that differs otherwise (a repeated or re-cased key) is never
    taken for it, even after the genuine one was seen."""
    warm = read_ar_line(REAL_651)
    assert warm is not None and warm[1].trigger is not None
    for counter in ("77", 123456):
        document = real()
        document["data"]["parameters"]["alert"]["rule"]["firedtimes"] = counter
        again = read_ar_line(line_of(document))
        assert again is not None and again[1].trigger is warm[1].trigger
    document = real()
    document["data"]["parameters"]["alert"]["rule"]["firedtimes"] = "7a"  # not a counter
    odd = read_ar_line(line_of(document))
    assert odd is not None and odd[1].trigger == warm[1].trigger
    for name in ("trigger rule id twice", "trigger groups recased", "rule level twice",
                 "rule groups recased"):
        assert read_ar_line(spoofed(name)) is None
    # The line's own rule likewise: another count shares the seen rule's fields.
    document = real()
    document["rule"]["firedtimes"] = 4242
    counted = read_ar_line(line_of(document))
    assert counted is not None and counted[0] == decode_alert_line(line_of(document))
    assert counted[0].group_string is warm[0].group_string


def test_the_lines_rule_is_remembered_where_the_quick_reading_remembers_rules() -> None:
    """One memory of rules known by their text (`jsonreader`'s): the AR reading remembers the
    line's rule there, and knows it again from there; a rule with other groups is never taken
    for it."""
    from arconsole.alerts import jsonreader

    def remembered() -> list[tuple[str, tuple[str, ...]]]:
        return [(seen[5][0], seen[5][3]) for same_key in jsonreader._rules_seen.values()
                for seen in same_key]

    jsonreader._rules_seen.clear()
    warm = read_ar_line(REAL_651)
    assert warm is not None and remembered() == [("651", warm[0].groups)]
    document = real()
    document["rule"]["firedtimes"] = 77
    again = read_ar_line(line_of(document))
    assert again is not None and again[0].group_string is warm[0].group_string  # known
    document["rule"]["groups"] = ["active_response", "ossec"]
    moved = {"rule": document.pop("rule"), **document}
    line = line_of(moved)
    read = read_ar_line(line)
    assert read is not None and read[0] == decode_alert_line(line)
    assert read[0].group_string != warm[0].group_string


def test_a_rule_after_an_odd_timestamp_is_never_taken_for_a_remembered_one() -> None:
    """A line whose timestamp is written otherwise (UTF-8, escapes) and whose rule, with other
    groups, follows a remembered one's counter: read as the general reader reads it, never
    as the remembered rule."""
    warm = read_ar_line(REAL_651)
    assert warm is not None
    document = real()
    document["rule"]["groups"] = ["active_response", "ossec"]
    read_some = 0
    for timestamp in ("2026-12-03T15:06:07.12\u00e9+0000", '2026-12-03T15:06:07.1"+0000',
                      "2026-12-03T15:06:07.1\\+0000", "2026-12-03T15:06:07.12\u2028+0000"):
        document["timestamp"] = timestamp
        line = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
        read = read_ar_line(line)
        if read is not None:  # (an escape msgspec writes otherwise is refused instead)
            read_some += 1
            assert read[0] == decode_alert_line(line), timestamp
            assert read[0].group_string != warm[0].group_string
    assert read_some >= 3

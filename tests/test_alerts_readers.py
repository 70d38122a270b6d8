"""alerts.json lines and alerts.log records into the Alert model (spec 5.4, 10; Part E D9, D10)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from arconsole.alerts.detect import AlertFormat, detect_format
from arconsole.alerts.groups import build_group_string, split_group_string
from arconsole.alerts.jsonreader import MAX_LINE, decode_alert_line, read_alerts_json
from arconsole.alerts.logreader import (
    MAX_RECORD,
    decode_alert_record,
    iter_records,
    parse_record,
    read_alerts_log,
)
from arconsole.alerts.model import Alert, AlertError
from arconsole.config.model import ActiveResponse, Command, Config, LocationFlag
from arconsole.engine.decide import Decider

SHARED = Path(__file__).resolve().parents[2] / "shared"
REAL = SHARED / "fixtures" / "real"
needs_fixtures = pytest.mark.skipif(not REAL.exists(), reason="shared fixtures absent")

# README of the fixtures: line -> (rule.id, level, agent.id, has srcip, has dstuser)
SAMPLE = {
    1: ("5716", 5, "001", True, True), 2: ("5710", 5, "002", True, False),
    3: ("5720", 10, "004", True, True), 4: ("5503", 5, "003", True, True),
    5: ("5557", 5, "004", False, False), 6: ("5712", 10, "000", True, False),
    7: ("1234", 10, "000", False, False), 8: ("550", 7, "000", False, False),
    9: ("5715", 5, None, True, True), 10: ("554", 5, None, False, False),
    11: ("31168", 15, "000", True, False), 12: ("554", 5, "010", False, False),
    13: ("87102", 3, "000", False, False), 14: ("87101", 3, "000", False, False),
    15: ("87104", 3, "010", False, False), 16: ("87105", 12, "010", False, False),
    17: ("62152", 5, "012", False, False), 18: ("5710", 5, "001", True, False),
}


def sample_lines() -> list[bytes]:
    return (REAL / "alerts-sample.json").read_bytes().splitlines()


def log_alerts() -> list[Alert]:
    text = (REAL / "alerts-log-sample.log").read_text()
    return [alert for _, alert in read_alerts_log(text.splitlines()) if isinstance(alert, Alert)]


@needs_fixtures
@pytest.mark.parametrize("number", sorted(SAMPLE))
def test_every_sample_line_decodes(number: int) -> None:
    line = sample_lines()[number - 1]
    alert = decode_alert_line(line + b"\n")
    document = json.loads(line)
    rule_id, level, agent_id, has_srcip, has_dstuser = SAMPLE[number]
    assert (alert.rule_id, alert.level, alert.agent_id) == (rule_id, level, agent_id)
    assert (alert.srcip is not None, alert.dstuser is not None) == (has_srcip, has_dstuser)
    assert alert.raw == line  # passed on byte for byte, without the newline
    assert alert.alert_id == document.get("id", "")
    assert alert.timestamp == document.get("timestamp", "")
    assert alert.location == document.get("location")
    assert alert.description == document["rule"].get("description", "")
    assert alert.groups == tuple(document["rule"].get("groups", ()))
    data = document.get("data", {})
    assert (alert.srcip, alert.dstuser) == (data.get("srcip"), data.get("dstuser"))
    assert alert.full_log is None  # D9: never decoded, so never used for a decision


@needs_fixtures
def test_numeric_rule_id_and_missing_agent_are_normal() -> None:
    alert = decode_alert_line(sample_lines()[8])  # line 9: "id":5715, no agent, no alert id
    assert alert.rule_id == "5715"
    assert (alert.agent_id, alert.agent_name, alert.alert_id) == (None, None, "")
    assert alert.from_manager
    assert alert.group_string == ""


@needs_fixtures
def test_group_string_restores_compliance_prefixes() -> None:
    alert = decode_alert_line(sample_lines()[0])
    assert alert.group_string == (
        "syslog,sshd,authentication_failed,pci_dss_10.2.4,pci_dss_10.2.5,gpg13_7.1,"
        "gdpr_IV_35.7.d,gdpr_IV_32.2,hipaa_164.312.b,nist_800_53_AU.14,nist_800_53_AC.7,"
    )


@needs_fixtures
def test_group_string_keeps_the_order_of_the_compliance_arrays() -> None:
    # Line 6 (rule 5712) writes gdpr first, as the ruleset lists its groups.
    alert = decode_alert_line(sample_lines()[5])
    assert alert.group_string.startswith(
        "syslog,sshd,authentication_failures,gdpr_IV_35.7.d,gdpr_IV_32.2,hipaa_164.312.b,"
        "nist_800_53_SI.4,")
    assert alert.group_string.endswith("pci_dss_10.2.5,tsc_CC6.1,tsc_CC6.8,tsc_CC7.2,tsc_CC7.3,")


def test_same_arrays_in_other_fields_give_other_strings() -> None:
    base = {"rule": {"id": "1", "level": 3, "groups": ["a"]}}
    in_pci = dict(base, rule={**base["rule"], "pci_dss": ["x"]})
    in_gdpr = dict(base, rule={**base["rule"], "gdpr": ["x"]})
    first = decode_alert_line(json.dumps(in_pci).encode())
    second = decode_alert_line(json.dumps(in_gdpr).encode())
    assert (first.group_string, second.group_string) == ("a,pci_dss_x,", "a,gdpr_x,")


@needs_fixtures
def test_invalid_sample_is_an_input_error() -> None:
    line = (REAL / "alerts-invalid-sample.txt").read_bytes()
    with pytest.raises(AlertError, match="not JSON"):
        decode_alert_line(line)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"[1, 2]", "not an alert"),
        (b'"text"', "not an alert"),
        (b"42", "not an alert"),
        (b"{}", "rule"),
        (b'{"rule": {"id": "1"}}', "level"),
        (b'{"rule": {"level": 3}}', "id"),
        (b'{"rule": {"id": "1", "level": "high"}}', "not an alert"),
        (b'{"rule": {"id": "1", "level": 3}, "data": {"srcip": 7}}', "not an alert"),
        (b'{"rule": {"id": "1", "level": 3, "groups": "a,b"}}', "groups"),
        (b'{"rule": {"id": "1", "level": 3}', "not JSON"),
        (b"", "not JSON"),
    ],
)
def test_unusable_lines_raise_alert_error(line: bytes, message: str) -> None:
    with pytest.raises(AlertError, match=message):
        decode_alert_line(line)


def test_D10_line_over_64_kib_is_refused() -> None:
    head = b'{"rule":{"id":"1","level":3},"full_log":"'
    fits = head + b"x" * (MAX_LINE - len(head) - 2) + b'"}'
    assert len(fits) == MAX_LINE
    assert decode_alert_line(fits + b"\n").rule_id == "1"
    with pytest.raises(AlertError, match="64 KiB"):
        decode_alert_line(head + b"x" * (MAX_LINE - len(head) - 1) + b'"}')


def test_missing_keys_and_nulls_are_normal() -> None:
    alert = decode_alert_line(b'{"rule":{"id":"7","level":2},"agent":null,"data":{}}\r\n')
    assert (alert.agent_id, alert.srcip, alert.dstuser, alert.location) == (None,) * 4
    assert alert.raw == b'{"rule":{"id":"7","level":2},"agent":null,"data":{}}'


def test_read_alerts_json_numbers_lines_and_goes_on_after_errors() -> None:
    lines = [b'{"rule":{"id":"1","level":3}}\n', b"\n", b"oops\n", b'{"rule":{"id":"2","level":4}}']
    results = list(read_alerts_json(lines))
    assert [number for number, _ in results] == [1, 3, 4]
    assert isinstance(results[1][1], AlertError)
    assert [r.rule_id for _, r in results if isinstance(r, Alert)] == ["1", "2"]


def test_group_string_helpers_round_trip() -> None:
    raw = "syslog,sshd,pci_dss_10.2.4,gdpr_IV_35.7.d,pci_dss_11.4,cis_1.2,tsc_CC6.1,"
    groups, compliance = split_group_string(raw)
    assert groups == ("syslog", "sshd")
    assert compliance == [("pci_dss", ["10.2.4", "11.4"]), ("gdpr", ["IV_35.7.d"]),
                          ("cis", ["1.2"]), ("tsc", ["CC6.1"])]
    # Interleaved kinds come back grouped: the one loss of the alerts.json split (spec 5.4).
    assert build_group_string(groups, compliance) == (
        "syslog,sshd,pci_dss_10.2.4,pci_dss_11.4,gdpr_IV_35.7.d,cis_1.2,tsc_CC6.1,")
    assert split_group_string(",,a,,") == (("a",), [])


# ---------------------------------------------------------------- alerts.log


@needs_fixtures
def test_alerts_log_sample_records() -> None:
    text = (REAL / "alerts-log-sample.log").read_text()
    results = list(read_alerts_log(text.splitlines()))
    assert [number for number, _ in results] == [1, 7, 17]  # each record's first line
    first, second, third = (alert for _, alert in results)
    assert isinstance(first, Alert) and isinstance(second, Alert) and isinstance(third, Alert)
    assert (first.alert_id, first.rule_id, first.level) == ("1571166477.30198", "5710", 5)
    assert first.srcip == "18.18.18.18" and first.dstuser is None
    assert (first.agent_id, first.agent_name, first.location) == (None, "agent", "/var/log/secure")
    assert first.description == "sshd: Attempt to login using a non-existent user"
    assert first.full_log == ("Oct 15 21:07:56 linux-agent sshd[29205]: Invalid user blimey "
                              "from 18.18.18.18 port 48928")
    assert first.group_string.startswith("syslog,sshd,invalid_login,authentication_failed,"
                                         "pci_dss_10.2.4,")
    assert (second.rule_id, second.level, second.agent_name) == ("550", 7, "ubuntu")
    assert second.filename == "/test/hello"
    assert json.loads(second.raw)["rule"]["mail"] is True
    # The manager's own event: `hostname->location`, agent 000.
    assert (third.agent_id, third.agent_name, third.rule_id) == ("000", "wazuh-example", "80705")
    assert third.location == "/var/log/audit/audit.log"


@needs_fixtures
def test_alerts_log_record_1_and_alerts_json_line_18_agree() -> None:
    from_log = log_alerts()[0]
    from_json = decode_alert_line(sample_lines()[17])
    for field in ("alert_id", "rule_id", "level", "srcip", "dstuser", "groups", "description"):
        assert getattr(from_log, field) == getattr(from_json, field), field
    # The JSON comes from a newer ruleset that adds the tsc groups at the end.
    assert from_json.group_string.startswith(from_log.group_string)
    assert from_log.timestamp[:19] == from_json.timestamp[:19]
    commands = (Command("firewall-drop", "firewall-drop", True, 1, 1),)
    responses = tuple(
        ActiveResponse(index=i, line=10 + i, column=3, command="firewall-drop",
                       location="server", location_flags=LocationFlag.AS_ONLY,
                       executable="firewall-drop", **filters)  # type: ignore[arg-type]
        for i, filters in enumerate([
            {"level": 5}, {"level": 6}, {"rules_group": "invalid_login,"},
            {"rules_group": "pci_dss_10.6.1,"}, {"rules_id": "5710", "rules_ids": (5710,)},
            {"level": 10, "rules_group": "sshd"},
        ], 1)
    )
    decider = Decider(Config("c.conf", commands=commands, responses=responses))
    log_fired = [(d.response.index, d.targets) for d in decider.decide(from_log).fired]
    json_fired = [(d.response.index, d.targets) for d in decider.decide(from_json).fired]
    assert log_fired == json_fired == [(1, ("server",)), (3, ("server",)), (4, ("server",)),
                                       (5, ("server",))]


@needs_fixtures
def test_alerts_log_raw_is_an_alerts_json_object() -> None:
    for alert in log_alerts():
        again = decode_alert_line(alert.raw)
        assert (again.alert_id, again.rule_id, again.level, again.srcip, again.dstuser) == (
            alert.alert_id, alert.rule_id, alert.level, alert.srcip, alert.dstuser)
        assert again.group_string == alert.group_string  # the header order is kept
        assert again.location == alert.location


def record(*body: str, header: str = "** Alert 1700000000.42: - syslog,sshd,") -> list[str]:
    return [header, "2023 Nov 14 22:13:20 (web-01) 10.0.0.7->/var/log/auth.log", *body]


def test_header_fields_are_read_in_os_log_order() -> None:
    alert = parse_record(record(
        "Rule: 5716 (level 5) -> 'sshd: authentication failed.'",
        "Src IP: 203.0.113.9", "Src Port: 4242", "User: bob", "the log line",
    ))
    assert (alert.srcip, alert.dstuser, alert.full_log) == ("203.0.113.9", "bob", "the log line")
    assert json.loads(alert.raw)["data"] == {"srcip": "203.0.113.9", "srcport": "4242",
                                              "dstuser": "bob"}
    assert (alert.agent_name, alert.agent_id) == ("web-01", None)


def test_D9_a_src_ip_line_in_the_body_is_never_read() -> None:
    alert = parse_record([
        "** Alert 1700000000.42: - syslog,",
        "2023 Nov 14 22:13:20 host->/var/log/auth.log",
        "Rule: 1002 (level 2) -> 'Unknown problem somewhere in the system.'",
        "a log line without fields",
        "Src IP: 6.6.6.6",  # body text that looks like a field
        "User: root",
    ])
    assert (alert.srcip, alert.dstuser) == (None, None)
    assert alert.full_log == "a log line without fields"


def test_labels_before_the_rule_line_are_kept() -> None:
    alert = parse_record(record("env: prod", "Rule: 1 (level 3) -> 'x'", "log"))
    assert json.loads(alert.raw)["agent"]["labels"] == {"env": "prod"}


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (record("Rule: 1 (level 3) -> 'x'", header="** Alert x.1: - a,"), "header"),
        (["** Alert 1.1: - a,", "not a date line", "Rule: 1 (level 3) -> 'x'"], "second line"),
        (record("no rule line here"), "before 'Rule:'"),
        (record("Rule: one (level 3) -> 'x'"), "Rule:"),
        (["** Alert 1.1: - a,"], "too short"),
    ],
)
def test_malformed_records_raise_alert_error(lines: list[str], message: str) -> None:
    with pytest.raises(AlertError, match=message):
        parse_record(lines)


def test_records_split_on_alert_headers_and_skip_stray_lines() -> None:
    lines = ["stray", "** Alert 1.1: - a,", "x", "", "", "** Alert 2.2: - b,", "y", ""]
    assert list(iter_records(lines)) == [(2, ["** Alert 1.1: - a,", "x"]),
                                         (6, ["** Alert 2.2: - b,", "y"])]


def test_a_huge_record_keeps_its_head_and_drops_the_rest() -> None:
    lines = record("Rule: 1 (level 3) -> 'x'", "Src IP: 1.2.3.4", "log") + ["y" * 1000] * 1000
    ((start, kept),) = list(iter_records([*lines, "** Alert 2.2: - b,"]))[:1]
    assert start == 1 and len(kept) < len(lines)
    assert sum(len(line) for line in kept) <= MAX_RECORD + 1000
    assert parse_record(kept).srcip == "1.2.3.4"


def test_record_follower_bytes_decode() -> None:
    data = "\n".join(record("Rule: 5716 (level 5) -> 'x'", "Src IP: 1.2.3.4", "log")).encode()
    assert decode_alert_record(data).srcip == "1.2.3.4"


@pytest.mark.parametrize(
    ("first", "expected"),
    [(b'{"rule":{}}\n', AlertFormat.JSON), (b"** Alert 1.2: - a,\n", AlertFormat.LOG),
     (b"\xef\xbb\xbf** Alert 1.2: - a,\n", AlertFormat.LOG), (b"garbage\n", AlertFormat.JSON)],
)
def test_detect_format(first: bytes, expected: AlertFormat) -> None:
    assert detect_format(first) is expected

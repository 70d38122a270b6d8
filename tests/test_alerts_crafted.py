"""Alerts whose decision keys are repeated or re-cased are refused as crafted (issue 11 item 2).

msgspec keeps the last of a repeated key and matches names exactly; the scripts read JSON as
Wazuh's cJSON does, the first key, case-insensitively. Each shape below would be checked as one
value and acted on as another. They are refused by the library decoder, by the engine (counted
as an input error, nothing runs) and by `explain` (tests/test_explain_crafted.py).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import msgspec
import pytest

from arconsole.alerts.jsonreader import crafted_keys, decode_alert_line, read_alerts_json
from arconsole.alerts.model import AlertError
from arconsole.engine.events import InputError
from arconsole.scripts.protocol import Message, parse_json
from tests.engine_support import (
    alert_line,
    command,
    make_home,
    new_engine,
    recorder,
    records,
    response,
)

RULE = '"rule":{"level":10,"description":"sshd: brute force","id":"5712","groups":["sshd"]}'
AGENT = '"agent":{"id":"000","name":"manager"}'


def line(*members: str) -> bytes:
    return ("{" + ",".join(members) + "}").encode()


# (name, line, path the reason must name). The first srcip is inside the white list
# (10.0.0.0/8 in engine_support's config); the last one is not.
SHAPES = [
    ("repeated srcip", line(RULE, AGENT, '"data":{"srcip":"10.20.0.5","srcip":"8.8.8.8"}'),
     "data.srcip"),
    ("srcip in another case first", line(
        RULE, AGENT, '"data":{"SrcIP":"10.20.0.5","srcip":"8.8.8.8"}'), "data.srcip"),
    ("srcip in another case last", line(
        RULE, AGENT, '"data":{"srcip":"8.8.8.8","SRCIP":"10.20.0.5"}'), "data.srcip"),
    ("srcip only in another case", line(RULE, AGENT, '"data":{"srcIP":"10.20.0.5"}'),
     "data.srcIP"),
    ("DATA before data", line(
        RULE, AGENT, '"DATA":{"srcip":"10.20.0.5"}', '"data":{"srcip":"8.8.8.8"}'), "data"),
    ("only DATA", line(RULE, AGENT, '"Data":{"srcip":"10.20.0.5"}'), "Data"),
    ("repeated data", line(
        RULE, AGENT, '"data":{"srcip":"10.20.0.5"}', '"data":{"srcip":"8.8.8.8"}'), "data"),
    ("srcip spelled with an escape", line(
        RULE, AGENT, '"data":{"src\\u0069p":"10.20.0.5","srcip":"8.8.8.8"}'), "data.srcip"),
    ("repeated dstuser", line(
        RULE, AGENT, '"data":{"srcip":"8.8.8.8","dstuser":"alice","dstuser":"bob"}'),
     "data.dstuser"),
    ("repeated Windows address", line(
        RULE, AGENT, '"data":{"srcip":"8.8.8.8","win":{"eventdata":'
        '{"ipAddress":"10.20.0.5","ipAddress":"8.8.4.4"}}}'), "data.win.eventdata.ipAddress"),
    ("Windows address in another case", line(
        RULE, AGENT, '"data":{"win":{"eventdata":{"ipaddress":"10.20.0.5"}}}'),
     "data.win.eventdata.ipaddress"),
    ("repeated win", line(
        RULE, AGENT, '"data":{"win":{"eventdata":{}},"WIN":{"eventdata":{}}}'), "data.win"),
    ("repeated rule level", line(
        '"rule":{"level":3,"level":12,"id":"5712","groups":["sshd"]}', AGENT), "rule.level"),
    ("repeated rule id", line(
        '"rule":{"level":10,"id":"5712","id":"100"}', AGENT), "rule.id"),
    ("rule id in another case", line(
        '"rule":{"level":10,"ID":"100","id":"5712"}', AGENT), "rule.id"),
    ("repeated rule groups", line(
        '"rule":{"level":10,"id":"5712","groups":["a"],"groups":["sshd"]}', AGENT),
     "rule.groups"),
    ("repeated compliance array", line(
        '"rule":{"level":10,"id":"5712","pci_dss":["1"],"PCI_DSS":["11.4"]}', AGENT),
     "rule.pci_dss"),
    ("repeated rule", line(RULE, '"Rule":{"level":3,"id":"1"}', AGENT), "rule"),
    ("repeated agent id", line(RULE, '"agent":{"id":"000","id":"001"}'), "agent.id"),
    ("repeated agent", line(RULE, AGENT, '"AGENT":{"id":"001"}'), "agent"),
    ("repeated alert id", line(RULE, AGENT, '"id":"1.1"', '"Id":"1.2"'), "id"),
    ("repeated syscheck path", line(
        RULE, AGENT, '"syscheck":{"path":"/etc/a","Path":"/etc/b"}'), "syscheck.path"),
    ("repeated location", line(
        RULE, AGENT, '"location":"/var/log/a"', '"location":"/var/log/b"'), "location"),
    ("repeated srcip beside escaped text", line(
        '"rule":{"level":10,"description":"\\u0041\\/\\u00e9","id":"5712"}', AGENT,
        '"data":{"srcip":"10.20.0.5","srcip":"8.8.8.8"}'), "data.srcip"),
    # Were floats re-encoded in their own way ("1E2" as "100.0"), these ten would make up
    # for the 20 bytes of the dropped member, and the lengths would match.
    ("repeated srcip padded out by floats", line(RULE, AGENT, '"data":{"srcip":"10.20.0.5",'
        '"srcip":"8.8.8.8",' + ",".join(f'"n{i}":1E2' for i in range(10)) + "}"), "data.srcip"),
    ("repeated srcip beside a long float in a key Wazuh writes", line(
        RULE, AGENT, '"data":{"srcip":"10.20.0.5","srcip":"8.8.8.8",'
        '"srcport":1.000000000000000000000000E2}'), "data.srcip"),
    ("repeated Windows address beside a system object", line(
        RULE, AGENT, '"data":{"win":{"system":{"eventID":"4625"},"eventdata":'
        '{"ipAddress":"10.20.0.5","logonType":"3","ipAddress":"8.8.4.4"}}}'),
     "data.win.eventdata.ipAddress"),
    ("repeated syscheck path among Wazuh's keys", line(
        RULE, AGENT, '"syscheck":{"path":"/etc/a","mode":"realtime","path":"/etc/b"}'),
     "syscheck.path"),
    ("spaced out, repeated srcip", line(
        RULE, AGENT, ' "data" : { "srcip" : "10.20.0.5" , "srcip" : "8.8.8.8" } '),
     "data.srcip"),
]


@pytest.mark.parametrize(("name", "raw", "path"), SHAPES, ids=[s[0] for s in SHAPES])
def test_each_shape_is_refused_as_crafted(name: str, raw: bytes, path: str) -> None:
    with pytest.raises(AlertError) as caught:
        decode_alert_line(raw + b"\n")
    message = str(caught.value)
    assert message.startswith("crafted: "), message
    assert f"key '{path}'" in message
    assert "\n" not in message
    assert crafted_keys(raw) is not None


def test_the_readers_really_disagree_on_the_first_shape() -> None:
    """Why it is refused: the scripts' reader and msgspec see two different addresses."""
    raw = SHAPES[0][1]
    message = Message.parse(json.dumps({
        "version": 1, "origin": {"name": "x", "module": "wazuh-execd"}, "command": "add",
        "parameters": {"alert": {}, "extra_args": []},
    }, separators=(",", ":")).replace('"alert":{}', '"alert":' + raw.decode()))
    assert message is not None and message.srcip() == "10.20.0.5"
    assert msgspec.json.decode(raw, type=_PlainLine).data.srcip == "8.8.8.8"


class _PlainData(msgspec.Struct):
    srcip: str


class _PlainLine(msgspec.Struct):
    data: _PlainData


def test_escaped_key_text_is_escaped_in_the_reason() -> None:
    raw = line(RULE, AGENT, '"data":{"SRCIP\\u001b[31m":"x","SrcIp":"10.20.0.5"}')
    with pytest.raises(AlertError) as caught:
        decode_alert_line(raw)
    message = str(caught.value)
    assert "\x1b" not in message and "key 'data.SrcIp'" in message


ACCEPTED = [
    ("repeated key that decides nothing", line(
        RULE, AGENT, '"data":{"srcip":"8.8.8.8","srcport":"1","srcport":"2"}'), "8.8.8.8"),
    ("other key in another case", line(
        RULE, AGENT, '"data":{"srcip":"8.8.8.8","SrcPort":"1","srcport":"2"}'), "8.8.8.8"),
    ("srcip deeper down (an active-response alert)", line(
        RULE, AGENT, '"data":{"srcip":"8.8.8.8","parameters":{"alert":{"data":'
        '{"srcip":"10.20.0.5","SRCIP":"1.2.3.4"}}}}'), "8.8.8.8"),
    ("srcip as a value", line(
        RULE, AGENT, '"data":{"field":"srcip","srcip":"8.8.8.8"}'), "8.8.8.8"),
    ("a key Wazuh does not write", line(RULE, AGENT, '"Custom":{"ID":1,"id":2}',
                                        '"data":{"srcip":"8.8.8.8"}'), "8.8.8.8"),
    ("spaced out", line(RULE, AGENT, ' "data" : { "srcip" : "8.8.8.8" } '), "8.8.8.8"),
    ("escapes in values", line(
        RULE, AGENT, '"full_log":"a\\u0041\\n\\/","data":{"srcip":"8.8.8.8","x":"\\u0041"}'),
     "8.8.8.8"),
]


@pytest.mark.parametrize(("name", "raw", "srcip"), ACCEPTED, ids=[a[0] for a in ACCEPTED])
def test_unambiguous_lines_are_read(name: str, raw: bytes, srcip: str) -> None:
    alert = decode_alert_line(raw)
    assert alert.srcip == srcip
    assert (alert.rule_id, alert.level, alert.agent_id) == ("5712", 10, "000")
    assert crafted_keys(raw) is None


def test_quick_test_never_lets_an_ambiguous_line_through() -> None:
    """Random alerts with keys repeated or re-cased at random places on and off the decision
    paths: the decoder refuses exactly the lines the exact check calls ambiguous."""
    rng = random.Random(20261203)
    refused = accepted = 0
    for n in range(3000):
        document = _random_alert(rng, n)
        raw = _dump(document, rng)
        reason = crafted_keys(raw)
        try:
            alert = decode_alert_line(raw)
        except AlertError as error:
            assert reason is not None and str(error) == f"crafted: {reason}", raw
            refused += 1
            continue
        assert reason is None, raw
        accepted += 1
        plain = json.loads(raw)
        assert alert.srcip == (plain.get("data") or {}).get("srcip")
        assert alert.level == plain["rule"]["level"]
    assert refused > 300 and accepted > 300  # both sides were exercised


def _random_alert(rng: random.Random, n: int) -> list[tuple[str, object]]:
    data: list[tuple[str, object]] = [("srcip", f"10.0.0.{n % 250}"), ("srcport", "22")]
    if rng.random() < 0.5:
        data.append(("dstuser", "alice"))
    if rng.random() < 0.3:
        # The same address as srcip: disagreeing ones are refused on their own (see
        # test_alerts_windows_address.py), which is not what this property is about.
        address = f"10.0.0.{n % 250}"
        data.append(("win", [("eventdata", [("ipAddress", address), ("logonType", "3")])]))
    rule: list[tuple[str, object]] = [
        ("level", 10), ("description", "d"), ("id", "5712"), ("firedtimes", 3),
        ("groups", ["sshd"]), ("pci_dss", ["10.2.4"]), ("mitre", [("id", ["T1110"])]),
    ]
    document: list[tuple[str, object]] = [
        ("timestamp", "2026-01-01T00:00:00.000+0000"), ("rule", rule),
        ("agent", [("id", "001"), ("name", "web"), ("ip", "10.0.1.1")]),
        ("manager", [("name", "m")]), ("id", f"1.{n}"),
        ("decoder", [("name", "sshd")]), ("data", data), ("location", "/var/log/secure"),
    ]
    if rng.random() < 0.2:
        document.append(("syscheck", [("path", "/etc/passwd"), ("mode", "realtime")]))
    objects = [document, rule, data] + [
        value for _, value in document + data
        if isinstance(value, list) and value and isinstance(value[0], tuple)
    ]
    for _ in range(rng.choice((0, 0, 1, 2))):  # mutations: repeat or re-case a key
        target = rng.choice(objects)
        index = rng.randrange(len(target))
        key, value = target[index]
        if rng.random() < 0.5:
            target.insert(rng.randrange(len(target) + 1), (key, value))
        else:
            target[index] = (_recase(rng, key), value)
    return document


def _recase(rng: random.Random, key: str) -> str:
    """The key in another case (the same key when it has no letter)."""
    for _ in range(10):
        changed = "".join(c.swapcase() if rng.random() < 0.5 else c for c in key)
        if changed != key:
            return changed
    return key.swapcase()


def _dump(members: list[tuple[str, object]], rng: random.Random) -> bytes:
    spaced = rng.random() < 0.1

    def text(value: object) -> str:
        if isinstance(value, list) and value and isinstance(value[0], tuple):
            sep = " , " if spaced else ","
            return "{" + sep.join(f"{json.dumps(k)}:{text(v)}" for k, v in value) + "}"
        return json.dumps(value, separators=(",", ":"))

    return text(members).encode()


def test_reader_reports_crafted_lines_and_goes_on() -> None:
    lines = [SHAPES[0][1], alert_line("ok.1")]
    results = list(read_alerts_json(lines))
    assert isinstance(results[0][1], AlertError) and str(results[0][1]).startswith("crafted:")
    assert not isinstance(results[1][1], AlertError)


def test_scripts_reader_is_the_one_described() -> None:
    """The premise, from arconsole/scripts/protocol.py: first key wins, case-insensitively."""
    body = parse_json('{"Data":{"srcip":"1.1.1.1"},"data":{"srcip":"2.2.2.2"}}')
    assert body.get_object("data").get_string("srcip") == "1.1.1.1"  # type: ignore[union-attr]


# ------------------------------------------------------------------ through the engine


async def test_engine_refuses_every_shape_runs_nothing_and_counts_input_errors(
    tmp_path: Path,
) -> None:
    home = make_home(tmp_path, [command("rec")], [response("rec", level=5, timeout=60)],
                     {"rec": recorder()})
    engine = new_engine(home)
    await engine.start(follow=False)
    events = engine.bus.subscribe()
    try:
        for _, raw, _ in SHAPES:
            await engine.handle_line(raw + b"\n")
        await engine.drain()
        assert records(home) == []  # nothing ran
        assert engine.blocks == {}
        assert engine.stats.input_errors == len(SHAPES)
        errors = [e for e in events.drain() if isinstance(e, InputError)]
        assert len(errors) == len(SHAPES)
        assert all(e.error.startswith("crafted: key '") for e in errors)
        assert [e.line for e in errors] == list(range(1, len(SHAPES) + 1))
        # The same engine acts on the same alert written plainly: the refusal is the check's.
        await engine.handle_line(line(RULE, AGENT, '"data":{"srcip":"8.8.8.8"}'))
        await engine.drain()
        [ran] = records(home)
        assert json.loads(ran["stdin"])["parameters"]["alert"]["data"]["srcip"] == "8.8.8.8"
        assert engine.stats.input_errors == len(SHAPES)
    finally:
        events.close()
        await engine.stop()


def test_quick_reading_of_windows_alerts_refuses_exactly_the_ambiguous_ones() -> None:
    """Windows EventChannel alerts (the quick reading decodes `data.win` as Wazuh's object):
    keys of `win`, `eventdata` and `system` repeated or re-cased at random are refused exactly
    when the exact check calls the line ambiguous, and the address is the scripts' one."""
    rng = random.Random(13_4)
    refused = accepted = 0
    for n in range(2000):
        address = f"10.0.{n % 7}.{n % 250}"
        eventdata: list[tuple[str, object]] = [
            ("subjectUserSid", "S-1-0-0"), ("targetUserName", "Admin"),
            ("logonType", "3"), ("ipAddress", address), ("ipPort", "4242"),
        ]
        if rng.random() < 0.3:
            eventdata.insert(rng.randrange(len(eventdata) + 1), ("destinationIp", address))
        system: list[tuple[str, object]] = [("eventID", "4625"), ("level", "0")]
        win: list[tuple[str, object]] = [("system", system), ("eventdata", eventdata)]
        data: list[tuple[str, object]] = [("win", win)]
        document: list[tuple[str, object]] = [
            ("timestamp", "2026-01-01T00:00:00.000+0000"),
            ("rule", [("level", 5), ("description", "Logon Failure"), ("id", "60122"),
                      ("groups", ["windows", "authentication_failed"])]),
            ("agent", [("id", "004"), ("name", "win-004")]), ("id", f"1.{n}"),
            ("data", data), ("location", "EventChannel"),
        ]
        for _ in range(rng.choice((0, 0, 1, 2))):
            target = rng.choice((data, win, eventdata, system))
            index = rng.randrange(len(target))
            key, value = target[index]
            if rng.random() < 0.5:
                target.insert(rng.randrange(len(target) + 1), (key, value))
            else:
                target[index] = (_recase(rng, key), value)
        raw = _dump(document, rng)
        reason = crafted_keys(raw)
        try:
            alert = decode_alert_line(raw)
        except AlertError as error:
            assert reason is not None and str(error) == f"crafted: {reason}", raw
            refused += 1
            continue
        assert reason is None, raw
        assert alert.srcip == address
        accepted += 1
    assert refused > 200 and accepted > 200


PLAIN_WAZUH = [
    line('"timestamp":"2026-01-01T00:00:00.000+0000"', RULE.replace(
        '"groups"', '"mitre":{"id":["T1110"]},"firedtimes":7,"mail":false,"groups"'),
        '"agent":{"id":"001","name":"web","ip":"10.0.1.1"}', '"manager":{"name":"m"}',
        '"id":"1.1"', '"full_log":"Failed password for root from 8.8.8.8"',
        '"decoder":{"name":"sshd"}', '"data":{"srcip":"8.8.8.8","srcport":"22","dstuser":"root"}',
        '"location":"/var/log/auth.log"'),
    line(RULE, AGENT, '"data":{"win":{"system":{"eventID":"4625"},"eventdata":'
         '{"targetUserName":"Admin","logonType":"3","ipAddress":"8.8.8.8","ipPort":"4242"}}}',
         '"location":"EventChannel"'),
    line(RULE, AGENT, '"syscheck":{"path":"/etc/passwd","mode":"realtime","size_after":"1473",'
         '"changed_attributes":["size"],"event":"modified"}', '"location":"syscheck"'),
]


@pytest.mark.parametrize("raw", PLAIN_WAZUH)
def test_plain_wazuh_lines_need_no_second_reading(
    raw: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The quick reading vouches for the alerts Wazuh writes by itself: the checked and exact
    readings (a second parse of the line) are for lines out of the ordinary."""
    from arconsole.alerts import jsonreader

    expected = decode_alert_line(raw)

    def second_reading(line: bytes) -> None:
        raise AssertionError(f"read twice: {line!r}")

    monkeypatch.setattr(jsonreader, "_checked_alert", second_reading)
    assert decode_alert_line(raw) == expected
    assert expected.srcip in (None, "8.8.8.8")

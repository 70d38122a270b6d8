"""Hostile AR log alerts against the one-pass readings (`alerts/ar_lines.py`) and the fleet's
key checks (`engine/fleet_bounds.py`).

Everything in an AR log alert is the attacker's (a line written in an agent's
active-responses.log becomes the same alert). Each attack below is the real rule-651 line with
one edit: a key repeated at some level, re-cased, with a NUL, `\\u`-escaped, a number written
as a string or the other way round, whitespace, the decision bytes inside a string value, the
cached rules' counter. For each, the fast path (`decode_json_line`, then `read_ar_entry`) must
read the line exactly as the exact path does (`decode_alert_line`, whose last step is
`crafted_keys`, then `checked_entry`, `crafted_keys` on the fleet's keys): the same Alert, the
same fleet entry, or the same refusal. `expected` says which, so a reading that stops
refusing (or starts refusing) fails too; each runs on cold caches and after the genuine line
warmed them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from arconsole.alerts import ar_lines, jsonreader, rule_groups
from arconsole.alerts.ar_lines import decode_json_line, read_ar_line, reading_of
from arconsole.alerts.jsonreader import decode_alert_line
from arconsole.alerts.model import Alert, AlertError
from arconsole.engine.events import AlertHandled, InputError
from arconsole.engine.fleet_bounds import FleetBounds, key_fits
from arconsole.engine.fleet_table import ArLogEntry, checked_entry, evictable_at, read_ar_entry
from arconsole.engine.requests import status_of
from tests.engine_support import command, make_home, response, started
from tests.test_ar_lines import REAL_651

TEXT = REAL_651.decode()
TRIGGER_RULE = '"rule":{"level":"5",'  # the trigger's rule opens so (its last occurrence)
DATA = '"data":{"srcip":"203.0.113.9",'  # the line's own data (its first occurrence)
PROGRAM = '"program":"active-response/bin/firewall-drop"}}'  # the line's (its last)


def edit(old: str, new: str, *, last: bool = False) -> bytes:
    assert old in TEXT, old
    at = TEXT.rfind(old) if last else TEXT.find(old)
    return (TEXT[:at] + new + TEXT[at + len(old):]).encode()


# (name, line, expected): "read" an entry is made, equal on both paths; "fleet refused" the
# Alert is read and the fleet's keys are refused as crafted; "refused" the intake refuses the
# line as crafted (a decision key); "not an alert" the intake refuses it otherwise.
ATTACKS: list[tuple[str, bytes, str]] = [
    # \u-escaped key names (cJSON and msgspec both unescape them: a repeat, not a new key)
    ("srcip escaped, repeated after", edit(DATA, '"data":{"srcip":"203.0.113.9",'
                                                '"src\\u0069p":"10.0.0.1",'), "refused"),
    ("srcip escaped, repeated before", edit(DATA, '"data":{"src\\u0069p":"10.0.0.1",'
                                                  '"srcip":"203.0.113.9",'), "refused"),
    ("srcip escaped, alone", edit(DATA, '"data":{"src\\u0069p":"203.0.113.9",'), "read"),
    ("command escaped, repeated", edit('"command":"add"',
                                       '"command":"delete","comm\\u0061nd":"add"'),
     "fleet refused"),
    ("command escaped, alone", edit('"command":"add"', '"\\u0063ommand":"add"'), "read"),
    ("program escaped, repeated", edit(PROGRAM, '"program":"active-response/bin/host-deny",'
                                                '"pro\\u0067ram":"active-response/bin/'
                                                'firewall-drop"}}', last=True),
     "fleet refused"),
    ("parameters escaped, repeated", edit('"command":"add",', '"command":"add","p\\u0061ra'
                                          'meters":{"program":"active-response/bin/host-deny"'
                                          '},'), "fleet refused"),
    ("trigger alert escaped, repeated", edit(PROGRAM, '"program":"active-response/bin/firew'
                                             'all-drop","\\u0061lert":{"rule":{"level":"15",'
                                             '"id":"1"}}}}', last=True), "fleet refused"),
    ("trigger level escaped, repeated", edit(TRIGGER_RULE, '"rule":{"level":"15","l\\u0065ve'
                                             'l":"5",', last=True), "fleet refused"),
    ("trigger groups escaped, repeated", edit('"groups":["syslog"', '"groups":["x"],"\\u0067r'
                                              'oups":["syslog"', last=True), "fleet refused"),
    ("trigger timestamp escaped, repeated", edit('"alert":{"timestamp":', '"alert":{"timest'
                                                 '\\u0061mp":"2020-01-01T00:00:00.000+0000",'
                                                 '"timestamp":', last=True), "fleet refused"),
    ("agent id escaped, repeated", edit('"agent":{"id":"001"', '"agent":{"id":"002","\\u0069'
                                        'd":"001"'), "refused"),
    ("rule id escaped, repeated", edit('"id":"651",', '"id":"651","\\u0069d":"999",'),
     "refused"),
    ("data escaped, repeated", edit('"location":"/var/ossec/logs/active-responses.log"}',
                                    '"location":"/var/ossec/logs/active-responses.log",'
                                    '"d\\u0061ta":{"srcip":"10.0.0.1"}}', last=True),
     "refused"),
    # repeated keys at every level
    ("rule repeated whole", edit('"agent":{"id":"001","name":"agent1"},"manager"',
                                 '"rule":{"level":3,"description":"Host Blocked by x","id":'
                                 '"651","groups":["active_response"]},"agent":{"id":"001",'
                                 '"name":"agent1"},"manager"'), "refused"),
    ("agent name repeated", edit('"name":"agent1"},"manager"',
                                 '"name":"x","name":"agent1"},"manager"'), "refused"),
    ("location repeated", edit('"location":"/var/ossec/logs/active-responses.log"}',
                               '"location":"a","location":"/var/ossec/logs/active-responses.'
                               'log"}', last=True), "refused"),
    ("dstuser repeated, no srcip", edit(DATA, '"data":{"dstuser":"root","dstuser":"bob",'),
     "refused"),
    ("origin module repeated", edit('"module":"wazuh-execd"}', '"module":"x","module":'
                                    '"wazuh-execd"}', last=True), "fleet refused"),
    ("trigger rule repeated whole", edit('"agent":{"id":"001","name":"agent1"},"manager":{"n'
                                         'ame":"vm"},"id":"1796310365.263"',
                                         '"rule":{"level":"15","id":"1"},"agent":{"id":"001"'
                                         ',"name":"agent1"},"manager":{"name":"vm"},"id":"17'
                                         '96310365.263"', last=True), "fleet refused"),
    ("trigger alert repeated", edit('"parameters":{"extra_args":[],', '"parameters":{"extra_'
                                    'args":[],"alert":{"rule":{"level":"15","id":"1"}},',
                                    last=True), "fleet refused"),
    ("line rule firedtimes repeated", edit('"firedtimes":1,', '"firedtimes":1,"firedtimes":2,'),
     "read"),
    # nested inside data.parameters.alert, below what the fleet reads: both read it alike
    ("trigger's data srcip repeated", edit('"data":{"srcip":"203.0.113.9","srcport"',
                                           '"data":{"srcip":"10.0.0.1","srcip":"203.0.113.9",'
                                           '"srcport"', last=True), "read"),
    # re-cased and NUL keys
    ("location re-cased", edit('"location":"/var/ossec/logs/active-responses.log"}',
                               '"Location":"a","location":"/var/ossec/logs/active-responses.'
                               'log"}', last=True), "refused"),
    ("dstuser re-cased", edit(DATA, '"data":{"DstUser":"root","srcip":"203.0.113.9",'),
     "refused"),
    ("command re-cased, escaped", edit('"command":"add"', '"\\u0043ommand":"delete",'
                                       '"command":"add"'), "fleet refused"),
    ("srcip with a NUL, repeated", edit(DATA, '"data":{"srcip\\u0000":"10.0.0.1","srcip":'
                                              '"203.0.113.9",'), "refused"),
    ("srcip with a NUL, alone", edit(DATA, '"data":{"srcip\\u0000x":"10.0.0.1",'), "refused"),
    ("rule level with a NUL", edit('"rule":{"level":3,', '"rule":{"level":3,"level\\u0000":'
                                   '15,'), "refused"),
    ("trigger level with a NUL", edit(TRIGGER_RULE, '"rule":{"level\\u0000":"15","level":'
                                      '"5",', last=True), "fleet refused"),
    ("program with a NUL", edit(PROGRAM, '"program\\u0000":"active-response/bin/host-deny",'
                                '"program":"active-response/bin/firewall-drop"}}', last=True),
     "fleet refused"),
    # a non-ASCII look-alike (KELVIN SIGN) is no spelling of the key for cJSON: read alike
    ("command, Kelvin-sign look-alike", edit('"command":"add"', '"command":"delete","\\u212a'
                                             'ommand":"add"'), "read"),
    # numbers written as strings and the other way round
    ("rule level as a string", edit('"rule":{"level":3,', '"rule":{"level":"3",'),
     "not an alert"),
    ("rule id as a number", edit('"id":"651",', '"id":651,'), "read"),
    ("agent id as a number", edit('"agent":{"id":"001"', '"agent":{"id":1'), "not an alert"),
    ("srcip as a number", edit(DATA, '"data":{"srcip":1,'), "not an alert"),
    ("command as a number", edit('"command":"add"', '"command":1'), "read none"),
    ("program as a list", edit(PROGRAM, '"program":["active-response/bin/firewall-drop"]}}',
                               last=True), "read none"),
    ("trigger level as a number", edit(TRIGGER_RULE, '"rule":{"level":5,', last=True), "read"),
    ("trigger level padded", edit(TRIGGER_RULE, '"rule":{"level":" 5",', last=True), "read"),
    ("trigger level -0", edit(TRIGGER_RULE, '"rule":{"level":-0,', last=True), "read"),
    ("trigger level huge", edit(TRIGGER_RULE, '"rule":{"level":"99999999999999999999999",',
                                last=True), "read"),
    ("trigger id as a number", edit('"id":"5710","f', '"id":5710,"f', last=True), "read"),
    ("line firedtimes as a string", edit('"firedtimes":1,', '"firedtimes":"1",'), "read"),
    # whitespace and escapes that re-encode shorter, with and without a repeat to hide
    ("space after a colon", edit('"command":"add"', '"command": "add"'), "read"),
    ("space, repeated command", edit('"command":"add"', '"command" :"delete","command":'
                                     '"add"'), "fleet refused"),
    ("tab, repeated srcip", edit(DATA, '"data":{\t"srcip":"10.0.0.1","srcip":"203.0.113.9",'),
     "refused"),
    ("escaped slashes beside a repeat", edit('"command":"add"', '"command":"delete","command'
                                             '":"add"').replace(b'bin/firewall-drop"}}',
                                                                b'bin\\/firewall-drop"}}'),
     "fleet refused"),
    ("escape in the line's description", edit('"description":"Host Blocked by firewall-drop',
                                              '"description":"Host Blocked by firewall\\u002d'
                                              'drop'), "read"),
    ("escape in a trigger group", edit('"groups":["syslog"', '"groups":["sysl\\u006fg"',
                                       last=True), "read"),
    # the decision bytes inside a string value, and the layout moved
    ("srcip bytes inside full_log", edit('"full_log":"2026/12/03', '"full_log":"\\"data\\":{'
                                         '\\"srcip\\":\\"10.0.0.1\\"} 2026/12/03'), "read"),
    ("member before the rule", edit('+0000","rule":{"level":3,', '+0000","x":"","rule":{"l'
                                    'evel":3,'), "read"),
    ("firedtimes inside mitre first", edit('"mail":false,', '"mail":false,"mitre":{"firedtim'
                                           'es":1},'), "read"),
    # members nobody decides on: both read the line alike (the fast one hands it over)
    ("extra_args repeated", edit('"extra_args":[],', '"extra_args":[1],"extra_args":[],',
                                 last=True), "read"),
    ("version repeated", edit('"version":"1",', '"version":"2","version":"1",', last=True),
     "read"),
    ("trigger alert as a string", edit(PROGRAM, '"program":"active-response/bin/firewall-dro'
                                       'p","alert":"x"}}', last=True).replace(
        b'"parameters":{"extra_args":[],"alert":{"timestamp', b'"parameters":{"extra_args":[],'
        b'"trig":{"timestamp'), "read"),
    # the line's own keys the decision reads, repeated: refused by the intake
    ("line timestamp repeated", edit('"location":"/var/ossec/logs/active-responses.log"}',
                                     '"location":"/var/ossec/logs/active-responses.log","time'
                                     'stamp":"2030-01-01T00:00:00.000+0000"}', last=True),
     "refused"),
    ("line id repeated", edit('"id":"1796310367.806"', '"id":"1.1","id":"1796310367.806"'),
     "refused"),
    # the trigger's keys the fleet reads, re-cased or with a NUL
    ("trigger rule re-cased", edit(TRIGGER_RULE, '"RULE":{"level":"15","id":"1"},'
                                   '"rule":{"level":"5",', last=True), "fleet refused"),
    ("trigger timestamp with a NUL", edit('"alert":{"timestamp":', '"alert":{"timestamp\\u0000'
                                          '":"2020-01-01T00:00:00.000+0000","timestamp":',
                                          last=True), "fleet refused"),
    ("trigger pci_dss escaped, repeated", edit('"pci_dss":["10.2.4"', '"pci_dss":["1"],"pci'
                                               '\\u005fdss":["10.2.4"', last=True),
     "fleet refused"),
    # a compliance key written before the trigger's rule (hole: it reordered the checked
    # reading's group string, so its binding could differ from the fast reading's)
    ("compliance key before the trigger rule", edit(
        '"alert":{"timestamp":"2026-12-03T15:06:05.123+0000","rule":',
        '"alert":{"timestamp":"2026-12-03T15:06:05.123+0000","predecoder":{"tsc":1,"hipaa":2}'
        ',"rule":', last=True), "read"),
]


def _clear_caches() -> None:
    ar_lines._triggers.clear()
    jsonreader._rules_seen.clear()


Outcome = tuple[str, Alert | None, ArLogEntry | None, str]


def outcome(line: bytes, *, fast: bool) -> Outcome:
    """What the intake and the fleet make of `line`: by the fast readings or the exact ones."""
    try:
        alert = decode_json_line(line) if fast else decode_alert_line(line)
    except AlertError as error:
        kind = "refused" if str(error).startswith("crafted: ") else "not an alert"
        return kind, None, None, str(error)
    try:
        entry = read_ar_entry(alert, 0.0) if fast else checked_entry(alert, 0.0)
    except AlertError as error:
        assert str(error).startswith("crafted: ")
        return "fleet refused", alert, None, str(error)
    return ("read" if entry is not None else "read none"), alert, entry, ""


@pytest.fixture(params=["cold", "warm"])
def caches(request: pytest.FixtureRequest) -> Iterator[None]:
    _clear_caches()
    if request.param == "warm":  # the genuine line's rules are known by their bytes
        assert read_ar_line(REAL_651) is not None
        assert read_ar_entry(decode_json_line(REAL_651), 0.0) is not None
    yield
    _clear_caches()


@pytest.mark.usefixtures("caches")
@pytest.mark.parametrize(("name", "line", "expected"), ATTACKS, ids=[a[0] for a in ATTACKS])
def test_the_fast_path_reads_an_attack_as_the_exact_path(name: str, line: bytes,
                                                         expected: str) -> None:
    fast = outcome(line, fast=True)
    _clear_caches()
    exact = outcome(line, fast=False)
    assert fast[0] == expected, fast[3]
    assert fast == exact
    if expected in ("refused", "fleet refused"):
        assert read_ar_line(line) is None  # the one-pass reading never vouched for it


def test_a_key_before_the_trigger_rule_does_not_reorder_its_group_string() -> None:
    """The checked reading (whitespace sends the line to it) and the fast one give the
    trigger the group string its own rule writes; before the fix the checked reading took
    the first `"tsc":` anywhere in the trigger, so `"predecoder":{"tsc":1}` put tsc first."""
    line = dict((a[0], a[1]) for a in ATTACKS)["compliance key before the trigger rule"]
    spaced = line.replace(b'"command":"add"', b'"command": "add"')
    fast = read_ar_entry(decode_json_line(line), 0.0)
    slow = read_ar_entry(decode_json_line(spaced), 0.0)
    genuine = read_ar_entry(decode_json_line(REAL_651), 0.0)
    assert reading_of(decode_json_line(spaced)) is None  # it did take the checked reading
    assert fast is not None and slow is not None and genuine is not None
    assert fast.trigger is not None and slow.trigger is not None and genuine.trigger is not None
    assert slow.trigger.group_string == fast.trigger.group_string
    assert slow.trigger.group_string == genuine.trigger.group_string
    assert slow.trigger.group_string.startswith(
        "syslog,sshd,authentication_failed,invalid_login,gdpr_")


@pytest.mark.parametrize("key", ["::1%$(id)", "fe80::1%eth0", "::1%\n", "1::%x",
                                 "::1%\u0663", "fe80::1%25eth0"])
def test_a_scoped_ipv6_text_is_no_address_key(key: str) -> None:
    """Python's `ip_address` takes any text after `%` as an IPv6 scope; firewall-drop's own
    test (inet_pton) takes none. Such a key makes no row, and is counted."""
    assert not key_fits("firewall-drop", key)
    bounds = FleetBounds(evictable_at=evictable_at)
    assert bounds.admit(("001", "firewall-drop", key), {}, 0.0) is None
    assert bounds.refused_bad_key == 1
    assert key_fits("firewall-drop", key.partition("%")[0])  # the address itself is one


async def test_an_ar_line_crafted_only_on_fleet_keys_is_counted_and_skipped(
        tmp_path: Path) -> None:
    """`command` twice: no decision key is ambiguous, so the intake's reader takes the line;
    the fleet's exact check refuses it, and the line is then a bad line like any other:
    counted (`input_errors`, in `status`), told (an InputError event, the event log's
    `line N skipped: crafted: ...`), not decided and no row."""
    home = make_home(tmp_path, [command("firewall-drop")],
                     [response("firewall-drop", rules_id="5710", timeout=600)])
    engine = await started(home)
    events = engine.context.bus.subscribe()
    try:
        spoof = edit('"command":"add"', '"command":"delete","command":"add"')
        assert decode_alert_line(spoof) is not None  # the intake's reader alone takes it
        await engine.handle_line(spoof + b"\n")
        engine.fleet.flush()
        assert engine.stats.input_errors == 1 and engine.stats.alerts == 0
        assert status_of(engine)["input_errors"] == 1
        assert engine.fleet.table.rows == {}
        await engine.handle_line(REAL_651 + b"\n")  # the genuine line: decided, a row
        assert engine.stats.input_errors == 1 and engine.stats.alerts == 1
        assert engine.fleet.table.get("001", "firewall-drop", "203.0.113.9") is not None
        seen = await events.next_batch()
        errors = [event for event in seen if isinstance(event, InputError)]
        handled = [event for event in seen if isinstance(event, AlertHandled)]
        assert len(errors) == 1 and errors[0].line == 1
        assert errors[0].error.startswith("crafted: key 'data.command' appears 2 times")
        assert [event.line for event in handled] == [2]
    finally:
        await engine.stop()


# The group-string cache (`rule_groups`) is keyed by the rule's arrays as the line writes them,
# found at the line's first `"groups":`. A decoy copy of the arrays in another order there
# (an object before the rule, the rule's own `mitre`, or plain while the rule's key is
# escaped) keyed the cache with the rule's true group string: a later genuine rule writing
# its arrays in the decoy's order got the other order's group string, and `rules_group`
# searches that string (hole, fixed in `written_arrays`).
_TS = b'{"timestamp":"2026-11-23T10:00:00.000+0000",'
_TRUE = b'"groups":["sshd"],"pci_dss":["10.2.4"],"tsc":["CC6.1"]'
_DECOY = b'"groups":["sshd"],"tsc":["CC6.1"],"pci_dss":["10.2.4"]'
_TAIL = b',"id":"1.1","data":{"srcip":"203.0.113.7"}}'


def _rule(rule_id: bytes, arrays: bytes, extra: bytes = b"") -> bytes:
    return (b'"rule":{"level":10,"description":"sshd: x","id":"' + rule_id + b'",' + extra
            + arrays + b"}")


_ESCAPED = _TRUE.replace(b'"groups"', b'"gr\\u006fups"')
DECOYS = [
    ("decoy object before the rule", _TS + b'"manager":{' + _DECOY + b"}," + _rule(b"5712", _TRUE)
     + _TAIL),
    ("decoy in the rule's mitre", _TS + _rule(b"5712", _TRUE, b'"mitre":{' + _DECOY + b"},")
     + _TAIL),
    ("escaped groups key, decoy in data", _TS + _rule(b"5712", _ESCAPED)
     + b',"id":"1.1","data":{"srcip":"203.0.113.7","x":{' + _DECOY + b"}}}"),
    ("escaped groups key, spaced, decoy in data", _TS + _rule(b"5712", _ESCAPED)
     + b', "id":"1.1","data":{"srcip":"203.0.113.7","x":{' + _DECOY + b"}}}"),
    ("AR line, decoy in the rule's mitre", edit('"mail":false,"groups":["ossec"', '"mail":false,'
                                                '"mitre":{"groups":["ossec","active_response"],'
                                                '"tsc":["CC6.1","CC6.8","CC7.2","CC7.3","CC7'
                                                '.4"],"pci_dss":["11.4"],"gpg13":["4.13"],"gdp'
                                                'r":["IV_35.7.d"],"nist_800_53":["SI.4"]},"grou'
                                                'ps":["ossec"')),
]
_GENUINE = _TS + _rule(b"5713", _DECOY) + _TAIL
# The real 651 with its own arrays written in the decoy's order (tsc first).
_GENUINE_AR = edit('"pci_dss":["11.4"],"gpg13":["4.13"],"gdpr":["IV_35.7.d"],"nist_800_53":'
                   '["SI.4"],"tsc":["CC6.1","CC6.8","CC7.2","CC7.3","CC7.4"]',
                   '"tsc":["CC6.1","CC6.8","CC7.2","CC7.3","CC7.4"],"pci_dss":["11.4"],"gpg13"'
                   ':["4.13"],"gdpr":["IV_35.7.d"],"nist_800_53":["SI.4"]')


def _forget_groups() -> None:
    rule_groups.GROUPS_BY_ARRAYS.clear()
    jsonreader._rules_seen.clear()
    _clear_caches()


@pytest.mark.parametrize(("name", "line"), DECOYS, ids=[d[0] for d in DECOYS])
def test_a_decoy_of_the_arrays_never_keys_the_group_cache(name: str, line: bytes) -> None:
    genuine = _GENUINE_AR if name.startswith("AR line") else _GENUINE
    _forget_groups()
    alone = decode_alert_line(genuine).group_string
    _forget_groups()
    own = decode_json_line(line).group_string
    assert own.index("pci_dss_") < own.index("tsc_")  # the attacker's rule: its own order
    assert decode_json_line(genuine).group_string == alone  # not the decoy's cached string
    assert decode_alert_line(genuine).group_string == alone
    assert alone.index("tsc_") < alone.index("pci_dss_")
    _forget_groups()

"""The quick reading of lines written as Wazuh writes them (issue 13 item 4), held to the
repeated-key rule (issue 11 item 2) and to each line's own rule.

The quick reading decodes a line once, re-encodes it, and takes a line that comes out byte for
byte (the shape Wazuh writes) without any second reading; its rule, when written as a rule seen
before but for `firedtimes`, is known by comparing bytes (`jsonreader._remember_rule`). Here:

- every ambiguous spelling of a decision key (repeated, another case, escaped, holding a NUL)
  at every level, spliced into full-size lines Wazuh writes (sshd, Windows logon, FIM), is
  refused as crafted, whichever copy comes first;
- a rule is never taken for one seen before unless it is that rule: another rule written in the
  same place (a decoy inside another member of a line not laid out as Wazuh does, a timestamp
  that shifts where the rule is looked for, another level or arrays) gets its own groups.
"""

from __future__ import annotations

import json

import pytest

from arconsole.alerts import jsonreader, rule_groups
from arconsole.alerts.crafted import DECISION_KEYS, crafted_keys
from arconsole.alerts.jsonreader import decode_alert_line
from arconsole.alerts.model import Alert, AlertError
from arconsole.alerts.quick_shapes import QuickLine, QuickRule

STAMP = "2026-01-01T00:00:00.123+0000"


def rule(rule_id: str = "5710", level: int = 5, fired: int = 7,
         groups: str = '"syslog","sshd","authentication_failed"',
         arrays: str = ',"pci_dss":["10.2.4"],"gdpr":["IV_35.7.d"]') -> str:
    return (f'{{"level":{level},"description":"sshd: Attempt to login","id":"{rule_id}",'
            '"mitre":{"id":["T1110.001"],"tactic":["Credential Access"]},'
            f'"firedtimes":{fired},"mail":false,"groups":[{groups}]{arrays}}}')


def sshd(rule_text: str | None = None, data: str | None = None, stamp: str = STAMP,
         agent: str = '{"id":"001","name":"srv-001","ip":"10.1.0.2"}') -> bytes:
    data = data if data is not None else '{"srcip":"10.20.0.5","srcport":"4242","dstuser":"root"}'
    return (f'{{"timestamp":"{stamp}","rule":{rule_text or rule()},"agent":{agent},'
            '"manager":{"name":"wazuh-manager"},"id":"1700000000.1","cluster":{"name":"wazuh",'
            '"node":"node01"},"full_log":"Nov 14 sshd[4242]: Failed password for root from '
            '10.20.0.5 port 4242 ssh2","predecoder":{"program_name":"sshd","timestamp":'
            '"Nov 14 22:13:20","hostname":"srv-001"},"decoder":{"parent":"sshd","name":"sshd"},'
            f'"data":{data},"location":"/var/log/auth.log"}}').encode()


def windows(eventdata: str | None = None) -> bytes:
    eventdata = eventdata or ('{"subjectUserSid":"S-1-0-0","targetUserName":"Admin",'
                              '"logonType":"3","ipAddress":"10.20.0.5","ipPort":"4242"}')
    return sshd(rule("60122", 5), '{"win":{"system":{"eventID":"4625","level":"0"},'
                f'"eventdata":{eventdata}}}}}')


def syscheck(body: str = '"path":"/etc/passwd","mode":"realtime","event":"modified"') -> bytes:
    return (f'{{"timestamp":"{STAMP}","rule":{rule("550", 7)},"agent":{{"id":"001","name":'
            '"srv-001"},"id":"1700000000.2","full_log":"File changed",'
            f'"syscheck":{{{body}}},"decoder":{{"name":"syscheck_integrity_changed"}},'
            '"location":"syscheck"}').encode()


def test_the_lines_here_take_the_quick_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    """The premise: these lines are Wazuh's shape, read without a second reading."""
    def second_reading(line: bytes) -> None:
        raise AssertionError(f"read twice: {line!r}")

    monkeypatch.setattr(jsonreader, "_checked_alert", second_reading)
    for line in (sshd(), windows(), syscheck()):
        assert jsonreader._encode(jsonreader._decode_fast(line)) == line
        decode_alert_line(line)


def _spellings(key: str) -> list[str]:
    """`key` as written again, in another case, with an escape, with a NUL: cJSON reads
    each as `key` (msgspec: only the first and third)."""
    other_case = key.upper() if key != key.upper() else key.lower()
    escaped = key[0] + f"\\u{ord(key[1]):04x}" + key[2:]
    return [key, other_case, escaped, key + "\\u0000x"]


# (where, line, decision key, another value for it, text before which and text after which a
# second member goes, as its object's first or last copy)
PLACES = [
    ("timestamp", sshd(), "timestamp", '"2020-01-01"', f'"timestamp":"{STAMP}"',
     f'"{STAMP}"'),
    ("rule", sshd(), "rule", '{"level":15,"id":"100","groups":["x"]}', '"rule":',
     '"gdpr":["IV_35.7.d"]}'),
    ("agent", sshd(), "agent", '{"id":"000"}', '"agent":', '"ip":"10.1.0.2"}'),
    ("id", sshd(), "id", '"2.2"', '"id":"1700000000.1"', '"id":"1700000000.1"'),
    ("data", sshd(), "data", '{"srcip":"8.8.8.8"}', '"data":', '"dstuser":"root"}'),
    ("location", sshd(), "location", '"/var/log/secure"', '"location":', '"/var/log/auth.log"'),
    ("syscheck", syscheck(), "syscheck", '{"path":"/etc/shadow"}', '"syscheck":',
     '"event":"modified"}'),
    ("rule.level", sshd(), "level", "15", '"level":', '"level":5'),
    ("rule.description", sshd(), "description", '"x"', '"description":',
     '"sshd: Attempt to login"'),
    ("rule.id", sshd(), "id", '"100"', '"id":"5710"', '"id":"5710"'),
    ("rule.groups", sshd(), "groups", '["web","attack"]', '"groups":',
     '"authentication_failed"]'),
    ("rule.pci_dss", sshd(), "pci_dss", '["11.4"]', '"pci_dss":', '"pci_dss":["10.2.4"]'),
    ("rule.gdpr", sshd(), "gdpr", '["II_5.1.f"]', '"gdpr":', '"gdpr":["IV_35.7.d"]'),
    ("agent.id", sshd(), "id", '"002"', '"id":"001"', '"id":"001"'),
    ("agent.name", sshd(), "name", '"other"', '"name":"srv-001"', '"name":"srv-001"'),
    ("data.srcip", sshd(), "srcip", '"8.8.8.8"', '"srcip":', '"srcip":"10.20.0.5"'),
    ("data.dstuser", sshd(), "dstuser", '"-rf"', '"dstuser":', '"dstuser":"root"'),
    ("data.win", windows(), "win", '{"eventdata":{"ipAddress":"8.8.8.8"}}', '"win":',
     '"ipPort":"4242"}}'),
    ("data.win.eventdata", windows(), "eventdata", '{"ipAddress":"8.8.8.8"}', '"eventdata":',
     '"ipPort":"4242"}'),
    ("data.win.eventdata.ipAddress", windows(), "ipAddress", '"8.8.8.8"', '"ipAddress":',
     '"ipAddress":"10.20.0.5"'),
    ("syscheck.path", syscheck(), "path", '"/etc/shadow"', '"path":', '"path":"/etc/passwd"'),
]


@pytest.mark.parametrize(("where", "line", "key", "value", "before", "after"), PLACES,
                         ids=[p[0] for p in PLACES])
@pytest.mark.parametrize("spelling", range(4), ids=["repeated", "case", "escaped", "nul"])
@pytest.mark.parametrize("first", [False, True], ids=["last", "first"])
def test_every_ambiguous_decision_key_is_refused(
    where: str, line: bytes, key: str, value: str, before: str, after: str, spelling: int,
    first: bool,
) -> None:
    member = f'"{_spellings(key)[spelling]}":{value}'.encode()
    anchor = (before if first else after).encode()
    assert line.count(anchor) == 1
    spliced = line.replace(anchor, member + b"," + anchor if first else anchor + b"," + member)
    assert crafted_keys(spliced) is not None, spliced
    with pytest.raises(AlertError, match=r"^crafted: "):
        decode_alert_line(spliced + b"\n")


def test_the_quick_structs_accept_no_other_spelling_of_a_decision_key() -> None:
    """What lets the quick reading vouch for keys: each object on a decision path declares a
    decision key only as written (so another case, an escape that decodes to another name or a
    NUL fails the decode and takes the slower readings), and no other key folds to one."""
    def check(struct: type, tree: dict[str, object], path: str) -> None:
        fields = struct.__struct_fields__  # type: ignore[attr-defined]
        hints = __import__("typing").get_type_hints(struct)
        names = {name.lower(): name for name in tree}
        for field in fields:
            assert "\0" not in field
            folded = field.lower()
            if folded in names:
                assert field == names[folded], f"{path}{field}"
                below = tree[names[folded]]
                if isinstance(below, dict):
                    inner = [t for t in getattr(hints[field], "__args__", (hints[field],))
                             if hasattr(t, "__struct_fields__")]
                    for sub in inner:
                        check(sub, below, f"{path}{field}.")

    check(QuickLine, DECISION_KEYS, "")
    rule_keys = DECISION_KEYS["rule"]
    assert isinstance(rule_keys, dict)
    check(QuickRule, rule_keys, "rule.")  # the line's rule is decoded on its own


# ------------------------------------------------------------------ a rule seen before


def test_a_rule_seen_before_is_known_again_but_for_its_firedtimes() -> None:
    first = decode_alert_line(sshd(rule(fired=1)))
    for fired in (2, 99, 123456):
        again = decode_alert_line(sshd(rule(fired=fired)))
        assert again.group_string == first.group_string
        assert again.group_string is first.group_string  # the remembered one
    other = decode_alert_line(sshd(rule(fired=3, groups='"syslog","sshd","web"')))
    assert other.group_string == "syslog,sshd,web,pci_dss_10.2.4,gdpr_IV_35.7.d,"
    level = decode_alert_line(sshd(rule(fired=4, level=12)))
    assert level.level == 12
    reordered = decode_alert_line(sshd(rule(fired=5, arrays=',"gdpr":["IV_35.7.d"],'
                                            '"pci_dss":["10.2.4"]')))
    assert reordered.group_string == (
        "syslog,sshd,authentication_failed,gdpr_IV_35.7.d,pci_dss_10.2.4,")
    fewer = decode_alert_line(sshd(rule(fired=6, arrays=',"pci_dss":["10.2.4"]')))
    assert fewer.group_string == "syslog,sshd,authentication_failed,pci_dss_10.2.4,"
    none = decode_alert_line(sshd(rule(fired=6, arrays="")))
    assert none.group_string == "syslog,sshd,authentication_failed,"


def test_a_decoy_of_a_seen_rule_where_the_rule_is_looked_for_is_not_taken() -> None:
    """A line not laid out as Wazuh does (same length re-encoded: members moved) holding a
    copy of a seen rule exactly where a Wazuh line has its rule: its own rule decides."""
    seen = decode_alert_line(sshd(rule("5799", fired=1)))
    assert seen.group_string.startswith("syslog,sshd,authentication_failed,pci_dss")
    decoy = rule("5799", fired=2)
    real = rule("5799", fired=2, groups='"web","attack"', arrays=',"tsc":["CC6.1"]')
    # `manager` first, holding the decoy where the rule is looked for: after a timestamp of
    # two characters.
    line = ('{"manager":{"pad":"","a":' + decoy + '},"timestamp":"xx","rule":' + real +
            ',"agent":{"id":"001","name":"a"},"id":"1.1","data":{"srcip":"8.8.8.8"},'
            '"location":"x"}').encode()
    start = len("xx") + len('{"timestamp":"","rule":')
    assert line[start:].startswith(decoy.encode())
    assert len(jsonreader._encode(jsonreader._decode_fast(line))) == len(line)
    alert = decode_alert_line(line)
    assert alert.group_string == "web,attack,tsc_CC6.1,"
    assert crafted_keys(line) is None


@pytest.mark.parametrize("stamp", ["2026-01-01T00:00:00.123+0000\\\"x", "2026-01-01T00:00:00é"])
def test_a_timestamp_that_moves_the_rule_never_lends_it_a_seen_rule(stamp: str) -> None:
    """Escapes or non-ASCII in the timestamp put the rule further than its length says: the
    place looked at is inside the timestamp's string, where a rule cannot start."""
    decode_alert_line(sshd(rule("5798", fired=1)))
    other = rule("5798", fired=2, groups='"web"', arrays="")
    line = sshd(other, stamp=stamp)
    assert jsonreader._encode(jsonreader._decode_fast(line)) == line  # Wazuh's shape
    assert decode_alert_line(line).group_string == "web,"
    assert decode_alert_line(sshd(rule("5798", fired=3), stamp=stamp)).group_string.startswith(
        "syslog,sshd,authentication_failed,")


def test_rules_are_remembered_by_bytes_not_by_their_decoded_values() -> None:
    """Two rules that decode alike but are written differently (an integer id) are told apart,
    and the Alert's rule id is always a string."""
    as_text = decode_alert_line(sshd(rule("5797")))
    as_number = decode_alert_line(sshd(rule("5797").replace('"id":"5797"', '"id":5797')))
    assert as_text.rule_id == as_number.rule_id == "5797"
    assert as_text.group_string == as_number.group_string
    assert json.loads(as_number.raw)["rule"]["id"] == 5797


# The firedtimes of a seen rule is the one place a rule known by its bytes may differ: only
# digits pass there; anything else is read as a rule not seen yet (and refused when crafted).
_SEEN_GROUPS = "syslog,sshd,authentication_failed,pci_dss_10.2.4,gdpr_IV_35.7.d,"


@pytest.mark.parametrize(("fired", "groups"), [
    ('7,"groups":["web","attack"]', None),  # a second `groups` where the counter goes
    ('7,"level":15', None),  # a second `level`
    ('7,"Groups":["web"]', None),  # another case: cJSON's `groups`
    ('7,"x":1', _SEEN_GROUPS),  # a member the quick structs don't know: the checked reading
    ('"7"', _SEEN_GROUPS), ("-7", _SEEN_GROUPS), ("7.5", _SEEN_GROUPS), ("7e2", _SEEN_GROUPS),
    ("null", _SEEN_GROUPS), ('{"n":7}', _SEEN_GROUPS),
], ids=["groups", "level", "case", "unknown", "string", "negative", "float", "exponent", "null",
        "object"])
def test_only_digits_stand_for_the_firedtimes_of_a_seen_rule(
        fired: str, groups: str | None) -> None:
    seen = decode_alert_line(sshd(rule("5796", fired=1)))
    assert seen.group_string == _SEEN_GROUPS
    assert decode_alert_line(sshd(rule("5796", fired=2))).group_string is seen.group_string
    line = sshd(rule("5796").replace('"firedtimes":7', f'"firedtimes":{fired}'))
    assert jsonreader._encode(jsonreader._decode_fast(line)) == line  # Wazuh's layout
    if groups is None:
        assert crafted_keys(line) is not None
        with pytest.raises(AlertError, match=r"^crafted: "):
            decode_alert_line(line)
    else:
        alert = decode_alert_line(line)
        assert (alert.rule_id, alert.level, alert.group_string) == ("5796", 5, groups)


def test_a_rule_that_starts_as_a_seen_one_gets_its_own_fields() -> None:
    """Rules known by their first bytes (a level and a description's start) are told apart by
    the rest: shorter, longer, other arrays; more of them than one key keeps stay right."""
    decode_alert_line(sshd(rule("5795", fired=1)))
    short = '{"level":5,"description":"sshd: Attempt to login","id":"5795","firedtimes":1}'
    assert decode_alert_line(sshd(short)).group_string == ""
    longer = rule("5795", fired=3).replace('"mail":false', '"mail":false,"cve":"x"')
    assert decode_alert_line(sshd(longer)).group_string == _SEEN_GROUPS
    variants = [rule("5795", fired=n, groups=f'"g{n}"', arrays="")
                for n in range(jsonreader._SAME_KEY_LIMIT + 3)]
    for _ in range(2):
        for n, text in enumerate(variants):
            assert decode_alert_line(sshd(text)).group_string == f"g{n},"
    # the most recent ones are still known by their bytes
    last = variants[-1].replace('"firedtimes":10', '"firedtimes":11')
    assert decode_alert_line(sshd(last)).group_string is decode_alert_line(
        sshd(variants[-1])).group_string


def test_a_line_with_its_newline_is_read_as_without() -> None:
    """A newline (`\n` or `\r\n`) after a line Wazuh wrote changes nothing: the same Alert,
    the line passed on without it, and a repeated key in it still refused."""
    first = decode_alert_line(sshd(rule("5789", fired=1)))
    for fired, end in ((2, b"\n"), (3, b"\r\n"), (4, b"")):
        line = sshd(rule("5789", fired=fired))
        alert = decode_alert_line(line + end)
        assert alert.raw == line
        assert alert.group_string is first.group_string
        assert alert == decode_alert_line(line)
    for end in (b"\n", b"\r\n"):
        for repeated in (rule("5789", fired=5).replace('"mail":false', '"mail":false,"level":15'),
                         None):
            line = sshd(repeated).replace(b'"location"', b'"location":"x","location"')
            with pytest.raises(AlertError, match=r"^crafted: "):
                decode_alert_line(line + end)


def test_a_rule_not_written_compact_is_read_as_before() -> None:
    """The line around it is Wazuh's layout, the rule is not (spaces): it is vouched for by
    the slower readings, and a repeated key in it is still refused."""
    spaced = rule("5794", fired=1).replace('"level":5', '"level": 5')
    line = sshd(spaced)
    assert jsonreader._encode(jsonreader._decode_fast(line)) == line  # the rule kept raw
    assert decode_alert_line(line).group_string == _SEEN_GROUPS
    repeated = spaced.replace('"mail":false', '"mail":false, "level":15')
    with pytest.raises(AlertError, match=r"^crafted: "):
        decode_alert_line(sshd(repeated))


def test_a_rule_in_any_member_order_is_known_again_by_its_bytes() -> None:
    """Wazuh writes a rule's compliance arrays in its ruleset's order, not always the quick
    structs' one: such a rule is known again too, with its own order's group string."""
    arrays = ',"gdpr":["IV_35.7.d"],"pci_dss":["10.2.4"]'
    first = decode_alert_line(sshd(rule("5793", fired=1, arrays=arrays)))
    assert first.group_string == "syslog,sshd,authentication_failed,gdpr_IV_35.7.d,pci_dss_10.2.4,"
    again = decode_alert_line(sshd(rule("5793", fired=2, arrays=arrays)))
    assert again.group_string is first.group_string


def test_a_firedtimes_inside_mitre_lends_nothing() -> None:
    """A rule whose first `"firedtimes":` is inside its `mitre`: the number that may change is
    that one, and every rule known so reads as a fresh reading of it does."""
    def text(inner: int, fired: int) -> str:
        return rule("5792", fired=fired).replace(
            '"mitre":{"id"', f'"mitre":{{"firedtimes":{inner},"id"')

    lines = [sshd(text(inner, fired)) for inner, fired in ((7, 7), (9, 7), (7, 8), (3, 3))]
    fresh = []
    for line in lines:
        jsonreader._rules_seen.clear()
        fresh.append(decode_alert_line(line))
    jsonreader._rules_seen.clear()
    assert [decode_alert_line(line) for line in lines] == fresh  # each after the ones before
    assert {(alert.rule_id, alert.group_string) for alert in fresh} == {("5792", _SEEN_GROUPS)}


def test_a_rule_read_again_from_lines_laid_out_otherwise_is_kept_once() -> None:
    """Lines whose members Wazuh's order doesn't hold (so their rule is decoded each time)
    never crowd the other rules known by the same first bytes out."""
    jsonreader._rules_seen.clear()
    text = rule("5791", fired=1)
    decode_alert_line(sshd(rule("5791", fired=1, groups='"other"')))
    moved = ('{"agent":{"id":"001","name":"a"},"timestamp":"' + STAMP + '","rule":' + text
             + ',"location":"x"}').encode()
    for _ in range(jsonreader._SAME_KEY_LIMIT + 1):
        assert decode_alert_line(moved).group_string == _SEEN_GROUPS
    same_key = jsonreader._rules_seen[text.encode()[:jsonreader._KEY_SIZE]]
    assert len(same_key) == 2


# ------------------------------------------------------------------ against the exact path

_EDITS = [
    # (what, the text replaced, what replaces it) in the rule of `sshd()`
    ("counter", '"firedtimes":7', '"firedtimes":8'),
    ("counter as text", '"firedtimes":7', '"firedtimes":"7"'),
    ("counter and a level", '"firedtimes":7', '"firedtimes":7,"level":15'),
    ("counter and groups", '"firedtimes":7', '"firedtimes":7,"groups":["web"]'),
    ("level before counter", '"level":5', '"level":5,"firedtimes":1'),
    ("spaced counter", '"firedtimes":7', '"firedtimes": 7'),
    ("level", '"level":5', '"level":12'),
    ("level as text", '"level":5', '"level":"5"'),
    ("id as number", '"id":"5710"', '"id":5710'),
    ("escaped key", '"groups":', '"gr\\u006fups":'),
    ("recased key", '"groups":', '"Groups":'),
    ("nul key", '"groups":', '"groups\\u0000":'),
    ("escaped value", '"sshd"', '"ss\\u0068d"'),
    ("array order", '"pci_dss":["10.2.4"],"gdpr":["IV_35.7.d"]',
     '"gdpr":["IV_35.7.d"],"pci_dss":["10.2.4"]'),
    ("second array", '"gdpr":["IV_35.7.d"]', '"gdpr":["IV_35.7.d"],"gdpr":["II_5.1.f"]'),
    ("mitre counter", '"mitre":{', '"mitre":{"firedtimes":7,'),
    ("no counter", '"firedtimes":7,', ""),
    ("unknown member", '"mail":false', '"mail":false,"x":1'),
    ("description", "Attempt to login", "Attempt to log in"),
]


def _exact(line: bytes) -> Alert | str:
    """The exact path's reading: the checked readings, never the quick one."""
    try:
        return jsonreader._checked_alert(line)
    except AlertError as error:
        return str(error)


def _quick(line: bytes) -> Alert | str:
    try:
        return decode_alert_line(line)
    except AlertError as error:
        return str(error)


@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
def test_every_edit_of_a_rule_reads_as_the_exact_path_does(warm: bool) -> None:
    """Each edit alone, then two at once, on cold caches or after the genuine rule (and each
    edit before it) warmed them: the quick reading gives the exact path's Alert or refusal."""
    genuine = sshd()
    edited = [(what, rule().replace(old, new, 1)) for what, old, new in _EDITS]
    edited += [(f"{what}, {then}", text.replace(old, new, 1))
               for what, text in edited[:len(_EDITS)] for then, old, new in _EDITS
               if then != what and old in text and text.replace(old, new, 1) != rule()]
    assert len(edited) > 300
    for what, text in edited:
        line = sshd(text)
        if not warm:
            jsonreader._rules_seen.clear()
            rule_groups.GROUPS_BY_ARRAYS.clear()
        else:
            decode_alert_line(genuine)
        assert _quick(line) == _exact(line), what

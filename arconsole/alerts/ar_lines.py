"""The agents' active-response log alerts (rules 650-658, fleet.md F2) read in one typed pass.

Such a line is 1-3 KB (`data.parameters.alert` holds the whole trigger alert, `full_log` the
message again), its `data` is not the shape `jsonreader`'s quick reading knows, so the general
reader takes its slow road, and the fleet table then read the line a second time. Here one
decode gives both the `Alert` a decision needs and what the fleet row needs (`ArReading`:
command, program, origin, the trigger's timestamp and rule).

The same guarantees as the quick reading (`jsonreader`): every object on a path read here (the
line, `agent`, `data`, `data.origin`, `data.parameters`, the trigger alert) declares the keys
analysisd writes and forbids the others, so a key in another case, or one holding a NUL, fails
the decode; the decoded value is encoded again and must give back the line's exact length, so a
repeated key (dropped by the decode) fails it too. The two rules (the line's and the trigger's)
are kept as written: a rule is known by its bytes less the value of its `firedtimes` (the one
member that changes from one alert of a rule to the next), and a rule not seen before passes the
same two tests on its own before its fields are kept. Whatever this reading cannot vouch for is
left to the general reader and the fleet's checked reading: these shapes decide speed, never
outcome (tests hold the `Alert` equal to `decode_alert_line`'s, and the entry to the checked
reading's).

`decode_json_line` is the intake's decoder of alerts.json lines: a line whose rule is written
where and as analysisd writes an AR log rule (`{"timestamp":"…","rule":{"level":3,
"description":"Host Blocked by …`) is tried here first, every other line goes straight to
`decode_alert_line` (one bounded prefix test each). The reading of the last line decoded here
is kept for the fleet stage, found by the identity of the `Alert`'s `raw` (`reading_of`).
"""

from __future__ import annotations

import re

import msgspec
from msgspec import UNSET, UnsetType

from arconsole.alerts.jsonreader import MAX_LINE, decode_alert_line, groups_of
from arconsole.alerts.model import Alert, AlertError
from arconsole.alerts.quick_shapes import QuickRule
from arconsole.alerts.round_trip import lost_members
from arconsole.alerts.rule_groups import CACHE_LIMIT

_Raw = msgspec.Raw | UnsetType  # written by analysisd, read by nobody here
COMPLIANCE_NAMES = ("pci_dss", "cis", "gdpr", "gpg13", "hipaa", "nist_800_53", "tsc")


class _Strict(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, gc=False):
    pass


class TriggerRule(msgspec.Struct, frozen=True, gc=False):
    """What binding reads of `data.parameters.alert.rule` (every scalar a string there)."""

    id: str | int = ""
    level: str | int = ""
    description: str = ""
    groups: tuple[str, ...] | None = None
    pci_dss: tuple[str, ...] | None = None
    cis: tuple[str, ...] | None = None
    gdpr: tuple[str, ...] | None = None
    gpg13: tuple[str, ...] | None = None
    hipaa: tuple[str, ...] | None = None
    nist_800_53: tuple[str, ...] | None = None
    tsc: tuple[str, ...] | None = None


# The trigger's rule is kept as written: less its counter (`firedtimes`), its bytes key the
# trigger's Alert, made once per distinct rule from its members in the order written (the
# compliance order is part of the group string), after the same checks as the line's.
_BOUND_MEMBERS = frozenset(TriggerRule.__struct_fields__)
_UNBOUND_MEMBERS = ("firedtimes", "mail", "mitre", "frequency", "info", "cve")
_TRIGGER_RULE_MEMBERS = _BOUND_MEMBERS | frozenset(_UNBOUND_MEMBERS)
_COMPLIANCE_MEMBERS = frozenset(COMPLIANCE_NAMES)
_TRIGGERS_LIMIT = 4096
_triggers: dict[tuple[bytes, bytes], Alert | None] = {}
_decode_trigger_rule = msgspec.json.Decoder(TriggerRule).decode
_decode_members = msgspec.json.Decoder(dict[str, msgspec.Raw]).decode
_FIREDTIMES = b'"firedtimes":'
_COUNTER = re.compile(rb'"[0-9]{1,12}"|[0-9]{1,12}(?=[,}])').match
_encode = msgspec.json.Encoder().encode


class _TriggerIn(_Strict):
    # Raw: a rule seen before is known by its bytes (less its counter), `_reading`.
    rule: _Raw = UNSET
    timestamp: str = ""
    agent: _Raw = UNSET
    manager: _Raw = UNSET
    cluster: _Raw = UNSET
    id: _Raw = UNSET
    full_log: _Raw = UNSET
    previous_output: _Raw = UNSET
    predecoder: _Raw = UNSET
    decoder: _Raw = UNSET
    data: _Raw = UNSET
    location: _Raw = UNSET
    input: _Raw = UNSET
    GeoLocation: _Raw = UNSET  # Wazuh's spelling


class _Parameters(_Strict):
    alert: _TriggerIn | None = None
    program: str = ""
    extra_args: _Raw = UNSET


class _Origin(_Strict):
    module: str = ""
    name: _Raw = UNSET


class _ArData(_Strict):
    parameters: _Parameters | None = None
    command: str | None = None
    srcip: str | None = None
    dstuser: str | None = None
    origin: _Origin | None = None
    version: _Raw = UNSET
    user: _Raw = UNSET  # the decoder's `dstuser` child names it so


class _ArAgent(_Strict):
    id: str | None = None
    name: str | None = None
    ip: _Raw = UNSET
    labels: _Raw = UNSET


class _ArLine(_Strict):
    rule: msgspec.Raw  # a rule seen before is known by its bytes (less its counter), `_rule`
    data: _ArData | None = None
    timestamp: str = ""
    id: str = ""
    agent: _ArAgent | None = None
    location: str | None = None
    manager: _Raw = UNSET
    cluster: _Raw = UNSET
    full_log: _Raw = UNSET
    previous_output: _Raw = UNSET
    predecoder: _Raw = UNSET
    decoder: _Raw = UNSET
    input: _Raw = UNSET
    GeoLocation: _Raw = UNSET


class ArReading(msgspec.Struct, frozen=True, gc=False):
    """What an AR log alert says besides the Alert's own fields (agent, key, timestamp)."""

    command: str | None  # add | delete (anything else names no block)
    program: str  # as written: `active-response/bin/firewall-drop`
    origin_module: str
    trigger_timestamp: str
    trigger: Alert | None  # the trigger's rule as an Alert, shared by every trigger of it


_decode = msgspec.json.Decoder(_ArLine).decode
# The line's rule as written less its counter -> (rule id as a string, level, description,
# groups, group string)
_RuleFields = tuple[str, int, str, tuple[str, ...], str]
_rules_seen: dict[tuple[bytes, bytes], _RuleFields] = {}
_decode_rule = msgspec.json.Decoder(QuickRule).decode

# analysisd writes `{"timestamp":"2026-05-03T05:23:58.577+0000","rule":{"level":3,...`
_RULE_AT = len(b'{"timestamp":"2026-05-03T05:23:58.577+0000",')
_AR_RULE = b'"rule":{"level":3,"description":"'
_AR_DESCRIPTIONS = (b"Host Blocked by ", b"Host Unblocked by ", b"Active response: ")
# (the raw line, its ArReading) of the last line read here: one tuple, replaced whole, so a
# reading is never paired with another line
_last: tuple[bytes, ArReading] | None = None


def decode_json_line(line: bytes) -> Alert:
    """`decode_alert_line`, with AR log alerts in analysisd's layout read here in one pass."""
    if line.startswith(_AR_RULE, _RULE_AT) and line.startswith(
            _AR_DESCRIPTIONS, _RULE_AT + len(_AR_RULE)):
        read = read_ar_line(line)
        if read is not None:
            global _last
            alert, reading = read
            _last = (alert.raw, reading)
            return alert
    return decode_alert_line(line)


def reading_of(alert: Alert) -> ArReading | None:
    """The reading `decode_json_line` made of this very alert's line, if it was the last."""
    last = _last
    return last[1] if last is not None and alert.raw is last[0] else None


def _decoded(line: bytes) -> _ArLine | None:
    """The line decoded and vouched for (no repeated key, none in another case), or None."""
    if len(line) > MAX_LINE:
        return None
    try:
        decoded = _decode(line)
    except msgspec.DecodeError:  # ValidationError included: an unknown key, another shape
        return None
    if lost_members(decoded, line):  # a repeated key was dropped (or the line is not compact)
        return None
    return decoded


def read_ar_fields(line: bytes) -> ArReading | None:
    """The fleet's reading of an AR log alert line decoded elsewhere (any key order), or None
    when this reading cannot vouch for it."""
    decoded = _decoded(line)
    return None if decoded is None else _reading(decoded)


def read_ar_line(line: bytes) -> tuple[Alert, ArReading] | None:
    """The Alert (equal to `decode_alert_line`'s) and the fleet's reading, or None."""
    if line.endswith(b"\n"):
        line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
    decoded = _decoded(line)
    if decoded is None:
        return None
    reading = _reading(decoded)
    rule = _rule(bytes(decoded.rule))
    if rule is None or reading is None:
        return None
    agent = decoded.agent
    data = decoded.data
    alert = Alert(
        decoded.id, decoded.timestamp, rule[0], rule[1], rule[2], rule[3], rule[4],
        None if agent is None else agent.id, None if agent is None else agent.name,
        None if data is None else data.srcip, None if data is None else data.dstuser,
        decoded.location, line, None, None)
    return alert, reading


def _less_counter(raw: bytes) -> tuple[bytes, bytes]:
    """A rule as written, before and after the value of its `firedtimes` (digits only): two
    rules with the same such parts differ in nothing else (the first `"firedtimes":` is at
    the same place in both)."""
    start = raw.find(_FIREDTIMES)
    value = _COUNTER(raw, start + len(_FIREDTIMES)) if start >= 0 else None
    return (raw, b"") if value is None else (raw[:value.start()], raw[value.end():])


def _rule(raw: bytes) -> _RuleFields | None:
    """The line's rule as the Alert holds it, known by its bytes less its counter; a rule not
    seen before is checked (keys known, none repeated) and its groups built by the general
    reader's own functions (`rule_groups`), so the group string is the one it gives."""
    key = _less_counter(raw)
    try:
        return _rules_seen[key]
    except KeyError:
        pass
    try:
        rule = _decode_rule(raw)
    except msgspec.DecodeError:
        return None
    if lost_members(rule, raw):  # a repeated key (or not written compact)
        return None
    as_line = b'{"rule":' + raw + b"}"  # what `rule_groups` reads the arrays' order from
    try:
        groups, group_string = groups_of(as_line, rule)
    except AlertError:
        return None  # the general reader says why
    found = (rule.id if type(rule.id) is str else str(rule.id), rule.level, rule.description,
             groups, group_string)
    if len(_rules_seen) >= CACHE_LIMIT:
        _rules_seen.clear()
    _rules_seen[key] = found
    return found


def _reading(decoded: _ArLine) -> ArReading | None:
    """None when the trigger's rule cannot be vouched for (a member unknown here, in another
    case, or repeated)."""
    data = decoded.data
    parameters = data.parameters if data is not None else None
    if data is None or parameters is None:
        return ArReading(None, "", "", "", None)
    trigger = parameters.alert
    found = None
    written = trigger.rule if trigger is not None else UNSET
    if isinstance(written, msgspec.Raw) and (raw := bytes(written)) != b"null":
        key = _less_counter(raw)
        try:
            found = _triggers[key]
        except KeyError:
            members = _vouched_members(raw)
            if members is None:
                return None
            try:
                found = rule_alert(_decode_trigger_rule(raw),
                                   tuple(name for name in members if name in _COMPLIANCE_MEMBERS))
            except msgspec.ValidationError:
                return None
            if len(_triggers) >= _TRIGGERS_LIMIT:
                _triggers.clear()
            _triggers[key] = found
    return ArReading(
        data.command, parameters.program, data.origin.module if data.origin else "",
        trigger.timestamp if trigger is not None else "", found)


def _vouched_members(raw: bytes) -> dict[str, msgspec.Raw] | None:
    """The trigger rule's members in the order written, when none is repeated (the length
    test), in another case or unknown here (the names); else None."""
    try:
        members = _decode_members(raw)
    except msgspec.DecodeError:
        return None
    if not members.keys() <= _TRIGGER_RULE_MEMBERS or lost_members(members, raw):
        return None
    return members


def rule_alert(rule: TriggerRule, order: tuple[str, ...]) -> Alert | None:
    """An Alert of the trigger's rule alone, decoded by the alerts reader (so its group string
    is exactly the one a decision would see); `order`: its compliance arrays, as written."""
    level = rule.level
    if isinstance(level, str) and level.strip().isdigit():
        level = int(level)
    fields = b",".join(
        b'"' + name.encode() + b'":' + _encode(getattr(rule, name))
        for name in ("groups", *order) if getattr(rule, name) is not None
    )
    line = (b'{"rule":{"id":' + _encode(rule.id) + b',"level":' + _encode(level)
            + b',"description":' + _encode(rule.description)
            + (b"," + fields if fields else b"") + b"}}")
    try:
        return decode_alert_line(line)
    except AlertError:
        return None

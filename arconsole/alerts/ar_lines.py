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
repeated key (dropped by the decode) fails it too. Both rules are kept raw and known by their
text less the value of their `firedtimes` (the one member that changes from one alert of a
rule to the next): the line's rule through the quick reading's own memory of rules
(`jsonreader.rule_fields`); the trigger's rule, every scalar a string there, through
`trigger_of`'s, once it passed the same two tests on its own (the fleet's checked reading
shares it). Whatever this reading cannot vouch for is left to the general reader and the
fleet's checked reading: these shapes decide speed, never outcome (tests hold the `Alert`
equal to `decode_alert_line`'s, and the entry to the checked reading's).

`decode_json_line` is the intake's decoder of alerts.json lines: a line whose rule is written
where and as analysisd writes an AR log rule (`{"timestamp":"…","rule":{"level":3,
"description":"Host Blocked by …`) is tried here first, every other line goes straight to
`decode_alert_line` (one bounded prefix test each). The reading of the last line decoded here
is kept for the fleet stage, found by the identity of the `Alert`'s `raw` (`reading_of`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import msgspec
from msgspec import UNSET, UnsetType

from arconsole.alerts.jsonreader import MAX_LINE, decode_alert_line, rule_fields
from arconsole.alerts.model import Alert, AlertError
from arconsole.alerts.round_trip import lost_members

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


# Members are declared in the order analysisd writes them (msgspec looks a key up from the
# member after the last one found, so a line in that order is decoded without searching).


class _TriggerIn(_Strict):
    timestamp: str = ""
    # Raw: a rule seen before is known by its bytes (less its counter), `trigger_of`.
    rule: _Raw = UNSET
    agent: _Raw = UNSET
    manager: _Raw = UNSET
    id: _Raw = UNSET
    cluster: _Raw = UNSET
    previous_output: _Raw = UNSET
    full_log: _Raw = UNSET
    predecoder: _Raw = UNSET
    decoder: _Raw = UNSET
    data: _Raw = UNSET
    GeoLocation: _Raw = UNSET  # Wazuh's spelling
    location: _Raw = UNSET
    input: _Raw = UNSET


class _Parameters(_Strict):
    extra_args: _Raw = UNSET
    alert: _TriggerIn | None = None
    program: str = ""


class _Origin(_Strict):
    name: _Raw = UNSET
    module: str = ""


class _ArData(_Strict):
    srcip: str | None = None
    dstuser: str | None = None
    user: _Raw = UNSET  # the decoder's `dstuser` child names it so
    version: _Raw = UNSET
    origin: _Origin | None = None
    command: str | None = None
    parameters: _Parameters | None = None


class _ArAgent(_Strict):
    id: str | None = None
    name: str | None = None
    ip: _Raw = UNSET
    labels: _Raw = UNSET


class _ArLine(_Strict, kw_only=True):
    timestamp: str = ""
    rule: msgspec.Raw  # a rule seen before is known by its text (`jsonreader.rule_fields`)
    agent: _ArAgent | None = None
    manager: _Raw = UNSET
    id: str = ""
    cluster: _Raw = UNSET
    previous_output: _Raw = UNSET
    full_log: _Raw = UNSET
    predecoder: _Raw = UNSET
    decoder: _Raw = UNSET
    data: _ArData | None = None
    GeoLocation: _Raw = UNSET
    location: str | None = None
    input: _Raw = UNSET


class ArReading(msgspec.Struct, frozen=True, gc=False):
    """What an AR log alert says besides the Alert's own fields (agent, key, timestamp)."""

    command: str | None  # add | delete (anything else names no block)
    program: str  # as written: `active-response/bin/firewall-drop`
    origin_module: str
    trigger_timestamp: str
    trigger: Alert | None  # the trigger's rule as an Alert, shared by every trigger of it


_decode = msgspec.json.Decoder(_ArLine).decode
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
    if line and line[-1] == 10:  # b"\n"
        line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
    decoded = _decoded(line)
    if decoded is None:
        return None
    reading = _reading(decoded)
    if reading is None:
        return None
    try:
        rule = rule_fields(decoded.rule, line)
    except AlertError:
        return None  # the general reader says why
    if rule is None:
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


def _reading(decoded: _ArLine) -> ArReading | None:
    """None when the trigger's rule cannot be vouched for (a member unknown here, in another
    case, or repeated)."""
    data = decoded.data
    if data is None or (parameters := data.parameters) is None:
        return ArReading(None, "", "", "", None)
    trigger = parameters.alert
    if trigger is None:
        return ArReading(data.command, parameters.program,
                         data.origin.module if data.origin else "", "", None)
    found = None
    written = trigger.rule
    if written is not UNSET and (raw := bytes(written)) != b"null":
        try:
            found = trigger_of(raw)
        except Unvouched:
            return None
    return ArReading(data.command, parameters.program,
                     data.origin.module if data.origin else "", trigger.timestamp, found)


class Unvouched(Exception):
    """The trigger's rule is written in a way `trigger_of` cannot vouch for."""


def trigger_of(raw: bytes) -> Alert | None:
    """The trigger's rule (`data.parameters.alert.rule` as written) as an Alert, shared by
    every trigger of that rule: known by its bytes less its counter. A rule not seen before
    is kept only once vouched for (every member known here, none repeated, none in another
    case, written compact: `_vouched_members`); else `Unvouched`, and the caller reads it
    another way (this reading: not at all; the fleet's checked reading: on its own, after
    `crafted_keys`). None when the rule makes no Alert (`rule_alert`)."""
    key = _less_counter(raw)
    try:
        return _triggers[key]
    except KeyError:
        pass
    members = _vouched_members(raw)
    if members is None:
        raise Unvouched
    try:
        rule = _decode_trigger_rule(raw)
    except msgspec.ValidationError:
        raise Unvouched from None
    found = rule_alert(rule, compliance_order(rule, members))
    if len(_triggers) >= _TRIGGERS_LIMIT:
        _triggers.clear()
    _triggers[key] = found
    return found


def lone_trigger(raw: bytes) -> Alert | None:
    """The trigger's rule read on its own and not kept: one `trigger_of` could not vouch
    for, whose keys a caller checked exactly itself (`crafted_keys`). msgspec's errors
    propagate (an odd shape: the caller reads the trigger otherwise)."""
    rule = _decode_trigger_rule(raw)
    return rule_alert(rule, compliance_order(rule, _decode_members(raw)))


def compliance_order(rule: TriggerRule, members: Iterable[str]) -> tuple[str, ...]:
    """The trigger rule's compliance arrays in the order its own members (`members`, as
    written) give them: part of its group string."""
    return tuple(name for name in members
                 if name in _COMPLIANCE_MEMBERS and getattr(rule, name) is not None)


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


_C_SPACE = " \t\n\r\f\v"  # what C's isspace() strips (str.strip() also strips Unicode's)


def rule_alert(rule: TriggerRule, order: tuple[str, ...]) -> Alert | None:
    """An Alert of the trigger's rule alone, decoded by the alerts reader (so its group string
    is exactly the one a decision would see); `order`: its compliance arrays, as written."""
    level = rule.level
    if isinstance(level, str) and (digits := level.strip(_C_SPACE)).isascii() \
            and digits.isdigit() and len(digits) <= 9:  # as the manager's decoder leaves it
        level = int(digits)  # (no more digits than a level holds: int() refuses 4300)
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

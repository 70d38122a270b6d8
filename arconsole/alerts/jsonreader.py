"""Read one `alerts.json` line into an `Alert` (spec 10), refusing lines crafted with repeated keys.

Only the fields decisions need are decoded (msgspec skips or slices the rest of the line
quickly); the line itself is kept as `raw` so a response passes the alert on byte for byte.
Missing keys (`agent`, `data`, `id`...) are normal. A line that is not a JSON object with a
`rule` holding `id` and `level`, or that is longer than 64 KiB (Wazuh's `OS_MAXSTR`), raises
`AlertError`. A blank line is not an alert either: `read_alerts_json` and the followers skip it.

Repeated keys. msgspec keeps the last of a repeated key and matches names exactly; the scripts
read the alert as Wazuh's cJSON does: the first key, compared case-insensitively. A line whose
decision keys are ambiguous that way (`{"data":{"srcip":"10.0.0.5","srcip":"8.8.8.8"}}`,
`"SrcIP"`, `"DATA"`, `"src\\u0069p"`, `"srcip\\u0000"`) would be checked as one address and
acted on as another, so it is refused: `AlertError("crafted: ...")`, with the reason
`crafted_keys` (`arconsole/alerts/crafted.py`, the exact check) gives. The exact check is slow (a
second parse keeping every member), so a line goes through up to three readings, each vouching
for the line or handing it to the next:

1. quick: one decode into structs made for Wazuh's alerts (`quick_shapes.QuickLine`): every
   object on a decision path (the line, `rule`, `agent`, `data`, `data.win`, its `eventdata`,
   `syscheck`) declares the keys Wazuh and its ruleset usually write there, each decision key
   only as Wazuh spells it, and forbids the others: a key in another case, or holding a NUL,
   fails the decode. Then the decoded value is encoded again (`round_trip`): that gives back
   the line's exact length unless a member was dropped somewhere, i.e. a key was repeated (an
   escaped spelling decodes to the same name and is dropped as well: msgspec writes the
   shortest form of each string, integers have one form, raw values are written as they were,
   so nothing is ever written longer than it was and a dropped member cannot be made up for
   elsewhere). The rule is kept raw in that decode (a dozen members fewer to build and to
   write again): a rule written as one seen before but for the digits of its `firedtimes` is
   that rule; any other is decoded on its own (`QuickRule`) and held to the same two tests
   (`_new_rule`).
   Everything out of the ordinary (a key Wazuh doesn't usually write, a number where Wazuh
   writes a string, whitespace, escapes in keys) goes on to
2. checked: a line holding `\\u0000` goes straight to 3. Else the same length test on a decode
   that takes any `data` and `syscheck` (`_StrictLine`), their keys on a decision path compared
   case-blind (`_recased`, `_data_clear`); a line that fails it goes on to
3. exact: `crafted_keys`, then the lenient decode (which reports any real error).

A line Wazuh wrote is its own re-encoding byte for byte (the structs declare members in the
order Wazuh writes them), which the quick reading checks with one comparison: then its rule,
when written as a rule seen before but for the digits of `firedtimes`, is that rule, and its
fields, groups and group string are the ones remembered (`_remember_rule` says why comparing
bytes is enough). The quick structs decode nothing of a member they only count (it stays a raw
view of the line; absent ones stay `UNSET`) and are not tracked by the garbage collector;
bench/decide.py measures the result against `orjson.loads` and msgspec's typed decode.

The compliance arrays are decoded lazily (`rule_groups`): their raw bytes, in the line's order,
are the key of a cache of rebuilt group strings (`rules_group` sees the order).

alerts.log (OSSEC's and Wazuh's text format) has no keys to repeat: `logreader` is unaffected.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import msgspec
from msgspec import UNSET

from arconsole.alerts.crafted import DECISION_KEYS, crafted_keys
from arconsole.alerts.model import TOO_DEEP, Alert, AlertError
from arconsole.alerts.quick_shapes import QuickLine, QuickRule
from arconsole.alerts.round_trip import encode_into, lost_members, per_thread, reencoded
from arconsole.alerts.rule_groups import (
    CACHE_LIMIT,
    GROUPS_BY_ARRAYS,
    arrays_key,
    rebuild_groups,
)
from arconsole.safetext import literal
from arconsole.wording import json_error

__all__ = [
    "DECISION_KEYS", "MAX_LINE", "crafted_keys", "decode_alert_line", "groups_of",
    "read_alerts_json", "rule_fields",
]

MAX_LINE = 65536  # OS_MAXSTR
_NONE = msgspec.Raw(b"")


# ------------------------------------------------------------------ 2. checked, 3. lenient
# Lenient shapes (any other key is skipped); the strict ones below add `forbid_unknown_fields`.
# Keys that decisions don't read are declared as Raw so the strict decode knows them.


class _Rule(msgspec.Struct, omit_defaults=True):
    id: str | int
    level: int
    description: str = ""
    groups: msgspec.Raw = _NONE
    pci_dss: msgspec.Raw = _NONE
    cis: msgspec.Raw = _NONE
    gdpr: msgspec.Raw = _NONE
    gpg13: msgspec.Raw = _NONE
    hipaa: msgspec.Raw = _NONE
    nist_800_53: msgspec.Raw = _NONE
    tsc: msgspec.Raw = _NONE
    firedtimes: msgspec.Raw = _NONE
    mail: msgspec.Raw = _NONE
    mitre: msgspec.Raw = _NONE
    frequency: msgspec.Raw = _NONE
    info: msgspec.Raw = _NONE
    cve: msgspec.Raw = _NONE


class _Agent(msgspec.Struct, omit_defaults=True):
    id: str | None = None
    name: str | None = None
    ip: msgspec.Raw = _NONE
    labels: msgspec.Raw = _NONE


class _Line(msgspec.Struct, omit_defaults=True):
    rule: _Rule
    id: str = ""
    timestamp: str = ""
    agent: _Agent | None = None
    # Open-ended objects, decoded whole so that the quick test sees every key in them.
    data: dict[str, Any] | None = None
    location: str | None = None
    syscheck: dict[str, Any] | None = None
    manager: msgspec.Raw = _NONE
    cluster: msgspec.Raw = _NONE
    full_log: msgspec.Raw = _NONE
    previous_output: msgspec.Raw = _NONE
    previous_log: msgspec.Raw = _NONE
    predecoder: msgspec.Raw = _NONE
    decoder: msgspec.Raw = _NONE
    input: msgspec.Raw = _NONE
    GeoLocation: msgspec.Raw = _NONE  # Wazuh's spelling


class _StrictRule(_Rule, forbid_unknown_fields=True):
    pass


class _StrictAgent(_Agent, forbid_unknown_fields=True):
    pass


class _StrictLine(_Line, forbid_unknown_fields=True):
    rule: _StrictRule
    agent: _StrictAgent | None = None


def _number_as_written(text: str) -> msgspec.Raw:
    """A float inside `data` or `syscheck`, kept as written so it re-encodes byte for byte."""
    return msgspec.Raw(text.encode())


_decode_fast = msgspec.json.Decoder(QuickLine).decode
_decode_strict = msgspec.json.Decoder(_StrictLine, float_hook=_number_as_written).decode
_decode_lenient = msgspec.json.Decoder(_Line).decode

# (rule id as a string, level, description, groups, group string): what the Alert holds
_RuleFields = tuple[str, int, str, tuple[str, ...], str]
# (written before the firedtimes' value, after it, their lengths, whether the rule has one, its
# fields): a plain tuple, unpacked on every line (sooner than names or indexes are read)
_RuleSeen = tuple[bytes, bytes, int, int, bool, _RuleFields]
# Rules seen before, by the first `_KEY_SIZE` bytes of the rule as written (its level and the
# start of its description) -> the rules written so (`_remember_rule`).
_rules_seen: dict[bytes, tuple[_RuleSeen, ...]] = {}
_KEY_SIZE = 48
_SAME_KEY_LIMIT = 8  # rules kept under one key (a level and a description's start)
_RULE_AFTER_TIMESTAMP = len(b'{"timestamp":"","rule":')  # + the timestamp's length
_RULE_FIRST = len(b'{"rule":')
_FIREDTIMES = b'"firedtimes":'
_decode_rule = msgspec.json.Decoder(QuickRule).decode
_encode = msgspec.json.Encoder().encode
# Keys on a decision path inside the open objects, folded (see DECISION_KEYS).
_DATA_NAMES = frozenset(("srcip", "dstuser", "win"))
_WIN_NAMES = frozenset(("eventdata",))
_SYSCHECK_NAMES = frozenset(("path",))
# data.win.eventdata's keys are camelCase: (folded key, as written).
_EVENTDATA_NAMES = (("ipaddress", "ipAddress"), ("destinationip", "destinationIp"))


_NUL = b"\\u0000"  # how JSON text writes a NUL (a raw one is invalid JSON)


def decode_alert_line(line: bytes) -> Alert:
    """One alerts.json line (with or without its newline) as an Alert; AlertError if unusable."""
    # The followers pass lines without their newline: one is only looked for where a line
    # differs from its re-encoding (which never ends with one) or seems too long.
    size = len(line)
    if size > MAX_LINE:
        line = _unterminated(line)
        size = len(line)
        if size > MAX_LINE:
            raise AlertError(f"line longer than 64 KiB (more than {MAX_LINE} bytes)")
    try:
        decoded = _decode_fast(line)  # (a newline after the object is whitespace to it)
    except msgspec.DecodeError:  # not plain, or not JSON: the next reading says which
        return _checked_alert(_unterminated(line))
    try:  # `reencoded(decoded)`, inlined (a call less per line)
        encoded: bytearray = per_thread.buffer
    except AttributeError:
        encoded = reencoded(decoded)
    else:
        encode_into(decoded, encoded)
    written = decoded.rule  # the rule as written: a rule seen before is known by its bytes
    timestamp = decoded.timestamp
    rule: _RuleFields | None = None
    plain = encoded == line
    if not plain and line and line[-1] == 10:  # b"\n"
        line = _unterminated(line)
        size = len(line)
        plain = encoded == line
    if plain:
        # A line written as Wazuh writes it, its own re-encoding byte for byte. Its rule
        # starts after the timestamp; one written as a rule seen before but for the digits of
        # its `firedtimes` is that rule (`_remember_rule` says why). `rule_fields` looks
        # rules up the same way: the two must change together.
        start = len(timestamp) + _RULE_AFTER_TIMESTAMP if timestamp else _RULE_FIRST
        end = start + len(written)
        # (a rule shorter than a key reads on into the line: no rule known fits it)
        same_key = _rules_seen.get(line[start:start + _KEY_SIZE])
        if same_key is not None:
            for before, after, before_size, after_size, counted, fields in same_key:
                split = start + before_size
                tail = end - after_size
                # (slices compare sooner than `startswith(text, start)` parses its arguments)
                if line[start:split] == before and line[tail:end] == after and (
                        line[split:tail].isdigit() if counted else split == end):
                    rule = fields
                    break
        if rule is None:
            rule = _new_rule(written, line)
    elif len(encoded) != size:  # a repeated key was dropped somewhere (or not plain)
        return _checked_alert(line)
    else:  # as long, but laid out otherwise (another order of members)
        rule = _new_rule(written, line)
    if rule is None:  # a rule the quick reading cannot vouch for
        return _checked_alert(line)
    rule_id, level, description, groups, group_string = rule
    srcip = dstuser = filename = None
    data = decoded.data
    if data is not None:
        srcip = data.srcip
        dstuser = data.dstuser
        win = data.win
        if win is not None and (eventdata := win.eventdata) is not None:
            # spec 8.3, as `_scripts_address` reads it (`_agreed` inlined: it raises)
            if (address := eventdata.ipAddress) is not None:
                if srcip is not None and address != srcip:
                    _agreed(srcip, "ipAddress", address)
                srcip = address
            elif (address := eventdata.destinationIp) is not None:
                if srcip is not None and address != srcip:
                    _agreed(srcip, "destinationIp", address)
                srcip = address
    syscheck = decoded.syscheck
    if syscheck is not None:
        filename = syscheck.path
    agent = decoded.agent
    return Alert(
        decoded.id,
        timestamp,
        rule_id,
        level,
        description,
        groups,
        group_string,
        None if agent is None else agent.id,
        None if agent is None else agent.name,
        srcip,
        dstuser,
        decoded.location,
        line,
        None,
        filename,
    )


def _unterminated(line: bytes) -> bytes:
    """`line` without its newline (`\n` or `\r\n`), if it has one."""
    if line and line[-1] == 10:  # b"\n" (an index is read sooner than `endswith` is called)
        return line[:-2] if line.endswith(b"\r\n") else line[:-1]
    return line


def _new_rule(written: msgspec.Raw, line: bytes) -> _RuleFields | None:
    """A rule not known by its bytes: decoded on its own and vouched for as the quick reading
    vouches for a line (keys known and as Wazuh spells them, none repeated), then its fields,
    remembered; None when it cannot be vouched for (a slower reading decides)."""
    text = bytes(written)
    try:
        rule = _decode_rule(text)
    except msgspec.DecodeError:  # another key, another type, not an object: a slower reading
        return None
    if lost_members(rule, text):  # a repeated key was dropped (or the rule is not compact)
        return None
    groups, group_string = groups_of(line, rule)
    rule_id = rule.id
    fields = (rule_id if type(rule_id) is str else str(rule_id), rule.level, rule.description,
              groups, group_string)
    _remember_rule(rule, text, fields)
    return fields


def rule_fields(written: msgspec.Raw, line: bytes) -> _RuleFields | None:
    """(rule id as a string, level, description, groups, group string) of a line's rule
    kept raw (`written`, the line's top-level `rule` value as written): a rule remembered
    (`_remember_rule`) is known by its text, any other is decoded and vouched for on its own
    (`_new_rule`); None when it cannot be vouched for. For a reader whose lines are not laid
    out as `decode_alert_line`'s (`ar_lines`): that one looks rules up the same way, inline,
    in the line itself (inlined there for speed: the two lookups must change together).
    `AlertError` from the arrays (`groups_of`)."""
    text = bytes(written)
    same_key = _rules_seen.get(text[:_KEY_SIZE])
    if same_key is not None:
        end = len(text)
        for before, after, before_size, after_size, counted, fields in same_key:
            tail = end - after_size
            if text[:before_size] == before and text[tail:] == after and (
                    text[before_size:tail].isdigit() if counted else before_size == end):
                return fields
    return _new_rule(written, line)


def groups_of(line: bytes, rule: QuickRule) -> tuple[tuple[str, ...], str]:
    """The groups and group string of a rule not known yet (the line tells the arrays' order)."""
    key = arrays_key(line, rule)
    try:
        return GROUPS_BY_ARRAYS[key]
    except KeyError:
        return rebuild_groups(rule, line, key)


def _remember_rule(rule: QuickRule, text: bytes, fields: _RuleFields) -> None:
    """Remember a rule vouched for (`_new_rule`) as written, around the value of its
    `firedtimes` (the one member that changes from alert to alert), to know it again by its
    bytes.

    `text` is the rule as the line writes it, compact, no key repeated or unknown, its arrays
    all strings: `before` + the digits of a firedtimes + `after`, where `before` ends with
    `"firedtimes":` (a key: a quote inside a string is escaped, and a string's closing quote
    is followed by `,`, `:`, `]` or `}`, never by a name) and `after` starts with `,` or `}`.
    A later rule, in a line its own re-encoding (so the quick reading knows where the rule
    starts, and by its raw length where it ends), written as `before` + digits + `after` is
    the same text with one number in place of another, the value of a `firedtimes` key:
    member by member the same keys, none repeated, and the same values for all that decisions
    read (no decision member's value can hold an object). A rule written without a firedtimes
    is known by its whole text. Only a rule whose first `_KEY_SIZE` bytes come before the
    counter is remembered (it is looked up by them).

    Where the rule is looked for: after a plain timestamp (ASCII, nothing escaped) exactly
    where it starts; after any other one earlier, into the timestamp's string or the
    `","rule":` after it. The text found there can start with `{"` (a timestamp ending in `{`
    gives `{","rule":`), but never with the `{","` no rule vouched for starts with, so no rule
    is known there.
    """
    firedtimes = rule.firedtimes
    if firedtimes is UNSET:
        before, after = text, b""
    else:
        split = text.find(_FIREDTIMES) + len(_FIREDTIMES)
        value = bytes(firedtimes)
        after = text[split + len(value):]
        if (split < len(_FIREDTIMES) or not value.isdigit()
                or not text.startswith(value, split) or after[:1] not in (b",", b"}")):
            return  # a counter written otherwise, or another `firedtimes` first (in `mitre`)
        before = text[:split]
    if len(before) < _KEY_SIZE:
        return
    seen: _RuleSeen = (before, after, len(before), len(after), firedtimes is not UNSET, fields)
    key = before[:_KEY_SIZE]
    same_key = _rules_seen.get(key, ())
    if any(known[:2] == (before, after) for known in same_key):
        return  # (known already: read again from a line not laid out as Wazuh does)
    if len(_rules_seen) >= CACHE_LIMIT:
        _rules_seen.clear()
    _rules_seen[key] = (*same_key[-(_SAME_KEY_LIMIT - 1):], seen)


def _checked_alert(line: bytes) -> Alert:
    # A key holding NUL is another key to msgspec, the same one to cJSON. (The quick reading
    # never sees one: no key it declares holds a NUL, and it refuses any other key.)
    decoded = _checked_slowly(line) if _NUL in line else _decode_checked(line)
    return _alert(decoded, line, arrays_key(line, decoded.rule))


def _decode_checked(line: bytes) -> _Line:
    """Reading 2, then 3 when 2 cannot vouch for the line."""
    try:
        decoded: _Line = _decode_strict(line)
    except msgspec.ValidationError:
        return _checked_slowly(line)  # a key Wazuh doesn't write, or a real error
    except msgspec.DecodeError as error:
        raise AlertError(f"not JSON: {json_error(error)}") from None
    data = decoded.data
    syscheck = decoded.syscheck
    if (
        lost_members(decoded, line)  # a repeated key was dropped somewhere
        or (data and not _data_clear(data))
        or (syscheck and _recased(syscheck, _SYSCHECK_NAMES))
    ):
        return _checked_slowly(line)
    return decoded


def _alert(decoded: _Line, line: bytes, key: bytes) -> Alert:
    """The Alert of a line whose keys are known to be unambiguous; `key` is its rule's arrays."""
    rule = decoded.rule
    try:
        groups, group_string = GROUPS_BY_ARRAYS[key]
    except KeyError:
        groups, group_string = rebuild_groups(rule, line, key)
    agent = decoded.agent
    data = decoded.data
    srcip = dstuser = filename = None
    if data:
        srcip = data.get("srcip")
        dstuser = data.get("dstuser")
        if (srcip is not None and type(srcip) is not str) or (
            dstuser is not None and type(dstuser) is not str
        ):
            raise AlertError("not an alert: data.srcip and data.dstuser must be strings")
        win = data.get("win")
        if win is not None:
            srcip = _scripts_address(win, srcip)
    syscheck = decoded.syscheck
    if syscheck:
        filename = syscheck.get("path")
        if filename is not None and type(filename) is not str:
            raise AlertError("not an alert: syscheck.path must be a string")
    rule_id = rule.id
    return Alert(
        decoded.id,
        decoded.timestamp,
        rule_id if type(rule_id) is str else str(rule_id),
        rule.level,
        rule.description,
        groups,
        group_string,
        None if agent is None else agent.id,
        None if agent is None else agent.name,
        srcip,
        dstuser,
        decoded.location,
        line,
        None,  # full_log is in `raw`; decisions never read it (scenario D9)
        filename,
    )


def _scripts_address(win: object, srcip: str | None) -> str | None:
    """The address Wazuh's stock scripts act on: `data.win.eventdata.ipAddress`, else
    `destinationIp`, else `data.srcip` (spec 8.3).

    Wazuh's analysisd checks its white list against `data.srcip` only, so a Windows alert with
    a public srcip and a white-listed ipAddress fires and the script blocks the white-listed
    host. arconsole decides on the address that will really be blocked (stricter than Wazuh),
    and refuses as crafted an alert whose srcip and scripts' address disagree.
    """
    eventdata = _eventdata(win)
    if eventdata is None:
        return srcip
    for name in ("ipAddress", "destinationIp"):
        address = eventdata.get(name)
        if address is None:
            continue
        if type(address) is not str:
            raise AlertError(f"not an alert: data.win.eventdata.{name} must be a string")
        return _agreed(srcip, name, address)
    return srcip


def _agreed(srcip: str | None, name: str, address: str) -> str:
    """The scripts' address, unless data.srcip names another one (then the line is crafted)."""
    if srcip is not None and address != srcip:
        raise AlertError(
            f"crafted: data.srcip {literal(srcip)!r} and data.win.eventdata.{name} "
            f"{literal(address)!r} disagree: Wazuh's scripts would block the second "
            "after the white list checked the first"
        )
    return address


def _eventdata(win: object) -> dict[str, Any] | None:
    """`data.win.eventdata` when it is an object."""
    eventdata = win.get("eventdata") if isinstance(win, dict) else None
    return eventdata if isinstance(eventdata, dict) else None


def _data_clear(data: dict[str, Any]) -> bool:
    """True when no key on a decision path below `data` is written in another case.

    Repeats anywhere in `data` were dropped by the decode, so the length test caught them.
    """
    if _recased(data, _DATA_NAMES):
        return False
    win = data.get("win")
    if type(win) is not dict:
        return True  # no object: neither reader looks inside
    if _recased(win, _WIN_NAMES):
        return False
    eventdata = _eventdata(win)
    if not eventdata:
        return True
    # Each key folded on its own: counting names in one joined string would miss two
    # spellings side by side (their separator can be counted once only).
    folded = [key.lower() for key in eventdata]
    for name, written in _EVENTDATA_NAMES:
        count = folded.count(name)
        if count > 1 or (count and written not in eventdata):
            return False
    return True


def _recased(members: dict[str, Any], names: frozenset[str]) -> bool:
    """A key of `members` is one of the lower-case `names` in another case (cJSON's match)."""
    keys = "".join(members)
    return not keys.islower() and any(
        key.isascii() and key not in names and key.lower() in names for key in members
    )


def _checked_slowly(line: bytes) -> _Line:
    """The exact check, then the lenient decode (which reports any real error)."""
    reason = crafted_keys(line)
    if reason is not None:
        raise AlertError(f"crafted: {reason}")
    try:
        return _decode_lenient(line)
    except msgspec.ValidationError as error:
        raise AlertError(f"not an alert: {json_error(error)}") from None
    except msgspec.DecodeError as error:
        raise AlertError(f"not JSON: {json_error(error)}") from None


def read_alerts_json(lines: Iterable[bytes]) -> Iterator[tuple[int, Alert | AlertError]]:
    """(line number, Alert or AlertError) for each non-blank line, in order."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield number, decode_alert_line(line)
        except AlertError as error:
            yield number, error
        except RecursionError:
            yield number, AlertError(TOO_DEEP)

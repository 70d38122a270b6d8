"""Read one `alerts.json` line into an `Alert` (spec 10), refusing lines crafted with repeated keys.

Only the fields decisions need are decoded (msgspec skips or slices the rest of the line
quickly); the line itself is kept as `raw` so a response passes the alert on byte for byte.
Missing keys (`agent`, `data`, `id`...) are normal. A line that is not a JSON object with a
`rule` holding `id` and `level`, or that is longer than 64 KiB (Wazuh's `OS_MAXSTR`), raises
`AlertError`. A blank line is not an alert either: `read_alerts_json` and the followers skip it.

Repeated keys. msgspec keeps the last of a repeated key and matches names exactly; the scripts
read the alert as Wazuh's cJSON does: the first key, compared case-insensitively. A line whose
decision keys are ambiguous that way (`{"data":{"srcip":"10.0.0.5","srcip":"8.8.8.8"}}`,
`"SrcIP"`, `"DATA"`) would be checked as one address and acted on as another, so it is refused:
`AlertError("crafted: ...")`, with the reason `crafted_keys` (`arconsole/alerts/crafted.py`, the
exact check) gives. The exact check is slow (a second parse keeping every member), so a line
goes through up to three readings, each vouching for the line or handing it to the next:

1. quick: one decode into structs made for Wazuh's alerts (`_FastLine`): the objects whose
   keys Wazuh fixes (the line, `rule`, `agent`, `data.win`) declare every key Wazuh writes and
   forbid the others, so a key in another case fails the decode; `data` is a dict of strings
   and Windows objects, `syscheck` a dict; their keys on a decision path are compared
   case-blind (`_recased`, `_data_clear`). Then the decoded value is encoded again: that gives
   back the line's exact length unless a member was dropped somewhere, i.e. a key was
   repeated (msgspec writes the shortest form of each string, integers have one form, raw
   values and floats are written as they were, so nothing is ever written longer than it was
   and a dropped member cannot be made up for elsewhere). Everything that is not plain
   (a data value that is a number, an object Wazuh doesn't write, whitespace, escapes in keys)
   goes on to
2. checked: the same test on a decode that takes any `data` and `syscheck` (`_StrictLine`);
   a line that fails it goes on to
3. exact: `crafted_keys`, then the lenient decode (which reports any real error).

The quick structs skip no field they could need and allocate nothing they do not (unset
fields stay `UNSET`, and they are not tracked by the garbage collector); bench/decide.py
measures the result against `orjson.loads` and msgspec's own typed decode.

The compliance arrays are decoded lazily: their raw bytes are the key of a small cache of
rebuilt group strings, so the usual alert (a rule seen before) costs one dictionary lookup.

alerts.log (OSSEC's and Wazuh's text format) has no keys to repeat: `logreader` is unaffected.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from arconsole.alerts.crafted import DECISION_KEYS, crafted_keys
from arconsole.alerts.groups import COMPLIANCE, COMPLIANCE_KEYS, build_group_string
from arconsole.alerts.model import Alert, AlertError
from arconsole.safetext import literal

__all__ = ["DECISION_KEYS", "MAX_LINE", "crafted_keys", "decode_alert_line", "read_alerts_json"]

MAX_LINE = 65536  # OS_MAXSTR
_NONE = msgspec.Raw(b"")
_GROUPS_CACHE_LIMIT = 8192
_Raw = msgspec.Raw | UnsetType  # a member Wazuh writes that decisions don't read


# ------------------------------------------------------------------ 1. quick


class _FastRule(
    msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, gc=False, kw_only=True
):
    # The arrays first: re-encoded, they are the group cache's key (`_ARRAYS_END`).
    groups: msgspec.Raw = _NONE
    pci_dss: msgspec.Raw = _NONE
    cis: msgspec.Raw = _NONE
    gdpr: msgspec.Raw = _NONE
    gpg13: msgspec.Raw = _NONE
    hipaa: msgspec.Raw = _NONE
    nist_800_53: msgspec.Raw = _NONE
    tsc: msgspec.Raw = _NONE
    id: str | int
    level: int
    description: str = ""
    firedtimes: _Raw = UNSET
    mail: _Raw = UNSET
    mitre: _Raw = UNSET
    frequency: _Raw = UNSET
    info: _Raw = UNSET
    cve: _Raw = UNSET


class _FastAgent(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, gc=False):
    id: str | None = None
    name: str | None = None
    ip: _Raw = UNSET
    labels: _Raw = UNSET


class _FastWin(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """`data.win` of a Windows EventChannel alert (Wazuh writes these two objects)."""

    system: _Raw = UNSET
    eventdata: dict[str, str] | UnsetType = UNSET


class _FastLine(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, gc=False):
    rule: _FastRule
    id: str = ""
    timestamp: str = ""
    agent: _FastAgent | None = None
    data: dict[str, str | _FastWin] | None = None
    location: str | None = None
    syscheck: dict[str, Any] | None = None
    manager: _Raw = UNSET
    cluster: _Raw = UNSET
    full_log: _Raw = UNSET
    previous_output: _Raw = UNSET
    previous_log: _Raw = UNSET
    predecoder: _Raw = UNSET
    decoder: _Raw = UNSET
    input: _Raw = UNSET
    GeoLocation: _Raw = UNSET  # Wazuh's spelling


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


_decode_fast = msgspec.json.Decoder(_FastLine, float_hook=_number_as_written).decode
_decode_strict = msgspec.json.Decoder(_StrictLine, float_hook=_number_as_written).decode
_decode_lenient = msgspec.json.Decoder(_Line).decode
_encode_into = msgspec.json.Encoder().encode_into
_per_thread = threading.local()  # a reused buffer for re-encoding, one per thread
_decode_strings = msgspec.json.Decoder(tuple[str, ...]).decode
# raw bytes of groups + compliance arrays -> (groups, group string)
_groups_cache: dict[bytes, tuple[tuple[str, ...], str]] = {}

# A quick line re-encodes as `{"rule":{` + the rule's arrays + `"id":`... (`_FastRule`): the
# arrays between, as written, key the group cache without copying them once more. `"id":`
# cannot occur inside them (a quote in a string is escaped, and arrays hold no colon).
_ARRAYS_START = len(b'{"rule":{')
_ARRAYS_END = b'"id":'
# Keys on a decision path inside the open objects, folded (see DECISION_KEYS).
_DATA_NAMES = frozenset(("srcip", "dstuser", "win"))
_WIN_NAMES = frozenset(("eventdata",))
_SYSCHECK_NAMES = frozenset(("path",))
# data.win.eventdata's keys are camelCase: (folded key between NULs, as written).
_EVENTDATA_NAMES = (("\0ipaddress\0", "ipAddress"), ("\0destinationip\0", "destinationIp"))


def decode_alert_line(line: bytes) -> Alert:
    """One alerts.json line (with or without its newline) as an Alert; AlertError if unusable."""
    if line.endswith(b"\n"):
        line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
    if len(line) > MAX_LINE:
        raise AlertError(f"line longer than 64 KiB (more than {MAX_LINE} bytes)")
    try:
        decoded = _decode_fast(line)
    except msgspec.DecodeError:  # not plain, or not JSON: the next reading says which
        return _checked_alert(line)
    try:
        buffer = _per_thread.buffer
    except AttributeError:
        buffer = _per_thread.buffer = bytearray()
    _encode_into(decoded, buffer)
    data = decoded.data
    syscheck = decoded.syscheck
    if (
        len(buffer) != len(line)  # a repeated key was dropped somewhere (or not plain)
        # all keys in lower case and no Windows object: nothing more to compare
        or (data and not (("".join(data).islower() and "win" not in data) or _data_clear(data)))
        or (syscheck and _recased(syscheck, _SYSCHECK_NAMES))
    ):
        return _checked_alert(line)
    return _alert(decoded, line, bytes(buffer[_ARRAYS_START:buffer.find(_ARRAYS_END)]))


def _checked_alert(line: bytes) -> Alert:
    decoded = _decode_checked(line)
    rule = decoded.rule
    # NUL never occurs in JSON text, so it keeps the arrays apart in the key.
    key = b"\0".join(
        (rule.groups, rule.pci_dss, rule.cis, rule.gdpr, rule.gpg13, rule.hipaa,
         rule.nist_800_53, rule.tsc)
    )
    return _alert(decoded, line, key)


def _decode_checked(line: bytes) -> _Line:
    """Reading 2, then 3 when 2 cannot vouch for the line."""
    try:
        decoded: _Line = _decode_strict(line)
    except msgspec.ValidationError:
        return _checked_slowly(line)  # a key Wazuh doesn't write, or a real error
    except msgspec.DecodeError as error:
        raise AlertError(f"not JSON: {_plain(error)}") from None
    data = decoded.data
    syscheck = decoded.syscheck
    try:
        buffer = _per_thread.buffer
    except AttributeError:
        buffer = _per_thread.buffer = bytearray()
    _encode_into(decoded, buffer)
    if (
        len(buffer) != len(line)  # a repeated key was dropped somewhere
        or (data and not _data_clear(data))
        or (syscheck and _recased(syscheck, _SYSCHECK_NAMES))
    ):
        return _checked_slowly(line)
    return decoded


def _alert(decoded: _Line | _FastLine, line: bytes, key: bytes) -> Alert:
    """The Alert of a line whose keys are known to be unambiguous; `key` is its rule's arrays."""
    rule = decoded.rule
    try:
        groups, group_string = _groups_cache[key]
    except KeyError:
        groups, group_string = _rebuild_groups(rule, line, key)
    agent = decoded.agent
    data: dict[str, Any] | None = decoded.data  # values: strings, or the Windows object
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
        if srcip is not None and address != srcip:
            raise AlertError(
                f"crafted: data.srcip {literal(srcip)!r} and data.win.eventdata.{name} "
                f"{literal(address)!r} disagree: Wazuh's scripts would block the second "
                "after the white list checked the first"
            )
        return address
    return srcip


def _eventdata(win: object) -> dict[str, Any] | None:
    """`data.win.eventdata` when it is an object, as either reading decoded it."""
    if type(win) is _FastWin:
        written = win.eventdata
        return None if written is UNSET else written
    eventdata = win.get("eventdata") if isinstance(win, dict) else None
    return eventdata if isinstance(eventdata, dict) else None


def _data_clear(data: dict[str, Any]) -> bool:
    """True when no key on a decision path below `data` is written in another case.

    Repeats anywhere in `data` were dropped by the decode, so the length test caught them.
    """
    if _recased(data, _DATA_NAMES):
        return False
    win = data.get("win")
    if type(win) is dict:
        if _recased(win, _WIN_NAMES):
            return False
    elif type(win) is not _FastWin:  # its keys are Wazuh's, in Wazuh's case
        return True  # no object: neither reader looks inside
    eventdata = _eventdata(win)
    if not eventdata:
        return True
    folded = "\0" + "\0".join(eventdata).lower() + "\0"
    for needle, written in _EVENTDATA_NAMES:
        count = folded.count(needle)
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
        raise AlertError(f"not an alert: {_plain(error)}") from None
    except msgspec.DecodeError as error:
        raise AlertError(f"not JSON: {_plain(error)}") from None


# ------------------------------------------------------------------ groups


def _rebuild_groups(
    rule: _Rule | _FastRule, line: bytes, key: bytes
) -> tuple[tuple[str, ...], str]:
    """Decode the arrays of a rule not seen before and remember its group string."""
    try:
        groups = _strings(rule.groups)
        arrays = {name: _strings(raw) for name, _ in COMPLIANCE if (raw := getattr(rule, name))}
    except msgspec.ValidationError as error:
        raise AlertError(f"not an alert: rule groups: {_plain(error)}") from None
    order = _compliance_order(line) if len(arrays) > 1 else list(arrays)
    ordered = [(name, arrays[name]) for name in order if name in arrays]
    ordered += [(name, values) for name, values in arrays.items() if name not in order]
    result = (groups, build_group_string(groups, ordered))
    if len(_groups_cache) >= _GROUPS_CACHE_LIMIT:
        _groups_cache.clear()
    _groups_cache[key] = result
    return result


def _strings(raw: msgspec.Raw) -> tuple[str, ...]:
    """A JSON array of strings; absent or null means none."""
    return _decode_strings(raw) if raw and bytes(raw) != b"null" else ()


def _compliance_order(line: bytes) -> list[str]:
    """The compliance keys of `rule` in the order the line writes them (first miss only)."""
    try:
        rule = json.loads(line).get("rule")
    except ValueError:
        return []
    return [name for name in rule if name in COMPLIANCE_KEYS] if isinstance(rule, dict) else []


def _plain(error: Exception) -> str:
    """msgspec's message, shortened for a report line."""
    return str(error).replace("`", "'")


def read_alerts_json(lines: Iterable[bytes]) -> Iterator[tuple[int, Alert | AlertError]]:
    """(line number, Alert or AlertError) for each non-blank line, in order."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield number, decode_alert_line(line)
        except AlertError as error:
            yield number, error

"""Read one `alerts.json` line into an `Alert` (spec 10).

Only the fields decisions need are decoded (msgspec skips the rest of the line quickly); the
line itself is kept as `raw` so a response passes the alert on byte for byte. Missing keys
(`agent`, `data`, `id`...) are normal. A line that is not a JSON object with a `rule` holding
`id` and `level`, or that is longer than 64 KiB (Wazuh's `OS_MAXSTR`), raises `AlertError`.

The compliance arrays are decoded lazily: their raw bytes are the key of a small cache of
rebuilt group strings, so the usual alert (a rule seen before) costs one dictionary lookup.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

import msgspec

from arconsole.alerts.groups import COMPLIANCE, COMPLIANCE_KEYS, build_group_string
from arconsole.alerts.model import Alert, AlertError

MAX_LINE = 65536  # OS_MAXSTR
_NONE = msgspec.Raw(b"")
_GROUPS_CACHE_LIMIT = 8192


class _Rule(msgspec.Struct):
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


class _Agent(msgspec.Struct):
    id: str | None = None
    name: str | None = None


class _Data(msgspec.Struct):
    srcip: str | None = None
    dstuser: str | None = None


class _Syscheck(msgspec.Struct):
    path: str | None = None


class _Line(msgspec.Struct):
    rule: _Rule
    id: str = ""
    timestamp: str = ""
    agent: _Agent | None = None
    data: _Data | None = None
    location: str | None = None
    syscheck: _Syscheck | None = None


_decode_line = msgspec.json.Decoder(_Line).decode
_decode_strings = msgspec.json.Decoder(tuple[str, ...]).decode
# raw bytes of groups + compliance arrays -> (groups, group string)
_groups_cache: dict[bytes, tuple[tuple[str, ...], str]] = {}


def decode_alert_line(line: bytes) -> Alert:
    """One alerts.json line (with or without its newline) as an Alert; AlertError if unusable."""
    if line.endswith(b"\n"):
        line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
    if len(line) > MAX_LINE:
        raise AlertError(f"line longer than 64 KiB (more than {MAX_LINE} bytes)")
    try:
        decoded = _decode_line(line)
    except msgspec.ValidationError as error:
        raise AlertError(f"not an alert: {_plain(error)}") from None
    except msgspec.DecodeError as error:
        raise AlertError(f"not JSON: {_plain(error)}") from None
    rule = decoded.rule
    # NUL never occurs in JSON text, so it keeps the arrays apart in the key.
    key = b"\0".join(
        (rule.groups, rule.pci_dss, rule.cis, rule.gdpr, rule.gpg13, rule.hipaa,
         rule.nist_800_53, rule.tsc)
    )
    try:
        groups, group_string = _groups_cache[key]
    except KeyError:
        groups, group_string = _rebuild_groups(rule, line, key)
    agent = decoded.agent
    data = decoded.data
    syscheck = decoded.syscheck
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
        None if data is None else data.srcip,
        None if data is None else data.dstuser,
        decoded.location,
        line,
        None,  # full_log is in `raw`; decisions never read it (scenario D9)
        None if syscheck is None else syscheck.path,
    )


def _rebuild_groups(rule: _Rule, line: bytes, key: bytes) -> tuple[tuple[str, ...], str]:
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

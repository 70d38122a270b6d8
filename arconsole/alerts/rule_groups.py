"""A rule's groups and group string from the raw arrays of an alerts.json line, once per set.

`rule.groups` and the compliance arrays are kept raw by the decoder; a set seen before is one
dictionary lookup (`GROUPS_BY_ARRAYS`), a new one is decoded and its group string rebuilt
(spec 5.4, `groups`) in the order the line writes the compliance arrays.

The order is part of the key: `rules_group` is searched in the rebuilt string, so the same
arrays in another order can bind other responses. The key is the arrays as the line writes
them (`written_arrays`: Wazuh writes `groups` then the compliance arrays, compact and
contiguous) or, for a line laid out otherwise, the arrays followed by the order a full parse
of the line finds (`arrays_key`).
"""

from __future__ import annotations

from typing import Protocol

import msgspec

from arconsole.alerts.groups import COMPLIANCE, COMPLIANCE_KEYS, build_group_string
from arconsole.alerts.model import AlertError

CACHE_LIMIT = 8192  # distinct sets remembered before starting over
# the arrays' bytes -> (groups, group string)
GROUPS_BY_ARRAYS: dict[bytes, tuple[tuple[str, ...], str]] = {}
_decode_strings = msgspec.json.Decoder(tuple[str, ...]).decode


class RuleArrays(Protocol):
    """A decoded `rule` with its arrays raw (an empty Raw when absent)."""

    @property
    def groups(self) -> msgspec.Raw: ...

    @property
    def pci_dss(self) -> msgspec.Raw: ...

    @property
    def cis(self) -> msgspec.Raw: ...

    @property
    def gdpr(self) -> msgspec.Raw: ...

    @property
    def gpg13(self) -> msgspec.Raw: ...

    @property
    def hipaa(self) -> msgspec.Raw: ...

    @property
    def nist_800_53(self) -> msgspec.Raw: ...

    @property
    def tsc(self) -> msgspec.Raw: ...


_GROUPS = b'"groups":'
_NAMES = tuple(name for name, _ in COMPLIANCE)
_MEMBERS = tuple((name, f',"{name}":'.encode()) for name in _NAMES)


def groups_at(line: bytes) -> int:
    """Where the line's first `"groups":` key is: the rule's in a line laid out as Wazuh
    writes it (only `timestamp`, and the rule's own members, come before it)."""
    return line.find(_GROUPS)


def written_arrays(line: bytes, rule: RuleArrays) -> bytes | None:
    """`"groups":[...],"pci_dss":[...],...` exactly as the line writes the rule's arrays,
    their order included; None when the line does not write them so (whitespace, another
    member between them, no `groups`): `arrays_key` then finds the order."""
    start = groups_at(line)
    groups = rule.groups
    if start < 0 or not groups:
        return None
    # The first `"groups":` is the rule's only when no other can be: a second one (a decoy
    # copy of the arrays in another order, written before the rule or in its `mitre`) or a
    # `\u` escape (the rule's own key spelled `"gr\u006fups"`) leaves the order to the full
    # parse, else the decoy's order would key the cache with the rule's group string.
    if line.find(_GROUPS, start + len(_GROUPS)) >= 0 or b"\\u" in line:
        return None
    present = [(member, raw) for (name, member) in _MEMBERS if (raw := getattr(rule, name))]
    end = start + len(_GROUPS) + len(groups) + sum(
        len(member) + len(raw) for member, raw in present)
    segment = line[start:end]
    if len(present) > 1:  # in the order the line writes them
        present.sort(key=lambda item: segment.find(item[0]))
    expected = b"".join((_GROUPS, groups, *(member + raw for member, raw in present)))
    return segment if expected == segment else None


def arrays_key(line: bytes, rule: RuleArrays) -> bytes:
    """The cache key of the rule's arrays, their order in the line included."""
    written = written_arrays(line, rule)
    if written is not None:
        return written
    # NUL never occurs in JSON text, so it keeps the arrays and the order apart.
    arrays = [bytes(getattr(rule, name)) for name in _NAMES]
    several = sum(1 for raw in arrays if raw) > 1
    order = ",".join(_compliance_order(line)).encode() if several else b""
    return b"\0".join((bytes(rule.groups), *arrays, order))


def rebuild_groups(rule: RuleArrays, line: bytes, key: bytes) -> tuple[tuple[str, ...], str]:
    """Decode the arrays of a rule not seen before and remember its group string."""
    try:
        groups = _strings(rule.groups)
        arrays = {name: _strings(raw) for name, _ in COMPLIANCE if (raw := getattr(rule, name))}
    except msgspec.ValidationError as error:
        message = str(error).replace("`", "'")
        raise AlertError(f"not an alert: rule groups: {message}") from None
    order = _compliance_order(line) if len(arrays) > 1 else list(arrays)
    ordered = [(name, arrays[name]) for name in order if name in arrays]
    ordered += [(name, values) for name, values in arrays.items() if name not in order]
    result = (groups, build_group_string(groups, ordered))
    if len(GROUPS_BY_ARRAYS) >= CACHE_LIMIT:
        GROUPS_BY_ARRAYS.clear()
    GROUPS_BY_ARRAYS[key] = result
    return result


def _strings(raw: msgspec.Raw) -> tuple[str, ...]:
    """A JSON array of strings; absent or null means none."""
    return _decode_strings(raw) if raw and bytes(raw) != b"null" else ()


class _RuleMembers(msgspec.Struct):
    rule: dict[str, msgspec.Raw] | None = None  # the rule's members in order, values unread


_decode_rule_members = msgspec.json.Decoder(_RuleMembers).decode


def _compliance_order(line: bytes) -> list[str]:
    """The compliance keys of `rule` in the order the line writes them (a full parse, the
    rule's own members only; the rest of the line is skipped unread)."""
    try:
        rule = _decode_rule_members(line).rule
    except msgspec.DecodeError:  # not an object with an object `rule`: no order to keep
        return []
    return [name for name in rule if name in COMPLIANCE_KEYS] if rule is not None else []

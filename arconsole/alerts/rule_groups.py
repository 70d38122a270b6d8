"""A rule's groups and group string from the raw arrays of an alerts.json line, once per set.

`rule.groups` and the compliance arrays are kept raw by the decoder; a set seen before is one
dictionary lookup (`GROUPS_BY_ARRAYS`, keyed by the arrays' bytes as the reader lays them
out); a new one is decoded and its group string rebuilt (spec 5.4, `groups`), in the order
the line writes the compliance arrays.
"""

from __future__ import annotations

import json
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


def _compliance_order(line: bytes) -> list[str]:
    """The compliance keys of `rule` in the order the line writes them (first miss only)."""
    try:
        rule = json.loads(line).get("rule")
    except ValueError:
        return []
    return [name for name in rule if name in COMPLIANCE_KEYS] if isinstance(rule, dict) else []

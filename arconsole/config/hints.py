"""'Did you mean' suggestions for misspelt element names and values."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

# Misspellings seen in the wild that plain similarity ranks too low or ambiguously.
_KNOWN_SLIPS = {
    "rule_id": "rules_id",
    "rule_ids": "rules_id",
    "rules_ids": "rules_id",
    "rule_group": "rules_group",
    "rule_groups": "rules_group",
    "rules_groups": "rules_group",
    "repeat_offenders": "repeated_offenders",
    "repeated_offender": "repeated_offenders",
    "agent": "agent_id",
    "agentid": "agent_id",
    "timeout_allow": "timeout_allowed",
    "allow_timeout": "timeout_allowed",
    "extra_arg": "extra_args",
    "exec": "executable",
}


def _normal(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def suggest(name: str, known: Iterable[str], *, cutoff: float = 0.6) -> str | None:
    """The known name `name` most likely stands for, or None."""
    candidates = list(known)
    normal = _normal(name)
    for candidate in candidates:
        if _normal(candidate) == normal:
            return candidate
    slip = _KNOWN_SLIPS.get(normal)
    if slip is not None and slip in candidates:
        return slip
    by_normal = {_normal(c): c for c in candidates}
    close = difflib.get_close_matches(normal, list(by_normal), n=1, cutoff=cutoff)
    return by_normal[close[0]] if close else None


def did_you_mean(name: str, known: Iterable[str], *, cutoff: float = 0.6) -> str | None:
    """A hint such as "did you mean <agent_id>?", or None."""
    found = suggest(name, known, cutoff=cutoff)
    return f"did you mean <{found}>?" if found else None

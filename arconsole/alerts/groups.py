"""A rule's group string, split for alerts.json and rebuilt for `rules_group` (spec 5.4).

Wazuh matches `rules_group` against the rule's raw group string (`syslog,sshd,...,pci_dss_11.4,`)
but alerts.json splits it: `rule.groups` keeps the plain groups and each compliance group moves
to its own array with the prefix cut off (`W_JSON_ParseGroups`, `json_extended.c`). The arrays
appear in the order their first token appeared, so rebuilding "groups, then each compliance
array in the order found, prefix restored, every token followed by a comma" gives back the raw
string except where the ruleset interleaved kinds (only anchored or spanning patterns notice).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

# (alerts.json key, group prefix), in the order W_JSON_ParseGroups tests the prefixes.
COMPLIANCE: tuple[tuple[str, str], ...] = (
    ("pci_dss", "pci_dss_"),
    ("cis", "cis_"),
    ("gdpr", "gdpr_"),
    ("gpg13", "gpg13_"),
    ("hipaa", "hipaa_"),
    ("nist_800_53", "nist_800_53_"),
    ("tsc", "tsc_"),
)
COMPLIANCE_KEYS = frozenset(key for key, _ in COMPLIANCE)
_PREFIX = dict(COMPLIANCE)


def build_group_string(
    groups: Iterable[str], compliance: Iterable[tuple[str, Sequence[str]]] = ()
) -> str:
    """`groups` then each `(key, values)` compliance array with its prefix, each token + ','."""
    tokens = [f"{group}," for group in groups]
    for key, values in compliance:
        prefix = _PREFIX[key]
        tokens.extend(f"{prefix}{value}," for value in values)
    return "".join(tokens)


def split_group_string(text: str) -> tuple[tuple[str, ...], list[tuple[str, list[str]]]]:
    """The raw group string as alerts.json shows it: plain groups, compliance arrays in order.

    Empty tokens are dropped; a token is moved to the first compliance array whose prefix it
    starts with.
    """
    groups: list[str] = []
    arrays: dict[str, list[str]] = {}
    for token in text.split(","):
        if not token:
            continue
        for key, prefix in COMPLIANCE:
            if token.startswith(prefix):
                arrays.setdefault(key, []).append(token[len(prefix) :])
                break
        else:
            groups.append(token)
    return tuple(groups), list(arrays.items())

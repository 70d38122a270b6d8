"""The `/` filter language: words, field filters, comparisons, negation, errors."""

from __future__ import annotations

import pytest

from arconsole.console.alert_ring import AlertRow
from arconsole.console.filters import (
    ALERT_FIELDS,
    ALERT_FREE_TEXT,
    BLOCK_FIELDS,
    BLOCK_FREE_TEXT,
    FilterError,
    compile_filter,
)
from arconsole.console.widgets.blocks_view import BlockEntry
from arconsole.engine.events import AlertHandled
from arconsole.engine.link import BlockInfo
from arconsole.engine.model import BlockState


def row(seq: int, *, rule: str = "5712", level: int = 10, srcip: str | None = "203.0.113.7",
        agent: tuple[str | None, str | None] = ("001", "web01"), user: str | None = "root",
        desc: str = "sshd: brute force", fired: tuple[str, ...] = ()) -> AlertRow:
    return AlertRow(seq, AlertHandled(
        at=0.0, line=seq, alert_id=f"1.{seq}", rule_id=rule, level=level, description=desc,
        agent_id=agent[0], agent_name=agent[1], srcip=srcip, dstuser=user, fired=fired,
        raw="{}"))


ROWS = [
    row(0, level=5, rule="5710", srcip="198.51.100.4", desc="sshd: invalid user"),
    row(1, level=10, srcip="203.0.113.7", fired=("firewall-drop600",)),
    row(2, level=12, srcip="203.0.113.200", agent=("000", "manager"), user=None),
    row(3, level=3, srcip=None, desc="PAM: Login session opened"),
    row(4, level=10, srcip="2001:db8::1", desc="web scan", rule="31151"),
]


def matching(text: str) -> list[int]:
    predicate = compile_filter(text, ALERT_FIELDS, ALERT_FREE_TEXT)
    return [r.seq for r in ROWS if predicate(r)]


@pytest.mark.parametrize(("text", "expected"), [
    ("", [0, 1, 2, 3, 4]),
    ("level>=10", [1, 2, 4]),
    ("level>10", [2]),
    ("lvl<5", [3]),
    ("level=10", [1, 4]),
    ("srcip:203.0.113.7", [1]),  # an address means that address, not a prefix of .70
    ("srcip:203.0.113.0/24", [1, 2]),
    ("ip:198.51.100.", [0]),  # not an address: a substring
    ("srcip=198.51.100.4", [0]),
    ("rule:5710", [0]),
    ("agent:001", [0, 1, 3, 4]),
    ("agent:manager", [2]),
    ("fired:firewall", [1]),
    ("!fired:firewall", [0, 2, 3, 4]),
    ("SSHD", [0, 1, 2]),  # free text, any case
    ("sshd level>=10", [1, 2]),  # every word must match
    ("!sshd", [3, 4]),
    ("sshd:", [0, 1, 2]),  # a word that ends with ':' is just a word
    ("2001:db8::1", [4]),  # a bare IPv6 address is a word, not field:value
    ("user:root", [0, 1, 3, 4]),
])
def test_alert_filters(text: str, expected: list[int]) -> None:
    assert matching(text) == expected


@pytest.mark.parametrize("text", [
    "levle>=10",  # a typo is an error, never a silent "nothing matches"
    "level>=ten",
    "srcip>=1.2.3.4",
    "desc>3",
    "bogus:value",
    "level:",
    "srcip=not-an-ip",
])
def test_bad_filters_are_errors(text: str) -> None:
    with pytest.raises(FilterError):
        compile_filter(text, ALERT_FIELDS, ALERT_FREE_TEXT)


def test_block_filters() -> None:
    entries = [
        BlockEntry(BlockInfo(key="firewall-drop-203.0.113.7", command="firewall-drop",
                             state=BlockState.ACTIVE, srcip="203.0.113.7", offences=2),
                   remaining=30),
        BlockEntry(BlockInfo(key="host-deny-198.51.100.9", command="host-deny",
                             state=BlockState.FAILED, srcip="198.51.100.9", offences=0),
                   remaining=300),
    ]

    def keys(text: str) -> list[str]:
        predicate = compile_filter(text, BLOCK_FIELDS, BLOCK_FREE_TEXT)
        return [e.key for e in entries if predicate(e)]

    assert keys("remaining<60") == ["firewall-drop-203.0.113.7"]
    assert keys("state:failed") == ["host-deny-198.51.100.9"]
    assert keys("offences>=1 cmd:firewall") == ["firewall-drop-203.0.113.7"]
    assert keys("srcip:198.51.100.0/24") == ["host-deny-198.51.100.9"]
    assert keys("deny") == ["host-deny-198.51.100.9"]

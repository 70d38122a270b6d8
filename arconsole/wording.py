"""Counted nouns for operator messages: `1 block`, `2 blocks`, `1 entry`, `0 entries`.

A neutral helper (no arconsole imports), so that every layer says a count the same way and
none prints a hedged plural or `1 blocks`.
"""

from __future__ import annotations


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """`count` and the noun that agrees with it; `plural` defaults to `singular` + "s"."""
    return f"{count} {singular if count == 1 else plural or singular + 's'}"

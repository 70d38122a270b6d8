"""Wording shared by every layer: counted nouns (`1 block`, `2 blocks`, `0 entries`) and
msgspec's error messages as a report line says them.

A neutral helper (no arconsole imports), so that every layer says a count the same way and
none prints a hedged plural or `1 blocks`, and a JSON error reads the same everywhere.
"""

from __future__ import annotations


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """`count` and the noun that agrees with it; `plural` defaults to `singular` + "s"."""
    return f"{count} {singular if count == 1 else plural or singular + 's'}"


def json_error(error: Exception) -> str:
    """msgspec's message for a report line: "not JSON: JSON is malformed: ..." says the same
    thing twice, and its backquotes (`str`) read as quotes elsewhere in arconsole's words."""
    return str(error).replace("`", "'").removeprefix("JSON is malformed: ")

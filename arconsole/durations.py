"""Durations as operators type them (`90s`, `15m`, `2h`) and as the console shows them."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """`90`, `90s`, `15m`, `2h`, `1d`, `1w` -> seconds; ValueError for anything else."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 15m, 2h, 1d)")
    return float(match.group(1)) * _UNIT[match.group(2)]


def format_remaining(seconds: int) -> str:
    """`m:ss`, or `h:mm:ss` from an hour on."""
    hours, rest = divmod(max(0, seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"

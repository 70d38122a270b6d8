"""Repeated offenders, exactly as execd escalates them (spec 7.5, scenarios B.7)."""

from __future__ import annotations

from collections.abc import Sequence


def escalate(base_timeout: int, minutes: Sequence[int], count: int | None) -> tuple[int, int]:
    """Return (timeout in seconds, new count) for a trigger of a key seen `count` times.

    `count` None means the key was never seen: it is created with count 0 and keeps the base
    timeout. Below the number of configured values the count steps up and the timeout becomes
    that value in minutes; past it, the last value applies and the count saturates. The feature
    only applies to stateful responses with a non-empty list (callers check both).
    """
    if count is None:
        return base_timeout, 0
    if count < len(minutes):
        return minutes[count] * 60, count + 1
    return minutes[-1] * 60, count

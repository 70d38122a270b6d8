"""The expiry schedule and repeated-offender escalation on their own (no engine around them)."""

from __future__ import annotations

import pytest

from arconsole.engine.offenders import escalate
from arconsole.engine.timers import TimerTable


def test_due_keys_come_out_in_time_order_and_only_once() -> None:
    table = TimerTable()
    table.schedule("c", 30.0)
    table.schedule("a", 10.0)
    table.schedule("b", 20.0)
    assert table.next_due() == 10.0
    assert table.pop_due(5.0) == []
    assert table.pop_due(20.0) == ["a", "b"]
    assert table.pop_due(20.0) == []
    assert len(table) == 1 and "c" in table and "a" not in table


def test_rescheduling_replaces_the_earlier_time() -> None:
    table = TimerTable()
    table.schedule("k", 10.0)
    table.schedule("k", 50.0)  # a re-trigger or an extension
    assert table.next_due() == 50.0
    assert table.pop_due(49.0) == []
    assert table.pop_due(50.0) == ["k"]
    table.schedule("k", 70.0)
    table.schedule("k", 60.0)  # moved earlier (an operator shortened nothing, but allow it)
    assert table.pop_due(65.0) == ["k"]
    assert table.pop_due(100.0) == []


def test_cancelled_keys_never_come_due() -> None:
    table = TimerTable()
    table.schedule("gone", 1.0)
    table.schedule("kept", 2.0)
    table.cancel("gone")
    table.cancel("never-scheduled")
    assert table.next_due() == 2.0
    assert table.pop_due(10.0) == ["kept"]
    assert table.next_due() is None


def test_keys_due_at_the_same_instant_keep_their_scheduling_order() -> None:
    table = TimerTable()
    for key in ["x", "y", "z"]:
        table.schedule(key, 5.0)
    assert table.pop_due(5.0) == ["x", "y", "z"]


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        (None, (600, 0)),  # first time: base timeout, count created at 0
        (0, (60, 1)),  # second: first value, in minutes
        (1, (300, 2)),
        (2, (600, 3)),
        (3, (600, 3)),  # past the list: the last value, count saturates
        (9, (600, 9)),
    ],
)
def test_escalation_follows_the_list_then_saturates(
    count: int | None, expected: tuple[int, int]
) -> None:
    assert escalate(600, [1, 5, 10], count) == expected


def test_escalation_can_shorten_a_long_base_timeout() -> None:
    """R2 of scenarios B.7: with a base of 3600 s, the first repeat gets 1 minute."""
    assert escalate(3600, [1, 5], 0) == (60, 1)

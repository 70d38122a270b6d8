"""The expiry schedule against a plain model: rescheduling later pushes nothing (and says so:
nobody waiting needs waking), yet every key comes due exactly once, at its latest time,
earliest first, whatever the order of schedules, cancels and pops."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from arconsole.engine.timers import TimerTable

keys = st.sampled_from(["a", "b", "c", "d"])
times = st.integers(0, 50).map(float)
steps = st.lists(st.one_of(
    st.tuples(st.just("schedule"), keys, times),
    st.tuples(st.just("cancel"), keys, st.just(0.0)),
    st.tuples(st.just("pop"), st.just(""), times),
    st.tuples(st.just("next"), st.just(""), st.just(0.0)),
), max_size=60)


@settings(max_examples=300)
@given(steps=steps)
def test_the_schedule_says_what_a_plain_dict_says(steps: list[tuple[str, str, float]]) -> None:
    table = TimerTable()
    model: dict[str, float] = {}
    for action, key, at in steps:
        if action == "schedule":
            # True when the key may come due sooner (a waiter must look again), else False.
            assert table.schedule(key, at) == (key not in model or at < model[key])
            model[key] = at
        elif action == "cancel":
            table.cancel(key)
            model.pop(key, None)
        elif action == "pop":
            due = sorted((when, key) for key, when in model.items() if when <= at)
            popped = table.pop_due(at)
            assert sorted(popped) == sorted(key for _, key in due)
            assert [model[key] for key in popped] == sorted(model[key] for key in popped)
            for key in popped:
                del model[key]
        else:
            assert table.next_due() == (min(model.values()) if model else None)
        assert len(table) == len(model) and all(key in table for key in model)


def test_a_later_reschedule_pushes_nothing_and_still_comes_due_then() -> None:
    table = TimerTable()
    table.schedule("k", 10.0)
    for later in range(11, 1_000):
        table.schedule("k", float(later))  # a refresh per trigger of a backlog
    assert len(table._heap) == 1
    assert table.pop_due(500.0) == [] and table.next_due() == 999.0
    assert table.pop_due(999.0) == ["k"] and table.next_due() is None

"""The main screen's pure decisions, split out of the screen: which actions a key may run
(`action_gate`) and when a batch is drawn (`pacing`). The screen's own tests drive them
through the real console; these pin the edges."""

from __future__ import annotations

import time

import pytest

from arconsole.console.action_gate import WRITE_ACTIONS, action_state
from arconsole.console.pacing import INPUT_DEFER_MAX, INPUT_GRACE, DrawPacer, next_tick_delay


@pytest.mark.parametrize("action", sorted(WRITE_ACTIONS))
def test_write_actions_hide_when_read_only_and_wait_for_an_engine(action: str) -> None:
    assert action_state(action, dialog_open=False, read_only=True, linked=True) is False
    assert action_state(action, dialog_open=False, read_only=False, linked=False) is None
    assert action_state(action, dialog_open=False, read_only=False, linked=True) is True
    assert action_state(action, dialog_open=True, read_only=False, linked=True) is False


def test_refuse_shows_only_when_read_only_and_copy_survives_a_dialog() -> None:
    assert action_state("refuse", dialog_open=False, read_only=True, linked=True) is True
    assert action_state("refuse", dialog_open=False, read_only=False, linked=True) is False
    assert action_state("copy", dialog_open=True, read_only=True, linked=False) is True
    assert action_state("filter", dialog_open=True, read_only=False, linked=True) is False
    assert action_state("filter", dialog_open=False, read_only=True, linked=False) is True


def test_a_key_defers_a_batch_at_most_input_defer_max() -> None:
    pacer = DrawPacer()
    now = time.monotonic()
    assert pacer.defer(now, input_at=now - INPUT_GRACE / 2)
    assert not pacer.defer(now + 0.01, input_at=now - 10)  # no recent key: draw
    later = now + INPUT_DEFER_MAX + 0.01
    assert pacer.defer(now + 0.5, input_at=now + 0.5)  # still within the longest wait
    assert not pacer.defer(later, input_at=later)  # waited long enough, whatever the keys
    pacer.drawing(later)
    assert pacer.defer(later + 0.01, input_at=later)  # a new batch waits again


def test_a_flood_slows_the_frames() -> None:
    pacer = DrawPacer()
    since = pacer.drawing(time.monotonic())
    pacer.taken(10, since)
    calm = pacer.delay()
    pacer.taken(5_000, 1.0)
    assert pacer.delay() - calm == pytest.approx(0.3, abs=0.05)


@pytest.mark.parametrize("now", [100.0, 100.5, 100.98, 100.999])
def test_ticks_land_just_after_the_next_whole_second(now: float) -> None:
    assert now + next_tick_delay(now) == pytest.approx(101.02)


def test_a_throttle_runs_at_once_then_puts_off_what_comes_sooner() -> None:
    from arconsole.console.pacing import Throttle

    throttle = Throttle(1.0)
    assert throttle.ask(100.0) == 0.0  # the first run: at once
    throttle.ran(100.0)
    assert throttle.ask(100.25) == pytest.approx(0.75)  # too soon: put off until then
    assert throttle.ask(100.5) is None  # already pending: nothing more to schedule
    throttle.ran(101.0)
    assert throttle.ask(102.5) == 0.0  # a quiet second later: at once again

"""The stage trace (arconsole.stagetrace) of a real followed alert: one line per started
script, the alert id, and every stage's time in the order the stages happen."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from arconsole import stagetrace
from tests.engine_support import (
    alert_line,
    command,
    make_home,
    new_engine,
    recorder,
    records,
    response,
    wait_for,
)


@pytest.fixture
def trace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "stages.log"
    monkeypatch.setenv(stagetrace.ENV, str(path))
    monkeypatch.setattr(stagetrace, "ENABLED", True)
    monkeypatch.setattr(stagetrace, "_sink", None)
    return path


async def test_a_followed_alert_leaves_its_stages_in_order(tmp_path: Path, trace: Path) -> None:
    home = make_home(tmp_path, [command("rec")], [response("rec", level=5)],
                     {"rec": recorder()})
    engine = new_engine(home)
    await engine.start(follow=True)
    try:
        with (home / "logs" / "alerts" / "alerts.json").open("ab") as out:
            out.write(alert_line("1700000000.42") + b"\n")
        await wait_for(lambda: len(records(home)) == 1 and trace.exists()
                       and trace.read_text().count("\n") == 1)
    finally:
        await engine.stop()
    label, *fields = trace.read_text().split()
    assert json.loads(label) == "1700000000.42"
    times = dict(zip(stagetrace.STAGES, map(float, fields), strict=True))
    moved = times["contained"] or times["spawned"]  # 0 where runs have no cgroup
    order = [times["woke"], times["decided"], times["queued"], times["spawning"],
             times["spawned"], moved, times["fed"]]
    assert all(order), times  # every stage was stamped (the follower's look included)
    assert order == sorted(order), times


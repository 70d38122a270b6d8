"""The crash matrix, bounded for CI: a real `arconsole run` killed with SIGKILL 20 times at
random moments (handshakes, reloads, expiry bursts, an operator's `blocks reverse --all`),
restarted each time, judged from what the recorder scripts saw (bench/crash.py has the
harness and the checks; run it with `--rounds N` for long runs).
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from bench.crash import KNOWN, Verdict, run_matrix

ROUNDS = 20


@pytest.fixture(scope="module")
def verdict(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, Verdict]:
    seed = int(os.environ.get("ARCONSOLE_CRASH_SEED", random.randrange(2**32)))
    lines: list[str] = []
    result = run_matrix(ROUNDS, seed, Path(tmp_path_factory.mktemp("crash")), lines.append)
    return seed, result


def test_every_alert_fires_once_and_every_block_is_reversed_once_on_time(
    verdict: tuple[int, Verdict],
) -> None:
    seed, result = verdict
    assert sum(result.kills.values()) == ROUNDS
    assert result.adds > 0 and result.deletes > 0
    problems = result.without_redos()
    assert not problems, (
        f"crash matrix failed (replay: ARCONSOLE_CRASH_SEED={seed}, or "
        f"python bench/crash.py --rounds {ROUNDS} --seed {seed}):\n" + "\n".join(problems[:40])
    )


@pytest.mark.xfail(reason="two known crash windows: a delete running when the engine is killed "
                   "is run again at restart (the executor does not say when a script started); "
                   "a kill between storing a block and sending its continue leaves a block the "
                   "firewall never got", strict=False)
def test_no_kill_lands_in_a_known_window(verdict: tuple[int, Verdict]) -> None:
    seed, result = verdict
    redone = [problem for problem in result.problems if problem.startswith(KNOWN)]
    assert not redone, f"seed {seed}:\n" + "\n".join(redone[:10])

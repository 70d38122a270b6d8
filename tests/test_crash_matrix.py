"""The crash matrix, bounded for CI: a real `arconsole run` killed with SIGKILL 20 times at
random moments (handshakes, reloads, expiry bursts, an operator's `blocks reverse --all`),
restarted each time, judged from what the recorder scripts saw (bench/crash.py has the
harness and the checks; run it with `--rounds N` for long runs).
"""

from __future__ import annotations

import os
import random
import shlex
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bench.crash import PHANTOM, REDO, RULES, UNSENT_DELETE, Harness, Verdict, run_matrix
from tests.engine_support import alert_line

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


def test_no_delete_is_run_twice_or_lost_to_a_kill(verdict: tuple[int, Verdict]) -> None:
    """Crash window (a): a delete running when the engine was killed was run again at
    restart. Its row now leaves the state file, committed, right before its message is
    written to the script (blockbook._run_delete): a kill falls before (the delete runs at
    restart, once) or after (the script has it; the block is gone)."""
    seed, result = verdict
    found = [problem for problem in result.problems if problem.startswith((REDO, UNSENT_DELETE))]
    assert not found, f"seed {seed}:\n" + "\n".join(found[:10])


@pytest.mark.xfail(reason="cannot be closed: storing a block and writing its `continue` to the "
                   "script's pipe are two separate acts, and a kill -9 between them leaves a "
                   "block the firewall never got (before the store, the alert runs again; after "
                   "the write, the script has it). The gap is now a few statements with no loop "
                   "turn (commit_now right before the write), not a turn of the loop; a busy "
                   "machine can still stretch it by preempting the engine there", strict=False)
def test_no_kill_lands_between_a_stored_block_and_its_continue(
    verdict: tuple[int, Verdict],
) -> None:
    seed, result = verdict
    found = [problem for problem in result.problems if problem.startswith(PHANTOM)]
    assert not found, f"seed {seed}:\n" + "\n".join(found[:10])


# A stateful script whose delete records that it started, then waits for a gate file: the
# engine is killed while it runs (crash window (a), deterministically).
GATED = """#!/bin/bash
IFS= read -r first
if [[ $first == *'"command":"delete"'* ]]; then
  echo delete >> {log}
  until [[ -e {gate} ]]; do sleep 0.01; done
  echo "delete done" >> {log}
  exit 0
fi
origin='"origin":{{"name":"t","module":"active-response"}}'
keys='"parameters":{{"keys":["198.51.100.7"]}}'
printf '{{"version":1,%s,"command":"check_keys",%s}}\\n' "$origin" "$keys"
IFS= read -r answer
reply=other
[[ $answer == *'"command":"continue"'* ]] && reply=continue
echo "add $reply" >> {log}
"""


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_a_delete_running_when_the_engine_is_killed_is_not_run_again(tmp_path: Path) -> None:
    harness = Harness(tmp_path, 0, lambda _: None)
    log, gate = harness.home / "gated.log", harness.home / "gate"
    script = harness.home / "active-response" / "bin" / "rec2"
    script.write_text(GATED.format(log=shlex.quote(str(log)), gate=shlex.quote(str(gate))))

    def lines() -> list[str]:
        return log.read_text().splitlines() if log.exists() else []

    harness.start()
    try:
        with open(harness.alerts_path, "ab") as out:
            out.write(alert_line("1700000000.1", rule_id=RULES["rec2"], srcip="198.51.100.7")
                      + b"\n")
        wait_until(lambda: "delete" in lines(), "the delete (2 s after the add) to start")
        harness.engine_kill_only()
        gate.touch()  # the delete the dead engine started finishes
        wait_until(lambda: "delete done" in lines(), "the orphaned delete to finish")
        harness.start()
        started = [line for line in harness.run.logs[-1].read_text().splitlines()
                   if "engine started" in line]
        harness.stop()
    finally:
        if harness.engine is not None and harness.engine.poll() is None:
            harness.engine.kill()
            harness.engine.wait()
    assert lines() == ["add continue", "delete", "delete done"]
    assert started and started[0].endswith("0 block(s) restored"), started

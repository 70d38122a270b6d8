"""Shared by the hostile-input tests: a real `arconsole run` on a test home until an address
is blocked or the follower restarts on a line (an engine stalled by it), and what it logged."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.engine_support import records

REPO = Path(__file__).resolve().parents[1]  # subprocesses import this tree


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached in {timeout}s: {what}")
        time.sleep(0.02)


def blocked(home: Path) -> list[str]:
    """The srcip of every run the home's recorder script saw, in order."""
    return [json.loads(run["stdin"])["parameters"]["alert"]["data"]["srcip"]
            for run in records(home)]


def run_until_blocked(home: Path, srcip: str, *options: str, what: str) -> str:
    """`arconsole run` on the home's ossec.conf with `options` until `srcip` is blocked (or the
    follower says it starts again: stalled), stopped with SIGTERM (exit 0); its log."""
    log = home / "engine.log"
    with log.open("ab") as err:
        engine = subprocess.Popen(
            [sys.executable, "-m", "arconsole", "run", str(home / "etc" / "ossec.conf"),
             *options, "--time-limit", "5"],
            stdout=subprocess.DEVNULL, stderr=err,
            env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        wait_until(lambda: srcip in blocked(home) or "starting again" in log.read_text(), what)
        engine.send_signal(signal.SIGTERM)
        assert engine.wait(timeout=30) == 0, log.read_text()
    finally:
        if engine.poll() is None:
            engine.kill()
            engine.wait(timeout=10)
    return log.read_text()

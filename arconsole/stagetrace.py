"""Where the time from an alert line to its script goes, stage by stage (bench/latency.py).

Off unless the environment names a file in ARCONSOLE_STAGE_TRACE when the engine starts. Then
each script the engine starts for an alert adds one line to that file: the alert id (as JSON)
and the wall-clock times (time.time()) at which each stage ended, in STAGES order; 0 for a
stage the run did not go through (no cgroup: no move). Off, it costs a module attribute test
per stage. The file is written by the engine's loop thread only (the spawner threads fill in
their times on the run's record, which is written once the spawn comes back).
"""

from __future__ import annotations

import json
import os
import time
from typing import TextIO

ENV = "ARCONSOLE_STAGE_TRACE"
ENABLED = bool(os.environ.get(ENV))
# woke: the follower's look that read the line began (right after its wake-up); decided: the
# response fired (decoded, decided); queued: the executor handed the spawn to its threads (a
# slot was free, pipes made); spawning: a spawner thread took it; spawned: posix_spawn returned
# (the script has exec'd); contained: moved into its cgroup; fed: its message written.
STAGES = ("woke", "decided", "queued", "spawning", "spawned", "contained", "fed")

last_read = 0.0  # when the follower's latest look that found data began (set by the follower)
_sink: TextIO | None = None


class Stages:
    """One run's stage times (seconds since the epoch)."""

    __slots__ = ("label", *STAGES)

    def __init__(self, label: str) -> None:
        self.label = label
        self.woke = last_read
        self.decided = time.time()
        self.queued = self.spawning = self.spawned = self.contained = self.fed = 0.0


def begin(label: str) -> Stages | None:
    """A record for a response that has just fired (None when tracing is off)."""
    return Stages(label) if ENABLED else None


def finish(stages: Stages) -> None:
    """Append the record's line to the trace file."""
    global _sink
    if _sink is None:
        _sink = open(os.environ[ENV], "a", buffering=1, encoding="utf-8")  # noqa: SIM115
    times = " ".join(f"{getattr(stages, name):.6f}" for name in STAGES)
    _sink.write(f"{json.dumps(stages.label)} {times}\n")

"""What every stage of the engine shares: options, clock, event bus, counters, and the
services opened at start (state store, executor, the config in force).

The façade (`engine.py`) owns one `EngineContext` and hands it to each stage; stages read the
config through it so a reload is seen by all of them at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field

from arconsole.config.model import Config
from arconsole.engine.bus import EventBus
from arconsole.engine.clock import Clock
from arconsole.engine.events import Notice
from arconsole.engine.executor import Executor
from arconsole.engine.group_commit import GroupCommit
from arconsole.engine.options import EngineOptions, Mode
from arconsole.engine.store import StateStore, StoreWriteError
from arconsole.engine.store_health import StoreHealth


@dataclass(slots=True)
class EngineStats:
    alerts: int = 0
    input_errors: int = 0
    too_old: int = 0  # alerts not acted on: older than --skip-backlog-older-than
    fired: int = 0
    scripts_ok: int = 0
    scripts_failed: int = 0
    undelivered: int = 0
    started_at: float = field(default_factory=time.time)


class EngineContext:
    def __init__(self, options: EngineOptions, clock: Clock) -> None:
        self.options = options
        self.dry_run = options.mode == Mode.DRY_RUN  # read for every response: not a property
        self.clock = clock
        self.bus = EventBus()
        self.stats = EngineStats(started_at=clock.now())
        self.config: Config | None = None
        self.store_or_none: StateStore | None = None
        self.executor_or_none: Executor | None = None
        self.tasks: set[asyncio.Task[object]] = set()
        # A state file that cannot be written is one fault, retried until it clears.
        self.health = StoreHealth(self.bus, clock, self.keep_event)
        # Writes of one loop turn share a transaction (see group_commit).
        self.writes = GroupCommit(lambda: self.store, self.health.failed, clock.now)

    @property
    def mode(self) -> Mode:
        return self.options.mode

    @property
    def store(self) -> StateStore:
        assert self.store_or_none is not None, "engine not started"
        return self.store_or_none

    @property
    def executor(self) -> Executor:
        assert self.executor_or_none is not None, "engine not started"
        return self.executor_or_none

    @property
    def current_config(self) -> Config:
        assert self.config is not None, "engine not started"
        return self.config

    def notice(self, level: str, message: str) -> None:
        """Tell the operator (event) and keep it in the state file's event log."""
        self.bus.publish(Notice(at=self.clock.now(), level=level, message=message))
        self.keep_event(level, message)

    def keep_event(self, kind: str, message: str) -> None:
        """Keep a notice in the state file's event log: best effort, never while the state
        file cannot be written (a refused write is the store fault, told once)."""
        if self.store_or_none is None or not self.health.ok:
            return
        try:
            self.store_or_none.add_event(self.clock.now(), kind, message)
        except StoreWriteError as error:
            self.health.failed(error)
        except Exception:  # the bus has told the operator already
            pass

    def spawn(self, work: Awaitable[object]) -> None:
        """Run `work` in the background; `drain` and `stop` wait for it. A failure is told to
        the operator, never left as an unretrieved task exception."""
        task: asyncio.Task[object] = asyncio.ensure_future(work)
        self.tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[object]) -> None:
        self.tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            self.notice("error", f"internal error: {type(error).__name__}: {error}")

    async def drain(self) -> None:
        """Wait until every background run has finished (tests, benchmarks, stop)."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)

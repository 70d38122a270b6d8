"""Store health: a state file that cannot be written (disk full, I/O error) is one engine
fault, told once, retried with backoff, and cleared by itself when writes work again
(issue 11 item 1).

While faulted the engine starts no new stateful add (it could not record the block, so it
could never reverse it); stateless responses and deletes go on. Writes made meanwhile may be
lost, so recovery rewrites the state file's blocks from the block book in one transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from arconsole.engine.bus import EventBus
from arconsole.engine.clock import Clock
from arconsole.engine.events import Notice, StoreHealthChanged
from arconsole.wording import counted

FIRST_RETRY_S = 0.5
LONGEST_RETRY_S = 30.0


class StoreHealth:
    def __init__(self, bus: EventBus, clock: Clock, keep_event: Callable[[str, str], None]) -> None:
        self._bus = bus
        self._clock = clock
        self._keep_event = keep_event
        self.fault: str | None = None  # one line saying what failed, while it fails
        self.faulted_at: float | None = None
        self.failures = 0  # failed writes during the current fault
        self.refused = 0  # stateful responses not started during the current fault
        self._resync: Callable[[], None] | None = None
        self._retrying: asyncio.Task[None] | None = None
        self._stopped = False

    def set_resync(self, resync: Callable[[], None]) -> None:
        """What recovery runs: rewrite the state file from memory (raises if it still fails)."""
        self._resync = resync

    @property
    def ok(self) -> bool:
        return self.fault is None

    def failed(self, error: BaseException | str) -> None:
        """A write failed. The first failure of a fault is told; the rest are counted."""
        self.failures += 1
        if self.fault is not None:
            return
        self.fault = str(error)
        self.faulted_at = self._clock.now()
        self._bus.publish(StoreHealthChanged(at=self.faulted_at, fault=self.fault,
                                             since=self.faulted_at))
        self._tell(
            "error",
            f"{self.fault}; no new stateful response is started until the state file can be "
            "written again (deletes and stateless responses go on); retrying with backoff",
        )
        if not self._stopped and self._resync is not None:
            self._retrying = asyncio.ensure_future(self._retry())

    def refuse(self) -> None:
        self.refused += 1

    async def _retry(self) -> None:
        delay = FIRST_RETRY_S
        while self.fault is not None:
            await self._clock.sleep(delay)
            delay = min(delay * 2, LONGEST_RETRY_S)
            assert self._resync is not None
            try:
                self._resync()
            except Exception:  # still failing (StoreWriteError), or a bug: try again later
                self.failures += 1
                continue
            down = self._clock.now() - (self.faulted_at or self._clock.now())
            refused, failures = self.refused, self.failures
            self.fault, self.faulted_at, self.failures, self.refused = None, None, 0, 0
            self._bus.publish(StoreHealthChanged(at=self._clock.now(), fault=None, since=None))
            self._tell(
                "info",
                f"state file writable again after {down:.0f}s: blocks re-saved; "
                f"{counted(failures, 'write')} had failed and "
                f"{counted(refused, 'stateful response')} "
                f"{'was' if refused == 1 else 'were'} not started",
            )

    async def aclose(self) -> None:
        self._stopped = True
        task, self._retrying = self._retrying, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _tell(self, level: str, message: str) -> None:
        now = self._clock.now()
        self._bus.publish(Notice(at=now, level=level, message=message))
        self._keep_event(level, message)

"""Wake a reader when something changes in a directory (file events through watchfiles).

Events only make readers quick; they are never relied on. Every reader built on this also
polls on its own, because events get lost (overflowing queues, network filesystems, a
directory replaced under the watch) and watchfiles may be unable to watch at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from pathlib import Path

from watchfiles import awatch

logger = logging.getLogger(__name__)

# watchfiles' Rust thread checks for changes every `step` ms and hands a group over once a
# step passes without new ones; the defaults (50 ms step, 1.6 s debounce) would add up to
# 1.6 s of latency under a steady stream of writes.
EVENT_STEP_MS = 5
EVENT_DEBOUNCE_MS = 20


class DirWaker:
    """Sets `wake` whenever an entry of `directory` whose name passes `wanted` changes.

    The directory is watched, so that renames and re-creations are seen. `file`, when given,
    is watched too, by its inode: a write through another hard link (Wazuh writes
    `alerts.json` through its daily file `YYYY/Mon/ossec-alerts-DD.json`) is reported on the
    inode, not in this directory. The watch moves to the new file when the name is given to
    another inode, and a missing directory, or one replaced by another, is picked up again
    within `retry` seconds.
    """

    def __init__(
        self,
        directory: Path,
        wanted: Callable[[str], bool],
        wake: asyncio.Event,
        *,
        file: Path | None = None,
        retry: float = 1.0,
    ) -> None:
        self._directory = directory
        self._file = file
        self._wanted = wanted
        self._wake = wake
        self._retry = max(0.05, retry)
        self._stop = asyncio.Event()
        self._halt = asyncio.Event()  # ends the current watch: set by pause() and close()
        self._unpaused = asyncio.Event()
        self._unpaused.set()
        self._task: asyncio.Task[None] | None = None
        # The identities (directory, file) the watch in force is on; None when not watching.
        self._watching: tuple[tuple[int, int] | None, tuple[int, int] | None] | None = None
        self._settled = asyncio.Event()  # a watch is in force, or none can be for now

    @property
    def watching(self) -> bool:
        """A watch is in force: from now on every change wakes the reader."""
        return self._watching is not None

    @property
    def watched_file(self) -> tuple[int, int] | None:
        """(st_dev, st_ino) of the file the watch in force follows by inode, if any."""
        return self._watching[1] if self._watching is not None else None

    async def settled(self) -> None:
        """Until a watch is in force, or none can be for now (no directory, no watchfiles,
        paused): a readiness signal for whoever writes to the watched files next."""
        await self._settled.wait()

    @property
    def paused(self) -> bool:
        return not self._unpaused.is_set()

    def pause(self) -> None:
        """Stop watching until `resume()`: a reader that is kept busy by a fast writer polls
        instead, so the watcher thread doesn't handle one event per write (half the reader's
        CPU at 150,000 one-line writes per second, bench/follow.py)."""
        self._unpaused.clear()
        self._halt.set()
        self._settled.set()

    def resume(self) -> None:
        """Watch again (the watch is back within a few milliseconds: see `settled`)."""
        self._halt.clear()
        self._settled.clear()
        self._unpaused.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"watch {self._directory}")

    async def close(self) -> None:
        """Stop watching. Returns once the watcher thread has noticed (a few ms)."""
        self._stop.set()
        self._halt.set()
        self._unpaused.set()
        task, self._task = self._task, None
        if task is not None:
            try:
                await asyncio.wait_for(task, timeout=5.0)
            except (TimeoutError, asyncio.CancelledError):
                task.cancel()

    async def _run(self) -> None:
        warned = False
        while not self._stop.is_set():
            if not self._unpaused.is_set():
                await self._unpaused.wait()
                continue
            try:
                identity = self._identity()
                if identity[0] is not None:
                    await self._watch(identity)
                    continue  # stopped, or a watched name moved to another inode
            except Exception as exc:  # watchfiles could not watch: polling still works
                if not warned:
                    logger.warning("file events unavailable for %s: %s", self._directory, exc)
                    warned = True
            self._settled.set()  # nothing to watch for now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self._retry)

    def _identity(self) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
        return _identity(self._directory), _identity(self._file) if self._file else None

    async def _watch(self, identity: tuple[tuple[int, int] | None, tuple[int, int] | None]) -> None:
        paths = [self._directory] if identity[1] is None else [self._directory, self._file]
        # awatch sets its inotify watches synchronously when first iterated, before its
        # first await: a callback scheduled now runs once they are in force.
        watch_open = True

        def now_watching() -> None:
            if watch_open and not self._halt.is_set():
                self._watching = identity
                self._settled.set()

        asyncio.get_running_loop().call_soon(now_watching)
        try:
            async for changes in awatch(
                *paths,
                watch_filter=None,
                debounce=EVENT_DEBOUNCE_MS,
                step=EVENT_STEP_MS,
                stop_event=self._halt,
                rust_timeout=int(self._retry * 1000),
                yield_on_timeout=True,
                recursive=False,
            ):
                if self._halt.is_set():
                    return  # paused or closed
                if any(self._wanted(os.path.basename(name)) for _, name in changes):
                    self._wake.set()
                # A watch stays on its inode: when a name now means another one (the
                # directory replaced, the file rotated or created), watch again.
                if self._identity() != identity:
                    self._wake.set()
                    return
        finally:
            watch_open = False
            self._watching = None
            self._settled.clear()


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)

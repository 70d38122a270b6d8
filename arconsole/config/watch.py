"""Notice settled changes to `ossec.conf`, so that the engine can reload it.

The folder is watched, not the file: editors save by writing a temporary file and renaming it
over the old one, which a watch on the file itself would lose. A change is judged by the
content's hash, so a touch or a save without edits does not fire, and a notification comes
only once the content has been stable for `debounce` seconds (an editor's save is several
writes and renames). The file is also hashed every `poll_interval`, whatever the events say.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import stat
from collections.abc import AsyncGenerator
from pathlib import Path

from arconsole.fswatch import DirWaker


def content_digest(data: bytes) -> bytes:
    """The digest `watch_config` compares: pass that of the bytes you loaded as `since`."""
    return hashlib.sha256(data).digest()


def watch_config(
    path: Path,
    *,
    since: bytes | None = None,
    debounce: float = 0.2,
    poll_interval: float = 1.0,
    use_events: bool = True,
    ready: asyncio.Event | None = None,
) -> AsyncGenerator[None, None]:
    """Yield once each time the file's settled content differs from when last yielded.

    The starting point is `since` (the `content_digest` of the content the engine loaded,
    so that an edit made between loading and watching is not missed), else the content at
    the call. A deleted file does not fire (there is nothing to load); it fires when it
    comes back with content other than the last one notified. Runs until the consumer stops
    iterating. `ready`, when given, is set once the watch is in force (a change from then
    on is seen at once), which a caller that writes the file next can wait for.
    """
    path = Path(path)
    start = since if since is not None else _digest(path)
    return _watch(path, start, debounce, poll_interval, use_events, ready)


async def _watch(
    path: Path, last: bytes | None, debounce: float, poll_interval: float, use_events: bool,
    ready: asyncio.Event | None,
) -> AsyncGenerator[None, None]:
    wake = asyncio.Event()
    waker: DirWaker | None = None
    if use_events:
        waker = DirWaker(path.parent, lambda name: name == path.name, wake, retry=poll_interval)
        waker.start()
    try:
        while True:
            wake.clear()
            current = _digest(path)
            if current is not None and current != last:
                current = await _settled(path, current, debounce)
                if current is not None and current != last:
                    last = current
                    yield None
                continue
            if ready is not None and not ready.is_set():
                if waker is not None:
                    await waker.settled()
                ready.set()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(poll_interval):
                    await wake.wait()
    finally:
        if waker is not None:
            await waker.close()


async def _settled(path: Path, current: bytes | None, debounce: float) -> bytes | None:
    """Wait until the content has not changed for `debounce` seconds; return its digest."""
    while True:
        await asyncio.sleep(debounce)
        again = _digest(path)
        if again == current:
            return current
        current = again


def _digest(path: Path) -> bytes | None:
    """content_digest of the file; None when missing or not a regular file (a FIFO must not
    hang the engine)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            return hashlib.file_digest(handle, "sha256").digest()
    except OSError:
        return None

"""The lock that serialises a script's changes to one firewall or file.

Wazuh uses a lock directory holding a pid, stolen with `kill -9` after 50 tries (spec 8.1 step
9). An flock on a file under the home is released by the kernel when its holder dies, so there
is nothing stale to steal and no process to kill.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path

LOCK_DIR = Path("var/run")


class LockUnavailable(Exception):
    """The lock stayed held by another run for the whole wait, or cannot be opened."""


def lock_path(home: Path, name: str) -> Path:
    return home / LOCK_DIR / f"arconsole-{name}.lock"


@contextlib.contextmanager
def exclusive(path: Path, wait: float) -> Iterator[None]:
    """Hold an exclusive flock on `path` (created 0640 if needed) for the block's duration.

    Raises LockUnavailable after `wait` seconds, or when the lock file cannot be opened.
    """
    try:
        path.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o640)
    except OSError as error:
        raise LockUnavailable(f"{path}: {error.strerror}") from error
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockUnavailable(f"{path}: still held after {wait:g}s") from None
                # Jitter keeps a hundred waiting runs from waking in step.
                time.sleep(random.uniform(0.002, 0.02))
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock

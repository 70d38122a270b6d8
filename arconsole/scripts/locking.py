"""The lock that serialises a script's changes to one firewall or file.

Wazuh uses a lock directory holding a pid, stolen with `kill -9` after 50 tries (spec 8.1 step
9). An flock on a file under the home is released by the kernel when its holder dies, so there
is nothing stale to steal and no process to kill.
"""

from __future__ import annotations

import fcntl
import os
import time

TYPE_CHECKING = False  # typing costs more to import than a script run should
if TYPE_CHECKING:
    from types import TracebackType

LOCK_DIR = "var/run"


class LockUnavailable(Exception):
    """The lock stayed held by another run for the whole wait, or cannot be opened."""


def lock_path(home: str | os.PathLike[str], name: str) -> str:
    return os.path.join(home, LOCK_DIR, f"arconsole-{name}.lock")


class ExclusiveLock:
    """Hold an exclusive flock on `path` (created 0640 if needed) for the block's duration.

    Raises LockUnavailable after `wait` seconds, or when the lock file cannot be opened.
    """

    def __init__(self, path: str, wait: float) -> None:
        self.path = path
        self.wait = wait
        self.fd = -1

    def __enter__(self) -> None:
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            try:
                fd = os.open(self.path, flags, 0o640)
            except FileNotFoundError:
                os.makedirs(os.path.dirname(self.path), 0o750, exist_ok=True)
                fd = os.open(self.path, flags, 0o640)
        except OSError as error:
            raise LockUnavailable(f"{self.path}: {error.strerror}") from error
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise LockUnavailable(f"{self.path}: still held after {self.wait:g}s") \
                        from None
                # Jitter (2-20 ms) keeps a hundred waiting runs from waking in step.
                time.sleep(0.002 + os.urandom(1)[0] / 255 * 0.018)
        self.fd = fd

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        os.close(self.fd)  # closing the descriptor releases the flock
        self.fd = -1

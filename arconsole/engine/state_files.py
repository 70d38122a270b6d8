"""The state file on disk: private creation, symlink refusal, the ownership lock, moving aside.

The lock is an flock on the database file itself, so two hard links to one file are one lock
(the file's identity, not its name); `<path>.lock` only tells others which pid owns it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import time
from pathlib import Path

from arconsole.engine.store_errors import StateError, StateLocked

ORPHAN_LOCK_WAIT_S = 5.0  # a dead engine's lock, still held by a child about to exec


def sidecars(path: Path) -> tuple[Path, ...]:
    return tuple(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal"))


def make_private_dirs(directory: Path) -> None:
    """Create missing directories 0700 (only the ones created here; existing ones untouched)."""
    missing: list[Path] = []
    current = directory
    while not current.exists():
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=0o700)


def others_can_write(directory: Path) -> bool:
    mode = directory.stat().st_mode
    return bool(mode & (stat.S_IWGRP | stat.S_IWOTH))


def _open_nofollow(path: Path, flags: int, mode: int = 0o600) -> int:
    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, mode)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise StateError(f"refusing {path}: it is a symbolic link") from error
        raise


def check_regular(path: Path, *, must_exist: bool) -> bool:
    """True if `path` is a regular file; False if absent (when allowed); else StateError."""
    try:
        fd = _open_nofollow(path, os.O_RDONLY)
    except FileNotFoundError:
        if must_exist:
            raise
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise StateError(f"refusing {path}: not a regular file")
    finally:
        os.close(fd)
    return True


def ensure_private_file(path: Path) -> None:
    """Create `path` 0600 atomically, or tighten an existing regular file to 0600."""
    try:
        fd = _open_nofollow(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    except FileExistsError:
        tighten_if_present(path)
    else:
        os.fchmod(fd, 0o600)  # the umask may have removed bits, never added: be exact anyway
        os.close(fd)


def tighten_if_present(path: Path) -> None:
    try:
        fd = _open_nofollow(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise StateError(f"refusing {path}: not a regular file")
        if info.st_mode & 0o077:
            os.fchmod(fd, stat.S_IMODE(info.st_mode) & 0o600)
    finally:
        os.close(fd)


def take_lock(path: Path) -> int:
    """Own the database file itself (flock, released by the kernel when the process dies).

    The lock is on the file's identity (device, inode), not its name: two hard links to one
    state file, or one reached through another path, are one lock. `<path>.lock` receives our
    pid so others can say who owns it. Returns the locked descriptor, kept open while owned.
    """
    fd = _open_nofollow(path, os.O_RDWR)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise StateError(f"refusing {path}: not a regular file")
        deadline = time.monotonic() + ORPHAN_LOCK_WAIT_S
        vanished = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _flock_holder(info.st_dev, info.st_ino)
                if holder is None and not vanished:
                    # Not in /proc/locks: released between our try and the look (the last
                    # copy closed just then). Try once more before calling it owned.
                    vanished = True
                    continue
                # An engine killed while starting a script: the child holds a copy of the
                # lock's descriptor until its exec closes it (moments). Wait for that only.
                # (/proc/locks shows pid 0 once the process that took the lock is gone.)
                orphaned = holder is not None and (
                    holder <= 0 or not _holds(holder, info.st_dev, info.st_ino))
                if not orphaned or time.monotonic() > deadline:
                    raise StateLocked(path, holder or read_pid_file(path)) from None
                time.sleep(0.02)
        _write_pid_file(path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _holds(pid: int, device: int, inode: int) -> bool:
    """Whether process `pid` has the file (device, inode) open; True when it cannot be told.

    The pid /proc/locks gives is the lock's creator: gone, or reused by another process, it
    no longer holds the file, and the lock is an inherited copy about to be closed.
    """
    try:
        descriptors = os.listdir(f"/proc/{pid}/fd")
    except FileNotFoundError:
        return False
    except OSError:
        return True
    for name in descriptors:
        try:
            info = os.stat(f"/proc/{pid}/fd/{name}")
        except OSError:
            continue
        if (info.st_dev, info.st_ino) == (device, inode):
            return True
    return False


def _pid_file(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def _write_pid_file(path: Path) -> None:
    pid_path = _pid_file(path)
    fd = _open_nofollow(pid_path, os.O_RDWR | os.O_CREAT)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise StateError(f"refusing {pid_path}: not a regular file")
        if info.st_mode & 0o077:
            os.fchmod(fd, 0o600)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    finally:
        os.close(fd)


def read_pid_file(path: Path) -> int | None:
    try:
        fd = _open_nofollow(_pid_file(path), os.O_RDONLY)
    except (OSError, StateError):
        return None
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    finally:
        os.close(fd)
    return int(text) if text.isdigit() else None


def _flock_holder(device: int, inode: int) -> int | None:
    """The pid holding an exclusive flock on (device, inode), from /proc/locks; None if unknown.

    Lines read `1: FLOCK  ADVISORY  WRITE 1234 08:02:5678 0 EOF` (device in hex).
    """
    wanted = (os.major(device), os.minor(device), inode)
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as locks:
            lines = locks.read().splitlines()
    except OSError:
        return None
    for line in lines:
        words = line.split()
        if len(words) < 6 or "->" in words or words[1] != "FLOCK" or words[3] != "WRITE":
            continue
        try:
            major, minor, ino = words[5].split(":")
            if (int(major, 16), int(minor, 16), int(ino)) == wanted:
                return int(words[4])
        except ValueError:
            continue
    return None


def move_aside(path: Path, now: float) -> Path:
    """Rename the database (and its -wal/-shm/-journal) to `<name>.corrupt-<UTC time>`."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    backup = path.with_name(f"{path.name}.corrupt-{stamp}")
    serial = 1
    while backup.exists() or any(side.exists() for side in sidecars(backup)):
        backup = path.with_name(f"{path.name}.corrupt-{stamp}-{serial}")
        serial += 1
    for source, target in zip((path, *sidecars(path)), (backup, *sidecars(backup)), strict=True):
        with contextlib.suppress(FileNotFoundError):
            os.rename(source, target)
    return backup

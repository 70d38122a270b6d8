"""A cgroup v2 per script run, so that what a run leaves behind can be found and killed.

A script's children normally stay in its process group, which the executor signals. A child
that calls `setsid` (a daemon) leaves the group, but it cannot leave its cgroup: when the
engine may create cgroups below its own (cgroup v2 mounted, `cgroup.kill` present, the
directory writable: root, or a delegated subtree such as systemd's `Delegate=yes`), every run
is moved into a cgroup of its own, and `cgroup.kill` ends everything left in it.

Layout: `<the engine's cgroup>/arconsole.<pid>.<n>/run<k>`. Run cgroups are reused once empty
(creating and removing a cgroup costs more than the move). They need no controller, so the
"no internal processes" rule does not stand in the way. Leftover directories of an engine
that died are removed at the next start when they are empty.

The move happens on the spawner's mover thread after posix_spawn returns
(arconsole.engine.spawn), before the run gets its message on stdin: a script that reads its
message first, as execd's protocol has it, acts inside its cgroup; a child forked before that
stays outside the cgroup (it is still in the process group). A lone move waits for an RCU
grace period (the kernel's cgroup_threadgroup_rwsem; a cgroup2 mounted with `favordynmods`
does not wait, at a cost to every fork on the machine: a choice for the administrator, not
for arconsole), so the mover moves what is queued in one go and spawns never wait for it.
glibc 2.41's `posix_spawnattr_setcgroup_np` (clone3 with CLONE_INTO_CGROUP) would start the
child in its cgroup with no move at all; glibc 2.36 has none, and clone3 cannot be called
from Python short of a fork of the whole engine, which posix_spawn is there to avoid.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

_MOUNTINFO = "/proc/self/mountinfo"
_OWN_CGROUP = "/proc/self/cgroup"


class RunCgroup:
    """One run's cgroup: move a process in, ask whether anything is left, kill the rest."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._procs = os.open(os.path.join(path, "cgroup.procs"), os.O_WRONLY | os.O_CLOEXEC)
        self._events = os.open(os.path.join(path, "cgroup.events"), os.O_RDONLY | os.O_CLOEXEC)

    def enter(self, pid: int) -> None:
        """Move `pid` in (called on the spawner thread)."""
        os.write(self._procs, b"%d" % pid)

    def populated(self) -> bool:
        """Whether a live process is left in it (zombies do not count)."""
        try:
            return b"populated 1" in os.pread(self._events, 256, 0)
        except OSError:
            return False

    def pids(self) -> list[int]:
        try:
            return [int(word) for word in Path(self.path, "cgroup.procs").read_text().split()]
        except (OSError, ValueError):
            return []

    def signal_all(self, signum: int) -> None:
        """Send `signum` to every process in it (SIGKILL goes through cgroup.kill, which
        also catches processes forked while the list is read)."""
        if signum == signal.SIGKILL:
            with contextlib.suppress(OSError):
                Path(self.path, "cgroup.kill").write_text("1")
            return
        if not self.populated():
            return
        for pid in self.pids():
            with contextlib.suppress(OSError):
                os.kill(pid, signum)

    def close(self) -> bool:
        """Remove it; False when something still lives in it (left for the next start)."""
        for fd in (self._procs, self._events):
            with contextlib.suppress(OSError):
                os.close(fd)
        try:
            os.rmdir(self.path)
        except OSError:
            return False
        return True


class RunCgroups:
    """The engine's pool of run cgroups below its own cgroup."""

    _instances = 0

    def __init__(self, root: str) -> None:
        self.root = root
        self._free: list[RunCgroup] = []
        self._made = 0

    @classmethod
    def open(cls) -> tuple[RunCgroups | None, str]:
        """The pool, or None and why cgroups cannot be used here."""
        try:
            own = _own_cgroup_dir()
        except OSError as error:
            return None, f"cgroup v2 not readable: {error.strerror}"
        if own is None:
            return None, "no cgroup v2 hierarchy"
        _remove_stale(own)
        cls._instances += 1
        root = os.path.join(own, f"arconsole.{os.getpid()}.{cls._instances}")
        try:
            os.mkdir(root, 0o755)
        except OSError as error:
            return None, f"cannot create cgroups in {own}: {error.strerror}"
        if not os.path.exists(os.path.join(root, "cgroup.kill")):  # the root cgroup has none
            os.rmdir(root)
            return None, f"cgroups in {own} have no cgroup.kill (Linux < 5.14)"
        try:
            probe = RunCgroup(_make_dir(os.path.join(root, "run0")))
        except OSError as error:
            with contextlib.suppress(OSError):
                os.rmdir(root)
            return None, f"cannot create cgroups in {root}: {error.strerror}"
        pool = cls(root)
        pool._made = 1
        pool._free.append(probe)
        return pool, f"one cgroup per run under {root}"

    def take(self) -> RunCgroup | None:
        if self._free:
            return self._free.pop()
        try:
            group = RunCgroup(_make_dir(os.path.join(self.root, f"run{self._made}")))
        except OSError:
            return None  # e.g. cgroup.max.descendants: the run has its process group only
        self._made += 1
        return group

    def give_back(self, group: RunCgroup, *, known_empty: bool = False) -> None:
        """Return an empty cgroup to the pool (one still populated is closed instead)."""
        if not known_empty and group.populated():
            group.close()
        else:
            self._free.append(group)

    def close(self) -> None:
        for group in self._free:
            group.close()
        self._free.clear()
        with contextlib.suppress(OSError):
            for name in os.listdir(self.root):
                with contextlib.suppress(OSError):
                    os.rmdir(os.path.join(self.root, name))
            os.rmdir(self.root)


def _make_dir(path: str) -> str:
    os.mkdir(path, 0o755)
    return path


def _own_cgroup_dir() -> str | None:
    """The directory of this process's cgroup in the cgroup v2 hierarchy, if mounted."""
    relative = None
    with open(_OWN_CGROUP, encoding="utf-8") as lines:
        for line in lines:
            if line.startswith("0::"):
                relative = line[3:].strip()
    if relative is None:
        return None
    with open(_MOUNTINFO, encoding="utf-8") as lines:
        for line in lines:
            fields, _, tail = line.partition(" - ")
            if tail.split(" ", 1)[0] != "cgroup2":
                continue
            parts = fields.split()
            root, mount_point = parts[3], parts[4]
            if relative == root or relative.startswith(root.rstrip("/") + "/"):
                inside = relative[len(root.rstrip("/")):].lstrip("/")
                return os.path.join(mount_point, inside) if inside else mount_point
    return None


def _remove_stale(own: str) -> None:
    """Remove the empty cgroups of engines that are gone (kill -9 leaves them)."""
    try:
        names = os.listdir(own)
    except OSError:
        return
    for name in names:
        parts = name.split(".")
        if len(parts) != 3 or parts[0] != "arconsole" or not parts[1].isdigit():
            continue
        owner = int(parts[1])
        if owner == os.getpid() or _pid_alive(owner):
            continue
        stale = os.path.join(own, name)
        with contextlib.suppress(OSError):
            for run in os.listdir(stale):
                with contextlib.suppress(OSError):
                    os.rmdir(os.path.join(stale, run))
            os.rmdir(stale)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True

"""Start script processes with posix_spawn from dedicated threads, never on the event loop.

Why not `subprocess.Popen`: it costs the engine's thread ~130 us of CPU per script and holds
the event loop while the child execs. glibc's posix_spawn (clone with CLONE_VM|CLONE_VFORK)
copies nothing of the engine; the only wait, until the child has exec'd, happens on the
spawner thread with the GIL released. `os.posix_spawn` cannot set the child's working
directory or close inherited descriptors, so the glibc calls are made through ctypes:
file actions dup2 (the three pipes), chdir (the home, as execd's children have), closefrom(3);
attributes setsid (a new session and process group, as execd's wpopenv, so a time limit can
kill the group), an empty signal mask, and SIGPIPE/SIGXFSZ back to their defaults (Python
ignores SIGPIPE; the ignore would be inherited through exec).

Without glibc >= 2.34 (addclosefrom_np) the same threads use `subprocess.Popen` instead.

Requests are queued; four spawner threads take them one at a time (see _THREADS), so a spawn
the kernel holds up (a child not scheduled for 100 ms on a loaded machine) holds up nothing
while another thread is free, and ring an eventfd as each result is ready (rings that come
while the loop is busy are one wake-up). Right after a spawn, still on its thread, the child's
pidfd is opened.

A run with a cgroup (arconsole.engine.cgroups) is moved into it before it is handed back, and
only then given its message (SpawnRequest.feed): a script that reads its message first, as
execd's protocol has it, does nothing about it outside its cgroup. The move is a write to
`cgroup.procs`, which waits for an RCU grace period when no other move happened just before
(10-20 ms, 70 ms and more on a loaded machine). Such lone moves are therefore not made by the
spawner threads, where every later spawn queued behind them (bench/latency.py: spawner queue
wait p99 3-18 ms at 100 scripts/s), but by a mover thread of their own, which moves all that
is queued in one go (the moves follow each other: only the first can wait), then writes each
run's message. A move that follows another within _WARM_MOVES is quick, and the spawner thread
makes it itself (a burst, bench/exec.py: the hand-over to the mover cost more CPU per run than
the move). The script starts at its spawn; its message, what it acts on, comes after the move.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ctypes
import ctypes.util
import functools
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from arconsole import stagetrace
from arconsole.stagetrace import Stages

_HAVE_PIDFD = hasattr(os, "pidfd_open")

# glibc's values (bits/spawn.h); only used when the C library is glibc.
_POSIX_SPAWN_SETSIGDEF = 0x04
_POSIX_SPAWN_SETSIGMASK = 0x08
_POSIX_SPAWN_SETSID = 0x80
# Opaque glibc types, over-allocated: posix_spawn_file_actions_t is 80 bytes and
# posix_spawnattr_t 336 on x86_64; sigset_t is 128.
_FILE_ACTIONS_SIZE = 512
_ATTR_SIZE = 1024
_SIGSET_SIZE = 256


@dataclass(slots=True)
class SpawnRequest:
    """One process to start: `path` is executed (relative paths from `cwd`) with `argv`;
    `stdio` are the child's descriptors 0, 1, 2 (closed by the spawner once used).
    `on_done` gets the outcome (a Spawned or the exception) on the loop, from `deliver()`."""

    path: str
    argv: Sequence[str]
    stdio: tuple[int, int, int]
    close_after: tuple[int, ...]  # the child's pipe ends: the parent must not keep them
    on_done: Callable[[Outcome], None]
    enter_cgroup: Callable[[int], None] | None = None
    open_pidfd: bool = _HAVE_PIDFD
    # (the parent's end of the stdin pipe, the message): written once the child is in its
    # cgroup, so a script that reads its message first cannot act outside it. The caller
    # keeps the descriptor open until `on_done` (it does not touch it before).
    feed: tuple[int, bytes] | None = None
    stages: Stages | None = None  # stage times, when tracing (arconsole.stagetrace)


@dataclass(frozen=True, slots=True)
class Spawned:
    pid: int
    pidfd: int | None  # None without pidfd support (the caller watches the exit otherwise)
    popen: subprocess.Popen[bytes] | None = None  # set only by the Popen fallback
    fed: int = 0  # bytes of the request's `feed` written to the child's stdin


Outcome = Spawned | BaseException
Done = tuple[SpawnRequest, Outcome]
_RING_EVERY = 4
# A move within this many seconds of the last one does not wait for a grace period (the
# kernel's rcu_sync is still in its writer state), so the spawner thread makes it itself: a
# burst costs no hand-over to the mover. Wrong guesses only cost one slow move on a spawner.
_WARM_MOVES = 0.004
# Four threads: a spawn that the kernel holds up (a child not scheduled for 100-200 ms on a
# loaded machine, a fork waiting on another process's cgroup move) does not hold up the next.
# Most of a spawn's time is the new child waiting for a CPU behind the scripts already
# running (glibc's posix_spawn returns once it has exec'd), not CPU: at 16 scripts in flight
# on 2 cores, with two threads a run waited longer in the spawn queue (p50 6.5 ms) than all
# the rest of its life; four overlap four such waits (bench/exec.py x16 on a loaded
# machine: +18 % runs/s over two, CPU per run unchanged; six added little more).
_THREADS = 4


@functools.cache
def _libc_name() -> str | None:
    """The C library's file name (find_library runs ldconfig in a subprocess: once per
    process, not twice per Executor)."""
    return ctypes.util.find_library("c")


class _GlibcSpawn:
    """posix_spawn with chdir, closefrom and setsid through glibc (>= 2.34)."""

    def __init__(self, cwd: str, env: Mapping[str, str]) -> None:
        name = _libc_name() or "libc.so.6"
        # PyDLL keeps the GIL for the quick set-up calls: releasing and re-taking it per call
        # would cost more than the calls and could wait on a busy event loop each time.
        fast = ctypes.PyDLL(name, use_errno=True)
        slow = ctypes.CDLL(name, use_errno=True)  # posix_spawn itself releases the GIL
        self._init = fast.posix_spawn_file_actions_init
        self._dup2 = fast.posix_spawn_file_actions_adddup2
        self._chdir = fast.posix_spawn_file_actions_addchdir_np
        self._closefrom = fast.posix_spawn_file_actions_addclosefrom_np
        self._destroy = fast.posix_spawn_file_actions_destroy
        self._spawn = slow.posix_spawn
        self._cwd = os.fsencode(cwd)
        self._attr = ctypes.create_string_buffer(_ATTR_SIZE)
        fast.posix_spawnattr_init(self._attr)
        no_signals = ctypes.create_string_buffer(_SIGSET_SIZE)
        fast.sigemptyset(no_signals)
        defaults = ctypes.create_string_buffer(_SIGSET_SIZE)
        fast.sigemptyset(defaults)
        for signum in (signal.SIGPIPE, signal.SIGXFSZ):
            fast.sigaddset(defaults, int(signum))
        fast.posix_spawnattr_setsigmask(self._attr, no_signals)
        fast.posix_spawnattr_setsigdefault(self._attr, defaults)
        fast.posix_spawnattr_setflags(self._attr, ctypes.c_short(
            _POSIX_SPAWN_SETSID | _POSIX_SPAWN_SETSIGDEF | _POSIX_SPAWN_SETSIGMASK
        ))
        words = [f"{key}={value}".encode() for key, value in env.items()]
        self._envp = (ctypes.c_char_p * (len(words) + 1))(*words, None)

    @staticmethod
    def available() -> bool:
        name = _libc_name()
        if name is None:
            return False
        try:
            libc = ctypes.CDLL(name)
        except OSError:
            return False
        return all(hasattr(libc, symbol) for symbol in (
            "gnu_get_libc_version", "posix_spawn_file_actions_addchdir_np",
            "posix_spawn_file_actions_addclosefrom_np",
        ))

    def __call__(self, request: SpawnRequest) -> Spawned:
        path = os.fsencode(request.path)
        argv = [os.fsencode(word) for word in request.argv]
        if b"\0" in path or any(b"\0" in word for word in argv):
            raise ValueError("embedded null byte")
        actions = ctypes.create_string_buffer(_FILE_ACTIONS_SIZE)
        self._init(actions)
        try:
            for target, source in enumerate(request.stdio):
                self._dup2(actions, source, target)
            self._chdir(actions, self._cwd)
            self._closefrom(actions, 3)
            argvp = (ctypes.c_char_p * (len(argv) + 1))(*argv, None)
            pid = ctypes.c_int()
            error = self._spawn(ctypes.byref(pid), path, actions, self._attr, argvp, self._envp)
        finally:
            self._destroy(actions)
        if error:
            raise OSError(error, os.strerror(error))
        return Spawned(pid.value, None)


class _PopenSpawn:
    """The fallback: subprocess.Popen (vfork where Python can), same child set-up."""

    def __init__(self, cwd: str, env: Mapping[str, str]) -> None:
        self._cwd = cwd
        self._env = dict(env)

    def __call__(self, request: SpawnRequest) -> Spawned:
        stdin, stdout, stderr = request.stdio
        popen = subprocess.Popen(
            [request.path, *request.argv[1:]], executable=request.path, stdin=stdin,
            stdout=stdout, stderr=stderr, cwd=self._cwd, env=self._env, close_fds=True,
            start_new_session=True,
        )
        return Spawned(popen.pid, None, popen)


class Spawner:
    """Threads that start processes for the event loop (see the module docstring).

    `submit()` queues a request on the loop; the process is started on a spawner thread, and
    the outcome comes back through `doorbell`, an eventfd the caller watches on its loop,
    calling `deliver()` when it is readable (the executor has it in its own epoll set, beside
    the runs' pipes: no extra loop turn per spawn), which calls each request's `on_done`.
    """

    def __init__(
        self, cwd: str, env: Mapping[str, str], *, use_popen: bool | None = None,
    ) -> None:
        if use_popen is None:
            use_popen = not _GlibcSpawn.available()
        self.method = "popen" if use_popen else "posix_spawn"
        self._start: Callable[[SpawnRequest], Spawned] = (
            _PopenSpawn(cwd, env) if use_popen else _GlibcSpawn(cwd, env)
        )
        self._queue: queue.SimpleQueue[SpawnRequest | None] = queue.SimpleQueue()
        self._moves: queue.SimpleQueue[tuple[SpawnRequest, Spawned] | None] = (
            queue.SimpleQueue()
        )
        self._last_move = 0.0  # time.monotonic() at the end of the last move
        self._threads = 0  # spawner threads started and not yet stopped
        self._threads_lock = threading.Lock()
        self.doorbell = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        self._done: collections.deque[Done] = collections.deque()
        self._outstanding = 0
        self._drained: asyncio.Event | None = None

    def submit(self, request: SpawnRequest) -> None:
        """Queue a spawn; its outcome goes to `request.on_done` on the loop (see deliver).

        No future per spawn: the caller's own state is updated straight from the delivery,
        and whatever starts after its caller went away is still handed over (to be killed
        and reaped), because every submitted request gets its `on_done`.
        """
        if not self._threads:
            self._threads = _THREADS + 1
            for number in range(_THREADS):
                threading.Thread(
                    target=self._serve, name=f"arconsole-spawner-{number}", daemon=True
                ).start()
            threading.Thread(target=self._move, name="arconsole-mover", daemon=True).start()
        self._outstanding += 1
        self._queue.put(request)

    def deliver(self) -> None:
        """Hand the finished spawns to their callers (on the loop, when `doorbell` rings)."""
        with contextlib.suppress(BlockingIOError):
            os.eventfd_read(self.doorbell)
        while self._done:
            request, outcome = self._done.popleft()
            self._outstanding -= 1
            if request.stages is not None:
                stagetrace.finish(request.stages)
            request.on_done(outcome)
        if self._outstanding == 0 and self._drained is not None:
            self._drained.set()

    async def drain(self) -> None:
        """Until every queued spawn has been delivered (so no started process goes unseen)."""
        while self._outstanding:
            self._drained = asyncio.Event()
            await self._drained.wait()

    def close(self) -> None:
        """Stop the threads (daemons: exit never waits for them). Call after drain(), with
        the doorbell no longer watched: the last thread closes it as its last act, so none
        ever writes to a descriptor number that was reused."""
        if self._threads:
            for _ in range(_THREADS):
                self._queue.put(None)
            self._moves.put(None)
        else:
            os.close(self.doorbell)

    # ---------------------------------------------------------------- the thread

    def _serve(self) -> None:
        """A spawner thread: one request at a time, so that a spawn the kernel holds up
        holds up nothing queued behind it while the other thread is free."""
        unrung = 0  # results handed over since this thread last rang
        while True:
            request = self._queue.get()
            if request is None:
                self._stopped()
                return
            if request.stages is not None:
                request.stages.spawning = time.time()
            outcome = self._one(request)
            if request.stages is not None:
                request.stages.spawned = time.time()
            if (
                isinstance(outcome, Spawned) and request.enter_cgroup is not None
                and time.monotonic() - self._last_move > _WARM_MOVES
            ):
                self._moves.put((request, outcome))  # a lone move: the mover waits for it
            else:
                if isinstance(outcome, Spawned):
                    if request.enter_cgroup is not None:  # moves are warm: it is quick
                        self._enter(request, outcome)
                    outcome = _feed(request, outcome)
                self._done.append((request, outcome))
                unrung += 1
            # A burst is handed over a few at a time (one wake-up of the loop for several),
            # a lone spawn at once.
            if unrung and (unrung >= _RING_EVERY or self._queue.empty()):
                self._ring()
                unrung = 0

    def _move(self) -> None:
        """The mover thread: what is queued is moved in one go (the moves follow each other:
        only the first may wait for a grace period), then each run gets its message."""
        while True:
            batch = [self._moves.get()]
            while batch[-1] is not None:
                try:
                    batch.append(self._moves.get_nowait())
                except queue.Empty:
                    break
            placed = [item for item in batch if item is not None]
            for request, spawned in placed:
                self._enter(request, spawned)
            for request, spawned in placed:
                self._done.append((request, _feed(request, spawned)))
            if placed:
                self._ring()
            if None in batch:
                self._stopped()
                return

    def _enter(self, request: SpawnRequest, spawned: Spawned) -> None:
        """Move the child into its cgroup (its message is written only after this)."""
        assert request.enter_cgroup is not None
        with contextlib.suppress(OSError):
            request.enter_cgroup(spawned.pid)
        self._last_move = time.monotonic()
        if request.stages is not None:
            request.stages.contained = time.time()

    def _stopped(self) -> None:
        """One thread has stopped: the last one out closes the doorbell."""
        with self._threads_lock:
            self._threads -= 1
            last = self._threads == 0
        if last:
            os.close(self.doorbell)

    def _ring(self) -> None:
        os.eventfd_write(self.doorbell, 1)

    def _one(self, request: SpawnRequest) -> Outcome:
        try:
            spawned = self._start(request)
        except BaseException as error:  # handed to the caller
            return error
        finally:
            for fd in request.close_after:
                os.close(fd)
        pidfd: int | None = None
        if request.open_pidfd:
            with contextlib.suppress(OSError):
                pidfd = os.pidfd_open(spawned.pid)
        return Spawned(spawned.pid, pidfd, spawned.popen)


def write_some(fd: int, data: bytes) -> int:
    """Write what a non-blocking pipe takes now; how many bytes that was."""
    try:
        return os.write(fd, data)
    except BlockingIOError:
        return 0


def _feed(request: SpawnRequest, spawned: Spawned) -> Spawned:
    """Write the request's message (what the pipe takes now; the caller writes the rest)."""
    if request.feed is None:
        return spawned
    fd, data = request.feed
    try:
        fed = write_some(fd, data)
    except OSError:  # EPIPE: the script is gone already; the run will see it
        fed = len(data)
    if request.stages is not None:
        request.stages.fed = time.time()
    return Spawned(spawned.pid, spawned.pidfd, spawned.popen, fed)

"""Run active-response executables the way wazuh-execd does, with a time limit.

JSON protocol (spec 7.3 steps 6-12, 8.1): argv is only the relative program path, executed
from the home as execd does, stdin and stdout are pipes, one line out, one reply in. Delete
(7.4): the stored message on stdin, stdout to /dev/null, no handshake. argv protocol (spec 9):
the absolute path and the words as arguments, nothing on stdin. Never a shell, and a fixed
environment: nothing from an alert ever reaches argv (JSON) or the environment.

Where arconsole differs from execd (spec 1.4 item 2): runs are concurrent (bounded), every
stage has a time limit after which the script's whole process group gets SIGTERM and then
SIGKILL, and stderr is kept instead of going to /dev/null. When a script exits, what it left
in its process group gets SIGTERM, and SIGKILL after the grace (execd leaves it running).
A child that calls `setsid` leaves the process group and escapes that; where cgroup v2 is
writable each run also has a cgroup of its own (arconsole.engine.cgroups), which catches it
too, except for the restart scripts (KEEPS_DAEMONS), whose daemons are meant to outlive them.

The executor never blocks the event loop: processes are started by posix_spawn on a spawner
thread (arconsole.engine.spawn), the message is put in the stdin pipe before the script starts
(what does not fit is written as the script reads), pipes are non-blocking, and pipes and
pidfds are watched through one epoll set of the executor's own.

Per-key ordering, dedupe and what a result means are the engine's business, not this module's.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from arconsole.config.executables import PROGRAM_DIR
from arconsole.config.executables import ExecutableError as ExecutableError
from arconsole.config.executables import ExecutableMissing as ExecutableMissing
from arconsole.config.executables import ExecutableRefused as ExecutableRefused
from arconsole.config.executables import checked_executable as _checked_file
from arconsole.engine.cgroups import RunCgroup, RunCgroups
from arconsole.engine.child import LINE_MAX as LINE_MAX
from arconsole.engine.child import STDERR_CAP as STDERR_CAP
from arconsole.engine.child import Child, FdWatcher
from arconsole.engine.spawn import Spawner, SpawnRequest, write_some
from arconsole.stagetrace import Stages

# Scripts get a fixed environment: nothing from the console's, nothing from an alert.
# The engine's own interpreter directory comes first so that `#!/usr/bin/env python3`
# launchers of the bundled scripts find the Python that has arconsole installed.
SCRIPT_ENV = {
    "PATH": os.pathsep.join(
        dict.fromkeys([os.path.dirname(sys.executable), "/usr/sbin", "/usr/bin", "/sbin", "/bin"])
    ),
    "LANG": "C",
}
_HAVE_PIDFD = hasattr(os, "pidfd_open")  # tests turn it off to try the thread fallback
_REAP_WAIT = 5.0  # after SIGKILL: how long a run waits for the kernel before reaping later

_SWEEP_POLL = 0.05  # how often a run's leftovers are looked for during the grace


# Scripts whose detached children are meant to outlive them: Wazuh's and OSSEC's restart
# scripts start the daemons. They run without a cgroup (their process group is still swept).
KEEPS_DAEMONS = frozenset({"restart-wazuh", "restart.sh", "restart-ossec.sh"})

FirstLineHandler = Callable[[bytes | None], Awaitable[bytes | None]]
# Called when a script is about to have its instructions, with nothing else run in between:
# a stdin run's message is written right after it returns (an argv run's words were given at
# the spawn). The engine records the hand-over there, so a crash does not run it twice.
HandedOver = Callable[[], None]


def resolve_executable(home: Path, executable: str) -> Path:
    """The real file `HOME/active-response/bin/<executable>` names, checked.

    The rules are `config.executables.checked_executable`'s, shared with `arconsole check`.
    Raises ExecutableRefused for names with separators, `..`, control characters, or a
    symlink that resolves outside the folder; ExecutableMissing for a file that is absent,
    not a regular file or not executable.
    """
    return Path(os.path.realpath(_checked_file(os.path.join(home, PROGRAM_DIR), executable)))


def home_path(home: Path, executable: str) -> Path:
    """`HOME/active-response/bin/<executable>` as an absolute path, symlinks not followed:
    the argv[0] OSSEC gives scripts (spec 9.1)."""
    return home.absolute() / PROGRAM_DIR / executable


@dataclass(frozen=True, slots=True)
class ScriptResult:
    """What one run did. Times come from the executor's clock (monotonic by default).

    `killed` is True when the executor signalled the process group (time limit, shutdown or
    cancellation); `timed_out` when the time limit was the reason. `error` says why a script
    did not run (spawn failure) or did not finish on its own terms (executor closed).
    `first_line` is the check_keys line as read (without its newline), None when the script
    printed nothing or was not asked for a line.
    """

    program: str  # "active-response/bin/<executable>", as execd names it
    argv: tuple[str, ...]
    pid: int | None
    returncode: int | None  # negative: killed by that signal; None: never ran
    timed_out: bool
    killed: bool
    first_line: bytes | None
    stderr: bytes  # capped at STDERR_CAP; Wazuh discards it, arconsole shows it
    started_at: float
    ended_at: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and not self.timed_out and self.returncode == 0

    @property
    def duration(self) -> float:
        return self.ended_at - self.started_at

class Executor:
    """Runs scripts from `HOME/active-response/bin`, at most `max_concurrency` at a time.

    `time_limit` bounds each script: from spawn to its first line, and from the reply to its
    exit (the engine's own time deciding the reply is not counted against the script). When
    it runs out the process group gets SIGTERM, then SIGKILL `kill_grace` seconds later.
    `clock` stamps results (monotonic by default; the limit itself always uses real time).
    `use_popen` starts scripts with subprocess.Popen instead of posix_spawn (None: posix_spawn
    where the C library allows; True is for comparisons).

    When a script exits, what it leaves behind is killed: its process group gets SIGTERM at
    once and SIGKILL `kill_grace` later if anything is still there; the result does not
    wait for this. A child that called `setsid` has left the process group: with `cgroups`
    and a writable cgroup v2 hierarchy (arconsole.engine.cgroups) each run has a cgroup
    that is killed as well, so nothing escapes; otherwise such a child survives its script.
    Executables named in `uncontained` (by default the restart scripts, whose daemons are
    meant to stay) run without a cgroup. `containment` says which of these applies.
    """

    def __init__(
        self, home: Path, *, time_limit: float = 30.0, max_concurrency: int = 16,
        kill_grace: float = 2.0, clock: Callable[[], float] = time.monotonic,
        use_popen: bool | None = None, cgroups: bool = True,
        uncontained: Collection[str] = KEEPS_DAEMONS,
    ) -> None:
        self.home = home
        self._cwd = os.fspath(home)
        self._bin_dir = os.path.join(self._cwd, PROGRAM_DIR)
        self.time_limit = time_limit
        self.kill_grace = kill_grace
        self.clock = clock
        self._slots = asyncio.Semaphore(max(1, max_concurrency))
        # Deletes never wait on engine state, but adds may wait for a key's delete to finish;
        # separate slots for deletes mean a burst of adds can never starve the delete it awaits.
        self._delete_slots = asyncio.Semaphore(max(1, max_concurrency))
        self._closed = False
        self._live: set[Child] = set()
        self._inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._reapers: set[asyncio.Task[None]] = set()
        self._devnull: int | None = None
        self._spawner: Spawner | None = None
        self._use_popen = use_popen
        self._contain = cgroups
        self._uncontained = frozenset(uncontained)
        self._cgroups: RunCgroups | None = None
        self._cgroups_tried = False
        self._watcher: FdWatcher | None = None
        self.containment = "not decided yet (at the first run)"

    # ---------------------------------------------------------------- public runs

    async def run_json(
        self, executable: str, add_message: bytes, on_first_line: FirstLineHandler, *,
        stages: Stages | None = None,
    ) -> ScriptResult:
        """execd's add (spec 7.3 steps 6-12): message in, one line out, reply in, wait.

        The relative path is what is executed, from the home, as execd's execvp does: a `#!`
        script then gets the same `$0` it gets under Wazuh.

        `on_first_line` gets the line (None at end of file with no line) and returns the
        reply to write (None: write nothing). It is not called when the script failed to
        start or was killed before printing. The reply is written as soon as it returns,
        with nothing else run in between.
        """
        path = _checked_file(self._bin_dir, executable)
        program = f"{PROGRAM_DIR}/{executable}"
        return await self._run(
            path, program, (program,), stdin=add_message + b"\n", capture_stdout=True,
            on_first_line=on_first_line, stages=stages,
        )

    async def run_json_delete(
        self, executable: str, delete_message: bytes, *, on_started: HandedOver | None = None,
    ) -> ScriptResult:
        """execd's reversal (spec 7.4): a fresh process, the message on stdin, no handshake.

        With `on_started`, the message is held back until the script exists: `on_started` is
        called then, and the message written as soon as it returns (not before the spawn).
        """
        path = _checked_file(self._bin_dir, executable)
        program = f"{PROGRAM_DIR}/{executable}"
        return await self._run(
            path, program, (program,), stdin=delete_message + b"\n", capture_stdout=False,
            slots=self._delete_slots, on_handed_over=on_started,
        )

    async def run_argv(
        self, executable: str, args: Sequence[str], *, delete: bool = False,
        on_started: HandedOver | None = None, stages: Stages | None = None,
    ) -> ScriptResult:
        """OSSEC's protocol (spec 9.1): `[absolute path, *args]`, nothing on stdin.

        OSSEC does not wait for the script; arconsole does, within the limit, so failures
        are recorded.
        """
        path = _checked_file(self._bin_dir, executable)
        program = f"{PROGRAM_DIR}/{executable}"
        return await self._run(
            path, program, (str(home_path(self.home, executable)), *args), stdin=None,
            capture_stdout=False, slots=self._delete_slots if delete else None,
            on_handed_over=on_started, stages=stages,
        )

    async def aclose(self) -> None:
        """Kill whatever still runs (SIGTERM, then SIGKILL) and wait for it; refuse new runs."""
        self._closed = True
        for child in list(self._live):
            child.abort()
        await self._idle.wait()
        if self._spawner is not None:
            await self._spawner.drain()  # a cancelled run's process may still be starting
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 2 * self.kill_grace + _REAP_WAIT
        while self._reapers and loop.time() < deadline:  # a reaper may start a sweep
            await asyncio.wait(list(self._reapers), timeout=deadline - loop.time())
        if self._cgroups is not None:
            self._cgroups.close()
            self._cgroups = None
        if self._devnull is not None:
            os.close(self._devnull)
            self._devnull = None
        if self._spawner is not None:
            if self._watcher is not None:
                self._watcher.remove(self._spawner.doorbell)
            self._spawner.close()
            self._spawner = None
        if self._watcher is not None:
            self._watcher.close()
            self._watcher = None

    @property
    def running(self) -> int:
        """Scripts alive right now (spawned and not yet reaped)."""
        return len(self._live)

    # ---------------------------------------------------------------- one run

    async def _run(
        self, path: str, program: str, argv: tuple[str, ...], *, stdin: bytes | None,
        capture_stdout: bool, on_first_line: FirstLineHandler | None = None,
        slots: asyncio.Semaphore | None = None, on_handed_over: HandedOver | None = None,
        stages: Stages | None = None,
    ) -> ScriptResult:
        self._inflight += 1
        self._idle.clear()
        try:
            async with slots or self._slots:
                return await self._run_slot(
                    path, program, argv, stdin, capture_stdout, on_first_line, on_handed_over,
                    stages,
                )
        finally:
            self._inflight -= 1
            if self._inflight == 0:
                self._idle.set()

    async def _run_slot(
        self, path: str, program: str, argv: tuple[str, ...], stdin: bytes | None,
        capture_stdout: bool, on_first_line: FirstLineHandler | None,
        on_handed_over: HandedOver | None = None, stages: Stages | None = None,
    ) -> ScriptResult:
        started = self.clock()
        if self._closed:
            return self._result(program, argv, started, None, error="executor closed")
        # A run without a handshake that must say when its script has its instructions
        # keeps its message until the script exists (a stdin run), so both happen at once.
        withheld = stdin if on_handed_over is not None and on_first_line is None else None
        loop = asyncio.get_running_loop()
        try:
            child = self._start(
                loop, argv, b"" if withheld is not None else stdin, capture_stdout,
                close_stdin=on_first_line is None and withheld is None, stages=stages,
            )
        except (OSError, ValueError, subprocess.SubprocessError) as error:
            return self._result(program, argv, started, None,
                                error=f"could not launch {program}: {_describe(error, path)}")
        self._live.add(child)
        if self._closed:  # closed while the run was being set up
            child.abort()
        timed_out = False
        line: bytes | None = None
        # Without a hand-over to record, nothing happens at the start itself: the run looks
        # again at its first line, its exit, an abort or its time limit (a failed spawn
        # still wakes it). One task wake-up and future fewer per run (bench/exec.py
        # --machinery, serial: loop turns 5.3 -> 3.1; x16: CPU per run 277 -> 255 us).
        child.wake_on_start = on_handed_over is not None
        try:
            while not child.started:
                await child.changed()
            if child.error is not None:
                child.close()
                self._live.discard(child)
                self._give_back(child)
                failure = child.error
                if not isinstance(failure, (OSError, ValueError, subprocess.SubprocessError)):
                    raise failure
                return self._result(
                    program, argv, started, None,
                    error=f"could not launch {program}: {_describe(failure, path)}",
                )
            if on_handed_over is not None and on_first_line is None:
                on_handed_over()
                if withheld is not None:
                    child.write(withheld)
            if on_first_line is None:
                child.close_stdin()
            else:
                # Step 8: wait for the line, end of file, or the script's exit.
                while not (child.line_done or child.exited or child.aborted or child.expired):
                    await child.changed()
                if child.exited and not child.line_done:
                    child.settle_after_exit()
                if child.line_done:
                    line = child.line
                    asked = loop.time()
                    reply = await on_first_line(line)
                    child.extend(loop.time() - asked)  # the engine's time is not the script's
                    if reply is not None and line is not None:
                        child.write(reply + b"\n")
                    child.close_stdin()
                else:
                    timed_out = not child.aborted
            if not timed_out and not child.aborted:
                while not (child.exited or child.aborted or child.expired):
                    await child.changed()
                timed_out = not child.exited and not child.aborted
            if not child.exited and not await self._terminate(child, loop):
                self._abandon(child)  # pragma: no cover - the kernel did not deliver SIGKILL
                return self._result(
                    program, argv, started, child, timed_out=timed_out, first_line=line,
                    error="still alive after SIGKILL; it will be reaped when it dies",
                )
            child.settle_after_exit()
            # What the script leaves dies with it; the group now, while the zombie script
            # holds the group id (the cgroup's detached ones get theirs in the sweep).
            child.signal_leftovers(signal.SIGTERM, cgroup=False)
            returncode = child.reap()
            self._after_reap(child)
        except BaseException:
            # Cancelled, or the engine's callback failed: the script must not outlive us.
            self._abandon(child)
            raise
        finally:
            if child.reaped:
                self._live.discard(child)
        closed = "killed: executor closed" if child.aborted and child.killed else None
        return self._result(
            program, argv, started, child, returncode=returncode, timed_out=timed_out,
            first_line=line, error=closed,
        )

    def _result(
        self, program: str, argv: tuple[str, ...], started: float, child: Child | None, *,
        returncode: int | None = None, timed_out: bool = False, first_line: bytes | None = None,
        error: str | None = None,
    ) -> ScriptResult:
        if child is None:
            return ScriptResult(program, argv, None, returncode, timed_out, False, first_line,
                                b"", started, self.clock(), error)
        return ScriptResult(program, argv, child.pid, returncode, timed_out, child.killed,
                            first_line, child.stderr, started, self.clock(), error)

    def _start(
        self, loop: asyncio.AbstractEventLoop, argv: tuple[str, ...], stdin: bytes | None,
        capture_stdout: bool, *, close_stdin: bool, stages: Stages | None = None,
    ) -> Child:
        """Make the run's pipes and its Child, and queue the spawn of `argv[0]` (relative
        paths are taken from the home, the working directory); the Child learns the outcome.

        The message goes into the stdin pipe before the script exists: a write with nobody
        waiting on the other end wakes nobody, and most messages fit the pipe's 64 KiB. A run
        with a cgroup gets it from the spawner once it is in the cgroup (SpawnRequest.feed).
        """
        parent_fds: list[int] = []
        child_fds: list[int] = []

        def pipe(parent_reads: bool) -> tuple[int, int]:
            read_end, write_end = os.pipe2(os.O_CLOEXEC)
            parent, child = (read_end, write_end) if parent_reads else (write_end, read_end)
            os.set_blocking(parent, False)
            parent_fds.append(parent)
            child_fds.append(child)
            return parent, child

        cgroup = self._take_cgroup(os.path.basename(argv[0]))
        pending = message = b""
        feed: tuple[int, bytes] | None = None
        try:
            stdin_parent = stdout_parent = None
            if stdin is not None:
                stdin_parent, stdin_child = pipe(parent_reads=False)
                if cgroup is not None:
                    feed = (stdin_parent, stdin)
                    message = stdin
                else:
                    pending = stdin[write_some(stdin_parent, stdin):]
                    if close_stdin and not pending:
                        parent_fds.remove(stdin_parent)
                        os.close(stdin_parent)
                        stdin_parent = None
            else:
                stdin_child = self._null()
            if capture_stdout:
                stdout_parent, stdout_child = pipe(parent_reads=True)
            else:
                stdout_child = self._null()
            stderr_parent, stderr_child = pipe(parent_reads=True)
        except BaseException:
            for fd in parent_fds + child_fds:
                os.close(fd)
            if cgroup is not None and self._cgroups is not None:
                self._cgroups.give_back(cgroup)
            raise
        watcher = self._watcher_for(loop)
        if self._spawner is None:
            self._spawner = Spawner(self._cwd, SCRIPT_ENV, use_popen=self._use_popen)
            watcher.add_reader(self._spawner.doorbell, self._spawner.deliver)
        child = Child(
            loop, watcher, stdin_parent, stdout_parent, stderr_parent,
            want_line=capture_stdout, pending=pending, message=message,
            close_after_write=close_stdin, cgroup=cgroup, time_limit=self.time_limit,
            on_orphan=self._orphan,
        )
        if stages is not None:
            stages.queued = time.time()
        self._spawner.submit(SpawnRequest(
            argv[0], argv, (stdin_child, stdout_child, stderr_child), tuple(child_fds),
            child.start, enter_cgroup=cgroup.enter if cgroup is not None else None,
            open_pidfd=_HAVE_PIDFD, feed=feed, stages=stages,
        ))
        return child

    def _watcher_for(self, loop: asyncio.AbstractEventLoop) -> FdWatcher:
        if self._watcher is None or self._watcher.loop is not loop:
            self._watcher = FdWatcher(loop)
        return self._watcher

    def decide_containment(self) -> str:
        """Settle how runs are contained (at start, so it can be logged) and say it."""
        if not self._contain:
            self.containment = "process groups only (cgroups turned off)"
        elif not self._cgroups_tried:
            self._cgroups_tried = True
            self._cgroups, reason = RunCgroups.open()
            self.containment = (
                f"process groups and {reason}" if self._cgroups is not None
                else f"process groups only ({reason})"
            )
        return self.containment

    def _take_cgroup(self, executable: str) -> RunCgroup | None:
        """A cgroup for this run, if cgroups are in use and the executable is contained."""
        self.decide_containment()
        if self._cgroups is None or executable in self._uncontained:
            return None
        return self._cgroups.take()

    def _orphan(self, child: Child) -> None:
        """A run that went away before its spawn came back: kill and reap what started."""
        if child.error is not None:
            child.close()
            self._give_back(child)
            self._live.discard(child)
            return
        self._abandon(child)

    def _give_back(self, child: Child) -> None:
        group, child.cgroup = child.cgroup, None
        if group is not None and self._cgroups is not None:
            self._cgroups.give_back(group)

    def _null(self) -> int:
        if self._devnull is None:
            self._devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        return self._devnull

    async def _terminate(self, child: Child, loop: asyncio.AbstractEventLoop) -> bool:
        """SIGTERM the group, give the script `kill_grace`, then SIGKILL the group.

        SIGKILL goes out even when the script itself died of SIGTERM: children that ignore
        SIGTERM, or were started by it, are still in the group (scenario C2). Returns whether
        the script is dead (it can only linger in an uninterruptible kernel wait).
        """
        for signum, wait in ((signal.SIGTERM, self.kill_grace), (signal.SIGKILL, _REAP_WAIT)):
            child.signal_group(signum)
            child.arm(loop.time() + wait)
            while not (child.exited or child.expired):
                await child.changed()
        child.disarm()
        return child.exited

    def _abandon(self, child: Child) -> None:
        """Kill the group now and reap in the background (the run itself is going away)."""
        if child.reaped:
            return
        if not child.started:  # the spawn comes back later: `_orphan` then
            child.orphaned = True
            return
        child.disarm()
        if not child.exited:
            child.signal_group(signal.SIGKILL)

        async def reap_later() -> None:
            try:
                while not child.exited:
                    await child.changed()
                child.close()
                child.reap()
                self._after_reap(child)
            finally:
                self._live.discard(child)

        self._track(asyncio.get_running_loop().create_task(reap_later()))

    def _track(self, task: asyncio.Task[None]) -> None:
        self._reapers.add(task)
        task.add_done_callback(self._reapers.discard)

    def _after_reap(self, child: Child) -> None:
        """The script is reaped: if it left processes behind, sweep them in the background
        (SIGTERM went out already; SIGKILL after `kill_grace`). The result does not wait."""
        if child.leftovers():
            self._track(asyncio.get_running_loop().create_task(self._sweep(child)))
        else:
            self._release(child, known_empty=True)

    async def _sweep(self, child: Child) -> None:
        loop = asyncio.get_running_loop()
        try:
            child.signal_leftovers(signal.SIGTERM)  # the cgroup's, outside the group, too
            deadline = loop.time() + self.kill_grace
            while child.leftovers() and loop.time() < deadline:
                await asyncio.sleep(_SWEEP_POLL)
            if child.leftovers():
                child.signal_leftovers(signal.SIGKILL)
                deadline = loop.time() + _REAP_WAIT
                while child.cgroup is not None and child.cgroup.populated() and (
                    loop.time() < deadline
                ):
                    await asyncio.sleep(_SWEEP_POLL)
        finally:
            self._release(child)

    def _release(self, child: Child, *, known_empty: bool = False) -> None:
        child.release()
        group, child.cgroup = child.cgroup, None
        if group is not None and self._cgroups is not None:
            self._cgroups.give_back(group, known_empty=known_empty)
        elif group is not None:  # the executor closed while this run's leftovers were swept
            group.close()
            with contextlib.suppress(OSError):
                os.rmdir(os.path.dirname(group.path))


def _describe(error: BaseException, path: str) -> str:
    if isinstance(error, FileNotFoundError) and os.path.exists(path):
        return "its interpreter (the #! line) was not found"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error)

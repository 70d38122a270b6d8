"""One spawned script's pipes and exit, driven by event-loop callbacks, and the epoll set that
watches every run's descriptors as a single reader of the loop.

A Child writes the message to stdin as the pipe takes it, reads the first line as execd's
fgets does (LINE_MAX), keeps up to STDERR_CAP of stderr, learns of the exit from a pidfd (or a
thread waiting with WNOWAIT on old kernels) and signals the process group or its leftovers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import signal
import subprocess
import threading
from collections.abc import Callable

from arconsole.engine.cgroups import RunCgroup
from arconsole.engine.spawn import Spawned

LINE_MAX = 8191  # execd reads the check_keys line with fgets(buffer, 8192)
STDERR_CAP = 64 * 1024
_READ_CHUNK = 65536

_PIDFD_SIGNAL_PROCESS_GROUP = 4  # linux/pidfd.h (Linux 6.9)
_PIDFD_GROUP_SIGNALS = hasattr(signal, "pidfd_send_signal")  # until the kernel says EINVAL


class FdWatcher:
    """The executor's own epoll set, watched by the loop as one reader.

    A run watches three descriptors (stdout, stderr, its pidfd); through asyncio's add_reader
    each registration and removal costs a Handle, a selector key and an epoll_ctl in Python.
    Here it is one C call each, and one loop wake-up serves every run that has news.
    Level-triggered like asyncio's selector, so a callback that reads only part is called again.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._epoll = select.epoll()
        self._callbacks: dict[int, Callable[[], None]] = {}
        loop.add_reader(self._epoll.fileno(), self._dispatch)

    def add_reader(self, fd: int, callback: Callable[[], None]) -> None:
        self._epoll.register(fd, select.EPOLLIN)
        self._callbacks[fd] = callback

    def add_writer(self, fd: int, callback: Callable[[], None]) -> None:
        self._epoll.register(fd, select.EPOLLOUT)
        self._callbacks[fd] = callback

    def remove(self, fd: int) -> None:
        if self._callbacks.pop(fd, None) is not None:
            with contextlib.suppress(OSError):
                self._epoll.unregister(fd)

    def _dispatch(self) -> None:
        for fd, _ in self._epoll.poll(0, 256):
            callback = self._callbacks.get(fd)
            if callback is not None:  # removed by an earlier callback of this batch
                callback()

    def close(self) -> None:
        if not self.loop.is_closed():
            self.loop.remove_reader(self._epoll.fileno())
        self._epoll.close()


class Child:
    """One script run's process, pipes and exit, driven by event-loop callbacks.

    A Child exists before its process: the executor makes it with the parent's pipe ends,
    hands `start` to the spawner as the spawn's completion, and waits on `changed()`. Its
    state is plain flags (`started`, `line_done`, `exited`, `aborted`, `expired`); any change
    resolves the one waiter future the run's coroutine awaits, straight from the epoll
    dispatch: no future per event, no callback chain, one task wake-up per change.
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, watcher: FdWatcher,
        stdin_fd: int | None, stdout_fd: int | None, stderr_fd: int | None,
        *, want_line: bool, pending: bytes = b"", message: bytes = b"",
        close_after_write: bool = False, cgroup: RunCgroup | None = None,
        time_limit: float = 0.0, on_orphan: Callable[[Child], None] | None = None,
    ) -> None:
        self.loop = loop
        self.watcher = watcher
        self.popen: subprocess.Popen[bytes] | None = None
        self.pid = 0
        self.error: BaseException | None = None  # the spawn failed
        self.started = False  # the spawn's outcome has come back (process or error)
        self.line_done = not want_line
        self.line: bytes | None = None  # the first line, once line_done
        self.exited = False
        self.aborted = False  # the executor is closing: stop the run
        self.expired = False  # the armed deadline passed
        self.orphaned = False  # the run went away before its spawn came back
        # Whether a successful start resolves the waiter: a run with nothing to do at the
        # start itself is woken at its next change instead (one task wake-up fewer per run).
        self.wake_on_start = True
        self.killed = False
        self.reaped = False
        self.deadline = 0.0
        self._time_limit = time_limit
        self._timer: asyncio.TimerHandle | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._on_orphan = on_orphan
        self._stdin_fd = stdin_fd
        self._stdout_fd = stdout_fd
        self._stderr_fd = stderr_fd
        self._pending = bytearray(pending)
        self._message = message  # given to the spawner (SpawnRequest.feed): what it wrote
        self._close_after_write = close_after_write
        self._writing = False
        self._line = bytearray()
        self._stderr = bytearray()
        self._pidfd: int | None = None
        self.cgroup = cgroup

    def start(self, outcome: Spawned | BaseException) -> None:
        """The spawn's outcome (called on the loop by the spawner's delivery)."""
        self.started = True
        if isinstance(outcome, BaseException):
            self.error = outcome
            if self.orphaned and self._on_orphan is not None:
                self._on_orphan(self)
            self._notify()
            return
        self.pid = outcome.pid
        self.popen = outcome.popen
        self._pidfd = outcome.pidfd
        if self._message:
            self._pending += self._message[outcome.fed:]
            self._message = b""
        if self.orphaned and self._on_orphan is not None:
            self.close()  # nobody reads or writes for this run any more
            self._watch_exit()
            self._on_orphan(self)
            return
        if self._stdout_fd is not None:
            self.watcher.add_reader(self._stdout_fd, self._on_stdout)
        if self._stderr_fd is not None:
            self.watcher.add_reader(self._stderr_fd, self._on_stderr)
        self._watch_exit()
        if self._pending:
            self._flush()
        elif self._close_after_write:
            self._close_stdin()
        self.arm(self.loop.time() + self._time_limit)
        if self.wake_on_start:
            self._notify()

    # ---------------------------------------------------------------- waiting

    def changed(self) -> asyncio.Future[None]:
        """A future resolved at the next change of state (await it, then look again)."""
        waiter = self._waiter = self.loop.create_future()
        return waiter

    def _notify(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def abort(self) -> None:
        self.aborted = True
        self._notify()

    def arm(self, deadline: float) -> None:
        """`expired` becomes True at `deadline` (loop time); a later `arm` or `extend` moves it."""
        self.expired = False
        self.deadline = deadline
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.loop.call_at(deadline, self._expire)

    def extend(self, seconds: float) -> None:
        """Move the deadline later; the timer follows when it fires (no re-arm per reply).
        A deadline that passed while the engine held the run comes back to life."""
        self.deadline += seconds
        if self.expired and self.loop.time() < self.deadline:
            self.expired = False
            self._timer = self.loop.call_at(self.deadline, self._expire)

    def disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        if self.loop.time() < self.deadline:  # extended since: wait for the rest
            self._timer = self.loop.call_at(self.deadline, self._expire)
            return
        self._timer = None
        self.expired = True
        self._notify()

    # ---------------------------------------------------------------- exit

    def _watch_exit(self) -> None:
        if self._pidfd is not None:
            self.watcher.add_reader(self._pidfd, self._on_exit)
            return
        # No pidfd (old kernel): a thread waits without reaping (WNOWAIT), so the pid, and
        # with it the process group id, stays reserved until the kill sequence is over.
        threading.Thread(target=self._wait_exit_thread, daemon=True).start()

    def _wait_exit_thread(self) -> None:
        with contextlib.suppress(ChildProcessError):
            os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOWAIT)
        with contextlib.suppress(RuntimeError):  # loop already closed
            self.loop.call_soon_threadsafe(self._on_exit)

    def _on_exit(self) -> None:
        if self.exited:
            return
        if self._pidfd is not None:
            # The pidfd stays open: after the reap it still names the script's process
            # group, so leftovers are signalled without any risk of a reused id.
            self.watcher.remove(self._pidfd)
        self.exited = True
        self._notify()

    def reap(self) -> int | None:
        """Collect the exit status of a process whose exit was seen (no blocking)."""
        self.reaped = True
        if self.popen is not None:
            return self.popen.wait()
        while True:
            try:
                _, status = os.waitpid(self.pid, 0)
            except InterruptedError:  # pragma: no cover - PEP 475 retries already
                continue
            except ChildProcessError:  # pragma: no cover - someone else reaped it
                return None
            return os.waitstatus_to_exitcode(status)

    def signal_group(self, signum: int) -> None:
        """Signal the script's process group, and the script itself if it left the group.

        Only called before the script is reaped: until then its pid, which is also the
        group id, cannot be reused, so the signal cannot reach a stranger.
        """
        self.killed = True
        self.signal_leftovers(signum)
        with contextlib.suppress(OSError):
            os.kill(self.pid, signum)

    # ---------------------------------------------------------------- what the script leaves

    def signal_leftovers(self, signum: int, *, cgroup: bool = True) -> None:
        """Signal the process group and, with one, the run's cgroup (setsid children too).

        Before the reap the zombie script holds its pid, the group id; after it, the pidfd
        names the group where the kernel can (Linux >= 6.9), else the group id is used: it
        stays reserved while any member lives.
        """
        if not self._signal_group_by_pidfd(signum):
            with contextlib.suppress(OSError):
                os.killpg(self.pid, signum)
        if cgroup and self.cgroup is not None:
            self.cgroup.signal_all(signum)

    def leftovers(self) -> bool:
        """Whether anything of the run is still there: a member of its process group (a
        zombie not yet collected by init counts), or a live process in its cgroup."""
        if self.cgroup is not None and self.cgroup.populated():
            return True
        if self._pidfd is not None and _PIDFD_GROUP_SIGNALS:
            try:
                signal.pidfd_send_signal(self._pidfd, 0, None, _PIDFD_SIGNAL_PROCESS_GROUP)
            except OSError:
                return False
            return True
        try:
            os.killpg(self.pid, 0)
        except OSError:
            return False
        return True

    def _signal_group_by_pidfd(self, signum: int) -> bool:
        global _PIDFD_GROUP_SIGNALS
        if self._pidfd is None or not _PIDFD_GROUP_SIGNALS:
            return False
        try:
            signal.pidfd_send_signal(self._pidfd, signum, None, _PIDFD_SIGNAL_PROCESS_GROUP)
        except ProcessLookupError:
            return True  # nobody left in the group
        except OSError:
            _PIDFD_GROUP_SIGNALS = False  # EINVAL: a kernel before 6.9
            return False
        return True

    def release(self) -> None:
        """Let go of the pidfd once the run and its leftovers are done with."""
        fd, self._pidfd = self._pidfd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    # ---------------------------------------------------------------- stdin

    def write(self, data: bytes) -> None:
        if self._stdin_fd is None:
            return
        self._pending += data
        self._flush()

    def close_stdin(self) -> None:
        self._close_after_write = True
        if not self._pending:
            self._close_stdin()

    def _flush(self) -> None:
        fd = self._stdin_fd
        while self._pending and fd is not None:
            try:
                written = os.write(fd, self._pending)
            except BlockingIOError:
                if not self._writing:
                    self.watcher.add_writer(fd, self._flush)
                    self._writing = True
                return
            except OSError:  # EPIPE: the script stopped reading; execd's write fails too
                self._pending.clear()
                self._close_stdin()
                return
            del self._pending[:written]
        if self._writing and fd is not None:
            self.watcher.remove(fd)
            self._writing = False
        if self._close_after_write:
            self._close_stdin()

    def _close_stdin(self) -> None:
        fd, self._stdin_fd = self._stdin_fd, None
        if fd is None:
            return
        if self._writing:
            self.watcher.remove(fd)
            self._writing = False
        os.close(fd)

    # ---------------------------------------------------------------- stdout, stderr

    def _on_stdout(self) -> None:
        data = _read_ready(self._stdout_fd)
        if data is None:
            return
        if not data:
            self._close_stdout()
            self._take_line(eof=True)
        elif not self.line_done:
            self._line += data
            self._take_line(eof=False)
        # After the first line, stdout is read and dropped so a chatty script never blocks.

    def _take_line(self, *, eof: bool) -> None:
        """fgets: up to the first newline within LINE_MAX bytes, or LINE_MAX bytes, or what
        is there at end of file (None if nothing)."""
        if self.line_done:
            return
        end = self._line.find(b"\n", 0, LINE_MAX)
        if end >= 0:
            line: bytes | None = bytes(self._line[:end])
        elif len(self._line) >= LINE_MAX:
            line = bytes(self._line[:LINE_MAX])
        elif eof:
            line = bytes(self._line) if self._line else None
        else:
            return
        self._line.clear()
        self.line = line
        self.line_done = True
        self._notify()

    def _close_stdout(self) -> None:
        fd, self._stdout_fd = self._stdout_fd, None
        self._let_go(fd)

    def _on_stderr(self) -> None:
        data = _read_ready(self._stderr_fd)
        if data is None:
            return
        if not data:
            self._close_stderr()
            return
        room = STDERR_CAP - len(self._stderr)
        if room > 0:
            self._stderr += data[:room]

    def _close_stderr(self) -> None:
        fd, self._stderr_fd = self._stderr_fd, None
        self._let_go(fd)

    def _let_go(self, fd: int | None) -> None:
        """Stop watching a pipe and close it (nothing if it was closed already)."""
        if fd is not None:
            self.watcher.remove(fd)
            os.close(fd)

    def settle_after_exit(self) -> None:
        """The script has exited: take what its pipes already hold, then let go of them.

        A background child may keep the pipes open for ever; what the script itself wrote is
        already in them, so one last non-blocking read is all that is owed to it.
        """
        for _ in range(16):  # bounded: a grandchild could keep writing
            if self._stdout_fd is None or self.line_done:
                break
            self._on_stdout()
        self._take_line(eof=True)
        for _ in range(16):
            if self._stderr_fd is None or len(self._stderr) >= STDERR_CAP:
                break
            before = len(self._stderr)
            self._on_stderr()
            if len(self._stderr) == before:
                break
        self.close()

    def close(self) -> None:
        self.disarm()
        self._close_stdin()
        self._close_stdout()
        self._close_stderr()
        if not self.line_done:
            self.line_done = True

    @property
    def stderr(self) -> bytes:
        return bytes(self._stderr)


def _read_ready(fd: int | None) -> bytes | None:
    """What a non-blocking pipe holds now: b"" at end of file (or on a read error), None when
    nothing is there yet."""
    assert fd is not None
    try:
        return os.read(fd, _READ_CHUNK)
    except BlockingIOError:
        return None
    except OSError:
        return b""

"""Running system commands for a script: argument lists, a fixed PATH, never a shell.

In demo mode (a home holding `etc/arconsole-demo`) nothing is changed: each change a script
would make is appended to `logs/demo-actions.log` as one JSON line, with the exact argv, and
nothing is read from the system either (`query` answers None).

Commands are started with `os.posix_spawn` and their output read with `select.poll`, not with
subprocess: importing subprocess costs about as much as the rest of a script run.
"""

from __future__ import annotations

import errno
import os
import time

from arconsole.scripts.protocol import Session, append_line, compact_json, timestamp

COMMAND_TIMEOUT = 20.0
DEMO_LOG = "logs/demo-actions.log"
_READ_CHUNK = 65536


def not_accessible(name: str) -> str:
    """Wazuh's line for a binary that is not on the search path."""
    return (f"The {name} file '{name}' is not accessible: "
            f"{os.strerror(errno.ENOENT)} ({errno.ENOENT})")


def which(name: str, search_path: str) -> str | None:
    """`shutil.which(name, path=search_path)` for a bare name: the first executable file."""
    for folder in dict.fromkeys(search_path.split(":")):
        candidate = os.path.join(folder, name)
        if os.access(candidate, os.X_OK) and not os.path.isdir(candidate):
            return candidate
    return None


class Outcome:
    __slots__ = ("output", "returncode", "stdout")

    def __init__(self, returncode: int, output: str, stdout: str = "") -> None:
        self.returncode = returncode
        self.output = output  # the first line the command wrote (stderr first), for the log
        self.stdout = stdout

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class System:
    def __init__(self, session: Session, search_path: str) -> None:
        self.session = session
        self.search_path = search_path

    @property
    def demo(self) -> bool:
        return self.session.demo

    def which(self, name: str) -> str | None:
        """The absolute path of `name` on the search path; in demo mode the bare name at worst,
        so that the demo shows what would run on a machine that has it."""
        found = which(name, self.search_path)
        if found is None and self.demo:
            return name
        return found

    def change(self, argv: list[str], *, stdin_text: str | None = None,
               timeout: float = COMMAND_TIMEOUT, capture: bool = True) -> Outcome:
        """Run a command that changes the system (recorded instead in demo mode).

        `capture=False` for commands that leave daemons behind: a daemon holding the output
        pipe would keep the run waiting for an end of file that never comes.
        """
        if self.demo:
            entry: dict[str, object] = {"argv": argv}
            if stdin_text is not None:
                entry["stdin"] = stdin_text
            self.record(entry)
            return Outcome(0, "")
        return run_command(argv, self.search_path, stdin_text, timeout, capture)

    def query(self, argv: list[str], *, timeout: float = COMMAND_TIMEOUT) -> Outcome | None:
        """Run a read-only command; None in demo mode, where nothing is asked of the system."""
        if self.demo:
            return None
        return run_command(argv, self.search_path, None, timeout, True)

    def record(self, entry: dict[str, object]) -> None:
        """Append one demo action to `logs/demo-actions.log`."""
        line = compact_json({"time": timestamp(), "program": self.session.argv0, **entry})
        append_line(os.path.join(self.session.home, DEMO_LOG),
                    (line + "\n").encode("utf-8", "surrogateescape"))


def run_command(argv: list[str], search_path: str, stdin_text: str | None = None,
                timeout: float = COMMAND_TIMEOUT, capture: bool = True) -> Outcome:
    """Run `argv` (argv[0] an absolute path) with PATH=`search_path` and LC_ALL=C, feeding it
    `stdin_text` (else /dev/null); its output captured, or sent to /dev/null.

    A command that cannot start gives returncode 127, one still running after `timeout`
    seconds is killed and gives -1.
    """
    import select  # only runs that change the system need it; demo runs do not

    env = {"PATH": search_path, "LC_ALL": "C"}
    mine: list[int] = []  # every descriptor this function opened and has not closed
    try:
        actions: list[tuple[int, ...] | tuple[int, int, str, int, int]] = []
        stdin_fd = out_fd = err_fd = -1
        if stdin_text is None:
            actions.append((os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0))
        else:
            child_in, stdin_fd = os.pipe()
            mine += [child_in, stdin_fd]
            actions.append((os.POSIX_SPAWN_DUP2, child_in, 0))
        if capture:
            out_fd, child_out = os.pipe()
            err_fd, child_err = os.pipe()
            mine += [out_fd, child_out, err_fd, child_err]
            actions += [(os.POSIX_SPAWN_DUP2, child_out, 1), (os.POSIX_SPAWN_DUP2, child_err, 2)]
        else:
            actions += [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_WRONLY, 0) for fd in (1, 2)]
        try:
            # Python ignores SIGPIPE and SIGXFSZ; the command gets the defaults back, as
            # subprocess gives them (restore_signals).
            pid = os.posix_spawn(argv[0], argv, env, file_actions=actions,
                                 setsigdef=_RESTORED_SIGNALS)
        except OSError as error:
            return Outcome(127, f"{error.strerror or error}")
        for fd in mine[:]:
            if fd not in (stdin_fd, out_fd, err_fd):
                os.close(fd)
                mine.remove(fd)
        deadline = time.monotonic() + timeout
        output = {out_fd: bytearray(), err_fd: bytearray()}
        poller = select.poll()
        pending = memoryview(stdin_text.encode() if stdin_text is not None else b"")
        if stdin_fd >= 0:
            os.set_blocking(stdin_fd, False)
            poller.register(stdin_fd, select.POLLOUT)
        for fd in (out_fd, err_fd):
            if fd >= 0:
                poller.register(fd, select.POLLIN)
        streams = sum(fd >= 0 for fd in (stdin_fd, out_fd, err_fd))
        while streams:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return _killed(pid, timeout)
            for fd, _events in poller.poll(remaining * 1000):
                done = False
                if fd == stdin_fd:
                    try:
                        pending = pending[os.write(fd, pending[:_READ_CHUNK]):]
                    except BlockingIOError:
                        continue
                    except OSError:  # the command closed its stdin (EPIPE): stop feeding it
                        done = True
                    done = done or not pending
                else:
                    chunk = os.read(fd, _READ_CHUNK)
                    output[fd] += chunk
                    done = not chunk
                if done:
                    poller.unregister(fd)
                    os.close(fd)
                    mine.remove(fd)
                    streams -= 1
        returncode = _wait(pid, deadline)
        if returncode is None:
            return _killed(pid, timeout)
        stdout = bytes(output.get(out_fd, b""))
        return Outcome(returncode, _first_line(bytes(output.get(err_fd, b"")), stdout),
                       stdout.decode("utf-8", "replace"))
    finally:
        for fd in mine:
            os.close(fd)


def _wait(pid: int, deadline: float) -> int | None:
    """The exit status of `pid`, or None when it is still running at `deadline`."""
    pause = 0.0005
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        time.sleep(min(pause, remaining))
        pause = min(pause * 2, 0.05)


def _killed(pid: int, timeout: float) -> Outcome:
    try:  # noqa: SIM105 - contextlib costs an import
        os.kill(pid, 9)  # SIGKILL, as subprocess.run kills on its timeout
    except ProcessLookupError:
        pass
    os.waitpid(pid, 0)
    return Outcome(-1, f"timed out after {timeout:g}s")


def _restored_signals() -> tuple[int, ...]:
    try:
        from _signal import SIGPIPE, SIGXFSZ  # type: ignore[import-not-found]  # no enum
    except ImportError:
        from signal import SIGPIPE, SIGXFSZ
    return (SIGPIPE, SIGXFSZ)


_RESTORED_SIGNALS = _restored_signals()


def _first_line(*streams: bytes) -> str:
    for stream in streams:
        for line in stream.decode("utf-8", "replace").splitlines():
            if line.strip():
                return line.strip()
    return ""

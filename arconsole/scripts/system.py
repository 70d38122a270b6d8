"""Running system commands for a script: argument lists, a fixed PATH, never a shell.

In demo mode (a home holding `etc/arconsole-demo`) nothing is changed: each change a script
would make is appended to `logs/demo-actions.log` as one JSON line, with the exact argv.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from arconsole.scripts.protocol import Session, compact_json, timestamp

COMMAND_TIMEOUT = 20.0
DEMO_LOG = Path("logs/demo-actions.log")


def not_accessible(name: str) -> str:
    """Wazuh's line for a binary that is not on the search path."""
    return (f"The {name} file '{name}' is not accessible: "
            f"{os.strerror(errno.ENOENT)} ({errno.ENOENT})")


@dataclass(frozen=True, slots=True)
class Outcome:
    returncode: int
    output: str  # the first line the command wrote (stderr first), for the log
    stdout: str = ""

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
        found = shutil.which(name, path=self.search_path)
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
        return self._run(argv, stdin_text, timeout, capture)

    def query(self, argv: list[str], *, timeout: float = COMMAND_TIMEOUT) -> Outcome | None:
        """Run a read-only command; None in demo mode, where nothing is asked of the system."""
        if self.demo:
            return None
        return self._run(argv, None, timeout, True)

    def record(self, entry: dict[str, object]) -> None:
        """Append one demo action to `logs/demo-actions.log`."""
        line = compact_json({"time": timestamp(), "program": self.session.argv0, **entry})
        path = self.session.home / DEMO_LOG
        path.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        try:
            os.write(fd, (line + "\n").encode("utf-8", "surrogateescape"))
        finally:
            os.close(fd)

    def _run(self, argv: list[str], stdin_text: str | None, timeout: float,
             capture: bool) -> Outcome:
        output = subprocess.PIPE if capture else subprocess.DEVNULL
        try:
            completed = subprocess.run(
                argv, input=stdin_text.encode() if stdin_text is not None else None,
                stdin=subprocess.DEVNULL if stdin_text is None else None,
                stdout=output, stderr=output, timeout=timeout, check=False, close_fds=True,
                env={"PATH": self.search_path, "LC_ALL": "C"},
            )
        except subprocess.TimeoutExpired:
            return Outcome(-1, f"timed out after {timeout:g}s")
        except OSError as error:
            return Outcome(127, f"{error.strerror or error}")
        stdout = completed.stdout or b""
        return Outcome(completed.returncode, _first_line(completed.stderr or b"", stdout),
                       stdout.decode("utf-8", "replace"))


def _first_line(*streams: bytes) -> str:
    for stream in streams:
        for line in stream.decode("utf-8", "replace").splitlines():
            if line.strip():
                return line.strip()
    return ""

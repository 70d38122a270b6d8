"""The one set of rules for a response's executable, for the engine and for `check` alike.

A name is run only as a file of `HOME/active-response/bin` (spec 1.3, 7.2): never a path, never
`..` (execd's directory-traversal refusal, CVE-2022-40497), never a character a terminal or a
log line cannot show literally, and a symlink must stay inside the folder. The engine calls
`checked_executable` before every run; `check_executables` turns the same verdicts into
diagnostics, so `arconsole check` reports exactly what the engine would refuse.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from arconsole.config.diagnostics import Diagnostic, Severity
from arconsole.config.model import Command, Config
from arconsole.safetext import literal

# Where every response executable lives, relative to the Wazuh home (execd's AR_BINDIR).
PROGRAM_DIR = "active-response/bin"


class ExecutableError(Exception):
    """The executable cannot be run; the engine reports it, it is not fatal."""


class ExecutableRefused(ExecutableError):
    """The name would leave `HOME/active-response/bin` or cannot be shown (spec 1.4, D5)."""


class ExecutableMissing(ExecutableError):
    """The file is absent or not executable (Wazuh: "command not present", scenario C3)."""


class ExecutableNotExecutable(ExecutableMissing):
    """A regular file without the execute permission."""


def name_refusal(executable: str) -> str | None:
    """Why a name is refused whatever the folder holds, or None when it may be looked for."""
    if not executable:
        return "empty executable name"
    shown = literal(executable)
    if "/" in executable or "\\" in executable:
        return (f"executable '{shown}' contains a path separator; only file names inside "
                f"{PROGRAM_DIR} are run")
    if ".." in executable or executable == ".":
        # execd refuses any name containing "..", whatever surrounds it (spec 7.2).
        return f"active response command '{shown}' vulnerable to directory traversal attack"
    if shown != executable:
        # argv[0] goes into log lines and on the console: a newline would forge a line, a
        # bidi override would show another name than the file that runs.
        return (f"executable '{shown}' contains control or invisible characters (line breaks, "
                "escapes, bidi overrides)")
    return None


def checked_executable(bin_dir: str, executable: str) -> str:
    """The file `bin_dir/<executable>` to run, checked; cheap enough for every run.

    A plain file costs two system calls; only a symlink is resolved (and must stay inside
    the folder). Raises ExecutableRefused (the name, or a symlink leaving the folder) or
    ExecutableMissing (absent, not a regular file, not executable).
    """
    refusal = name_refusal(executable)
    if refusal is not None:
        raise ExecutableRefused(refusal)
    program = f"{PROGRAM_DIR}/{executable}"
    target = os.path.join(bin_dir, executable)
    try:
        info = os.lstat(target)
    except FileNotFoundError as error:
        raise ExecutableMissing(f"active response command not present: {program}") from error
    except OSError as error:
        raise ExecutableMissing(f"{program}: {error.strerror}") from error
    if stat.S_ISLNK(info.st_mode):
        real_bin = os.path.realpath(bin_dir)
        target = os.path.realpath(target)
        if target == real_bin or os.path.commonpath([real_bin, target]) != real_bin:
            raise ExecutableRefused(
                f"{program} resolves to {literal(target)}, outside {literal(real_bin)}")
        try:
            info = os.stat(target)
        except FileNotFoundError as error:
            raise ExecutableMissing(f"{program} is a symlink to a missing file") from error
        except OSError as error:  # ELOOP and the like
            raise ExecutableMissing(f"{program}: {error.strerror}") from error
    if not stat.S_ISREG(info.st_mode):
        raise ExecutableMissing(f"{program} is not a regular file")
    if not os.access(target, os.X_OK):
        raise ExecutableNotExecutable(f"{program} is not executable")
    return target


def check_executables(config: Config, bin_dir: Path) -> list[Diagnostic]:
    """The engine's verdict on each command a response can fire, as diagnostics.

    A refusal (a symlink leaving the folder) is an error: the engine refuses it every time.
    A missing or non-executable file is a warning: the config is valid, the response fails
    when it fires (Wazuh's execd logs "not present" at that moment). Names refused as such
    were reported where the `<executable>` is read.
    """
    used = {r.command for r in config.active_responses if r.command}
    diagnostics: list[Diagnostic] = []
    checked: set[str] = set()
    for command in config.commands:
        if command.name not in used or command.name in checked:
            continue
        checked.add(command.name)
        if name_refusal(command.executable) is not None:
            continue
        problem = _problem(command, bin_dir)
        if problem is not None:
            diagnostics.append(problem)
    return diagnostics


def _problem(command: Command, bin_dir: Path) -> Diagnostic | None:
    name, owner = literal(command.executable), literal(command.name)
    target = literal(str(bin_dir / command.executable))
    line, column = command.executable_line or command.line, command.executable_column or \
        command.column
    try:
        checked_executable(os.fspath(bin_dir), command.executable)
    except ExecutableRefused as error:
        return Diagnostic(
            Severity.ERROR, "AR-EXEC-REFUSED",
            f"executable '{name}' of command '{owner}' is refused by the engine: {error}",
            line, column, f"put the script itself in {literal(str(bin_dir))} (a symlink must "
            "stay inside that folder)")
    except ExecutableNotExecutable:
        return Diagnostic(
            Severity.WARNING, "AR-EXEC-MODE",
            f"executable '{name}' of command '{owner}' is not executable: the response "
            "fails each time it fires", line, column, f"chmod 750 {target}")
    except ExecutableMissing as error:
        return Diagnostic(
            Severity.WARNING, "AR-EXEC-MISSING",
            f"executable '{name}' of command '{owner}' cannot be run from "
            f"{literal(str(bin_dir))} ({error}): the response fails each time it fires",
            line, column, f"install the script as {target}")
    return None

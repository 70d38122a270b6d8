"""Expected failures of the command line as one line each: what failed, on which path, why.

Every sub-command and the console end an expected OS, state or usage problem with exactly
one line on stderr (`arconsole: cannot open state /x/state.db: Permission denied`) and exit
status 2, never with a traceback. An engine that cannot start for another reason (its config
has errors, another engine owns the state file) says so in one line too, with status 1.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

from arconsole.safetext import literal

EXIT_FAILED = 1  # the command ran and something it did failed (a script, a refused request)
EXIT_USAGE = 2  # a path cannot be used or an argument is wrong: nothing was done


class CommandError(Exception):
    """A failure already phrased for the operator, with the exit status it ends with."""

    def __init__(self, message: str, status: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def report(message: str, status: int = EXIT_USAGE) -> int:
    """Print `arconsole: message` as one line on stderr (escaped: a newline or an escape code
    in a path cannot break or forge it); returns `status`."""
    print(f"arconsole: {literal(message) or 'failed'}", file=sys.stderr)
    return status


def os_reason(error: OSError) -> str:
    """The system's reason alone: `Permission denied`."""
    return error.strerror or str(error) or type(error).__name__


def path_failure(verb: str, path: Path, error: OSError | sqlite3.Error) -> str:
    """`cannot <verb> <path>: <reason>[ (<the path the system complained about>)]`."""
    if isinstance(error, OSError):
        reason = os_reason(error)
        named = error.filename
        if named is not None and str(named) != str(path):
            reason += f" ({named})"
    else:
        reason = str(error) or type(error).__name__
    return f"cannot {verb} {path}: {reason}"


def _within(named: str, path: Path) -> bool:
    """True when the system's complaint is about `path`, a sibling of it (lock, WAL, socket)
    or a directory on the way to it."""
    text = str(path)
    return named.startswith(text) or text.startswith(named.rstrip("/") + "/")


def describe_start_failure(
    error: BaseException, *, config: Path, state: Path, alerts: Path, socket: Path
) -> tuple[str, int]:
    """(one-line message, exit status) for an engine that could not start.

    OS problems with a path (missing, not a directory, no permission, read-only) are usage
    errors (status 2); a config with errors or a state file owned by another engine are
    failures of the run (status 1), as they always were.
    """
    from arconsole.engine.agents import AgentsFileError
    from arconsole.engine.store import StateError, StateLocked

    cause = error.__cause__ if error.__cause__ is not None else error
    if isinstance(cause, AgentsFileError):
        return f"--agents: {cause}", EXIT_USAGE
    if isinstance(cause, StateLocked):
        return str(cause), EXIT_FAILED
    if isinstance(cause, StateError):
        return _state_refusal(str(cause), state), EXIT_USAGE
    if isinstance(cause, sqlite3.Error):
        return path_failure("open state", state, cause), EXIT_USAGE
    if isinstance(cause, OSError):
        named = "" if cause.filename is None else str(cause.filename)
        if not named and "AF_UNIX" in str(cause):
            return path_failure("create the control socket", socket, cause), EXIT_USAGE
        if named == str(config):
            return path_failure("read config", config, cause), EXIT_USAGE
        if named and _within(named, state):
            return path_failure("open state", state, cause), EXIT_USAGE
        if named and _within(named, alerts):
            return path_failure("read alerts", alerts, cause), EXIT_USAGE
        if named:
            return f"{os_reason(cause)}: {named}", EXIT_USAGE
        return str(error) or os_reason(cause), EXIT_USAGE
    return str(error), EXIT_FAILED


def _state_refusal(message: str, state: Path) -> str:
    """`refusing P: not a regular file` said as what it means for the operator."""
    prefix = "refusing "
    if not message.startswith(prefix) or ": " not in message:
        return message
    refused, reason = message[len(prefix):].split(": ", 1)
    where = "" if refused == str(state) else f" ({refused})"
    return f"cannot open state {state}: {reason}{where}"

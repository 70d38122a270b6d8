"""The skeleton every shipped script shares (spec 8.1): validate, key, handshake, act.

For the scripts that have a `check` (see arconsole.scripts.protocol), the same skeleton runs
the check: validation and settings as for add and delete, no handshake, the log muted, and
the action's answer printed as one line on stdout.
"""

from __future__ import annotations

from arconsole.scripts import locking
from arconsole.scripts.options import OptionError, Options, parse_options
from arconsole.scripts.protocol import (
    CHECK_EXITS,
    EXIT_INVALID,
    EXIT_OK,
    MSG_ABORTED,
    MSG_BAD_DSTUSER,
    MSG_BAD_SRCIP,
    MSG_NO_LOCK,
    CheckState,
    Command,
    Message,
    Reply,
    Session,
    check_answer,
)
from arconsole.scripts.system import System

TYPE_CHECKING = False  # typing costs more to import than a script run should
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import BinaryIO, Literal

    from arconsole.scripts.options import Option

    KeyKind = Literal["srcip", "dstuser"]
    Action = Callable[["Run"], int]


class Run:
    """What an action gets: the validated message, its key, the settings, the system."""

    __slots__ = ("command", "key", "message", "options", "session", "system")

    def __init__(self, session: Session, message: Message, command: str, key: str,
                 options: Options, system: System) -> None:
        self.session = session
        self.message = message
        self.command = command  # a Command value
        self.key = key  # the validated srcip or dstuser; "" for a stateless script
        self.options = options
        self.system = system

    def log(self, text: str) -> None:
        self.session.log.write(text)

    def lock(self, name: str) -> locking.ExclusiveLock:
        """The named lock of this home; LockUnavailable ends the run with Wazuh's message."""
        return locking.ExclusiveLock(locking.lock_path(self.session.home, name),
                                     self.options.lock_wait)

    def end(self) -> int:
        return self.session.end()

    def fail(self, text: str) -> int:
        self.log(text)
        return EXIT_INVALID

    def answer(self, state: str, detail: str = "") -> int:
        """End a check: print its answer and return its exit status."""
        self.session.send(check_answer(self.session.name, [self.key], state, detail))
        self.session.answered = True
        return CHECK_EXITS[state]


def run_script(
    argv: list[str], action: Action, *, key: KeyKind | None,
    options: Sequence[Option] = (), stdin: BinaryIO | None = None,
    stdout: BinaryIO | None = None, check: bool = False,
) -> int:
    """One run. `key=None` makes the script stateless: it sends no check_keys (spec 7.3 step 8).
    `check=True` accepts the `check` command, which `action` answers with `Run.answer`."""
    session = Session.start(argv, stdin, stdout)
    if isinstance(session, int):
        return session
    commands = (Command.ADD, Command.DELETE, Command.CHECK) if check else \
        (Command.ADD, Command.DELETE)
    message = session.read_message(commands)
    if message is None:
        return EXIT_INVALID
    status = _run(session, message, action, key, options)
    if message.command != Command.CHECK or session.answered:
        return status
    # The check ended before it could tell (bad key or settings, no lock, no tool...).
    session.send(check_answer(session.name, _keys_of(message, key), CheckState.ERROR,
                              session.log.last))
    return EXIT_INVALID

def _run(session: Session, message: Message, action: Action, key: KeyKind | None,
         options: Sequence[Option]) -> int:
    value = ""
    if key == "srcip":
        srcip = message.srcip()
        if srcip is None:
            session.log.write(MSG_BAD_SRCIP)
            return EXIT_INVALID
        value = srcip
    elif key == "dstuser":
        user = message.dstuser()
        if user is None:
            session.log.write(MSG_BAD_DSTUSER)
            return EXIT_INVALID
        value = user
    try:
        settings = parse_options(message.extra_args(), options)
    except OptionError as error:
        session.log.write(f"Invalid extra_args: {error}")
        return EXIT_INVALID
    for word in settings.ignored:
        session.log.write(f"Ignoring extra argument '{word}'")
    command = message.command
    if key is not None and command == Command.ADD:
        reply = session.check_keys([value])
        if reply == Reply.ABORT:
            session.log.write(MSG_ABORTED)
            return EXIT_OK
        if reply != Reply.CONTINUE:
            return EXIT_INVALID
    run = Run(session, message, command, value, settings, System(session, settings.search_path))
    if command == Command.CHECK and session.demo:
        return run.answer(CheckState.IN_FORCE, "demo mode: nothing was changed")
    try:
        return action(run)
    except locking.LockUnavailable:
        session.log.write(MSG_NO_LOCK)
        return EXIT_INVALID


def _keys_of(message: Message, key: KeyKind | None) -> list[str]:
    """The keys of an error answer: the valid key, none when it is not valid."""
    value = message.srcip() if key == "srcip" else message.dstuser() if key == "dstuser" \
        else None
    return [value] if value else []

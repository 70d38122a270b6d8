"""The skeleton every shipped script shares (spec 8.1): validate, key, handshake, act."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import BinaryIO, Literal

from arconsole.scripts import locking
from arconsole.scripts.options import Option, OptionError, Options, parse_options
from arconsole.scripts.protocol import (
    EXIT_INVALID,
    EXIT_OK,
    MSG_ABORTED,
    MSG_BAD_DSTUSER,
    MSG_BAD_SRCIP,
    MSG_NO_LOCK,
    Command,
    Message,
    Reply,
    Session,
)
from arconsole.scripts.system import System

KeyKind = Literal["srcip", "dstuser"]


@dataclass(frozen=True, slots=True)
class Run:
    """What an action gets: the validated message, its key, the settings, the system."""

    session: Session
    message: Message
    command: Command
    key: str  # the validated srcip or dstuser; "" for a stateless script
    options: Options
    system: System

    def log(self, text: str) -> None:
        self.session.log.write(text)

    def lock(self, name: str) -> AbstractContextManager[None]:
        """The named lock of this home; LockUnavailable ends the run with Wazuh's message."""
        return locking.exclusive(locking.lock_path(self.session.home, name), self.options.lock_wait)

    def end(self) -> int:
        return self.session.end()

    def fail(self, text: str) -> int:
        self.log(text)
        return EXIT_INVALID


Action = Callable[[Run], int]


def run_script(
    argv: list[str], action: Action, *, key: KeyKind | None,
    options: Sequence[Option] = (), stdin: BinaryIO | None = None,
    stdout: BinaryIO | None = None,
) -> int:
    """One run. `key=None` makes the script stateless: it sends no check_keys (spec 7.3 step 8)."""
    session = Session.start(argv, stdin, stdout)
    if isinstance(session, int):
        return session
    message = session.read_message()
    if message is None:
        return EXIT_INVALID
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
    command = Command(message.command)
    if key is not None and command is Command.ADD:
        reply = session.check_keys([value])
        if reply is Reply.ABORT:
            session.log.write(MSG_ABORTED)
            return EXIT_OK
        if reply is not Reply.CONTINUE:
            return EXIT_INVALID
    run = Run(session, message, command, value, settings, System(session, settings.search_path))
    try:
        return action(run)
    except locking.LockUnavailable:
        session.log.write(MSG_NO_LOCK)
        return EXIT_INVALID

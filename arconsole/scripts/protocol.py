"""The JSON protocol that Wazuh >= 4.2 active-response executables speak (spec section 8).

One run, as `active_responses.c` does it:
1. find the home by cutting argv[0] at `/active-response` and chdir there;
2. log "Starting", read one stdin line (at most 64 KiB, like `fgets` with OS_MAXSTR) and log it
   verbatim, newline included (so the log shows an empty line after it, spec 8.5);
3. validate it (8.2) and read `command` (`add`, `delete`, or "Invalid value of 'command'");
4. for an add of a stateful script, send `check_keys` and read `continue` or `abort` (8.1).

Everything in the message is attacker-controlled: keys are validated here (8.3) before any
script sees them, and nothing from the message ever reaches a shell or names a path.
"""

from __future__ import annotations

import ipaddress
import json
import os
import sys
import time
from dataclasses import dataclass
from enum import Enum, StrEnum
from pathlib import Path
from typing import BinaryIO

OS_MAXSTR = 65536  # fgets(input, OS_MAXSTR, stdin) reads at most OS_MAXSTR - 1 bytes
EXIT_OK = 0
EXIT_INVALID = 255  # OS_INVALID (-1) as a process exit status (spec 8.7)
EXIT_CHDIR = 1  # merror_exit(CHDIR_ERROR, ...)
VERSION = 1
AR_MODULE_NAME = "active-response"

LOG_FILE = Path("logs/active-responses.log")
DEMO_MARKER = Path("etc/arconsole-demo")

MSG_STARTING = "Starting"
MSG_ENDED = "Ended"
MSG_ABORTED = "Aborted"
MSG_NO_INPUT = "Cannot read input from stdin"
MSG_INVALID_INPUT = "Invalid input format"
MSG_INVALID_COMMAND = "Invalid value of 'command'"
MSG_BAD_SRCIP = "Cannot read 'srcip' from data or invalid IP format"
MSG_BAD_DSTUSER = "Cannot read 'dstuser' from data or invalid username format"
MSG_NO_LOCK = "Unable to take lock. End."

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_C_WHITESPACE = frozenset(" \t\n\v\f\r")  # isspace() in the C locale
_USERNAME_FORBIDDEN = frozenset(":,/\\\x00") | _C_WHITESPACE
_MAX_USERNAME_BYTES = 256


class Command(StrEnum):
    ADD = "add"
    DELETE = "delete"


class Reply(Enum):
    CONTINUE = "continue"
    ABORT = "abort"
    INVALID = "invalid"


# --- JSON as cJSON reads it -------------------------------------------------------------------


class JsonObject:
    """A JSON object as cJSON holds it: members in order, duplicates kept.

    `cJSON_GetObjectItem` compares names case-insensitively (ASCII) and returns the first
    match, so `{"Command":"x","command":"add"}` has command "x" for Wazuh, and here.
    """

    __slots__ = ("members",)

    def __init__(self, members: list[tuple[str, object]]) -> None:
        self.members = members

    def get(self, name: str) -> object:
        wanted = name.translate(_ASCII_LOWER)
        for key, value in self.members:
            if key.translate(_ASCII_LOWER) == wanted:
                return value
        return None

    def get_object(self, name: str) -> JsonObject | None:
        value = self.get(name)
        return value if isinstance(value, JsonObject) else None

    def get_string(self, name: str) -> str | None:
        value = self.get(name)
        return value if isinstance(value, str) else None


def _reject_constant(name: str) -> object:
    raise ValueError(f"not JSON: {name}")  # NaN and Infinity are Python's, not cJSON's


_DECODER = json.JSONDecoder(object_pairs_hook=JsonObject, parse_constant=_reject_constant)


def parse_json(text: str) -> object:
    """cJSON_ParseWithOpts(text, &end, 0): leading bytes <= ' ' skipped, trailing text ignored.

    Raises ValueError when there is no JSON value at the start.
    """
    index = 0
    while index < len(text) and text[index] <= " ":
        index += 1
    if text.startswith("\ufeff", index):
        index += 1
    try:
        value, _ = _DECODER.raw_decode(text, index)
    except RecursionError as error:  # cJSON stops at 1000 levels of nesting
        raise ValueError("JSON nested too deeply") from error
    return value


def compact_json(value: object) -> str:
    """cJSON_PrintUnformatted: no spaces, non-ASCII kept raw, control characters escaped."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Message:
    """A message that passed `get_json_from_input` (spec 8.2)."""

    body: JsonObject
    command: str

    @classmethod
    def parse(cls, text: str) -> Message | None:
        """version a number, origin an object, command a string, parameters an object."""
        try:
            body = parse_json(text)
        except ValueError:
            return None
        if not isinstance(body, JsonObject):
            return None
        version = body.get("version")
        if isinstance(version, bool) or not isinstance(version, int | float):
            return None
        command = body.get_string("command")
        if body.get_object("origin") is None or command is None:
            return None
        if body.get_object("parameters") is None:
            return None
        return cls(body, command)

    @property
    def parameters(self) -> JsonObject:
        parameters = self.body.get_object("parameters")
        assert parameters is not None  # checked by parse()
        return parameters

    @property
    def alert(self) -> JsonObject | None:
        return self.parameters.get_object("alert")

    @property
    def data(self) -> JsonObject | None:
        alert = self.alert
        return alert.get_object("data") if alert else None

    def extra_args(self) -> list[str]:
        """The string items of `parameters.extra_args` (other items are skipped, as in C)."""
        items = self.parameters.get("extra_args")
        if not isinstance(items, list):
            return []
        return [item for item in items if isinstance(item, str)]

    def srcip(self) -> str | None:
        """The address to act on (spec 8.3), or None when absent or not a numeric address.

        Windows events first: `data.win.eventdata.ipAddress`, then `destinationIp`, then
        `data.srcip`. The first of them that is present decides; a bad value is not skipped.
        """
        data = self.data
        if data is None:
            return None
        candidate: str | None = None
        win = data.get_object("win")
        eventdata = win.get_object("eventdata") if win else None
        if eventdata is not None:
            candidate = eventdata.get_string("ipAddress")
            if candidate is None:
                candidate = eventdata.get_string("destinationIp")
        if candidate is None:
            candidate = data.get_string("srcip")
        if candidate is None or ip_version(candidate) is None:
            return None
        return candidate

    def dstuser(self) -> str | None:
        """`data.dstuser` when `is_valid_username` accepts it (spec 8.3)."""
        data = self.data
        user = data.get_string("dstuser") if data else None
        return user if user is not None and is_valid_username(user) else None


def ip_version(text: str) -> int | None:
    """4 or 6 for a numeric IPv4 or IPv6 address, else None.

    Stricter than getaddrinfo(AI_NUMERICHOST): no zone index (`%eth0`), no short or octal
    IPv4 forms (`127.1`, `010.0.0.1`), nothing but hex digits, dots and colons.
    """
    if not text or len(text) > 45 or not all(c in "0123456789abcdefABCDEF.:" for c in text):
        return None
    try:
        return ipaddress.ip_address(text).version
    except ValueError:
        return None


def is_valid_username(name: str) -> bool:
    """Wazuh's `is_valid_username` (spec 8.3).

    Rejects empty, `root`, more than 256 bytes, a leading `-`, `+` or `~`, any of `: , / \\`,
    whitespace, and `..`; `$` is allowed. A NUL is rejected too: C would cut the name there.
    """
    if not name or name == "root":
        return False
    if len(name.encode("utf-8", "surrogateescape")) > _MAX_USERNAME_BYTES:
        return False
    if name[0] in "-+~" or ".." in name:
        return False
    return not any(c in _USERNAME_FORBIDDEN for c in name)


def check_keys_message(name: str, keys: list[str]) -> str:
    """The line a stateful script sends to execd (spec 8.1 step 7)."""
    return compact_json({
        "version": VERSION,
        "origin": {"name": name, "module": AR_MODULE_NAME},
        "command": "check_keys",
        "parameters": {"keys": keys},
    })


# --- Home and log -----------------------------------------------------------------------------


def home_from_argv0(argv0: str) -> Path:
    """Wazuh's home: argv[0] cut at `/active-response`.

    A relative argv[0] (execd passes `active-response/bin/x` with the home as working
    directory) is taken from the working directory. The last `/active-response/` counts, so
    a home under a folder of that name still works; without one, the working directory.
    """
    path = os.path.abspath(argv0)
    index = path.rfind("/active-response/")
    if index < 0:
        return Path.cwd()
    return Path(path[:index] or "/")


def timestamp(when: float | None = None) -> str:
    """w_get_timestamp: local time, `YYYY/MM/DD HH:MM:SS`."""
    return time.strftime("%Y/%m/%d %H:%M:%S", time.localtime(when))


class ArLog:
    """`logs/active-responses.log`, written as `write_debug_file` does: `%s %s: %s\\n`."""

    def __init__(self, path: Path, argv0: str) -> None:
        self.path = path
        self.argv0 = argv0

    def write(self, message: str) -> None:
        line = f"{timestamp()} {self.argv0}: {message}\n"
        data = line.encode("utf-8", "surrogateescape")
        try:
            self.path.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        except OSError:
            return  # like C: no log file, no log line, the response still runs
        try:
            os.write(fd, data)  # one write per line: O_APPEND keeps concurrent lines whole
        finally:
            os.close(fd)


# --- One run ----------------------------------------------------------------------------------


class Session:
    """One run of a script: its home, log and the pipes to execd."""

    def __init__(self, argv0: str, home: Path, stdin: BinaryIO, stdout: BinaryIO) -> None:
        self.argv0 = argv0
        self.name = os.path.basename(argv0)
        self.home = home
        self.stdin = stdin
        self.stdout = stdout
        self.log = ArLog(home / LOG_FILE, argv0)
        self.demo = (home / DEMO_MARKER).is_file()

    @classmethod
    def start(
        cls, argv: list[str], stdin: BinaryIO | None = None, stdout: BinaryIO | None = None,
    ) -> Session | int:
        """chdir to the home and log "Starting"; an exit status when the home is unusable."""
        argv0 = argv[0] if argv else "active-response/bin/unknown"
        home = home_from_argv0(argv0)
        try:
            os.chdir(home)
        except OSError as error:
            print(f"(1107): Could not chdir to '{home}' due to [({error.errno})-"
                  f"({error.strerror})].", file=sys.stderr)
            return EXIT_CHDIR
        session = cls(argv0, home, stdin or sys.stdin.buffer, stdout or sys.stdout.buffer)
        session.log.write(MSG_STARTING)
        return session

    def read_line(self) -> str | None:
        line = self.stdin.readline(OS_MAXSTR - 1)
        if not line:
            self.log.write(MSG_NO_INPUT)
            return None
        text = line.decode("utf-8", "surrogateescape")
        self.log.write(text)  # verbatim, newline kept: the empty line in the log is Wazuh's
        return text

    def read_message(self) -> Message | None:
        """The first message, validated; None (already logged) when the run must end."""
        text = self.read_line()
        if text is None:
            return None
        message = Message.parse(text)
        if message is None:
            self.log.write(MSG_INVALID_INPUT)
            return None
        if message.command not in (Command.ADD, Command.DELETE):
            self.log.write(MSG_INVALID_COMMAND)
            return None
        return message

    def check_keys(self, keys: list[str]) -> Reply:
        """Send the keys and read execd's answer (spec 8.1 steps 7-8)."""
        line = check_keys_message(self.name, keys)
        self.log.write(line)
        try:
            self.stdout.write(line.encode("utf-8", "surrogateescape") + b"\n")
            self.stdout.flush()
        except OSError:
            pass  # execd went away: the read below sees EOF and says so
        text = self.read_line()
        if text is None:
            return Reply.INVALID
        reply = Message.parse(text)
        if reply is None:
            self.log.write(MSG_INVALID_INPUT)
            return Reply.INVALID
        if reply.command == Reply.CONTINUE.value:
            return Reply.CONTINUE
        if reply.command == Reply.ABORT.value:
            return Reply.ABORT
        self.log.write(MSG_INVALID_COMMAND)
        return Reply.INVALID

    def end(self) -> int:
        self.log.write(MSG_ENDED)
        return EXIT_OK


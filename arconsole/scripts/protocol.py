"""The JSON protocol that Wazuh >= 4.2 active-response executables speak (spec section 8).

One run, as `active_responses.c` does it:
1. find the home by cutting argv[0] at `/active-response` and chdir there;
2. log "Starting", read one stdin line (at most 64 KiB, like `fgets` with OS_MAXSTR) and log it
   verbatim, newline included (so the log shows an empty line after it, spec 8.5);
3. validate it (8.2) and read `command` (`add`, `delete`, or "Invalid value of 'command'");
4. for an add of a stateful script, send `check_keys` and read `continue` or `abort` (8.1).

arconsole adds one command, `check`, to the stock firewall scripts (firewall-drop with iptables
or nft, route-null): given the same message as add and delete with `"command":"check"`, the
script tells whether the block of the message's key is in force. A check sends no check_keys
and writes nothing to active-responses.log (the manager's ruleset reads that log, and checks
run periodically); it prints one line on stdout and ends with an exit status:

    {"version":1,"origin":{"name":"firewall-drop","module":"active-response"},
     "command":"check","parameters":{"keys":["1.2.3.4"],"state":"in-force","detail":""}}

  state "in-force", exit 0 (EXIT_IN_FORCE): every part of the block holds;
  state "missing",  exit 3 (EXIT_MISSING):  the block, or a part of it, is gone (`detail` says
                                            which part); an `add` of the same message (with
                                            its check_keys handshake, answered `continue`)
                                            repairs it: adds only put in what is absent;
  state "error",    exit 255 (or any other status, possibly with no line at all): the state
                                            could not be read; `detail` says why (`keys` is
                                            empty when the message held no valid key).
In demo mode (HOME/etc/arconsole-demo) nothing was changed and nothing is read: a check
answers "in-force" with detail "demo mode: nothing was changed". Scripts without a check log
"Invalid value of 'command'" and end with 255, as for any other unknown command.

Everything in the message is attacker-controlled: keys are validated here (8.3) before any
script sees them, and nothing from the message ever reaches a shell or names a path.

This module is on the path of every script run, which starts a fresh interpreter: it imports
only modules that cost next to nothing to load (no json, re, ipaddress, enum, dataclasses,
pathlib, typing). `bench/scripts.py` measures the result.
"""

from __future__ import annotations

import os
import sys
import time

TYPE_CHECKING = False  # typing costs more to import than a whole script run should
if TYPE_CHECKING:
    from typing import BinaryIO

OS_MAXSTR = 65536  # fgets(input, OS_MAXSTR, stdin) reads at most OS_MAXSTR - 1 bytes
EXIT_OK = 0
EXIT_INVALID = 255  # OS_INVALID (-1) as a process exit status (spec 8.7)
EXIT_CHDIR = 1  # merror_exit(CHDIR_ERROR, ...)
EXIT_IN_FORCE = 0  # check: the block holds
EXIT_MISSING = 3  # check: the block, or part of it, is gone
VERSION = 1
AR_MODULE_NAME = "active-response"

LOG_FILE = "logs/active-responses.log"
DEMO_MARKER = "etc/arconsole-demo"

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
_IP_CHARACTERS = frozenset("0123456789abcdefABCDEF.:")
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


class Command:
    """The values of a message's `command` (plain strings: an Enum costs its import)."""

    ADD = "add"
    DELETE = "delete"
    CHECK = "check"  # arconsole's: is the block in force? (see the module docstring)


class Reply:
    """execd's answer to check_keys."""

    CONTINUE = "continue"
    ABORT = "abort"
    INVALID = "invalid"


class CheckState:
    """The `state` of a check's answer, with its exit status."""

    IN_FORCE = "in-force"
    MISSING = "missing"
    ERROR = "error"


CHECK_EXITS = {CheckState.IN_FORCE: EXIT_IN_FORCE, CheckState.MISSING: EXIT_MISSING,
               CheckState.ERROR: EXIT_INVALID}


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


class _ScannerSettings:
    """What the C scanner of `_json` reads from json.JSONDecoder; the same values it would
    get from `JSONDecoder(object_pairs_hook=JsonObject, parse_constant=_reject_constant)`."""

    strict = True
    object_hook = None
    object_pairs_hook = JsonObject
    parse_float = float
    parse_int = int
    parse_constant = staticmethod(_reject_constant)


def _make_scanner() -> object:
    # `_json` is the C half of the json package; json itself imports re (a third of a run).
    try:
        from _json import make_scanner
    except ImportError:  # an interpreter without the accelerator
        import json

        return json.JSONDecoder(object_pairs_hook=JsonObject,
                                parse_constant=_reject_constant).scan_once  # type: ignore[attr-defined]
    return make_scanner(_ScannerSettings())  # type: ignore[arg-type]


try:
    from _json import encode_basestring as _quote
except ImportError:
    from json.encoder import py_encode_basestring as _quote

_scan_once = _make_scanner()


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
        value, _ = _scan_once(text, index)  # type: ignore[operator]
    except StopIteration:
        raise ValueError("no JSON value") from None
    except RecursionError as error:  # cJSON stops at 1000 levels of nesting
        raise ValueError("JSON nested too deeply") from error
    return value


def compact_json(value: object) -> str:
    """cJSON_PrintUnformatted: no spaces, non-ASCII kept raw, control characters escaped.

    The same text as `json.dumps(value, ensure_ascii=False, separators=(",", ":"))` for the
    str, int, float, bool, None, list, tuple and str-keyed dict values scripts write.
    """
    if isinstance(value, str):
        return str(_quote(value))
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if value in (float("inf"), float("-inf")):
            return "Infinity" if value > 0 else "-Infinity"
        return float.__repr__(value)
    if isinstance(value, list | tuple):
        return "[" + ",".join(compact_json(item) for item in value) + "]"
    if isinstance(value, dict):
        members = []
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys must be str, not {type(key).__name__}")
            members.append(f"{_quote(key)}:{compact_json(item)}")
        return "{" + ",".join(members) + "}"
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class Message:
    """A message that passed `get_json_from_input` (spec 8.2)."""

    __slots__ = ("body", "command")

    def __init__(self, body: JsonObject, command: str) -> None:
        self.body = body
        self.command = command

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


# --- Keys -------------------------------------------------------------------------------------


def ip_version(text: str) -> int | None:
    """4 or 6 for a numeric IPv4 or IPv6 address, else None.

    Stricter than getaddrinfo(AI_NUMERICHOST): no zone index (`%eth0`), no short or octal
    IPv4 forms (`127.1`, `010.0.0.1`), nothing but hex digits, dots and colons. Accepts
    exactly what `ipaddress.ip_address` accepts among such strings (a test compares them);
    written out because importing ipaddress costs more than the rest of a run.
    """
    if not text or len(text) > 45 or not _IP_CHARACTERS.issuperset(text):
        return None
    if ":" not in text:
        return 4 if _is_ipv4(text) else None
    return 6 if _is_ipv6(text) else None


def _is_ipv4(text: str) -> bool:
    """ipaddress.IPv4Address: four decimal octets <= 255, no leading zeros."""
    octets = text.split(".")
    if len(octets) != 4:
        return False
    for octet in octets:
        if not octet or len(octet) > 3 or not octet.isdigit():
            return False
        if octet[0] == "0" and octet != "0":
            return False
        if int(octet) > 255:
            return False
    return True


def _is_ipv6(text: str) -> bool:
    """ipaddress.IPv6Address._ip_int_from_string, step by step."""
    parts = text.split(":")
    if len(parts) < 3:
        return False
    if "." in parts[-1]:
        if not _is_ipv4(parts.pop()):
            return False
        parts += ["0", "0"]  # the IPv4 address stands for two hextets
    if len(parts) > 9:
        return False
    skip_index = None
    for index in range(1, len(parts) - 1):
        if not parts[index]:
            if skip_index is not None:
                return False  # more than one "::"
            skip_index = index
    if skip_index is not None:
        parts_hi = skip_index
        parts_lo = len(parts) - skip_index - 1
        if not parts[0]:
            parts_hi -= 1
            if parts_hi:
                return False  # a leading ":" only as part of "::"
        if not parts[-1]:
            parts_lo -= 1
            if parts_lo:
                return False  # a trailing ":" only as part of "::"
        if 8 - (parts_hi + parts_lo) < 1:
            return False
        hextets = parts[:parts_hi] + (parts[len(parts) - parts_lo:] if parts_lo else [])
    else:
        if len(parts) != 8:
            return False
        hextets = parts
    return all(0 < len(hextet) <= 4 and _HEX_DIGITS.issuperset(hextet) for hextet in hextets)


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


def check_answer(name: str, keys: list[str], state: str, detail: str = "") -> str:
    """The line a script prints for a `check` (see the module docstring); `keys` is empty
    when the message held no valid key."""
    return compact_json({
        "version": VERSION,
        "origin": {"name": name, "module": AR_MODULE_NAME},
        "command": Command.CHECK,
        "parameters": {"keys": keys, "state": state, "detail": detail},
    })


# --- Home and log -----------------------------------------------------------------------------


def home_from_argv0(argv0: str) -> str:
    """Wazuh's home: argv[0] cut at `/active-response`.

    A relative argv[0] (execd passes `active-response/bin/x` with the home as working
    directory) is taken from the working directory. The last `/active-response/` counts, so
    a home under a folder of that name still works; without one, the working directory.
    """
    path = os.path.abspath(argv0)
    index = path.rfind("/active-response/")
    if index < 0:
        return os.getcwd()
    return path[:index] or "/"


def timestamp(when: float | None = None) -> str:
    """w_get_timestamp: local time, `YYYY/MM/DD HH:MM:SS`."""
    return time.strftime("%Y/%m/%d %H:%M:%S", time.localtime(when))


def append_line(path: str, data: bytes) -> None:
    """Append `data` to `path` in one write (O_APPEND keeps concurrent lines whole), making
    the file (0640) and its folder (0750) when missing. Raises OSError."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o640)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path) or ".", 0o750, exist_ok=True)
        fd = os.open(path, flags, 0o640)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


class ArLog:
    """`logs/active-responses.log`, written as `write_debug_file` does: `%s %s: %s\\n`.

    A muted log (a `check` run) writes nothing and keeps the last message, which the check's
    answer carries as its detail.
    """

    def __init__(self, path: str, argv0: str) -> None:
        self.path = os.fspath(path)
        self.argv0 = argv0
        self.muted = False
        self.last = ""

    def write(self, message: str) -> None:
        self.last = message
        if self.muted:
            return
        line = f"{timestamp()} {self.argv0}: {message}\n"
        try:
            append_line(self.path, line.encode("utf-8", "surrogateescape"))
        except OSError:
            return  # like C: no log file, no log line, the response still runs


# --- One run ----------------------------------------------------------------------------------


class Session:
    """One run of a script: its home, log and the pipes to execd."""

    def __init__(self, argv0: str, home: str, stdin: BinaryIO, stdout: BinaryIO) -> None:
        self.argv0 = argv0
        self.name = os.path.basename(argv0)
        self.home = home
        self.stdin = stdin
        self.stdout = stdout
        self.log = ArLog(os.path.join(home, LOG_FILE), argv0)
        self.demo = os.path.isfile(os.path.join(home, DEMO_MARKER))
        self.answered = False  # a check printed its answer

    @classmethod
    def start(
        cls, argv: list[str], stdin: BinaryIO | None = None, stdout: BinaryIO | None = None,
    ) -> Session | int:
        """chdir to the home; an exit status when the home is unusable."""
        argv0 = argv[0] if argv else "active-response/bin/unknown"
        home = home_from_argv0(argv0)
        try:
            os.chdir(home)
        except OSError as error:
            print(f"(1107): Could not chdir to '{home}' due to [({error.errno})-"
                  f"({error.strerror})].", file=sys.stderr)
            return EXIT_CHDIR
        return cls(argv0, home, stdin or sys.stdin.buffer, stdout or sys.stdout.buffer)

    def read_line(self) -> str | None:
        line = self.stdin.readline(OS_MAXSTR - 1)
        if not line:
            self.log.write(MSG_NO_INPUT)
            return None
        text = line.decode("utf-8", "surrogateescape")
        self.log.write(text)  # verbatim, newline kept: the empty line in the log is Wazuh's
        return text

    def read_message(self, commands: tuple[str, ...] = (Command.ADD, Command.DELETE),
                     ) -> Message | None:
        """The first message, validated; None (already logged) when the run must end.

        "Starting" is logged once the line is read, so that a `check` (one of `commands`
        for the scripts that have it) can run with the log muted.
        """
        line = self.stdin.readline(OS_MAXSTR - 1)
        text = line.decode("utf-8", "surrogateescape")
        message = Message.parse(text) if line else None
        if message is not None and message.command == Command.CHECK and \
                Command.CHECK in commands:
            self.log.muted = True
        self.log.write(MSG_STARTING)
        if not line:
            self.log.write(MSG_NO_INPUT)
            return None
        self.log.write(text)  # verbatim, newline kept: the empty line in the log is Wazuh's
        if message is None:
            self.log.write(MSG_INVALID_INPUT)
            return None
        if message.command not in commands:
            self.log.write(MSG_INVALID_COMMAND)
            return None
        return message

    def send(self, line: str) -> None:
        """One line to execd on stdout."""
        try:
            self.stdout.write(line.encode("utf-8", "surrogateescape") + b"\n")
            self.stdout.flush()
        except OSError:
            pass  # execd went away: a read that follows sees EOF and says so

    def check_keys(self, keys: list[str]) -> str:
        """Send the keys and read execd's answer (spec 8.1 steps 7-8); a Reply value."""
        line = check_keys_message(self.name, keys)
        self.log.write(line)
        self.send(line)
        text = self.read_line()
        if text is None:
            return Reply.INVALID
        reply = Message.parse(text)
        if reply is None:
            self.log.write(MSG_INVALID_INPUT)
            return Reply.INVALID
        if reply.command == Reply.CONTINUE:
            return Reply.CONTINUE
        if reply.command == Reply.ABORT:
            return Reply.ABORT
        self.log.write(MSG_INVALID_COMMAND)
        return Reply.INVALID

    def end(self) -> int:
        self.log.write(MSG_ENDED)
        return EXIT_OK

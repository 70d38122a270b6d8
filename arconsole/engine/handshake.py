"""The execd side of the JSON protocol: build the script's input, read its check_keys reply.

Wazuh's execd parses analysisd's message with cJSON, edits it in place and prints it with
`cJSON_PrintUnformatted` (spec 7.3 steps 5, 9 and 12). To hand scripts the same bytes, this
module parses and prints the way cJSON does:

- objects keep every member in order, duplicates included, and member lookup is by the first
  name that matches ASCII-case-insensitively (`cJSON_GetObjectItem`);
- every number is a C double: `1.0` prints `1`, integers beyond 2^53 lose digits, and
  infinities print `null` (`print_number`);
- strings keep UTF-8 (and any invalid byte) raw; only `"`, `\\` and control characters are
  escaped, with lowercase hex;
- leading whitespace and anything after the first JSON value are ignored (`cJSON_Parse`), and a
  NUL byte ends the text, as it ends a C string.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping, Sequence
from json.encoder import encode_basestring  # type: ignore[attr-defined]

KEY_MAX = 4095  # execd's rkey buffer is 4096 bytes with its terminating NUL (spec 7.3 step 9)
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_DBL_EPSILON = sys.float_info.epsilon
_ENCODING = ("utf-8", "surrogateescape")  # invalid UTF-8 in a string survives the round trip


class Obj(list[tuple[str, object]]):
    """A JSON object as cJSON holds it: an ordered list of members, duplicates allowed."""

    def get(self, name: str) -> object | None:
        """The first member named `name`, ASCII-case-insensitively, like cJSON_GetObjectItem."""
        for key, value in self:
            if key.isascii() and key.lower() == name:
                return value
        return None

    def replace(self, name: str, value: object) -> bool:
        """cJSON_ReplaceItemInObject: replace the first match in place; nothing if absent."""
        for index, (key, _) in enumerate(self):
            if key.isascii() and key.lower() == name:
                self[index] = (name, value)
                return True
        return False


class _CJsonNumber(float):
    """Marks a value parsed from JSON as a number (cJSON keeps every number as a double)."""


def _reject_constant(name: str) -> object:
    raise ValueError(f"not JSON: {name}")


def _number(text: str) -> float:
    try:
        return _CJsonNumber(text)
    except OverflowError:  # pragma: no cover - float() gives inf rather than raising
        return _CJsonNumber("inf")


_DECODER = json.JSONDecoder(
    object_pairs_hook=Obj,
    parse_int=_number,
    parse_float=_number,
    parse_constant=_reject_constant,
    strict=False,  # cJSON takes raw control characters inside strings (and prints them escaped)
)


def loads(data: bytes) -> object:
    """Parse like `cJSON_Parse`; raise ValueError when cJSON would return NULL."""
    text = data.split(b"\0", 1)[0].decode(*_ENCODING)
    start = len(text) - len(text.lstrip(" \t\n\r\f\v"))
    value, _ = _DECODER.raw_decode(text, start)
    return value


def dumps(value: object) -> bytes:
    """Print like `cJSON_PrintUnformatted`: compact, raw UTF-8, cJSON's number format."""
    parts: list[str] = []
    _print(value, parts)
    return "".join(parts).encode(*_ENCODING)


def _print(value: object, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(encode_basestring(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int | float):
        out.append(_print_number(value))
    elif isinstance(value, Obj | Mapping):
        items = value if isinstance(value, Obj) else value.items()
        out.append("{")
        for index, (key, member) in enumerate(items):
            if index:
                out.append(",")
            out.append(encode_basestring(str(key)))
            out.append(":")
            _print(member, out)
        out.append("}")
    elif isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        out.append("[")
        for index, member in enumerate(value):
            if index:
                out.append(",")
            _print(member, out)
        out.append("]")
    else:
        raise TypeError(f"cannot print {type(value).__name__} as JSON")


def _print_number(value: float) -> str:
    """cJSON's print_number: through a double, %d when integral and in int range."""
    try:
        number = float(value)
    except OverflowError:
        return "null"  # strtod gives HUGE_VAL for such a literal
    if math.isnan(number) or math.isinf(number):
        return "null"
    if number.is_integer() and _INT_MIN <= number <= _INT_MAX:
        return str(int(number))
    text = f"{number:1.15g}"
    test = float(text)
    if abs(test - number) > max(abs(test), abs(number)) * _DBL_EPSILON:
        text = f"{number:1.17g}"
    return text


def _as_object(value: object) -> Obj:
    if isinstance(value, Obj):
        return value
    if isinstance(value, Mapping):
        return Obj((str(key), _as_tree(member)) for key, member in value.items())
    raise ValueError("the message is not a JSON object")


def _as_tree(value: object) -> object:
    if isinstance(value, Mapping):
        return _as_object(value)
    if isinstance(value, list | tuple):
        return [_as_tree(member) for member in value]
    return value


def _message_object(message: bytes | Mapping[str, object]) -> Obj:
    if isinstance(message, bytes | bytearray):
        return _as_object(loads(bytes(message)))
    return _as_object(message)  # a fresh copy: the caller's dict is never changed


def build_add_message(execd_message: bytes | Mapping[str, object], program: str) -> bytes:
    """The script's first stdin line from analysisd's message (spec 7.3 step 5, 8.4).

    `command` becomes "add", an existing `origin.module` becomes "wazuh-execd", and
    `parameters.program` is appended as the last member of `parameters` (an earlier
    `program` member is kept, as cJSON_AddItemToObject keeps it). Everything else keeps its
    order and bytes. `program` is the relative `active-response/bin/<executable>`.
    Raises ValueError when the message is not a JSON object.
    """
    root = _message_object(execd_message)
    if not root.replace("command", "add"):
        raise ValueError("the message has no command")
    origin = root.get("origin")
    if isinstance(origin, Obj):
        origin.replace("module", "wazuh-execd")
    parameters = root.get("parameters")
    if isinstance(parameters, Obj):
        parameters.append(("program", program))
    return dumps(root)


def with_command(message: bytes, command: str) -> bytes:
    """The same message with its top-level `command` replaced ("continue", "abort", "delete").

    Member order, nested `command` fields (for example inside the alert) and every other
    byte stay as they were printed. Raises ValueError when there is no top-level command.
    """
    root = _message_object(message)
    if not root.replace("command", command):
        raise ValueError("the message has no command")
    return dumps(root)


def _valid_ar_message(value: object) -> Obj | None:
    """`get_json_from_input` (spec 8.2): version number, origin and parameters objects,
    command string."""
    if not isinstance(value, Obj):
        return None
    version = value.get("version")
    if not isinstance(version, _CJsonNumber):
        return None
    if not isinstance(value.get("origin"), Obj):
        return None
    if not isinstance(value.get("command"), str):
        return None
    if not isinstance(value.get("parameters"), Obj):
        return None
    return value


def parse_check_keys(line: bytes) -> list[str] | None:
    """The keys of a script's `check_keys` line, or None when the line is not one.

    None covers non-JSON, an invalid AR message, another command, and `parameters.keys`
    missing or not an array. Non-string keys are skipped, as execd skips them; a key is cut
    at a NUL, as the C string would be. An empty list is a valid reply with no keys.
    """
    try:
        message = _valid_ar_message(loads(line))
    except ValueError:
        return None
    if message is None or message.get("command") != "check_keys":
        return None
    parameters = message.get("parameters")
    assert isinstance(parameters, Obj)
    keys = parameters.get("keys")
    if not isinstance(keys, list):
        return None
    # Keys become text: an invalid UTF-8 byte (kept by the parser) shows as U+FFFD.
    return [
        key.split("\0", 1)[0].encode(*_ENCODING).decode("utf-8", "replace")
        for key in keys
        if isinstance(key, str)
    ]


def _key_bytes(executable: str, keys: Sequence[str] | None) -> bytes:
    base = executable.rsplit("/", 1)[-1].encode(*_ENCODING)[: KEY_MAX - 1]
    if not keys:
        return base
    if len(keys) == 1:  # the stock scripts' case, once per response of a backlog
        return base + b"-" + keys[0].encode(*_ENCODING)
    return base + b"".join([b"-" + key.encode(*_ENCODING) for key in keys])


def key_exceeds_limit(executable: str, keys: Sequence[str] | None) -> bool:
    """True when execd would warn "Active response key exceeds maximum size" and truncate."""
    return len(_key_bytes(executable, keys)) > KEY_MAX


def block_key(executable: str, keys: Sequence[str] | None) -> str:
    """execd's rkey (spec 7.3 step 9): basename, then "-" and each key, at most 4095 bytes.

    No keys (None, or an empty list) gives the bare basename, so every run of that script
    shares one key. Truncation keeps the basename prefix and cuts the keys, like strncat; a
    UTF-8 character split by the cut is dropped whole so the key stays valid text.
    """
    raw = _key_bytes(executable, keys)
    if len(raw) > KEY_MAX:
        raw = raw[:KEY_MAX]
        raw = raw[: len(raw) - _split_tail(raw)]
    return raw.decode("utf-8", "replace")


def _split_tail(raw: bytes) -> int:
    """How many bytes at the end of `raw` are an incomplete UTF-8 sequence (0 to 3)."""
    for back in range(1, min(4, len(raw)) + 1):
        byte = raw[-back]
        if byte < 0x80:
            return 0
        if byte >= 0xC0:  # a lead byte: is its sequence complete?
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return back if back < need else 0
    return 0

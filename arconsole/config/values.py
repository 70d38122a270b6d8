"""How Wazuh's C code reads option values: `atoi`, `OS_StrIsNum`, the `rules_id` walk, the
`repeated_offenders` split and the `location` regexes. Pure functions, no diagnostics."""

from __future__ import annotations

import re
from dataclasses import dataclass

from arconsole.config.model import LocationFlag

_C_SPACE = " \t\n\v\f\r"
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True, slots=True)
class AtoiResult:
    value: int
    digits: bool  # a number was read at all
    rest: str  # what follows the number (atoi ignores it)


def c_atoi(text: str) -> AtoiResult:
    """glibc `atoi`: `(int) strtol(text, NULL, 10)`, leading white space and sign allowed."""
    index = 0
    while index < len(text) and text[index] in _C_SPACE:
        index += 1
    sign = 1
    if index < len(text) and text[index] in "+-":
        sign = -1 if text[index] == "-" else 1
        index += 1
    start = index
    while index < len(text) and "0" <= text[index] <= "9":
        index += 1
    if index == start:
        return AtoiResult(0, False, text)
    number = sign * int(text[start:index])
    number = max(_LONG_MIN, min(_LONG_MAX, number))  # strtol saturates at LONG_MIN/MAX
    number = (number + 2**31) % 2**32 - 2**31  # the cast to int keeps the low 32 bits
    return AtoiResult(number, True, text[index:])


def str_is_num(text: str) -> bool:
    """`OS_StrIsNum`: only ASCII digits; the empty string passes."""
    return all("0" <= char <= "9" for char in text)


@dataclass(frozen=True, slots=True)
class RulesIds:
    ids: tuple[int, ...]
    ignored: tuple[str, ...]  # the pieces of text the walk skipped or never reached


def parse_rules_ids(text: str) -> RulesIds:
    """The `rules_id` walk of `Rule_AddAR` (spec 5.3), recording what it ignores.

    Spaces and commas are skipped; at a digit `atoi` reads a number and the walk jumps past
    the next comma (text between the number and that comma is ignored); any other character
    stops the walk.
    """
    ids: list[int] = []
    ignored: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char in " ,":
            index += 1
        elif "0" <= char <= "9":
            result = c_atoi(text[index:])
            ids.append(result.value)
            end = index + len(text[index:]) - len(result.rest)
            comma = text.find(",", end)
            skipped = text[end:] if comma < 0 else text[end:comma]
            if skipped.strip():
                ignored.append(skipped)
            if comma < 0:
                break
            index = comma + 1
        else:
            if text[index:].strip():
                ignored.append(text[index:])
            break
    return RulesIds(tuple(ids), tuple(ignored))


def execd_pieces(text: str) -> list[str]:
    """`OS_StrBreak(',', text, 5)`: at most 5 pieces, the last one keeps any further commas."""
    return text.split(",", 4)


def execd_repeated_offenders(text: str) -> tuple[int, ...]:
    """The timeouts (minutes) execd takes from `repeated_offenders` (spec 7.5, C32, C33).

    Pieces that are empty after leading spaces/tabs are skipped; each other piece goes
    through `atoi`; the table ends at the first 0, so a first value of 0 (or text) disables
    the feature.
    """
    values: list[int] = []
    for piece in execd_pieces(text):
        if not piece.lstrip(" \t"):
            continue
        value = c_atoi(piece).value
        if value == 0:
            break
        values.append(value)
    return tuple(values)


_AS_ONLY = re.compile("AS|analysisd|analysis-server|server", re.I)
_LOCAL = re.compile("local", re.I)
_DEFINED = re.compile("defined-agent", re.I)
_ALL = re.compile("all|any", re.I)
LOCATION_WORDS = ("local", "server", "defined-agent", "all", "any", "as", "analysisd",
                  "analysis-server")


def location_flags(text: str) -> LocationFlag:
    """The flags `OS_Regex` (case-insensitive substring) gives a `location` (spec 3.3)."""
    flags = LocationFlag.NONE
    if _AS_ONLY.search(text):
        flags |= LocationFlag.AS_ONLY
    if _LOCAL.search(text):
        flags |= LocationFlag.REMOTE_AGENT
    if _DEFINED.search(text):
        flags |= LocationFlag.SPECIFIC_AGENT
    if _ALL.search(text):
        flags |= LocationFlag.ALL_AGENTS
    return flags


def location_tokens(text: str) -> list[str]:
    return [token for token in re.split(r"[\s,;|]+", text) if token]


def describe_route(flags: LocationFlag) -> str:
    """Where a response with these flags goes, by Wazuh's priority (spec 3.3)."""
    if flags & LocationFlag.AS_ONLY:
        return "the manager only"
    if flags & LocationFlag.ALL_AGENTS:
        return "every active agent (never the manager)"
    if flags & LocationFlag.SPECIFIC_AGENT:
        return "the agent named by <agent_id>"
    if flags & LocationFlag.REMOTE_AGENT:
        return "the agent the event came from, or the manager for its own events"
    return "nowhere"


# OSSEC's <expect> words (O37 substring test; OH also accepts "username").
EXPECT_WORDS = ("srcip", "user", "filename")


def expect_words(text: str) -> tuple[str, ...]:
    """What an OSSEC command expects: O37 tests substrings of the whole text (at least 4
    characters long), case-insensitively, so `username` counts as `user`."""
    if len(text) < 4:
        return ()
    lowered = text.lower()
    return tuple(word for word in EXPECT_WORDS if word in lowered)

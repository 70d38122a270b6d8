"""OSSEC's `OS_Regex` (the `rules_group` matcher, spec 5.4), compiled to Python `re`.

Wazuh matches `<rules_group>` against a rule's group string with its own tiny regex engine
(`src/os_regex/os_regex_compile.c`, `os_regex_execute.c`, `os_regex_maps.c`):

- case-insensitive (ASCII only) substring search unless anchored;
- `|` separates alternatives; `^` at the start and `$` at the end of an alternative anchor it;
  anywhere else they are plain characters. An empty alternative never matches;
- escapes: `\\d \\w \\s \\p \\W \\D \\S \\.` are classes (`\\.` is ANY character, `\\s` only the
  space, `\\w` is `[A-Za-z0-9_@-]`), `\\t \\$ \\| \\< \\( \\) \\\\` are literal characters; any
  other escape makes the whole pattern invalid;
- `+` and `*` are quantifiers only right after an escape; elsewhere they are literal;
- a plain `.` is a literal dot; `(` and `)` group (one level, never around a `|`) and match
  nothing themselves;
- an invalid pattern compiles to a matcher that never matches, with no error (Wazuh logs
  nothing either): `compile_osregex` reports why in `OSRegex.error` for `check` and `explain`.

Python's backtracking is more thorough than the C engine's (which keeps at most four restart
points), so exotic patterns such as `\\w+\\d+x` may match a few strings Wazuh would miss; the
patterns used in `rules_group` (words, commas, `|`, anchors, `\\.`) behave identically.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The class escapes, as `re` character classes built from os_regex_maps.c (bytes < 128).
_WORD = "A-Za-z0-9_@\\-"
_PUNCT = "!\"#$%&'()*+,\\-.:;<=>?\\[\\]{|}"
_CLASSES: dict[str, str] = {
    "d": "[0-9]",
    "D": "[^0-9]",
    "w": f"[{_WORD}]",
    "W": f"[^{_WORD}]",
    "s": " ",
    "S": "[^ ]",
    "p": f"[{_PUNCT}]",
    ".": "(?s:.)",
}
# Escapes that stand for one literal character.
_LITERALS: dict[str, str] = {
    "t": "\t",
    "$": "$",
    "|": "|",
    "<": "<",
    "(": "(",
    ")": ")",
    "\\": "\\",
}
_MAX_PATTERN = 2048  # OS_PATTERN_MAXSIZE


@dataclass(frozen=True, slots=True)
class OSRegex:
    """A compiled `rules_group` pattern. `search(text)` is True when Wazuh's would match."""

    pattern: str
    compiled: re.Pattern[str] | None
    error: str | None = None

    @property
    def valid(self) -> bool:
        return self.compiled is not None

    def search(self, text: str) -> bool:
        return self.compiled is not None and self.compiled.search(text) is not None


class OSRegexError(ValueError):
    """Why a pattern is invalid for OS_Regex (it then never matches)."""


def compile_osregex(pattern: str) -> OSRegex:
    """Compile once; an invalid pattern gives a matcher that never matches."""
    try:
        alternatives = _split_alternatives(pattern)
        parts = [_translate(alternative) for alternative in alternatives]
    except OSRegexError as error:
        return OSRegex(pattern, None, str(error))
    live = [part for part in parts if part is not None]
    if not live:
        return OSRegex(pattern, re.compile(r"(?!)"))
    return OSRegex(pattern, re.compile("|".join(live), re.IGNORECASE | re.ASCII))


def _split_alternatives(pattern: str) -> list[str]:
    """Split on unescaped `|`, checking escapes and parentheses as OSRegex_Compile does."""
    if len(pattern) > _MAX_PATTERN:
        raise OSRegexError(f"longer than {_MAX_PATTERN} characters")
    alternatives: list[str] = []
    depth = 0
    start = 0
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            escaped = pattern[index + 1 : index + 2]
            if escaped not in _CLASSES and escaped not in _LITERALS:
                described = f"\\{escaped}" if escaped else "a trailing \\"
                raise OSRegexError(f"unknown escape {described}")
            index += 2
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if depth not in (0, 1):
            raise OSRegexError("parentheses are unbalanced or nested")
        if char == "|":
            if depth:
                raise OSRegexError("'|' inside parentheses")
            alternatives.append(pattern[start:index])
            start = index + 1
        index += 1
    if depth:
        raise OSRegexError("a '(' is never closed")
    alternatives.append(pattern[start:])
    return alternatives


def _translate(alternative: str) -> str | None:
    """One alternative as `re` source, or None when it can never match (empty)."""
    anchored_start = alternative.startswith("^")
    body = alternative[1:] if anchored_start else alternative
    # `$` anchors only as the last character, and not when it is the escaped `\$`.
    anchored_end = body.endswith("$") and not _ends_with_escape(body)
    if anchored_end:
        body = body[:-1]
    pieces: list[str] = []
    index = 0
    consumes = False
    while index < len(body):
        char = body[index]
        if char == "\\":
            escaped = body[index + 1]
            index += 2
            piece = _CLASSES[escaped] if escaped in _CLASSES else re.escape(_LITERALS[escaped])
            # Every escape, class or literal, may take a quantifier.
            if index < len(body) and body[index] in "+*":
                piece = f"(?:{piece}){body[index]}"
                index += 1
            pieces.append(piece)
            consumes = True
            continue
        if char == "(":
            pieces.append("(?:")
        elif char == ")":
            pieces.append(")")
        else:
            pieces.append(re.escape(char))
            consumes = True
        index += 1
    if not consumes:
        return None  # OS_Regex returns "no match" for an empty (sub)pattern
    return ("^" if anchored_start else "") + "".join(pieces) + ("\\Z" if anchored_end else "")


def _ends_with_escape(text: str) -> bool:
    """True when the last character of `text` is escaped by an odd run of backslashes."""
    backslashes = 0
    for char in reversed(text[:-1]):
        if char != "\\":
            break
        backslashes += 1
    return backslashes % 2 == 1

"""The `/` filter language of the alerts and blocks panes.

A filter is words separated by spaces; a row must match every word:

- `word`: case-insensitive substring of any of the row's text fields;
- `field:value`: substring of that field (for an address field: the exact address, or a
  network such as `203.0.113.0/24`; for a number: equality);
- `field=value`: the exact value;
- `field>=N`, `field>N`, `field<=N`, `field<N`: numeric comparison;
- `!word` or `!field:value`: the negation.

Field names have short aliases (`lvl` for `level`, `ip` for `srcip`...). An unknown field
or a bad number is an error the filter bar shows, never a silent "no match".
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

FieldKind = Literal["text", "number", "address"]


class FilterError(ValueError):
    """A filter that cannot be understood; the message says which word and why."""


@dataclass(frozen=True, slots=True)
class Field:
    attr: str  # attribute of the row object, or a path to one (`block.srcip`)
    kind: FieldKind
    aliases: tuple[str, ...] = ()


Predicate = Callable[[Any], bool]

_TERM = re.compile(r"^(?P<field>[A-Za-z_][\w-]*)(?P<op>>=|<=|!=|:|=|>|<)(?P<value>.*)$")


def _texts(value: object) -> Iterable[str]:
    if value is None:
        return ()
    if isinstance(value, tuple | list):
        return [str(v) for v in value]
    return (str(value),)


def _value(row: object, attr: str) -> object:
    """The row's attribute `attr`, which may be a path (`block.srcip`)."""
    if "." not in attr:
        return getattr(row, attr)
    value = row
    for part in attr.split("."):
        value = getattr(value, part)
    return value


def _number(text: str, word: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise FilterError(f"{word!r}: {text!r} is not a number") from None


def _text_term(attr: str, op: str, value: str, word: str) -> Predicate:
    needle = value.lower()
    if op == ":":
        return lambda row: any(needle in t.lower() for t in _texts(_value(row, attr)))
    if op in ("=", "!="):
        match: Predicate = lambda row: any(  # noqa: E731
            needle == t.lower() for t in _texts(_value(row, attr))
        )
        return match if op == "=" else (lambda row: not match(row))
    raise FilterError(f"{word!r}: {op} only applies to numbers")


def _number_term(attr: str, op: str, value: str, word: str) -> Predicate:
    limit = _number(value, word)

    def get(row: object) -> float | None:
        raw: Any = _value(row, attr)
        if raw is None:
            return None
        try:
            return float(raw)
        except (TypeError, ValueError):
            return None

    compare: dict[str, Callable[[float], bool]] = {
        ":": lambda v: v == limit,
        "=": lambda v: v == limit,
        "!=": lambda v: v != limit,
        ">": lambda v: v > limit,
        ">=": lambda v: v >= limit,
        "<": lambda v: v < limit,
        "<=": lambda v: v <= limit,
    }
    test = compare[op]

    def predicate(row: object) -> bool:
        number = get(row)
        return number is not None and test(number)

    return predicate


def _address_term(attr: str, op: str, value: str, word: str) -> Predicate:
    if op not in (":", "=", "!="):
        raise FilterError(f"{word!r}: {op} only applies to numbers")
    wanted = value.strip()
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None
    address: str | None = None
    try:
        if "/" in wanted:
            network = ipaddress.ip_network(wanted, strict=False)
        else:
            address = str(ipaddress.ip_address(wanted))
    except ValueError:
        if op != ":":
            raise FilterError(f"{word!r}: {wanted!r} is not an address") from None

    def matches(row: object) -> bool:
        for text in _texts(_value(row, attr)):
            if network is not None or address is not None:
                try:
                    candidate = ipaddress.ip_address(text)
                except ValueError:
                    continue
                if network is not None and candidate in network:
                    return True
                if address is not None and str(candidate) == address:
                    return True
            elif wanted.lower() in text.lower():
                return True
        return False

    return matches if op != "!=" else (lambda row: not matches(row))


def compile_filter(text: str, fields: Mapping[str, Field], free_text: Iterable[str]) -> Predicate:
    """A predicate for rows matching every word of `text`; `free_text` names the attributes
    a bare word is looked for in. Raises FilterError for a word it cannot understand."""
    lookup: dict[str, Field] = {}
    for name, spec in fields.items():
        lookup[name] = spec
        for alias in spec.aliases:
            lookup[alias] = spec
    searchable = tuple(free_text)
    terms: list[Predicate] = []
    for word in text.split():
        negate = word.startswith("!") and len(word) > 1
        body = word[1:] if negate else word
        match = _TERM.match(body)
        term: Predicate
        if match and match.group("field").lower() in lookup:
            spec = lookup[match.group("field").lower()]
            op, value = match.group("op"), match.group("value")
            if value == "":
                raise FilterError(f"{word!r}: no value after {op!r}")
            if spec.kind == "number":
                term = _number_term(spec.attr, op, value, word)
            elif spec.kind == "address":
                term = _address_term(spec.attr, op, value, word)
            else:
                term = _text_term(spec.attr, op, value, word)
        elif match and (match.group("op") != ":"
                        or (match.group("value") and not _looks_like_address(body))):
            raise FilterError(
                f"{word!r}: unknown field {match.group('field')!r} "
                f"(fields: {', '.join(sorted(fields))})"
            )
        else:
            needle = body.lower()
            term = _free_text_term(searchable, needle)
        terms.append(_negated(term) if negate else term)
    if not terms:
        return lambda row: True
    if len(terms) == 1:
        return terms[0]
    return lambda row: all(term(row) for term in terms)


def _looks_like_address(word: str) -> bool:
    # A bare IPv6 address (2001:db8::1) is a search word, not `field:value`.
    try:
        ipaddress.ip_address(word.split("/")[0])
    except ValueError:
        return False
    return True


def _free_text_term(attrs: tuple[str, ...], needle: str) -> Predicate:
    def predicate(row: object) -> bool:
        for attr in attrs:
            for text in _texts(_value(row, attr)):
                if needle in text.lower():
                    return True
        return False

    return predicate


def _negated(term: Predicate) -> Predicate:
    return lambda row: not term(row)


ALERT_FIELDS: dict[str, Field] = {
    "level": Field("level", "number", ("lvl", "l")),
    "rule": Field("rule_id", "text", ("rule_id", "r", "id")),
    "srcip": Field("srcip", "address", ("ip", "src")),
    "agent": Field("agent", "text", ("a",)),
    "user": Field("dstuser", "text", ("dstuser", "u")),
    "desc": Field("description", "text", ("description", "d")),
    "fired": Field("fired", "text", ("response", "f")),
    "alert": Field("alert_id", "text", ("alert_id",)),
}
ALERT_FREE_TEXT = ("description", "rule_id", "srcip", "agent", "dstuser", "fired", "alert_id")

# Block rows are BlockEntry: the typed block plus its countdown and shown state.
BLOCK_FIELDS: dict[str, Field] = {
    "key": Field("key", "text", ("k",)),
    "command": Field("block.command", "text", ("cmd", "c")),
    "name": Field("block.name", "text", ("n",)),
    "srcip": Field("block.srcip", "address", ("ip", "src")),
    "user": Field("block.user", "text", ("u",)),
    "state": Field("state", "text", ("s",)),
    "target": Field("block.target", "text", ("t",)),
    "agent": Field("block.agent_label", "text", ("a",)),
    "delivery": Field("block.delivery", "text", ("dl",)),
    "node": Field("block.node", "text", ()),
    "rule": Field("block.rule_id", "text", ("rule_id", "r")),
    "offences": Field("block.offences", "number", ("off", "o")),
    "remaining": Field("remaining", "number", ("left", "rem")),
}
BLOCK_FREE_TEXT = ("key", "block.command", "block.name", "block.srcip", "block.user", "state",
                   "block.target", "block.rule_id", "block.agent_name")


def describe_fields(fields: Mapping[str, Field]) -> str:
    """`level (lvl, l) number, ...` for the filter bar's hint."""
    return ", ".join(
        f"{name}" + (f" ({'/'.join(spec.aliases)})" if spec.aliases else "")
        for name, spec in fields.items()
    )

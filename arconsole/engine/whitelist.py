"""`<global><white_list>`: which source addresses never get a response (spec 4).

The loader has already split the entries: IPv4 entries (address, /CIDR, /netmask) carry a
`network`; everything else (hostnames, IPv6 literals) is an OSMatch `pattern` matched against
the srcip *string*.

Flavour differences, as in the C sources:
- wazuh: a leading `!` on an IP entry is dropped at load, so `!10.1.1.1` white-lists 10.1.1.1.
  A `!` on a pattern negates it (every srcip *without* the text is white-listed).
- ossec (O37 `OS_IPFoundList`): from the first `!` entry on (that one included) a match means
  "not listed", and an address that matches nothing is then listed. Its OSMatch has no
  negation, so a `!pattern` is the literal text with the `!` (it can never match a valid srcip).

`WhiteList.match` strips a leading `::ffff:` first (exactly as `get_ip()` does) and returns the
entry responsible for the verdict, so a reason can name it.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterable

from arconsole.addresses import strip_mapped
from arconsole.config.model import Flavour, WhiteListEntry
from arconsole.config.white_list import address_ranges

_CACHE_LIMIT = 4096  # distinct srcips remembered; cleared when full (cheap, bounded)


class OSMatch:
    """OSSEC's `OSMatch`: case-insensitive substring with `|` alternatives and `^`/`$` anchors.

    Each alternative: `^x$` equal, `^x` prefix, `x$` suffix, `x` substring, empty = always.
    """

    __slots__ = ("_alternatives",)

    def __init__(self, pattern: str) -> None:
        alternatives: list[tuple[str, str]] = []
        for alternative in pattern.lower().split("|"):
            starts = alternative.startswith("^")
            ends = alternative.endswith("$") and len(alternative) > (1 if starts else 0)
            text = alternative[1 if starts else 0 : len(alternative) - (1 if ends else 0)]
            if not alternative:
                kind = "any"
            elif starts and ends:
                kind = "equal"
            elif ends:
                kind = "suffix"
            elif starts:
                kind = "prefix"
            else:
                kind = "substring"
            alternatives.append((kind, text))
        self._alternatives = tuple(alternatives)

    def regex_source(self) -> str:
        """The same test as a Python regex (for searching many patterns at once)."""
        parts = []
        for kind, text in self._alternatives:
            body = re.escape(text)
            if kind == "any":
                parts.append("")
            elif kind == "equal":
                parts.append(f"^{body}\\Z")
            elif kind == "prefix":
                parts.append(f"^{body}")
            elif kind == "suffix":
                parts.append(f"{body}\\Z")
            else:
                parts.append(body)
        return "|".join(parts)

    def match(self, subject: str) -> bool:
        lowered = subject.lower()
        for kind, text in self._alternatives:
            if kind == "any":
                return True
            if kind == "equal":
                hit = lowered == text
            elif kind == "prefix":
                hit = lowered.startswith(text)
            elif kind == "suffix":
                hit = lowered.endswith(text)
            else:
                hit = text in lowered
            if hit:
                return True
        return False


def respelled_ipv6(srcip: str) -> str | None:
    """The IPv6 address `srcip` spells, as inet_ntop writes it, when written otherwise."""
    try:
        canonical = socket.inet_ntop(socket.AF_INET6, socket.inet_pton(socket.AF_INET6, srcip))
    except (OSError, ValueError):
        return None
    return None if canonical == srcip else canonical


class WhiteList:
    """The white list of one config, for one flavour. `match` is cached per srcip."""

    def __init__(self, entries: Iterable[WhiteListEntry], flavour: Flavour) -> None:
        self.entries = tuple(entries)
        self.flavour = flavour
        # The IPv4 entries as integer ranges (config/white_list.py); OSSEC's first `!` one.
        self._networks = address_ranges(self.entries)
        self._first_negated = next((index for index, entry in enumerate(
            self._networks.entries) if entry.negated), len(self._networks.entries))
        self._patterns: list[tuple[WhiteListEntry, OSMatch, bool]] = []
        for entry in self.entries:
            if entry.first >= 0:
                continue
            if entry.pattern is not None:
                if flavour is Flavour.OSSEC and entry.negated:
                    self._patterns.append((entry, OSMatch("!" + entry.pattern), False))
                else:
                    negate = entry.negated and flavour is Flavour.WAZUH
                    self._patterns.append((entry, OSMatch(entry.pattern), negate))
        # One regex answers "does any plain pattern match?"; the entry is looked up on a hit.
        plain = [matcher.regex_source() for _, matcher, negate in self._patterns if not negate]
        self._any_plain = re.compile("|".join(plain), re.IGNORECASE | re.ASCII) if plain else None
        self._negated = any(negate for _, _, negate in self._patterns)
        self._cache: dict[str, WhiteListEntry | None] = {}

    def __bool__(self) -> bool:
        return bool(self.entries)

    def match(self, srcip: str) -> WhiteListEntry | None:
        """The entry that white-lists `srcip`, or None when responses may run."""
        cache = self._cache
        if srcip in cache:
            return cache[srcip]
        ip = strip_mapped(srcip)
        result = self._match_networks(ip) if self._networks.entries else None
        if result is None and self._patterns and (
            self._negated or self._any_plain is None or self._any_plain.search(ip) is not None
        ):
            result = self._match_patterns(ip)
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        cache[srcip] = result
        return result

    def match_address(self, srcip: str) -> WhiteListEntry | None:
        """`match`, and for an IPv6 text written otherwise than inet_ntop writes it, `match`
        of that canonical spelling too (stricter than Wazuh, whose white list reads the text).

        An IPv6 entry is a text pattern, and the firewall reads any spelling of an address:
        `2001:db8:0::10` is no match for the entry `2001:db8::10`, and ip6tables blocks
        2001:db8::10 for it. An IPv4-mapped address keeps Wazuh's reading (`::FFFF:10.0.0.5`
        is not 10.0.0.5: `get_ip()`'s strncmp is case-sensitive, and ip6tables' rule for it
        stops no IPv4 packet).
        """
        entry = self.match(srcip)
        if entry is not None or ":" not in srcip:
            return entry
        canonical = respelled_ipv6(srcip)
        if canonical is None or (canonical.startswith("::ffff:") and "." in canonical):
            return None
        return self.match(canonical)

    def _match_patterns(self, ip: str) -> WhiteListEntry | None:
        for entry, matcher, negate in self._patterns:
            if matcher.match(ip) != negate:
                return entry
        return None

    def _match_networks(self, ip: str) -> WhiteListEntry | None:
        try:
            number = int.from_bytes(socket.inet_pton(socket.AF_INET, ip), "big")
        except (OSError, ValueError):
            return None  # IPv6 or not an address: the IPv4 entries cannot hold it
        first = self._networks.first_holding(number)  # the first entry holding it, in order
        entries = self._networks.entries
        if self.flavour is Flavour.WAZUH:
            return None if first < 0 else entries[first]
        # OSSEC: from the first `!` entry on (that one included) a match means "not listed",
        # and an address that matches nothing is then listed (by that entry).
        if first >= 0:
            return None if self._first_negated <= first else entries[first]
        return entries[self._first_negated] if self._first_negated < len(entries) else None

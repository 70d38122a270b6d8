"""`<global><white_list>` entries (spec 4): IPv4 networks or OSMatch text patterns.

`read_white_list` reads them with their source positions (explain names the entry and its
line). An IPv4 entry is two integers, and `AddressRanges` holds all of them for lookups as
sorted integer ranges: a white list of 200,000 single addresses peaked at ~20x the config's
size with a network object per entry and a dict of them (issue 11).
"""

from __future__ import annotations

import ipaddress
import re
from array import array
from bisect import bisect_right
from collections.abc import Iterable

from arconsole.config.element_options import ReadContext
from arconsole.config.findings import quoted
from arconsole.config.model import ConfigNode, Flavour, WhiteListEntry

# Wazuh's POSIX ERE (global-config.c); `/` + 2 digits + digit + 3 dotted groups is a netmask.
_IP_ENTRY = re.compile(
    r"!?[0-9]{1,3}(?:\.[0-9]{1,3}){3}(?:/[0-9]{1,2}(?:[0-9](?:\.[0-9]{1,3}){3})?)?")
_IPV6_LIKE = re.compile(r"[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*")


def read_white_list(sections: list[ConfigNode], context: ReadContext) -> list[WhiteListEntry]:
    entries: list[WhiteListEntry] = []
    names = ("white_list", "allow_list")
    for section in sections:
        if section.tag != "global":
            continue
        for node in section.children:
            if node.tag not in names:
                continue
            if node.tag == "allow_list" and context.flavour is Flavour.WAZUH:
                context.findings.warning(
                    "AR-WL-ALLOW-LIST", node,
                    "Wazuh does not read <allow_list> (OSSEC's spelling): this entry is ignored",
                    "write <white_list> for Wazuh")
                continue
            entry = read_entry(node, context)
            if entry is not None:
                entries.append(entry)
    return entries


def read_entry(node: ConfigNode, context: ReadContext) -> WhiteListEntry | None:
    findings = context.findings
    text = node.text or ""
    if not text.strip():
        findings.error("AR-WL-EMPTY", node, "empty <white_list> entry",
                       "remove it, or give an IPv4 address, network or text pattern")
        return None
    if _IP_ENTRY.fullmatch(text):
        return _ip_entry(text, node, context)
    negated = text.startswith("!")
    pattern = text[1:] if negated else text
    entry = WhiteListEntry(text=text, line=node.line, column=node.column, pattern=pattern,
                           negated=negated)
    _judge_pattern(entry, node, context)
    return entry


def _ip_entry(text: str, node: ConfigNode, context: ReadContext) -> WhiteListEntry | None:
    findings = context.findings
    negated = text.startswith("!")
    address, _, mask = (text[1:] if negated else text).partition("/")
    network = _network(address, mask)
    if network is None:
        findings.error("1237", node, f"Invalid ip address: '{quoted(text)}'.",
                       "each of the four numbers must be 0-255 (no leading zeros), a /CIDR "
                       "0-32, a netmask contiguous such as 255.255.255.0")
        return None
    first, prefix = network
    entry = WhiteListEntry(text, node.line, node.column, negated=negated, first=first,
                           prefix=prefix)
    if negated:
        if context.flavour is Flavour.WAZUH:
            findings.warning(
                "AR-WL-NEGATED", node,
                f"Wazuh 4.x drops the '!': <white_list>{quoted(text)}</white_list> white-lists "
                f"{_net(first, prefix)}, the opposite of what it says",
                "remove the entry to stop white-listing; Wazuh cannot exclude an address")
        else:
            findings.warning(
                "AR-WL-NEGATED", node,
                f"in OSSEC, from this entry on a match means 'not listed' and an address that "
                f"matches nothing is listed: {quoted(text)} white-lists every address except "
                f"{_net(first, prefix)}", "remove the '!' entry unless that is really meant")
    elif prefix == 0:
        findings.warning("AR-WL-ALL", node,
                         f"<white_list>{quoted(text)}</white_list> white-lists every IPv4 "
                         "address: no response ever fires for an alert with a srcip",
                         "narrow the network")
    return entry


def _net(first: int, prefix: int) -> str:
    address = str(ipaddress.IPv4Address(first))
    return address if prefix == 32 else f"{address}/{prefix}"


def _network(address: str, mask: str) -> tuple[int, int] | None:
    """`OS_IsValidIP` for IPv4: inet_pton address, CIDR 0-32 or a contiguous netmask; the
    network's first address (host bits cleared) and prefix length."""
    try:
        number = int(ipaddress.IPv4Address(address))
        if not mask:
            prefix = 32
        elif "." in mask:
            bits = int(ipaddress.IPv4Address(mask))
            inverted = ~bits & 0xFFFFFFFF
            if inverted & (inverted + 1):  # ones must come first, then zeros only
                return None
            prefix = 32 - inverted.bit_length()
        else:
            prefix = int(mask)
            if prefix > 32:
                return None
    except ValueError:
        return None
    host_bits = (1 << (32 - prefix)) - 1
    return number & ~host_bits & 0xFFFFFFFF, prefix


class AddressRanges:
    """The IPv4 entries of a white list, for lookups: disjoint sorted ranges of addresses,
    each with the first entry (in file order) whose network holds it.

    Three integer arrays (a few MiB for 200,000 entries) and a bisection per lookup. Two
    networks are nested or apart, never half over each other, so one pass over them, widest
    first where they start alike, with a stack of the networks open around the current one,
    gives the ranges; a stack frame also knows the first entry among those open.
    """

    __slots__ = ("_ends", "_owners", "_starts", "entries")

    def __init__(self, entries: Iterable[WhiteListEntry]) -> None:
        self.entries = tuple(entry for entry in entries if entry.first >= 0)
        self._starts = array("Q")
        self._ends = array("Q")
        self._owners = array("L")
        count = len(self.entries)
        # One integer per entry sorts them (first address, then widest, then file order)
        # without a tuple each: first << 6 | prefix, then the index.
        order = sorted(((entry.first >> (32 - entry.prefix) << (32 - entry.prefix)) << 6
                        | entry.prefix) * count + index
                       for index, entry in enumerate(self.entries))
        open_: list[tuple[int, int]] = []  # (last address, first entry among those open)
        cursor = 0  # the first address not given to a range yet
        for key in order:
            packed, index = divmod(key, count)
            prefix = packed & 63
            first = packed >> 6
            while open_ and open_[-1][0] < first:
                last, owner = open_.pop()
                cursor = self._give(cursor, last, owner)
            if open_:
                cursor = self._give(cursor, first - 1, open_[-1][1])
            cursor = max(cursor, first)
            owner = min(index, open_[-1][1]) if open_ else index
            open_.append((first + (1 << (32 - prefix)) - 1, owner))
        while open_:
            last, owner = open_.pop()
            cursor = self._give(cursor, last, owner)

    def _give(self, start: int, end: int, owner: int) -> int:
        """Give `start`..`end` (if not empty) to `owner`; the address after it."""
        if start > end:
            return start
        if self._owners and self._owners[-1] == owner and self._ends[-1] + 1 == start:
            self._ends[-1] = end
        else:
            self._starts.append(start)
            self._ends.append(end)
            self._owners.append(owner)
        return end + 1

    def first_holding(self, number: int) -> int:
        """The index in `entries` of the first entry whose network holds the address, or -1."""
        at = bisect_right(self._starts, number) - 1
        if at >= 0 and number <= self._ends[at]:
            return self._owners[at]
        return -1


# The last white list given ranges, and them: the engine, a restore and each operator block
# check the same loaded list (building them takes ~0.3 s for 200,000 entries).
_last: tuple[tuple[WhiteListEntry, ...], AddressRanges] | None = None


def address_ranges(entries: tuple[WhiteListEntry, ...]) -> AddressRanges:
    """`AddressRanges` of a loaded white list, built once for the same tuple."""
    global _last
    last = _last
    if last is not None and last[0] is entries:
        return last[1]
    ranges = AddressRanges(entries)
    _last = (entries, ranges)
    return ranges


def _judge_pattern(entry: WhiteListEntry, node: ConfigNode, context: ReadContext) -> None:
    findings = context.findings
    text, pattern = entry.text, entry.pattern or ""
    wazuh = context.flavour is Flavour.WAZUH
    if text != text.strip():
        findings.warning(
            "AR-WL-SPACE", node,
            f"<white_list> '{quoted(text)}' has spaces around it: Wazuh reads it as a text "
            "pattern with those spaces, which never matches an IP",
            f"write <white_list>{quoted(text.strip())}</white_list>")
        return
    if entry.negated:
        if wazuh:
            findings.warning(
                "AR-WL-NEGATED", node,
                f"a '!' pattern white-lists every srcip that does not contain "
                f"'{quoted(pattern)}': active response is off for almost every alert",
                "remove the entry; Wazuh cannot exclude addresses from the white list")
        else:
            findings.warning("AR-WL-NEGATED", node,
                             f"OSSEC has no '!' for text entries: '{quoted(text)}' is literal "
                             "text and never matches an IP", "remove the entry")
        return
    if "" in pattern.split("|"):
        findings.warning("AR-WL-ALL", node,
                         f"<white_list>{quoted(text)}</white_list> has an empty alternative, "
                         "which matches every srcip: no response ever fires for an alert with "
                         "a srcip", "remove the empty part around '|'")
    elif _IPV6_LIKE.fullmatch(pattern) and wazuh:
        findings.warning(
            "AR-WL-IPV6", node,
            f"IPv6 entries are text patterns: '{quoted(pattern)}' white-lists every srcip that "
            "contains it (e.g. '::1' also matches fe80::1a)",
            f"anchor it to match one address: ^{quoted(pattern.strip('^$'))}$")
    elif not _IPV6_LIKE.fullmatch(pattern):
        findings.info(
            "AR-WL-HOSTNAME", node,
            f"'{quoted(pattern)}' is matched as text against the alert's srcip, never resolved: "
            "it only applies when srcip holds that text")

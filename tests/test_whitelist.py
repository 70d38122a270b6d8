"""`<global><white_list>` matching (spec 4; scenarios B.3 D1-D3, D9, D9b, D10; Part E D3, E1)."""

from __future__ import annotations

import ipaddress

import pytest

from arconsole.config.loader import load_config_text
from arconsole.config.model import Flavour, WhiteListEntry
from arconsole.engine.whitelist import OSMatch, WhiteList


def ip_entry(text: str, line: int = 1) -> WhiteListEntry:
    negated = text.startswith("!")
    body = text.lstrip("!")
    return WhiteListEntry(text, line, 5, network=ipaddress.IPv4Network(body, strict=False),
                          negated=negated)


def pattern_entry(text: str, line: int = 1) -> WhiteListEntry:
    return WhiteListEntry(text, line, 5, pattern=text.lstrip("!"), negated=text.startswith("!"))


STOCK = [ip_entry("127.0.0.1", 10), pattern_entry("^localhost.localdomain$", 11)]


@pytest.mark.parametrize("flavour", list(Flavour))
def test_D1_stock_white_list_names_the_entry(flavour: Flavour) -> None:
    white_list = WhiteList(STOCK, flavour)
    entry = white_list.match("127.0.0.1")
    assert entry is STOCK[0]  # E1: the decision can name the entry and its line
    assert white_list.match("127.0.0.2") is None
    assert white_list.match("localhost.localdomain") is STOCK[1]
    assert white_list.match("LOCALHOST.LocalDomain") is STOCK[1]  # case-insensitive
    assert white_list.match("localhost.localdomain.evil") is None  # ^...$ is exact


def test_cidr_and_netmask_entries() -> None:
    cidr = ip_entry("10.0.0.0/8")
    mask = WhiteListEntry("192.168.1.0/255.255.255.128", 2, 5,
                          network=ipaddress.IPv4Network("192.168.1.0/25"))
    white_list = WhiteList([cidr, mask], Flavour.WAZUH)
    assert white_list.match("10.200.3.4") is cidr
    assert white_list.match("11.0.0.1") is None
    assert white_list.match("192.168.1.100") is mask
    assert white_list.match("192.168.1.200") is None


def test_D2_mapped_prefix_is_stripped_before_matching() -> None:
    cidr = ip_entry("10.0.0.0/8")
    white_list = WhiteList([cidr], Flavour.WAZUH)
    assert white_list.match("::ffff:10.0.0.5") is cidr
    # get_ip() compares the prefix with strncmp: another spelling is an IPv6 address, and the
    # IPv4 entries cannot hold it.
    assert white_list.match("::FFFF:10.0.0.5") is None


def test_ipv6_and_garbage_never_match_ipv4_entries() -> None:
    white_list = WhiteList([ip_entry("0.0.0.0/0")], Flavour.WAZUH)
    assert white_list.match("1.2.3.4") is not None
    assert white_list.match("2001:db8::1") is None
    assert white_list.match("not-an-ip") is None
    assert white_list.match("010.0.0.1") is None  # inet_pton refuses leading zeros


def test_D10_ipv6_entry_is_a_substring_pattern() -> None:
    entry = pattern_entry("::1")
    white_list = WhiteList([entry], Flavour.WAZUH)
    assert white_list.match("fe80::1a") is entry
    assert white_list.match("::1") is entry
    assert white_list.match("fe80::2") is None


def test_text_entries_match_the_srcip_string_only() -> None:
    entry = pattern_entry("myhost")  # C36: never resolved
    white_list = WhiteList([entry], Flavour.WAZUH)
    assert white_list.match("MyHost") is entry
    assert white_list.match("192.0.2.7") is None


def test_D9_wazuh_drops_the_bang_of_an_ip_entry() -> None:
    negated = ip_entry("!10.1.1.1")
    white_list = WhiteList([negated], Flavour.WAZUH)
    assert white_list.match("10.1.1.1") is negated  # white-listed: the opposite of the intent
    assert white_list.match("8.8.8.8") is None


def test_D9_ossec_bang_inverts_from_that_entry_on() -> None:
    before, negated, after = ip_entry("10.0.0.1"), ip_entry("!10.1.1.1"), ip_entry("10.2.2.2")
    white_list = WhiteList([before, negated, after], Flavour.OSSEC)
    assert white_list.match("10.0.0.1") is before  # before the first '!': a normal hit
    assert white_list.match("10.1.1.1") is None  # the '!' entry itself: "not listed"
    assert white_list.match("10.2.2.2") is None  # after it: a match means "not listed"
    assert white_list.match("8.8.8.8") is negated  # no match at all: listed
    alone = WhiteList([negated], Flavour.OSSEC)
    assert alone.match("10.1.1.1") is None
    assert alone.match("192.0.2.1") is negated  # "white-list everything except 10.1.1.1"


def test_D9b_wazuh_negated_pattern_lists_everything_without_the_text() -> None:
    entry = pattern_entry("!foo")
    white_list = WhiteList([entry], Flavour.WAZUH)
    assert white_list.match("8.8.8.8") is entry
    assert white_list.match("foo.example") is None


def test_ossec_negated_pattern_is_literal_text() -> None:
    white_list = WhiteList([pattern_entry("!foo")], Flavour.OSSEC)
    assert white_list.match("8.8.8.8") is None
    assert white_list.match("foo") is None
    assert white_list.match("x!foo") is not None  # only the literal text would match


def test_repeated_queries_are_answered_alike() -> None:
    white_list = WhiteList(STOCK, Flavour.WAZUH)
    for _ in range(3):
        assert white_list.match("127.0.0.1") is STOCK[0]
        assert white_list.match("203.0.113.9") is None
    for n in range(5000):  # more distinct addresses than the cache keeps: still correct
        assert white_list.match(f"198.51.{n // 250}.{n % 250}") is None
    assert white_list.match("127.0.0.1") is STOCK[0]


def test_empty_white_list_is_false_and_never_matches() -> None:
    white_list = WhiteList([], Flavour.WAZUH)
    assert not white_list
    assert white_list.match("127.0.0.1") is None


@pytest.mark.parametrize(
    ("pattern", "subject", "expected"),
    [
        ("^abc$", "ABC", True), ("^abc$", "abcd", False), ("^abc", "abcd", True),
        ("abc$", "xabc", True), ("abc$", "abcx", False), ("b", "abc", True),
        ("x|b", "abc", True), ("x|y", "abc", False), ("a||x", "zzz", True),
        ("^", "any", True), ("$", "any", True), ("^$", "", True), ("^$", "a", False),
        ("a.c", "abc", False), ("a.c", "a.c", True),
    ],
)
def test_osmatch(pattern: str, subject: str, expected: bool) -> None:
    assert OSMatch(pattern).match(subject) is expected


def test_C35_C36_entries_from_a_real_config() -> None:
    config = load_config_text(
        "<ossec_config><global>"
        "<white_list>10.0.0.0/8</white_list>"
        "<white_list>192.168.0.0/255.255.0.0</white_list>"
        "<white_list>!10.1.2.3</white_list>"
        "<white_list>::1</white_list>"
        "<white_list>myhost</white_list>"
        "</global></ossec_config>",
        "wl.conf",
    )
    white_list = WhiteList(config.white_list, config.flavour)
    assert white_list.match("10.9.9.9") is config.white_list[0]
    assert white_list.match("192.168.44.1") is config.white_list[1]
    assert white_list.match("fe80::1") is config.white_list[3]
    assert white_list.match("MYHOST") is config.white_list[4]
    assert white_list.match("172.16.0.1") is None


# ------------------------------------------------------------------ the integer ranges


def _reference(entries: list[WhiteListEntry], flavour: Flavour, number: int
               ) -> WhiteListEntry | None:
    """The IPv4 entries tested one by one in file order, as Wazuh and OSSEC loop over them
    (Wazuh: the first that holds the address; OSSEC: from the first `!` entry on, a match
    means "not listed", and no match at all means listed by that entry)."""
    inverted_by: WhiteListEntry | None = None
    for entry in entries:
        if flavour is Flavour.OSSEC and entry.negated and inverted_by is None:
            inverted_by = entry
        if entry.first <= number <= entry.last:
            return None if inverted_by is not None else entry
    return inverted_by


@pytest.mark.parametrize("flavour", list(Flavour))
def test_ranges_answer_as_the_entries_tested_in_file_order(flavour: Flavour) -> None:
    """Random networks (nested, repeated, side by side, some negated) over a small space:
    every address, the edges included, gets the entry the loop over the entries gives."""
    import random

    rng = random.Random(4242)
    for _ in range(60):
        entries = []
        for line in range(rng.randrange(1, 12)):
            prefix = rng.choice((32, 32, 31, 30, 29, 28, 26, 24))
            first = (0x0A000000 + rng.randrange(256)) & ~((1 << (32 - prefix)) - 1)
            entries.append(WhiteListEntry(f"e{line}", line, 5, first=first, prefix=prefix,
                                          negated=rng.random() < 0.15))
        white_list = WhiteList(entries, flavour)
        for number in range(0x0A000000 - 2, 0x0A000000 + 260):
            address = str(ipaddress.IPv4Address(number))
            assert white_list.match(address) is _reference(entries, flavour, number), (
                entries, address)


def test_entries_keep_their_network_as_two_integers() -> None:
    """What an entry costs: no network object is kept (issue 11); `network` gives it back."""
    config = load_config_text("<ossec_config><global><white_list>10.1.2.3/255.255.0.0"
                              "</white_list><white_list>192.0.2.7</white_list>"
                              "</global></ossec_config>", "t.conf")
    wide, single = config.white_list
    assert (wide.first, wide.prefix, wide.last) == (0x0A010000, 16, 0x0A01FFFF)
    assert wide.network == ipaddress.IPv4Network("10.1.0.0/16")
    assert (single.first, single.prefix) == (0xC0000207, 32)
    assert str(single.network) == "192.0.2.7/32"
    assert not any(isinstance(value, ipaddress.IPv4Network)
                   for entry in config.white_list for value in (
                       getattr(entry, name) for name in entry.__slots__))


def test_the_ranges_of_one_loaded_list_are_built_once() -> None:
    """The engine, a restore and each operator block check build a `WhiteList` of the same
    loaded tuple: its ranges are built once; another list gets its own."""
    from arconsole.config.white_list import address_ranges

    entries = tuple(ip_entry(f"10.0.0.{n}") for n in range(5))
    first = WhiteList(entries, Flavour.WAZUH)
    assert first._networks is WhiteList(entries, Flavour.OSSEC)._networks
    assert address_ranges(entries) is first._networks
    other = tuple(ip_entry(f"10.0.1.{n}") for n in range(5))
    assert WhiteList(other, Flavour.WAZUH).match("10.0.1.3") is other[3]
    assert WhiteList(entries, Flavour.WAZUH).match("10.0.0.3") is entries[3]

"""A srcip written in one of C's lenient IPv4 forms is refused as crafted.

The white list reads an IPv4 entry's address strictly (four decimal octets, `inet_pton`), as
analysisd does. Wazuh's stock scripts do not: `get_ip_version` asks `getaddrinfo` with
`AI_NUMERICHOST`, which takes every `inet_aton` form (`10.1`, `010.0.0.1`, `0xa.0.0.1`,
`167772161`), and hand the text to the firewall, whose own reading blocks a real address
(`iptables -s 0xa.0.0.1` drops 10.0.0.1). The regex analysisd checks a srcip with lets these
through. So an attacker who chooses the text of a srcip (a forwarded-for header, an
application's log) had a white-listed host (here 10.0.0.1 in 10.0.0.0/8) blocked: the white
list saw no address, the agent's script blocked one.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from arconsole.config.model import Flavour
from arconsole.engine.clock import ManualClock
from arconsole.engine.decide import Decider
from arconsole.engine.decide_explain import crafted_reason
from tests.engine_support import (
    T0,
    alert_line,
    command,
    make_home,
    recorder,
    records,
    started,
)
from tests.engine_support import response as response_block
from tests.test_decide import alert, block, config, fired, reasons, why

# Each is read as an address inside 10.0.0.0/8 by getaddrinfo or iptables (or both).
LENIENT = ["0xa.0.0.1", "0XA.0.0.1", "10.1", "10.0.1", "167772161", "10.0.0.01",
           "012.0.0.1", "10.0.0.0x1", "0x0a000001", "::ffff:0xa.0.0.1"]
PLAIN = ["10.0.0.1", "203.0.113.9", "0.0.0.0", "2001:db8::1", "::ffff:203.0.113.9", "fe80::1"]


@pytest.mark.parametrize("srcip", LENIENT)
def test_a_lenient_ipv4_form_is_crafted(srcip: str) -> None:
    decider = Decider(config(block(level=3), white_list=("10.0.0.0/8",)))
    assert fired(decider, alert(srcip=srcip)) == []
    text = reasons(why(decider, alert(srcip=srcip)))
    assert text.count("skipped:") == 1 and "written as an IPv4 address" in text, text


@pytest.mark.parametrize("srcip", PLAIN)
def test_plain_addresses_are_decided_as_before(srcip: str) -> None:
    decider = Decider(config(block(level=3), white_list=("192.0.2.0/24",)))
    assert fired(decider, alert(srcip=srcip)) == [(1, ("001",))]


def test_the_reason_names_the_address_the_tools_read() -> None:
    text = crafted_reason("srcip", "0xa.0.0.1", True)
    assert "'0xa.0.0.1'" in text and "10.0.0.1" in text


def test_the_premise_wazuhs_check_and_iptables_read_a_white_listed_host() -> None:
    # get_ip_version (Wazuh's stock scripts): getaddrinfo(AI_NUMERICHOST) takes it as IPv4.
    found = socket.getaddrinfo("0xa.0.0.1", None, flags=socket.AI_NUMERICHOST)
    assert found[0][0] == socket.AF_INET and found[0][4][0] == "10.0.0.1"
    iptables, unshare = shutil.which("iptables"), shutil.which("unshare")
    if iptables is None or unshare is None:
        pytest.skip("iptables and unshare are needed to show what the firewall blocks")
    done = subprocess.run(
        [unshare, "-n", "sh", "-c", f"{iptables} -I INPUT -s 0xa.0.0.1 -j DROP && "
         f"{iptables} -S INPUT"], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        pytest.skip(f"no private network namespace here: {done.stderr.strip()}")
    assert "-A INPUT -s 10.0.0.1/32 -j DROP" in done.stdout


async def test_the_engine_runs_nothing_for_a_white_listed_host_spelled_in_hex(
        tmp_path: Path) -> None:
    home = make_home(tmp_path, [command("firewall-drop")],
                     [response_block("firewall-drop", level=5, timeout=60)],
                     {"firewall-drop": recorder()})  # BASE_CONF white-lists 10.0.0.0/8
    engine = await started(home, ManualClock(T0))
    try:
        await engine.handle_line(alert_line("1.1", srcip="0xa.0.0.1"))
        await engine.handle_line(alert_line("1.2", srcip="203.0.113.7"))
        await engine.drain()
    finally:
        await engine.stop()
    seen = [run["stdin"] for run in records(home)]
    assert len(seen) == 1 and '"srcip":"203.0.113.7"' in seen[0], seen


# hosts_access(5) patterns, not addresses: OSSEC's host-deny.sh (argv protocol) checks only
# that a srcip holds a "." or ":" and writes `ALL:<srcip>` to /etc/hosts.deny, where `10.`
# denies every 10.x.x.x host (the white-listed ones too) and `.example.com` a whole domain.
PATTERNS = ["10.", "192.168.", ".example.com", ".", "10..1", "::ffff:10."]


@pytest.mark.parametrize("srcip", PATTERNS)
def test_a_hosts_access_pattern_is_crafted(srcip: str) -> None:
    decider = Decider(config(block(level=3), white_list=("10.0.0.2",)))
    assert fired(decider, alert(srcip=srcip)) == []
    text = reasons(why(decider, alert(srcip=srcip)))
    assert text.count("skipped:") == 1 and "pattern" in text, text


@pytest.mark.parametrize("srcip", ["host.example.com", "web-01", "fe80::", "::"])
def test_host_names_and_addresses_ending_in_a_colon_are_decided_as_before(srcip: str) -> None:
    decider = Decider(config(block(level=3), white_list=("192.0.2.0/24",)))
    assert fired(decider, alert(srcip=srcip)) == [(1, ("001",))]


async def test_the_ossec_engine_runs_no_legacy_script_for_a_network_pattern(
        tmp_path: Path) -> None:
    from tests.test_engine_argv import argvs, ossec_home
    from tests.test_engine_argv import started as ossec_started

    home = ossec_home(tmp_path)  # host-deny.sh through the argv protocol, level 6
    engine = await ossec_started(home, ManualClock(T0))
    try:
        await engine.handle_line(alert_line("1.1", srcip="10."))
        await engine.handle_line(alert_line("1.2", srcip="203.0.113.7"))
        await engine.drain()
    finally:
        await engine.stop()
    assert [argv[3] for argv in argvs(home)] == ["203.0.113.7"]


# OSSEC's legacy firewall-drop.sh takes any srcip with a dot for IPv4 and runs
# `iptables -I INPUT -s <srcip> -j DROP`: iptables resolves a host name then, so whoever
# answers for `evil.example.net` chooses what is blocked, a white-listed host included.
@pytest.mark.parametrize("srcip", ["evil.example.net", "localhost", "web-01"])
def test_ossec_never_hands_a_host_name_to_a_legacy_script(srcip: str) -> None:
    decider = Decider(config(block(level=3), white_list=("10.0.0.2",), flavour=Flavour.OSSEC))
    assert fired(decider, alert(srcip=srcip)) == []
    text = reasons(why(decider, alert(srcip=srcip)))
    assert "host name" in text and "resolve" in text, text


@pytest.mark.parametrize("srcip", ["203.0.113.9", "2001:db8::1", "::ffff:203.0.113.9"])
def test_ossec_still_hands_addresses_to_legacy_scripts(srcip: str) -> None:
    decider = Decider(config(block(level=3), flavour=Flavour.OSSEC))
    assert fired(decider, alert(srcip=srcip)) != []


# An IPv6 white-list entry is a text pattern (spec 4), and ip6tables reads any spelling of an
# address: `2001:DB8:0::10` is 2001:db8::10 to the firewall and no match to the white list.
IPV6_SPELLINGS = ["2001:DB8::10", "2001:db8:0::10", "2001:0db8:0000:0000:0000:0000:0000:0010"]


@pytest.mark.parametrize("flavour", [Flavour.WAZUH, Flavour.OSSEC])
@pytest.mark.parametrize("srcip", IPV6_SPELLINGS)
def test_a_white_listed_ipv6_address_in_another_spelling_is_white_listed(
        srcip: str, flavour: Flavour) -> None:
    decider = Decider(config(block(level=3), white_list=("2001:db8::10",), flavour=flavour))
    assert fired(decider, alert(srcip=srcip)) == []
    text = reasons(why(decider, alert(srcip=srcip)))
    assert "white-listed" in text and "2001:db8::10" in text, text


def test_a_mapped_address_keeps_wazuhs_reading() -> None:
    # get_ip()'s case-sensitive strncmp (test_engine_operations): `::FFFF:10.0.0.5` is an
    # IPv6 address to Wazuh and fires; its other spellings are no white-listed IPv4 host.
    decider = Decider(config(block(level=3), white_list=("10.0.0.0/8",)))
    for srcip in ("::FFFF:10.0.0.5", "0:0:0:0:0:ffff:10.0.0.5", "::ffff:a00:5"):
        assert fired(decider, alert(srcip=srcip)) == [(1, ("001",))], srcip


def test_the_premise_ip6tables_reads_every_spelling_as_one_address() -> None:
    ip6tables, unshare = shutil.which("ip6tables"), shutil.which("unshare")
    if ip6tables is None or unshare is None:
        pytest.skip("ip6tables and unshare are needed to show what the firewall blocks")
    done = subprocess.run(
        [unshare, "-n", "sh", "-c", f"{ip6tables} -I INPUT -s 2001:DB8:0::10 -j DROP && "
         f"{ip6tables} -S INPUT"], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        pytest.skip(f"no private network namespace here: {done.stderr.strip()}")
    assert "-A INPUT -s 2001:db8::10/128 -j DROP" in done.stdout


async def test_the_engine_runs_nothing_for_a_respelled_white_listed_ipv6_host(
        tmp_path: Path) -> None:
    home = make_home(tmp_path, [command("firewall-drop")],
                     [response_block("firewall-drop", level=5, timeout=60)],
                     {"firewall-drop": recorder()})
    conf = home / "etc" / "ossec.conf"
    conf.write_text(conf.read_text().replace(
        "<white_list>127.0.0.1</white_list>", "<white_list>2001:db8::10</white_list>"))
    engine = await started(home, ManualClock(T0))
    try:
        await engine.handle_line(alert_line("1.1", srcip="2001:db8:0::10"))
        await engine.handle_line(alert_line("1.2", srcip="2001:db8::11"))
        await engine.drain()
    finally:
        await engine.stop()
    seen = [run["stdin"] for run in records(home)]
    assert len(seen) == 1 and '"srcip":"2001:db8::11"' in seen[0], seen

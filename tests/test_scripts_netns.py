"""The firewall scripts proven on a real firewall, inside network namespaces the tests make.

Each test runs its whole scenario in a fresh namespace (`unshare -n`, loopback brought up):
the scripts run as execd runs them, a TCP listener on 127.0.0.1 (or ::1) is probed from a
loopback source address, and the rules and routes are read back with iptables, nft and ip.
Only loopback addresses are used; nothing reaches the host's firewall or routing table.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from test_scripts_helpers import (
    ar_message,
    in_netns,
    line_of,
    make_home,
    messages_of,
    require_netns,
)

from arconsole.scripts.locking import lock_path

pytestmark = pytest.mark.netns
REPO = Path(__file__).resolve().parents[1]
DEFAULT_IPTABLES = "-P INPUT ACCEPT\n-P FORWARD ACCEPT\n-P OUTPUT ACCEPT\n"


def message(name: str, command: str, srcip: str, extra: list[str] | None = None) -> str:
    return line_of(ar_message(command, program=name, data={"srcip": srcip}, extra_args=extra))


def script(home: Path, name: str, command: str, srcip: str, extra: list[str] | None = None,
           reply: str | None = "continue") -> dict[str, Any]:
    return {"op": "script", "home": str(home), "name": name,
            "line": message(name, command, srcip, extra), "reply": reply}


def listen(host: str = "127.0.0.1") -> dict[str, Any]:
    return {"op": "listen", "host": host}


def probe(source: str, target: str = "127.0.0.1") -> dict[str, Any]:
    return {"op": "probe", "source": source, "target": target}


def cmd(*argv: str) -> dict[str, Any]:
    return {"op": "cmd", "argv": list(argv)}


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return make_home(tmp_path)


def nft_only_path(tmp_path: Path) -> Path:
    """A search path that has nft and nothing else: iptables is absent for the script."""
    folder = tmp_path / "nft-only"
    folder.mkdir()
    nft = shutil.which("nft")
    assert nft is not None
    (folder / "nft").symlink_to(nft)
    return folder


class TestFirewallDropIptables:
    def test_the_block_drops_connections_until_the_delete(self, home: Path) -> None:
        require_netns("iptables")
        results = in_netns([
            listen(), probe("127.0.0.2"),
            script(home, "firewall-drop", "add", "127.0.0.2"),
            probe("127.0.0.2"), probe("127.0.0.3"), cmd("iptables", "-S"),
            script(home, "firewall-drop", "delete", "127.0.0.2", reply=None),
            probe("127.0.0.2"), cmd("iptables", "-S"),
        ])
        _, before, add, during, other, rules, delete, after, rules_after = results
        assert before is True
        assert add == {"returncode": 0, "check_keys": (
            '{"version":1,"origin":{"name":"firewall-drop","module":"active-response"},'
            '"command":"check_keys","parameters":{"keys":["127.0.0.2"]}}')}
        assert during is False, "127.0.0.2 still connects while blocked"
        assert other is True, "the block must hold only the alert's address"
        assert rules["stdout"] == DEFAULT_IPTABLES + (
            "-A INPUT -s 127.0.0.2/32 -j DROP\n-A FORWARD -s 127.0.0.2/32 -j DROP\n")
        assert delete == {"returncode": 0, "check_keys": None}
        assert after is True, "127.0.0.2 is still blocked after the delete"
        assert rules_after["stdout"] == DEFAULT_IPTABLES
        add_message = message("firewall-drop", "add", "127.0.0.2")
        delete_message = message("firewall-drop", "delete", "127.0.0.2")
        assert messages_of(home, "firewall-drop") == [  # S1, S2
            "Starting", add_message, "", add["check_keys"],
            add_message.replace('"command":"add"', '"command":"continue"'), "", "Ended",
            "Starting", delete_message, "", "Ended",
        ]

    def test_s3_ipv6_goes_to_ip6tables(self, home: Path) -> None:
        require_netns("ip6tables")
        results = in_netns([
            listen("::1"), probe("::1", "::1"),
            script(home, "firewall-drop", "add", "::1"),
            probe("::1", "::1"), cmd("ip6tables", "-S"), cmd("iptables", "-S"),
            script(home, "firewall-drop", "delete", "::1"),
            probe("::1", "::1"), cmd("ip6tables", "-S"),
        ])
        _, before, add, during, rules6, rules4, delete, after, rules6_after = results
        assert (before, add["returncode"], during) == (True, 0, False)
        assert rules6["stdout"] == DEFAULT_IPTABLES + (
            "-A INPUT -s ::1/128 -j DROP\n-A FORWARD -s ::1/128 -j DROP\n")
        assert rules4["stdout"] == DEFAULT_IPTABLES
        assert (delete["returncode"], after) == (0, True)
        assert rules6_after["stdout"] == DEFAULT_IPTABLES

    def test_a_rule_removed_behind_its_back_is_not_an_error(self, home: Path) -> None:
        require_netns("iptables")
        results = in_netns([
            script(home, "firewall-drop", "add", "127.0.0.2"), cmd("iptables", "-F"),
            script(home, "firewall-drop", "delete", "127.0.0.2"),
        ])
        assert results[2]["returncode"] == 0
        assert messages_of(home, "firewall-drop")[-3:] == [
            "No iptables rule drops 127.0.0.2 in INPUT: nothing to delete",
            "No iptables rule drops 127.0.0.2 in FORWARD: nothing to delete", "Ended"]

    def test_c5_a_hundred_parallel_blocks_give_a_hundred_rules(self, home: Path) -> None:
        require_netns("iptables")
        ips = [f"127.1.0.{i}" for i in range(1, 101)]
        results = in_netns([
            {"op": "parallel", "home": str(home), "name": "firewall-drop",
             "lines": [message("firewall-drop", "add", ip) for ip in ips]},
            cmd("iptables", "-S", "INPUT"), cmd("iptables", "-S", "FORWARD"),
            {"op": "parallel", "home": str(home), "name": "firewall-drop",
             "lines": [message("firewall-drop", "delete", ip) for ip in ips]},
            cmd("iptables", "-S"),
        ])
        adds, input_rules, forward_rules, deletes, after = results
        assert adds == [0] * 100
        for listing, chain in ((input_rules, "INPUT"), (forward_rules, "FORWARD")):
            rules = [line for line in listing["stdout"].splitlines() if line.startswith("-A")]
            assert sorted(rules) == sorted(f"-A {chain} -s {ip}/32 -j DROP" for ip in ips)
        assert deletes == [0] * 100
        assert after["stdout"] == DEFAULT_IPTABLES

    def test_the_firewall_is_only_touched_under_the_lock(self, home: Path) -> None:
        require_netns("iptables")
        path = Path(lock_path(home, "fw-drop"))
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            results = in_netns([
                script(home, "firewall-drop", "add", "127.0.0.2", ["--lock-wait", "0.5"]),
                cmd("iptables", "-S"),
            ])
        finally:
            os.close(fd)
        assert results[0]["returncode"] == 255
        assert messages_of(home, "firewall-drop")[-1] == "Unable to take lock. End."
        assert results[1]["stdout"] == DEFAULT_IPTABLES


class TestFirewallDropNft:
    @pytest.mark.parametrize("how", ["iptables absent", "--backend nft"])
    def test_nft_blocks_and_the_delete_leaves_nothing(self, home: Path, tmp_path: Path,
                                                      how: str) -> None:
        require_netns("nft", "iptables")
        if how == "iptables absent":
            extra = ["--search-path", str(nft_only_path(tmp_path))]
        else:
            extra = ["--backend", "nft"]
        results = in_netns([
            listen(), listen("::1"), probe("127.0.0.2"),
            script(home, "firewall-drop", "add", "127.0.0.2", extra),
            probe("127.0.0.2"), probe("127.0.0.3"), probe("::1", "::1"),
            cmd("nft", "list", "set", "inet", "arconsole", "blocked4"), cmd("iptables", "-S"),
            script(home, "firewall-drop", "delete", "127.0.0.2", extra),
            probe("127.0.0.2"), cmd("nft", "list", "ruleset"),
        ])
        _, _, before, add, during, other, v6, set4, iptables, delete, after, ruleset = results
        assert (before, add["returncode"], during, other, v6) == (True, 0, False, True, True)
        assert "elements = { 127.0.0.2 }" in set4["stdout"]
        assert iptables["stdout"] == DEFAULT_IPTABLES  # nft did it, not iptables
        assert (delete["returncode"], after) == (0, True)
        assert ruleset["stdout"] == ""  # the table went with its last address
        if how == "iptables absent":
            assert ("The iptables file 'iptables' is not accessible: "
                    "No such file or directory (2)") in messages_of(home, "firewall-drop")

    def test_ipv6_and_ipv4_share_the_table(self, home: Path) -> None:
        require_netns("nft")
        extra = ["--backend", "nft"]
        results = in_netns([
            listen("::1"),
            script(home, "firewall-drop", "add", "::1", extra),
            script(home, "firewall-drop", "add", "127.0.0.2", extra),
            probe("::1", "::1"),
            script(home, "firewall-drop", "delete", "127.0.0.2", extra),
            cmd("nft", "list", "set", "inet", "arconsole", "blocked6"),
            script(home, "firewall-drop", "delete", "::1", extra),
            probe("::1", "::1"), cmd("nft", "list", "ruleset"),
        ])
        assert results[3] is False
        assert "elements = { ::1 }" in results[5]["stdout"], "a v4 delete took the table"
        assert (results[7], results[8]["stdout"]) == (True, "")

    def test_c5_a_hundred_parallel_blocks_give_a_hundred_elements(self, home: Path) -> None:
        require_netns("nft")
        extra = ["--backend", "nft"]
        ips = [f"127.2.0.{i}" for i in range(1, 101)]
        results = in_netns([
            {"op": "parallel", "home": str(home), "name": "firewall-drop",
             "lines": [message("firewall-drop", "add", ip, extra) for ip in ips]},
            cmd("nft", "-j", "list", "set", "inet", "arconsole", "blocked4"),
            cmd("nft", "list", "chain", "inet", "arconsole", "input"),
        ])
        assert results[0] == [0] * 100
        listing = json.loads(results[1]["stdout"])["nftables"]
        elements = next(item["set"]["elem"] for item in listing if "set" in item)
        assert sorted(elements) == sorted(ips)
        drops = [line for line in results[2]["stdout"].splitlines() if "drop" in line]
        assert len(drops) == 2, "the drop rules piled up"


class TestRouteNull:
    @pytest.mark.parametrize(("srcip", "show"), [("127.0.0.2", "-4"), ("::1", "-6")])
    def test_the_blackhole_route_lives_as_long_as_the_block(self, home: Path, srcip: str,
                                                            show: str) -> None:
        require_netns()
        results = in_netns([
            script(home, "route-null", "add", srcip), cmd("ip", show, "route", "show"),
            script(home, "route-null", "delete", srcip), cmd("ip", show, "route", "show"),
        ])
        add, during, delete, after = results
        assert add["returncode"] == 0 and add["check_keys"] is not None
        assert f"blackhole {srcip}" in during["stdout"]
        assert delete["returncode"] == 0
        assert "blackhole" not in after["stdout"]
        assert messages_of(home, "route-null")[-1] == "Ended"

    def test_a_route_that_exists_is_not_taken_over(self, home: Path) -> None:
        require_netns()
        results = in_netns([
            cmd("ip", "route", "add", "blackhole", "127.0.0.2"),
            script(home, "route-null", "add", "127.0.0.2"), cmd("ip", "route", "show"),
        ])
        assert results[1]["returncode"] == 255
        assert messages_of(home, "route-null")[-1] == (
            "Unable to run ip route add (exit code 2): RTNETLINK answers: File exists")
        assert "blackhole 127.0.0.2" in results[2]["stdout"]


def test_demo_mode_runs_everything_but_the_change(tmp_path: Path) -> None:
    """The sample home blocks nothing: the would-be argv lands in logs/demo-actions.log."""
    require_netns("iptables")
    home = tmp_path / "sample"
    shutil.copytree(REPO / "sample-conf", home)
    results = in_netns([
        listen(), script(home, "firewall-drop", "add", "127.0.0.2"), probe("127.0.0.2"),
        cmd("iptables", "-S"), cmd("nft", "list", "ruleset"),
    ])
    add, connected, rules, ruleset = results[1:]
    assert add["returncode"] == 0 and add["check_keys"] is not None
    assert connected is True
    assert rules["stdout"] == DEFAULT_IPTABLES
    assert ruleset["stdout"] == ""
    iptables = shutil.which("iptables", path="/usr/sbin:/usr/bin:/sbin:/bin")
    records = [json.loads(line)
               for line in (home / "logs" / "demo-actions.log").read_text().splitlines()]
    assert [r["argv"] for r in records] == [
        [iptables, "-I", chain, "-s", "127.0.0.2", "-j", "DROP"] for chain in ("INPUT", "FORWARD")]
    assert messages_of(home, "firewall-drop")[-1] == "Ended"
    assert (home / "var" / "run" / "arconsole-fw-drop.lock").is_file()  # the lock was taken

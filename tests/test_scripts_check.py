"""The `check` command of the stock firewall scripts (issue 11, drift): is the block in force?

The firewall cases run inside network namespaces the tests make (`unshare -n`, loopback only),
as in test_scripts_netns.py: a block is added, checked, removed behind the script's back
(`iptables -F`, `nft flush ruleset`, `ip route del`), checked again, then repaired by an add.
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
    execd_run,
    in_netns,
    line_of,
    log_lines,
    make_home,
    messages_of,
    require_netns,
)

from arconsole.scripts.locking import lock_path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_IPTABLES = "-P INPUT ACCEPT\n-P FORWARD ACCEPT\n-P OUTPUT ACCEPT\n"


def message(name: str, command: str, srcip: str, extra: list[str] | None = None) -> str:
    return line_of(ar_message(command, program=name, data={"srcip": srcip}, extra_args=extra))


def script(home: Path, name: str, command: str, srcip: str,
           extra: list[str] | None = None) -> dict[str, Any]:
    return {"op": "script", "home": str(home), "name": name,
            "line": message(name, command, srcip, extra),
            "reply": "continue" if command == "add" else None}


def cmd(*argv: str) -> dict[str, Any]:
    return {"op": "cmd", "argv": list(argv)}


def answer(result: dict[str, Any]) -> tuple[int, str, str]:
    """(exit status, state, detail) of a check run in the namespace."""
    line = json.loads(result["check_keys"])
    assert line["command"] == "check"
    return result["returncode"], line["parameters"]["state"], line["parameters"]["detail"]


IN_FORCE = (0, "in-force", "")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return make_home(tmp_path)


@pytest.mark.netns
class TestIptables:
    @pytest.mark.parametrize(("srcip", "tool", "mask"), [
        ("127.0.0.2", "iptables", "32"), ("::1", "ip6tables", "128")])
    def test_a_flushed_firewall_is_missing_and_an_add_repairs_it(
            self, home: Path, srcip: str, tool: str, mask: str) -> None:
        require_netns(tool)
        check = script(home, "firewall-drop", "check", srcip)
        results = in_netns([
            check,
            script(home, "firewall-drop", "add", srcip), check,
            cmd(tool, "-F"), check,
            script(home, "firewall-drop", "add", srcip), check, cmd(tool, "-S"),
            cmd(tool, "-F", "INPUT"), check,
            script(home, "firewall-drop", "add", srcip), check, cmd(tool, "-S"),
            script(home, "firewall-drop", "delete", srcip), check, cmd(tool, "-S"),
        ])
        (before, add, during, _, flushed, repair, repaired, rules, _, half, repair2, repaired2,
         rules2, delete, after, rules_after) = results
        assert answer(before) == (3, "missing", f"no {tool} rule in INPUT")
        assert add["returncode"] == 0 and answer(during) == IN_FORCE
        assert answer(flushed) == (3, "missing", f"no {tool} rule in INPUT")
        assert repair["returncode"] == 0 and answer(repaired) == IN_FORCE
        one_each = DEFAULT_IPTABLES + (f"-A INPUT -s {srcip}/{mask} -j DROP\n"
                                       f"-A FORWARD -s {srcip}/{mask} -j DROP\n")
        assert rules["stdout"] == one_each
        assert answer(half) == (3, "missing", f"no {tool} rule in INPUT")
        assert repair2["returncode"] == 0 and answer(repaired2) == IN_FORCE
        assert rules2["stdout"] == one_each, "the repair doubled the half that held"
        assert delete["returncode"] == 0 and answer(after)[0] == 3
        assert rules_after["stdout"] == DEFAULT_IPTABLES
        assert not any('"command":"check"' in line for line in log_lines(home))

    def test_the_answer_line_is_exact(self, home: Path) -> None:
        require_netns("iptables")
        (result,) = in_netns([script(home, "firewall-drop", "check", "127.0.0.2")])
        assert result == {"returncode": 3, "check_keys": (
            '{"version":1,"origin":{"name":"firewall-drop","module":"active-response"},'
            '"command":"check","parameters":{"keys":["127.0.0.2"],"state":"missing",'
            '"detail":"no iptables rule in INPUT"}}')}
        assert log_lines(home) == []  # a check writes nothing to active-responses.log


@pytest.mark.netns
class TestNft:
    def test_flush_chain_and_element_each_show_as_missing(self, home: Path) -> None:
        require_netns("nft")
        extra = ["--backend", "nft"]
        check = script(home, "firewall-drop", "check", "127.0.0.2", extra)
        add = script(home, "firewall-drop", "add", "127.0.0.2", extra)
        results = in_netns([
            check, add, check,
            cmd("nft", "flush", "ruleset"), check, add, check,
            cmd("nft", "flush", "chain", "inet", "arconsole", "forward"), check, add, check,
            cmd("nft", "delete", "element", "inet", "arconsole", "blocked4", "{ 127.0.0.2 }"),
            check, add, check, cmd("nft", "list", "chain", "inet", "arconsole", "input"),
            script(home, "firewall-drop", "delete", "127.0.0.2", extra), check,
            cmd("nft", "list", "ruleset"),
        ])
        assert answer(results[0]) == (3, "missing", "no nft table inet arconsole")
        assert answer(results[2]) == IN_FORCE
        assert answer(results[4]) == (3, "missing", "no nft table inet arconsole")
        assert answer(results[6]) == IN_FORCE
        assert answer(results[8]) == (
            3, "missing", "no rule 'ip saddr @blocked4 drop' in nft chain forward")
        assert answer(results[10]) == IN_FORCE
        assert answer(results[12]) == (3, "missing", "127.0.0.2 is not in nft set blocked4")
        assert answer(results[14]) == IN_FORCE
        drops = [line for line in results[15]["stdout"].splitlines() if "drop" in line]
        assert len(drops) == 2, "repairs piled up drop rules"
        assert answer(results[17])[0] == 3
        assert results[18]["stdout"] == ""

    def test_ipv6_when_iptables_is_absent(self, home: Path, tmp_path: Path) -> None:
        require_netns("nft")
        folder = tmp_path / "nft-only"
        folder.mkdir()
        nft = shutil.which("nft")
        assert nft is not None
        (folder / "nft").symlink_to(nft)
        extra = ["--search-path", str(folder)]
        check = script(home, "firewall-drop", "check", "::1", extra)
        results = in_netns([
            script(home, "firewall-drop", "add", "::1", extra), check,
            cmd("nft", "flush", "ruleset"), check,
        ])
        assert answer(results[1]) == IN_FORCE
        assert answer(results[3]) == (3, "missing", "no nft table inet arconsole")


@pytest.mark.netns
class TestRouteNull:
    @pytest.mark.parametrize("srcip", ["127.0.0.2", "::1"])
    def test_a_removed_route_is_missing_and_an_add_repairs_it(self, home: Path,
                                                             srcip: str) -> None:
        require_netns()
        check = script(home, "route-null", "check", srcip)
        results = in_netns([
            check, script(home, "route-null", "add", srcip), check,
            cmd("ip", "route", "del", "blackhole", srcip), check,
            script(home, "route-null", "add", srcip), check,
            script(home, "route-null", "delete", srcip), check,
        ])
        missing = (3, "missing", f"no blackhole route for {srcip}")
        assert answer(results[0]) == missing
        assert answer(results[2]) == IN_FORCE
        assert answer(results[4]) == missing
        assert results[5]["returncode"] == 0 and answer(results[6]) == IN_FORCE
        assert answer(results[8]) == missing
        assert not any('"command":"check"' in line for line in log_lines(home))


class TestWithoutAFirewall:
    """Answers that need no namespace: nothing here reaches a firewall."""

    def test_demo_mode_answers_in_force(self, tmp_path: Path) -> None:
        home = tmp_path / "sample"
        shutil.copytree(REPO / "sample-conf", home)
        for name in ("firewall-drop", "route-null"):
            run = execd_run(home, name, message(name, "check", "127.0.0.2"), reply=None)
            assert run.returncode == 0
            assert run.check_keys is not None
            assert json.loads(run.check_keys)["parameters"] == {
                "keys": ["127.0.0.2"], "state": "in-force",
                "detail": "demo mode: nothing was changed"}
        assert not (home / "logs" / "demo-actions.log").exists()
        assert log_lines(home) == []

    def test_a_script_without_check_refuses_it(self, home: Path) -> None:
        run = execd_run(home, "host-deny", message("host-deny", "check", "127.0.0.2"),
                        reply=None)
        assert (run.returncode, run.check_keys) == (255, None)
        assert messages_of(home, "host-deny")[-1] == "Invalid value of 'command'"

    def test_a_bad_key_is_an_error_answer(self, home: Path) -> None:
        run = execd_run(home, "firewall-drop", message("firewall-drop", "check", "1.2.3.4;id"),
                        reply=None)
        assert run.returncode == 255
        assert run.check_keys is not None
        assert json.loads(run.check_keys)["parameters"] == {
            "keys": [], "state": "error",
            "detail": "Cannot read 'srcip' from data or invalid IP format"}
        assert log_lines(home) == []

    def test_no_firewall_tool_is_an_error_not_in_force(self, home: Path,
                                                      tmp_path: Path) -> None:
        empty = tmp_path / "empty"
        empty.mkdir()
        line = message("firewall-drop", "check", "127.0.0.2",
                       ["--backend", "iptables", "--search-path", str(empty)])
        run = execd_run(home, "firewall-drop", line, reply=None)
        assert run.returncode == 255
        assert run.check_keys is not None
        assert json.loads(run.check_keys)["parameters"]["detail"] == (
            "The iptables file 'iptables' is not accessible: No such file or directory (2)")

    def test_a_held_lock_is_an_error(self, home: Path, tmp_path: Path) -> None:
        folder = tmp_path / "fake"
        folder.mkdir()
        ip_tool = folder / "ip"  # found, never run: the lock is not free
        ip_tool.write_text("#!/bin/sh\nexit 99\n")
        ip_tool.chmod(0o755)
        path = Path(lock_path(home, "route-null"))
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            line = message("route-null", "check", "127.0.0.2",
                           ["--lock-wait", "0.2", "--search-path", str(folder)])
            run = execd_run(home, "route-null", line, reply=None)
        finally:
            os.close(fd)
        assert run.returncode == 255
        assert run.check_keys is not None
        assert json.loads(run.check_keys)["parameters"]["state"] == "error"
        assert json.loads(run.check_keys)["parameters"]["detail"] == "Unable to take lock. End."

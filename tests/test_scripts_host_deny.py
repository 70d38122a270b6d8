"""host-deny on the test's own hosts.deny: exact lines, atomic rewrites, concurrent runs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_scripts_helpers import (
    ar_message,
    execd_parallel,
    execd_run,
    line_of,
    make_home,
    messages_of,
)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return make_home(tmp_path)


@pytest.fixture
def hosts_deny(tmp_path: Path) -> Path:
    folder = tmp_path / "etc"
    folder.mkdir()
    path = folder / "hosts.deny"
    path.write_text("# tcp wrappers\nsshd: 11.2.3.45\nALL:1.2.3.40\n")
    path.chmod(0o644)
    return path


def run(home: Path, hosts_deny: Path, command: str, srcip: str) -> int:
    message = ar_message(command, program="host-deny", data={"srcip": srcip},
                         extra_args=["--hosts-deny", str(hosts_deny)])
    return execd_run(home, "host-deny", message).returncode


def test_add_then_delete_restores_the_file(home: Path, hosts_deny: Path) -> None:
    before = hosts_deny.read_text()
    assert run(home, hosts_deny, "add", "1.2.3.4") == 0
    assert hosts_deny.read_text() == before + "ALL:1.2.3.4\n"
    assert run(home, hosts_deny, "delete", "1.2.3.4") == 0
    assert hosts_deny.read_text() == before


def test_delete_leaves_lines_that_merely_contain_the_address(home: Path,
                                                             hosts_deny: Path) -> None:
    """Wazuh's strstr would also remove `sshd: 11.2.3.45` and `ALL:1.2.3.40`."""
    hosts_deny.write_text(hosts_deny.read_text() + "ALL:1.2.3.4\n")
    assert run(home, hosts_deny, "delete", "1.2.3.4") == 0
    assert hosts_deny.read_text() == "# tcp wrappers\nsshd: 11.2.3.45\nALL:1.2.3.40\n"


def test_a_duplicate_add_is_refused_like_wazuh(home: Path, hosts_deny: Path) -> None:
    assert run(home, hosts_deny, "add", "1.2.3.4") == 0
    after_first = hosts_deny.read_text()
    assert run(home, hosts_deny, "add", "1.2.3.4") == 255
    assert messages_of(home, "host-deny")[-1] == (
        f"IP 1.2.3.4 already exists on '{hosts_deny}'")
    assert hosts_deny.read_text() == after_first
    assert hosts_deny.read_text().count("ALL:1.2.3.4\n") == 1


def test_an_address_that_is_a_prefix_of_another_is_no_duplicate(home: Path,
                                                                  hosts_deny: Path) -> None:
    assert run(home, hosts_deny, "add", "1.2.3.4") == 0  # ALL:1.2.3.40 is there already


def test_deleting_what_is_not_there_is_logged_not_failed(home: Path, hosts_deny: Path) -> None:
    before = hosts_deny.read_text()
    assert run(home, hosts_deny, "delete", "9.9.9.9") == 0
    assert messages_of(home, "host-deny")[-2:] == [
        f"Rule 'ALL:9.9.9.9' not found on '{hosts_deny}': nothing to delete", "Ended"]
    assert hosts_deny.read_text() == before


def test_ipv6_in_the_brackets_tcp_wrappers_reads(home: Path, hosts_deny: Path) -> None:
    assert run(home, hosts_deny, "add", "2001:db8::1") == 0
    assert hosts_deny.read_text().endswith("ALL:[2001:db8::1]\n")
    assert run(home, hosts_deny, "delete", "2001:db8::1") == 0
    assert "2001:db8::1" not in hosts_deny.read_text()


def test_a_last_line_without_newline_stays_whole(home: Path, hosts_deny: Path) -> None:
    hosts_deny.write_text("sshd: 10.0.0.1")
    assert run(home, hosts_deny, "add", "1.2.3.4") == 0
    assert hosts_deny.read_text() == "sshd: 10.0.0.1\nALL:1.2.3.4\n"


def test_missing_file(home: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "hosts.deny"
    assert run(home, missing, "add", "1.2.3.4") == 255
    assert messages_of(home, "host-deny")[-1] == f"Could not open file '{missing}'"
    assert not missing.exists()


def test_the_file_is_replaced_by_a_rename_keeping_mode(home: Path, hosts_deny: Path) -> None:
    """D7: a new inode (written aside, renamed over), the same mode, no temporary left."""
    hosts_deny.chmod(0o640)
    inode = hosts_deny.stat().st_ino
    assert run(home, hosts_deny, "add", "1.2.3.4") == 0
    status = hosts_deny.stat()
    assert status.st_ino != inode
    assert status.st_mode & 0o777 == 0o640
    assert sorted(p.name for p in hosts_deny.parent.iterdir()) == ["hosts.deny"]


def test_no_predictable_temporary_name_is_followed(home: Path, hosts_deny: Path,
                                                   tmp_path: Path) -> None:
    """CVE-2014-5284: planting Wazuh's fixed temp names as symlinks changes nothing else."""
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    for planted in (home / "active-response" / "bin" / "temp-hosts-deny",
                    hosts_deny.parent / "hosts.deny.tmp", hosts_deny.parent / ".hosts.deny"):
        planted.symlink_to(victim)
    assert run(home, hosts_deny, "add", "1.2.3.4") == 0
    assert run(home, hosts_deny, "delete", "1.2.3.4") == 0
    assert victim.read_text() == "precious\n"


def test_a_symlinked_hosts_deny_stays_a_symlink(home: Path, hosts_deny: Path,
                                                tmp_path: Path) -> None:
    link = tmp_path / "hosts.deny.link"
    link.symlink_to(hosts_deny)
    assert run(home, link, "add", "1.2.3.4") == 0
    assert link.is_symlink()
    assert hosts_deny.read_text().endswith("ALL:1.2.3.4\n")


def test_two_concurrent_adds_both_land(home: Path, hosts_deny: Path) -> None:
    lines = [line_of(ar_message("add", program="host-deny", data={"srcip": ip},
                                extra_args=["--hosts-deny", str(hosts_deny)]))
             for ip in ("1.2.3.4", "5.6.7.8")]
    assert execd_parallel(home, "host-deny", lines) == [0, 0]
    text = hosts_deny.read_text()
    assert "ALL:1.2.3.4\n" in text and "ALL:5.6.7.8\n" in text


def test_many_concurrent_adds_then_deletes_lose_nothing(home: Path, hosts_deny: Path) -> None:
    """Read-modify-write without the lock would lose lines here."""
    before = hosts_deny.read_text()
    ips = [f"10.0.{i // 250}.{i % 250 + 1}" for i in range(30)]

    def lines(command: str) -> list[str]:
        return [line_of(ar_message(command, program="host-deny", data={"srcip": ip},
                                   extra_args=["--hosts-deny", str(hosts_deny)]))
                for ip in ips]

    assert execd_parallel(home, "host-deny", lines("add")) == [0] * len(ips)
    added = hosts_deny.read_text().splitlines()
    assert sorted(added[3:]) == sorted(f"ALL:{ip}" for ip in ips)
    assert execd_parallel(home, "host-deny", lines("delete")) == [0] * len(ips)
    assert hosts_deny.read_text() == before
    assert os.listdir(hosts_deny.parent) == ["hosts.deny"]

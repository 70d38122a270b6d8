"""The shipped scripts run as execd runs them: protocol, log, exit codes (spec 8; table B.8).

Everything here is safe on the host: host-deny edits the test's own file, firewalld-drop and
restart-wazuh find recording fakes (firewalld and Wazuh are not installed here), and the runs
that would touch a firewall stop at validation. Real firewalls are in test_scripts_netns.py.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import ClassVar

import pytest
from test_scripts_helpers import (
    DECODER_PREMATCH,
    ar_message,
    execd_run,
    line_of,
    log_lines,
    make_home,
    messages_of,
    with_command,
)

from arconsole.scripts.install import (
    SAMPLE_SCRIPTS,
    STOCK_SCRIPTS,
    launcher_text,
    sample_launcher_text,
)
from arconsole.scripts.locking import lock_path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared"
TIME_PREFIX = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d ")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return make_home(tmp_path)


@pytest.fixture
def hosts_deny(tmp_path: Path) -> Path:
    path = tmp_path / "hosts.deny"
    path.write_text("# /etc/hosts.deny\nsshd: 10.9.9.9\n")
    return path


def deny_message(hosts_deny: Path, command: str = "add", srcip: str = "192.168.0.223",
                 **data: object) -> dict[str, object]:
    return ar_message(command, program="host-deny", data={"srcip": srcip, **data},
                      extra_args=["--hosts-deny", str(hosts_deny)])


def check_keys_line(name: str, key: str) -> str:
    return ('{"version":1,"origin":{"name":"' + name + '","module":"active-response"},'
            '"command":"check_keys","parameters":{"keys":["' + key + '"]}}')


class TestFlow:
    def test_add_logs_wazuhs_lines_in_wazuhs_order(self, home: Path, hosts_deny: Path) -> None:
        """S1 and S9: Starting; input + blank line; check_keys; reply + blank line; Ended."""
        message = deny_message(hosts_deny)
        run = execd_run(home, "host-deny", message)
        assert run.returncode == 0
        assert run.check_keys == check_keys_line("host-deny", "192.168.0.223")
        assert messages_of(home, "host-deny") == [
            "Starting", line_of(message), "", run.check_keys,
            with_command(message, "continue"), "", "Ended",
        ]
        for line in log_lines(home):
            assert line == "" or DECODER_PREMATCH.match(line), line
        assert "ALL:192.168.0.223\n" in hosts_deny.read_text()

    def test_delete_has_no_handshake(self, home: Path, hosts_deny: Path) -> None:
        """S2: Starting; the delete JSON + blank line; Ended; nothing on stdout."""
        hosts_deny.write_text("ALL:192.168.0.223\n")
        message = deny_message(hosts_deny, "delete")
        run = execd_run(home, "host-deny", message)
        assert (run.returncode, run.check_keys) == (0, None)
        assert messages_of(home, "host-deny") == ["Starting", line_of(message), "", "Ended"]
        assert hosts_deny.read_text() == ""

    def test_abort_ends_with_zero_and_changes_nothing(self, home: Path, hosts_deny: Path) -> None:
        before = hosts_deny.read_text()
        run = execd_run(home, "host-deny", deny_message(hosts_deny), reply="abort")
        assert run.returncode == 0
        assert messages_of(home, "host-deny")[-2:] == ["", "Aborted"]
        assert hosts_deny.read_text() == before

    @pytest.mark.parametrize(("reply", "logged"), [
        ("foo", "Invalid value of 'command'"),
        ("add", "Invalid value of 'command'"),
    ])
    def test_any_other_reply_ends_with_255(self, home: Path, hosts_deny: Path, reply: str,
                                           logged: str) -> None:
        before = hosts_deny.read_text()
        run = execd_run(home, "host-deny", deny_message(hosts_deny), reply=reply)
        assert run.returncode == 255
        assert messages_of(home, "host-deny")[-1] == logged
        assert hosts_deny.read_text() == before

    def test_a_reply_that_is_not_a_message(self, home: Path, hosts_deny: Path) -> None:
        process = subprocess.run(
            ["active-response/bin/host-deny"], cwd=home, capture_output=True, check=False,
            input=(line_of(deny_message(hosts_deny)) + "\nnot json\n").encode(),
        )
        assert process.returncode == 255
        assert messages_of(home, "host-deny")[-3:] == ["not json", "", "Invalid input format"]

    def test_execd_closing_stdin_before_replying(self, home: Path, hosts_deny: Path) -> None:
        run = execd_run(home, "host-deny", deny_message(hosts_deny), reply=None)
        assert run.returncode == 255
        assert messages_of(home, "host-deny")[-1] == "Cannot read input from stdin"

    def test_no_input_at_all(self, home: Path) -> None:
        process = subprocess.run(["active-response/bin/route-null"], cwd=home, input=b"",
                                 capture_output=True, check=False)
        assert process.returncode == 255
        assert messages_of(home, "route-null") == ["Starting", "Cannot read input from stdin"]

    @pytest.mark.parametrize("missing", ["version", "parameters"])
    def test_s7_invalid_input_format(self, home: Path, missing: str) -> None:
        message = ar_message()
        del message[missing]
        run = execd_run(home, "firewall-drop", message)
        assert (run.returncode, run.check_keys) == (255, None)
        assert messages_of(home, "firewall-drop")[-1] == "Invalid input format"

    def test_s8_invalid_command(self, home: Path) -> None:
        run = execd_run(home, "firewall-drop", ar_message("foo"))
        assert (run.returncode, run.check_keys) == (255, None)
        assert messages_of(home, "firewall-drop")[-1] == "Invalid value of 'command'"

    @pytest.mark.parametrize("name", ["firewall-drop", "host-deny", "route-null",
                                      "firewalld-drop"])
    @pytest.mark.parametrize("srcip", ["not-an-ip", "1.2.3.4;id", "$(touch x)", "-1.2.3.4"])
    def test_s4_d1_a_crafted_srcip_never_gets_a_handshake(
        self, home: Path, name: str, srcip: str, hosts_deny: Path,
    ) -> None:
        before = hosts_deny.read_text()
        message = ar_message(program=name, data={"srcip": srcip},
                             extra_args=["--hosts-deny", str(hosts_deny)])
        run = execd_run(home, name, message)
        assert (run.returncode, run.check_keys) == (255, None)
        assert messages_of(home, name)[-1] == (
            "Cannot read 'srcip' from data or invalid IP format")
        assert hosts_deny.read_text() == before
        assert not (home / "x").exists()

    @pytest.mark.parametrize("user", ["root", "-rf", "../x", "a:b", "x" * 300, 7])
    def test_s6_d2_disable_account_refuses_bad_names(self, home: Path, user: object) -> None:
        run = execd_run(home, "disable-account",
                        ar_message(program="disable-account", data={"dstuser": user}))
        assert (run.returncode, run.check_keys) == (255, None)
        assert messages_of(home, "disable-account")[-1] == (
            "Cannot read 'dstuser' from data or invalid username format")

    def test_s5_the_windows_address_is_the_key(self, home: Path, hosts_deny: Path) -> None:
        message = deny_message(hosts_deny, srcip="10.2.2.2",
                               win={"eventdata": {"ipAddress": "10.1.1.1"}})
        run = execd_run(home, "host-deny", message)
        assert run.check_keys == check_keys_line("host-deny", "10.1.1.1")
        assert "ALL:10.1.1.1\n" in hosts_deny.read_text()
        assert "10.2.2.2" not in hosts_deny.read_text()

    def test_bad_extra_args_end_the_run_before_the_handshake(self, home: Path) -> None:
        message = ar_message(extra_args=["--backend", "ipfw"])
        run = execd_run(home, "firewall-drop", message)
        assert (run.returncode, run.check_keys) == (255, None)
        assert messages_of(home, "firewall-drop")[-1] == (
            "Invalid extra_args: option '--backend' must be one of auto, iptables, nft, "
            "not 'ipfw'")

    def test_unknown_extra_args_are_logged_and_ignored(self, home: Path,
                                                       hosts_deny: Path) -> None:
        message = ar_message(program="host-deny", data={"srcip": "10.1.1.1"},
                             extra_args=["--hosts-deny", str(hosts_deny), "-v"])
        assert execd_run(home, "host-deny", message).returncode == 0
        assert "Ignoring extra argument '-v'" in messages_of(home, "host-deny")

    def test_an_absolute_argv0_finds_its_home(self, home: Path, hosts_deny: Path,
                                              tmp_path: Path) -> None:
        """Wazuh cuts argv[0] at /active-response (spec 8.1 step 1), whatever the cwd."""
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        program = str(home / "active-response" / "bin" / "host-deny")
        process = subprocess.Popen([program], cwd=elsewhere, stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE)
        out, _ = process.communicate(
            (line_of(deny_message(hosts_deny)) + "\n"
             + with_command(deny_message(hosts_deny), "continue") + "\n").encode(), timeout=60)
        assert process.returncode == 0 and out
        assert log_lines(home)[0].endswith(f" {program}: Starting")
        assert not (elsewhere / "logs").exists()


class TestManagerReadsTheLog:
    """S10: the ruleset decodes the log (prematch, then JSON) into rules 651-657."""

    RULES: ClassVar[dict[str, tuple[int, int]]] = {
        "firewall-drop": (651, 652), "host-deny": (653, 654), "route-null": (655, 656)}

    def rules_fired(self, home: Path) -> list[int]:
        fired = []
        for line in log_lines(home):
            match = DECODER_PREMATCH.match(line)
            if not match:
                continue
            try:
                decoded = json.loads(line[match.end():])
            except json.JSONDecodeError:
                continue  # "Starting", "Ended": no JSON, only the parent rule 600/650
            if not isinstance(decoded, dict) or decoded.get("command") not in ("add", "delete"):
                continue
            program = decoded["parameters"]["program"].rsplit("/", 1)[-1]
            add, delete = self.RULES.get(program, (657, 657))
            fired.append(add if decoded["command"] == "add" else delete)
        return fired

    def test_an_add_and_its_delete(self, home: Path, hosts_deny: Path) -> None:
        assert execd_run(home, "host-deny", deny_message(hosts_deny)).returncode == 0
        assert execd_run(home, "host-deny", deny_message(hosts_deny, "delete")).returncode == 0
        assert self.rules_fired(home) == [653, 654]


class TestFirewalld:
    """firewalld is not installed here: a recording firewall-cmd stands in for it."""

    @pytest.fixture
    def fake_bin(self, tmp_path: Path) -> Path:
        folder = tmp_path / "fake-bin"
        folder.mkdir()
        fake = folder / "firewall-cmd"
        fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {tmp_path / "calls"}\n')
        fake.chmod(0o755)
        return folder

    @pytest.mark.parametrize(("srcip", "family"), [("192.168.0.223", "ipv4"),
                                                   ("2001:db8::1", "ipv6")])
    def test_rich_rule_added_then_removed(self, home: Path, fake_bin: Path, tmp_path: Path,
                                          srcip: str, family: str) -> None:
        for command in ("add", "delete"):
            message = ar_message(command, program="firewalld-drop", data={"srcip": srcip},
                                 extra_args=["--search-path", str(fake_bin)])
            run = execd_run(home, "firewalld-drop", message)
            assert run.returncode == 0
            assert messages_of(home, "firewalld-drop")[-1] == "Ended"
        rule = f"rule family={family} source address={srcip} drop"
        assert (tmp_path / "calls").read_text() == (
            f"--add-rich-rule {rule}\n--remove-rich-rule {rule}\n")

    def test_without_firewall_cmd_a_clear_line_and_status_0(self, home: Path,
                                                            tmp_path: Path) -> None:
        message = ar_message(program="firewalld-drop",
                             extra_args=["--search-path", str(tmp_path)])
        run = execd_run(home, "firewalld-drop", message)
        assert run.returncode == 0
        assert messages_of(home, "firewalld-drop")[-1] == (
            "The firewall-cmd file 'firewall-cmd' is not accessible: "
            "No such file or directory (2)")


class TestStateless:
    def test_restart_wazuh_runs_wazuh_control_and_sends_no_keys(self, home: Path) -> None:
        calls = home / "calls"
        control = home / "bin" / "wazuh-control"
        control.parent.mkdir()
        control.write_text(f'#!/bin/sh\necho "$PWD $*" >> {calls}\n')
        control.chmod(0o750)
        for command in ("add", "delete"):
            message = ar_message(command, program="restart-wazuh")
            run = execd_run(home, "restart-wazuh", message)
            assert (run.returncode, run.check_keys, run.rest) == (0, None, "")
            assert messages_of(home, "restart-wazuh")[-4:] == [
                "Starting", line_of(message), "", "Ended"]
        assert calls.read_text() == f"{home} restart\n{home} restart\n"

    def test_restart_wazuh_without_wazuh(self, home: Path, tmp_path: Path) -> None:
        message = ar_message(program="restart-wazuh", extra_args=["--search-path", str(tmp_path)])
        run = execd_run(home, "restart-wazuh", message)
        assert (run.returncode, run.check_keys) == (0, None)
        assert messages_of(home, "restart-wazuh")[-2:] == [
            "Wazuh not found; nothing restarted", "Ended"]

    def test_restart_wazuh_reports_a_failing_restart(self, home: Path) -> None:
        control = home / "bin" / "wazuh-control"
        control.parent.mkdir()
        control.write_text("#!/bin/sh\nexit 3\n")
        control.chmod(0o750)
        run = execd_run(home, "restart-wazuh", ar_message(program="restart-wazuh"))
        assert run.returncode == 255
        assert messages_of(home, "restart-wazuh")[-1] == (
            f"Error executing '{control} restart': exit code 3")

    def test_notify_admin_logs_the_rule_on_one_line(self, tmp_path: Path) -> None:
        home = tmp_path / "sample"
        shutil.copytree(REPO / "sample-conf", home)
        forged = ("x\n2026/02/10 04:13:18 active-response/bin/firewall-drop: "
                  '{"command":"add"}')
        message = ar_message(program="notify-admin",
                             rule={"id": "5712", "level": 10, "description": forged})
        run = execd_run(home, "notify-admin", message)
        assert (run.returncode, run.check_keys) == (0, None)
        notes = [m for m in messages_of(home, "notify-admin") if m.startswith("Notify admin")]
        assert notes == ["Notify admin: rule \"5712\" level 10: " + json.dumps(forged)]
        assert all(TIME_PREFIX.match(line) or line == "" for line in log_lines(home))
        assert not any("firewall-drop:" in line[:60] for line in log_lines(home))


class TestLock:
    def hold(self, home: Path, name: str) -> int:
        path = Path(lock_path(home, name))
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd

    def test_a_held_lock_ends_the_run_after_the_wait(self, home: Path,
                                                     hosts_deny: Path) -> None:
        before = hosts_deny.read_text()
        fd = self.hold(home, "host-deny")
        try:
            message = deny_message(hosts_deny)
            message["parameters"]["extra_args"] += ["--lock-wait", "0.3"]  # type: ignore[index]
            run = execd_run(home, "host-deny", message)
        finally:
            os.close(fd)
        assert run.returncode == 255
        assert messages_of(home, "host-deny")[-1] == "Unable to take lock. End."
        assert hosts_deny.read_text() == before

    def test_a_run_waits_for_the_lock_then_acts(self, home: Path, hosts_deny: Path) -> None:
        fd = self.hold(home, "host-deny")
        message = deny_message(hosts_deny)
        process = subprocess.Popen(["active-response/bin/host-deny"], cwd=home,
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            assert process.stdin is not None and process.stdout is not None
            process.stdin.write(line_of(message).encode() + b"\n")
            process.stdin.flush()
            assert process.stdout.readline()
            process.stdin.write(with_command(message, "continue").encode() + b"\n")
            process.stdin.close()
            time.sleep(1.0)
            assert process.poll() is None  # still waiting
            assert "192.168.0.223" not in hosts_deny.read_text()
        finally:
            os.close(fd)
        assert process.wait(timeout=30) == 0
        assert "ALL:192.168.0.223\n" in hosts_deny.read_text()


class TestDemoMode:
    def test_host_deny_records_instead_of_editing(self, tmp_path: Path,
                                                  hosts_deny: Path) -> None:
        home = tmp_path / "sample"
        shutil.copytree(REPO / "sample-conf", home)
        before = hosts_deny.read_text()
        run = execd_run(home, "host-deny", deny_message(hosts_deny))
        assert run.returncode == 0
        assert run.check_keys == check_keys_line("host-deny", "192.168.0.223")
        assert messages_of(home, "host-deny")[-1] == "Ended"
        assert hosts_deny.read_text() == before
        records = [json.loads(line) for line in
                   (home / "logs" / "demo-actions.log").read_text().splitlines()]
        assert [(r["program"], r["edit"], r["add"]) for r in records] == [
            ("active-response/bin/host-deny", str(hosts_deny), "ALL:192.168.0.223")]

    def test_disable_account_records_the_exact_argv(self, tmp_path: Path) -> None:
        home = tmp_path / "sample"
        shutil.copytree(REPO / "sample-conf", home)
        message = ar_message(program="disable-account", data={"dstuser": "nobody-here"})
        assert execd_run(home, "disable-account", message).returncode == 0
        record = json.loads((home / "logs" / "demo-actions.log").read_text())
        passwd = shutil.which("passwd", path="/usr/sbin:/usr/bin:/sbin:/bin")
        assert record["argv"] == [passwd or "passwd", "-l", "--", "nobody-here"]


class TestInstall:
    def test_install_scripts_command(self, tmp_path: Path) -> None:
        home = tmp_path / "h"
        done = subprocess.run([sys.executable, "-m", "arconsole", "install-scripts", str(home)],
                              capture_output=True, text=True, check=True)
        bin_dir = home / "active-response" / "bin"
        assert done.stdout.splitlines() == [str(bin_dir / name) for name in STOCK_SCRIPTS]
        for name, module in STOCK_SCRIPTS.items():
            path = bin_dir / name
            assert path.read_text() == launcher_text(module, sys.executable)
            assert path.stat().st_mode & 0o777 == 0o750
        assert sorted(p.name for p in bin_dir.iterdir()) == sorted(STOCK_SCRIPTS)

        (bin_dir / "host-deny").write_text("#!/bin/sh\n# the operator's own\n")
        again = subprocess.run(
            [sys.executable, "-m", "arconsole", "install-scripts", str(home)],
            capture_output=True, text=True, check=True)
        assert again.stdout == ""
        assert "kept" in again.stderr and "--force" in again.stderr
        assert (bin_dir / "host-deny").read_text() == "#!/bin/sh\n# the operator's own\n"
        forced = subprocess.run(
            [sys.executable, "-m", "arconsole", "install-scripts", str(home), "--force"],
            capture_output=True, text=True, check=True)
        assert len(forced.stdout.splitlines()) == len(STOCK_SCRIPTS)
        assert (bin_dir / "host-deny").read_text() == launcher_text("host_deny", sys.executable)

    def test_a_python_path_a_shebang_cannot_hold(self, tmp_path: Path) -> None:
        from arconsole.scripts.install import install_scripts

        with pytest.raises(ValueError):
            install_scripts(tmp_path, python="/opt/my python/bin/python3")

    def test_sample_conf_holds_the_same_launchers(self) -> None:
        bin_dir = REPO / "sample-conf" / "active-response" / "bin"
        assert sorted(p.name for p in bin_dir.iterdir()) == sorted(SAMPLE_SCRIPTS)
        for name, module in SAMPLE_SCRIPTS.items():
            path = bin_dir / name
            assert path.read_text() == sample_launcher_text(module)
            assert path.stat().st_mode & 0o111 == 0o111, f"{name} is not executable"
        assert (REPO / "sample-conf" / "etc" / "arconsole-demo").is_file()
        assert (REPO / "sample-conf" / "logs" / ".gitkeep").is_file()

    def test_every_executable_of_the_sample_config_is_in_the_sample_home(self) -> None:
        config = REPO / "sample-conf" / "etc" / "ossec.conf"
        if not config.exists():
            pytest.skip("sample-conf/etc/ossec.conf is not written yet")
        executables = set(re.findall(r"<executable>\s*([^<\s]+)\s*</executable>",
                                     config.read_text()))
        assert executables and executables <= set(SAMPLE_SCRIPTS)

    def test_every_linux_executable_of_wazuhs_default_config_is_shipped(self) -> None:
        config = SHARED / "fixtures" / "real" / "ossec-wazuh-4.14-default.conf"
        if not config.exists():
            pytest.skip(f"{config} is absent")
        executables = set(re.findall(r"<executable>([^<]+)</executable>", config.read_text()))
        linux = {name for name in executables if not name.endswith(".exe")}
        assert linux and linux <= set(STOCK_SCRIPTS)

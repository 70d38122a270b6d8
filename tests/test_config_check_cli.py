"""`arconsole check`, run as a real subprocess: text and JSON output, exit statuses."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from test_config_support import REAL, REPO, ar, conf

LINE = re.compile(r"^(?P<path>.+):(?P<line>\d+):(?P<column>\d+): (?P<severity>error|warning|info): "
                  r"(?P<message>.+) \[(?P<code>[A-Z0-9-]+)\]$")


def check(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "arconsole", "check", *map(str, args)],
                          capture_output=True, text=True, timeout=60, cwd=REPO)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ossec.conf"
    path.write_text(text)
    return path


BROKEN = conf(
    ar("<command>firewall-drop</command>", "<location>local</location>", "<level>5</level>",
       "<rules_id>5710;5712</rules_id>"),
    ar("<command>nope</command>", "<location>local</location>", "<level>5</level>"),
    ar("<command>host-deny</command>", "<location>local</location>", "<level>21</level>"),
)


def test_text_output_lines_sorted_summary_and_exit_1(tmp_path: Path) -> None:
    path = write(tmp_path, BROKEN)
    result = check(path)
    assert result.returncode == 1 and result.stderr == ""
    lines = result.stdout.splitlines()
    diagnostics = [LINE.match(line) for line in lines if not line.startswith("    ")][:-1]
    assert all(diagnostics), lines
    found = [(int(m["line"]), m["severity"], m["code"]) for m in diagnostics if m]
    assert found == sorted(found, key=lambda item: item[0])
    assert {(severity, code) for _, severity, code in found} == {
        ("warning", "AR-RULES-ID"), ("info", "AR-OR"), ("error", "1303"), ("error", "1235")}
    assert all(m["path"] == str(path) for m in diagnostics if m)
    assert any(line.startswith("    hint: ") for line in lines)
    assert lines[-1] == "2 errors, 1 warning, 1 info (judged as wazuh, role manager detected)"


def test_clean_file_exits_0_and_says_how_it_judged(tmp_path: Path) -> None:
    path = write(tmp_path, conf(ar("<disabled>no</disabled>"), stock=False))
    result = check(path, "--role", "agent", "--flavour", "ossec")
    assert result.returncode == 0
    assert result.stdout == "0 errors, 0 warnings (judged as ossec, role agent --role)\n"


def test_warnings_alone_exit_0(tmp_path: Path) -> None:
    path = write(tmp_path, conf(ar("<command>firewall-drop</command>",
                                   "<location>localhost</location>", "<level>5</level>")))
    result = check(path)
    assert result.returncode == 0 and "[AR-LOCATION-WORD]" in result.stdout


def test_json_output(tmp_path: Path) -> None:
    path = write(tmp_path, BROKEN)
    result = check(path, "--format", "json")
    assert result.returncode == 1
    document = json.loads(result.stdout)
    assert document["config"] == str(path) and document["flavour"] == "wazuh"
    assert document["role"] == "manager"
    assert (document["errors"], document["warnings"], document["infos"]) == (2, 1, 1)
    first = document["diagnostics"][0]
    assert set(first) == {"severity", "code", "line", "column", "message", "hint"}
    assert [d["code"] for d in document["diagnostics"]] == ["AR-RULES-ID", "AR-OR", "1303",
                                                            "1235"]


def test_unreadable_file_exits_2_without_a_traceback(tmp_path: Path) -> None:
    result = check(tmp_path / "missing.conf")
    assert result.returncode == 2 and result.stderr == ""
    assert result.stdout.startswith(f"{tmp_path / 'missing.conf'}: error: cannot read the file")
    as_json = check(tmp_path, "--format", "json")
    assert as_json.returncode == 2 and "error" in json.loads(as_json.stdout)


def test_garbage_is_diagnosed_not_crashed_on(tmp_path: Path) -> None:
    path = tmp_path / "ossec.conf"
    path.write_bytes(b"\x00\xff<ossec_config><<</ossec_config>\xfe")
    result = check(path)
    assert result.returncode == 1 and "Traceback" not in result.stdout + result.stderr


@pytest.mark.skipif(not (REAL / "ossec-hids-3.7.0.conf").exists(), reason="fixtures absent")
def test_ossec_stock_file_checks_with_the_comment_warning() -> None:
    result = check(REAL / "ossec-hids-3.7.0.conf", "--flavour", "ossec")
    assert result.returncode == 0
    assert result.stdout.splitlines()[0].startswith(f"{REAL / 'ossec-hids-3.7.0.conf'}:40:46: "
                                                    "warning: ")

"""`arconsole-reverse` run by a real Wazuh 4.14.7 agent execd (`start-execd`, empty ar.conf):
the ad-hoc `!arconsole-reverse` reaches it, it runs the program's delete for the key, and it
refuses programs and keys outside its strict patterns."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from arconsole.engine.agent_messages import adhoc_json, reverse_json
from tests.fleet_support import shared

TOOL = shared("tools", "wazuh-4.14.7")
pytestmark = [
    pytest.mark.skipif(not (TOOL / "start-execd").exists(), reason="Wazuh tools absent"),
    pytest.mark.skipif(os.geteuid() != 0, reason="start-execd needs root"),
]

# Stands in for firewall-drop: records the message it got (one line), as the stock one reads it.
FAKE_PROGRAM = """#!/bin/sh
IFS= read -r line
printf '%s\\n' "$line" >> "$(pwd)/program-calls.log"
"""


@pytest.fixture
def execd(tmp_path: Path) -> Iterator[Path]:
    home = tmp_path / "agent"
    home.mkdir()  # an installed agent's home exists: install-scripts --agent refuses a missing one
    repo = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-m", "arconsole", "install-scripts", "--agent", str(home)],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(repo)},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    script = home / "active-response" / "bin" / "arconsole-reverse"
    assert result.stdout.strip() == str(script)
    program = home / "active-response" / "bin" / "firewall-drop"
    program.write_text(FAKE_PROGRAM)
    program.chmod(0o755)
    pid = int(subprocess.run([str(TOOL / "start-execd"), str(home)], capture_output=True,
                             text=True, check=True).stdout.split()[-1])
    try:
        yield home
    finally:
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)


def send(home: Path, message: bytes) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.connect(str(home / "queue" / "alerts" / "execq"))
    sock.send(message + b"\0")
    sock.close()


def wait_lines(path: Path, count: int, timeout: float = 10.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            lines = [line for line in path.read_text().splitlines() if line]
            if len(lines) >= count:
                return lines
        time.sleep(0.05)
    raise AssertionError(f"{path}: fewer than {count} lines")


def test_real_execd_runs_arconsole_reverse_which_runs_the_delete(execd: Path) -> None:
    send(execd, reverse_json(node_name="node01", program="firewall-drop", key="203.0.113.9"))
    calls = wait_lines(execd / "program-calls.log", 1)
    assert json.loads(calls[0]) == {
        "version": 1, "origin": {"name": "arconsole-reverse", "module": "arconsole"},
        "command": "delete",
        "parameters": {"extra_args": [], "alert": {"data": {"srcip": "203.0.113.9"}},
                       "program": "active-response/bin/firewall-drop"},
    }
    # Its own log line is in the format the manager's ar_log_json decoder reads back (8.6):
    # execd rewrote the command to add and appended the program.
    log = wait_lines(execd / "logs" / "active-responses.log", 2)
    first = log[0]
    assert " active-response/bin/arconsole-reverse: {" in first
    logged = json.loads(first.split(": ", 1)[1])
    assert logged["command"] == "add"
    assert logged["parameters"]["extra_args"] == ["firewall-drop", "203.0.113.9"]
    assert logged["parameters"]["program"] == "active-response/bin/arconsole-reverse"
    assert "Ended: active-response/bin/firewall-drop delete 203.0.113.9 (exit 0)" in log[-1]


@pytest.mark.parametrize(("program", "key"), [
    ("firewall-drop", "203.0.113.9;touch pwned"),
    ("firewall-drop", "$(touch pwned)"),
    ("firewall-drop", "-rf"),
    ("../../../bin/sh", "203.0.113.9"),
    ("arconsole-reverse", "203.0.113.9"),
    ("missing-program", "203.0.113.9"),
    ("firewall-drop", "203.0.113.9\\\"x"),
])
def test_bad_program_or_key_is_refused(execd: Path, program: str, key: str) -> None:
    send(execd, adhoc_json(node_name="node01", executable="arconsole-reverse",
                           extra_args=(program, key), alert_raw=b'{"data":{}}'))
    log = wait_lines(execd / "logs" / "active-responses.log", 2)
    assert any("Invalid" in line or "No such program" in line for line in log[1:])
    assert not (execd / "program-calls.log").exists()
    assert not (execd / "pwned").exists()

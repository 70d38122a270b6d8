"""Helpers for the tests of the shipped response scripts (no tests here).

`execd_run` drives a script the way wazuh-execd does (spec 7.3): argv[0] the relative
`active-response/bin/<name>`, the home as working directory, one JSON line on stdin, and the
check_keys reply. Run as a program, this file is the driver that tests start inside a network
namespace of their own (`unshare -n`): it brings loopback up and runs a list of steps there, so
firewall rules and routes never touch the host.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# The ruleset's ar_log_json prematch (spec 8.6), as a Python regex.
DECODER_PREMATCH = re.compile(r"^\d\d\d\d/\d\d/\d\d \d\d:\d\d:\d\d active-response/bin/\S+: ")
RUN_TIMEOUT = 60.0


def ar_message(
    command: str = "add", *, data: dict[str, Any] | None = None, program: str = "firewall-drop",
    extra_args: list[str] | None = None, rule: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The message execd writes to a script (spec 8.4), with an alert carrying `data`."""
    alert = {
        "timestamp": "2026-02-10T04:13:18.000+0000",
        "rule": rule or {"level": 10, "description": "sshd: brute force", "id": "5712"},
        "agent": {"id": "000", "name": "node01"},
        "id": "1770696798.12345",
        "data": data if data is not None else {"srcip": "192.168.0.223"},
    }
    return {
        "version": 1, "origin": {"name": "node01", "module": "wazuh-execd"}, "command": command,
        "parameters": {"extra_args": extra_args or [], "alert": alert,
                       "program": f"active-response/bin/{program}"},
    }


def line_of(message: dict[str, Any] | str) -> str:
    if isinstance(message, str):
        return message
    return json.dumps(message, separators=(",", ":"))


def with_command(message: dict[str, Any] | str, command: str) -> str:
    """execd's reply: the same full message with another command (spec 7.3 step 12)."""
    body = json.loads(line_of(message))
    body["command"] = command
    return line_of(body)


@dataclass
class ExecdRun:
    returncode: int
    check_keys: str | None  # the script's first stdout line, None at end of file
    rest: str  # anything printed after it (stateless scripts print nothing)


def execd_run(home: Path | str, name: str, message: dict[str, Any] | str, *,
              reply: str | None = "continue", argv0: str | None = None) -> ExecdRun:
    """Run HOME/active-response/bin/NAME as execd does; answer check_keys with `reply`
    (the same message with that command), or close stdin without answering when None."""
    process = subprocess.Popen(
        [argv0 or f"active-response/bin/{name}"], cwd=home, stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    watchdog = threading.Timer(RUN_TIMEOUT, process.kill)
    watchdog.start()
    try:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(line_of(message).encode() + b"\n")
        process.stdin.flush()
        first = process.stdout.readline()
        if first and reply is not None:
            process.stdin.write(with_command(message, reply).encode() + b"\n")
        process.stdin.close()
        rest = process.stdout.read()
        returncode = process.wait()
    finally:
        watchdog.cancel()
    check_keys = first.decode().rstrip("\n") if first else None
    return ExecdRun(returncode, check_keys, rest.decode())


def execd_parallel(home: Path | str, name: str, messages: list[str],
                   reply: str = "continue") -> list[int]:
    """Start one run per message at once, answer every check_keys, return the exit codes."""
    processes = [
        subprocess.Popen([f"active-response/bin/{name}"], cwd=home, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        for _ in messages
    ]
    for process, message in zip(processes, messages, strict=True):
        assert process.stdin is not None
        process.stdin.write(message.encode() + b"\n")
        process.stdin.flush()
    for process, message in zip(processes, messages, strict=True):
        assert process.stdin is not None and process.stdout is not None
        if process.stdout.readline():
            process.stdin.write(with_command(message, reply).encode() + b"\n")
        process.stdin.close()
    return [process.wait(timeout=RUN_TIMEOUT) for process in processes]


def log_lines(home: Path) -> list[str]:
    path = home / "logs" / "active-responses.log"
    return path.read_text().split("\n")[:-1] if path.exists() else []


def messages_of(home: Path, name: str) -> list[str]:
    """The message part of each log line of `name` (empty lines kept as "")."""
    prefix = re.compile(rf"^\d{{4}}/\d\d/\d\d \d\d:\d\d:\d\d active-response/bin/{name}: ")
    out = []
    for line in log_lines(home):
        match = prefix.match(line)
        out.append(line[match.end():] if match else line)
    return out


def make_home(tmp_path: Path) -> Path:
    from arconsole.scripts.install import install_scripts

    home = tmp_path / "home"
    install_scripts(home)
    return home


# --- Network namespaces -------------------------------------------------------------------------


def netns_unavailable() -> str | None:
    """Why this machine cannot run a test in a namespace of its own, or None."""
    if os.geteuid() != 0:
        return "needs root to make a network namespace"
    if shutil.which("unshare") is None:
        return "unshare (util-linux) is not installed"
    if shutil.which("ip") is None:
        return "ip (iproute2) is not installed"
    probe = subprocess.run(["unshare", "-n", "--", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        return f"cannot make a network namespace: {probe.stderr.decode().strip()}"
    return None


def require_netns(*tools: str) -> None:
    reason = netns_unavailable()
    if reason:
        pytest.skip(reason)
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")


def in_netns(steps: list[dict[str, Any]]) -> list[Any]:
    """Run `steps` (see `_step`) inside a new network namespace; their results in order."""
    completed = subprocess.run(
        ["unshare", "-n", "--", sys.executable, __file__, json.dumps(steps)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert completed.returncode == 0, completed.stderr
    results: list[Any] = json.loads(completed.stdout)
    return results


class _Driver:
    def __init__(self) -> None:
        self.listeners: dict[str, socket.socket] = {}

    def step(self, step: dict[str, Any]) -> Any:
        op = step["op"]
        if op == "listen":  # a TCP listener on `host`; its backlog answers the probes
            family = socket.AF_INET6 if ":" in step["host"] else socket.AF_INET
            listener = socket.socket(family)
            listener.bind((step["host"], 0))
            listener.listen(128)
            self.listeners[step["host"]] = listener
            return listener.getsockname()[1]
        if op == "probe":  # can `source` open a TCP connection to the listener on `target`?
            target = step["target"]
            probe = socket.socket(socket.AF_INET6 if ":" in target else socket.AF_INET)
            probe.settimeout(step.get("timeout", 0.5))
            try:
                probe.bind((step["source"], 0))
                probe.connect((target, self.listeners[target].getsockname()[1]))
                return True
            except OSError:
                return False
            finally:
                probe.close()
        if op == "script":
            run = execd_run(step["home"], step["name"], step["line"], reply=step.get("reply"))
            return {"returncode": run.returncode, "check_keys": run.check_keys}
        if op == "parallel":
            return execd_parallel(step["home"], step["name"], step["lines"])
        if op == "cmd":
            done = subprocess.run(step["argv"], capture_output=True, text=True, check=False)
            return {"returncode": done.returncode, "stdout": done.stdout}
        raise ValueError(f"unknown step {op!r}")


def _main() -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    driver = _Driver()
    print(json.dumps([driver.step(step) for step in json.loads(sys.argv[1])]))


if __name__ == "__main__":
    _main()

"""Real homes for engine tests: an ossec.conf, recording scripts, an alerts file, a state file.

The recording script speaks execd's JSON protocol like Wazuh's stock scripts do: it reads the
message, answers `check_keys` with the alert's srcip (add only), reads the reply, and appends
everything it saw to HOME/record.jsonl so tests assert on what really crossed the pipes.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from arconsole.engine.clock import ManualClock
from arconsole.engine.engine import Engine
from arconsole.engine.options import EngineOptions, Mode

RECORDER = """#!{python}
import json, os, sys
home = os.getcwd()
first = sys.stdin.readline()
entry = {{"argv": sys.argv, "cwd": home, "stdin": first, "pid": os.getpid()}}
mode = {mode!r}
try:
    message = json.loads(first)
except ValueError:
    message = {{}}
if message.get("command") == "add" and mode != "silent":
    if mode == "hello":
        sys.stdout.write("hello\\n")
    else:
        srcip = message["parameters"]["alert"].get("data", {{}}).get("srcip")
        keys = [srcip] if srcip else []
        sys.stdout.write(json.dumps({{"version": 1, "origin": {{"name": "rec", "module":
            "active-response"}}, "command": "check_keys", "parameters": {{"keys": keys}}}}) + "\\n")
    sys.stdout.flush()
    entry["reply"] = sys.stdin.readline()
    if mode == "hang-after":
        import time
        time.sleep(60)
with open(os.path.join(home, "record.jsonl"), "a") as out:
    out.write(json.dumps(entry) + "\\n")
sys.stderr.write("recorder stderr\\n")
sys.exit({exit_code})
"""

ARGV_RECORDER = """#!{python}
import json, os, sys
with open(os.path.join({home!r}, "record.jsonl"), "a") as out:
    out.write(json.dumps({{"argv": sys.argv, "stdin_is_tty": False}}) + "\\n")
"""

HANG = """#!/bin/sh
sleep 60
"""

BASE_CONF = """<ossec_config>
  <global>
    <white_list>127.0.0.1</white_list>
    <white_list>10.0.0.0/8</white_list>
  </global>
  <cluster><node_name>node01</node_name></cluster>
{commands}
{responses}
</ossec_config>
"""


def command(name: str, executable: str | None = None, timeout_allowed: bool = True,
            extra: str = "") -> str:
    return (
        f"  <command><name>{name}</name><executable>{executable or name}</executable>"
        f"<timeout_allowed>{'yes' if timeout_allowed else 'no'}</timeout_allowed>{extra}"
        "</command>"
    )


def response(command_name: str, *, location: str = "local", level: int | None = None,
             rules_id: str | None = None, timeout: int | None = None, extra: str = "") -> str:
    parts = [f"<command>{command_name}</command>", f"<location>{location}</location>"]
    if level is not None:
        parts.append(f"<level>{level}</level>")
    if rules_id is not None:
        parts.append(f"<rules_id>{rules_id}</rules_id>")
    if timeout is not None:
        parts.append(f"<timeout>{timeout}</timeout>")
    return "  <active-response>" + "".join(parts) + extra + "</active-response>"


def make_home(tmp: Path, commands: list[str], responses: list[str],
              scripts: dict[str, str] | None = None) -> Path:
    home = tmp / "ossec"
    (home / "etc").mkdir(parents=True)
    (home / "active-response" / "bin").mkdir(parents=True)
    (home / "logs" / "alerts").mkdir(parents=True)
    (home / "etc" / "ossec.conf").write_text(
        BASE_CONF.format(commands="\n".join(commands), responses="\n".join(responses))
    )
    for name, body in (scripts or {}).items():
        write_script(home, name, body)
    (home / "logs" / "alerts" / "alerts.json").touch()
    return home


def write_script(home: Path, name: str, body: str) -> Path:
    path = home / "active-response" / "bin" / name
    path.write_text(body)
    path.chmod(0o755)
    return path


def recorder(mode: str = "keys", exit_code: int = 0) -> str:
    return RECORDER.format(python=sys.executable, mode=mode, exit_code=exit_code)


def alert_line(alert_id: str, *, rule_id: str = "5712", level: int = 10,
               srcip: str | None = "203.0.113.7", dstuser: str | None = None,
               agent_id: str | None = "000", groups: list[str] | None = None,
               timestamp: str = "2026-11-23T10:00:00.000+0000") -> bytes:
    alert: dict[str, Any] = {
        "timestamp": timestamp,
        "rule": {"level": level, "description": "sshd: brute force", "id": rule_id,
                 "groups": groups or ["syslog", "sshd", "authentication_failures"]},
        "id": alert_id,
    }
    if agent_id is not None:
        alert["agent"] = {"id": agent_id, "name": "manager" if agent_id == "000" else "web-01"}
    data: dict[str, str] = {}
    if srcip is not None:
        data["srcip"] = srcip
    if dstuser is not None:
        data["dstuser"] = dstuser
    if data:
        alert["data"] = data
    alert["location"] = "/var/log/secure"
    return json.dumps(alert, separators=(",", ":")).encode()


def records(home: Path) -> list[dict[str, Any]]:
    path = home / "record.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def options(home: Path, **changes: Any) -> EngineOptions:
    base = dict(
        config_path=home / "etc" / "ossec.conf", home=home,
        alerts_path=home / "logs" / "alerts" / "alerts.json",
        state_path=home / "var" / "arconsole" / "state.db", watch_config=False,
        control_socket=False, time_limit=10.0, mode=Mode.ENFORCE,
    )
    base.update(changes)
    return EngineOptions(**base)  # type: ignore[arg-type]


def new_engine(home: Path, clock: ManualClock | None = None, **changes: Any) -> Engine:
    return Engine(options(home, **changes), clock=clock)


# What the `engine_on` fixture (tests/conftest.py) gives a test: start an engine on a home.
EngineStarter = Callable[..., Awaitable[Engine]]

# The injected clock's start: a fixed moment, so expiry instants are exact numbers in tests.
T0 = 1_700_000_000.0


async def started(home: Path, clock: ManualClock | None = None, **changes: Any) -> Engine:
    """A started engine on `home` (no following: tests hand it lines), clock at T0 by default."""
    engine = new_engine(home, clock or ManualClock(T0), **changes)
    await engine.start(follow=False)
    return engine


def commands_seen(home: Path) -> list[str]:
    """The `command` of every message the recorder script received, in order."""
    return [json.loads(r["stdin"])["command"] for r in records(home)]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll until `predicate()` holds (real time: scripts and timers run for real)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)

"""The stock scripts run by arconsole's own engine, inside a network namespace.

`arconsole run` starts inside a namespace of its own (`unshare -n`), with a home made by
`install_scripts` and an ossec.conf that binds the script to rule 5712 with a 2 s timeout. An
alert for 127.0.0.2 appended to alerts.json must put the block in force (seen from inside the
engine's namespace with `nsenter`), and the engine's delete must lift it after the timeout.
"""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from test_scripts_helpers import messages_of, require_netns

from arconsole.scripts.install import SAMPLE_SCRIPTS, install_scripts, launcher_text

pytestmark = pytest.mark.netns
HELPERS = Path(__file__).with_name("test_scripts_helpers.py")
SRCIP = "127.0.0.2"


def ossec_conf(executable: str, extra_args: str = "") -> str:
    extra = f"\n    <extra_args>{extra_args}</extra_args>" if extra_args else ""
    return f"""<ossec_config>
  <command>
    <name>{executable}</name>
    <executable>{executable}</executable>
    <timeout_allowed>yes</timeout_allowed>{extra}
  </command>
  <active-response>
    <command>{executable}</command>
    <location>local</location>
    <rules_id>5712</rules_id>
    <timeout>2</timeout>
  </active-response>
</ossec_config>
"""


def alert_line(srcip: str) -> str:
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime())
    return json.dumps({
        "timestamp": now,
        "rule": {"level": 10, "description": "sshd: brute force trying to get access to the "
                 "system. Authentication failed.", "id": "5712", "firedtimes": 1,
                 "groups": ["syslog", "sshd", "authentication_failures"]},
        "agent": {"id": "000", "name": "node01"}, "manager": {"name": "node01"},
        "id": f"{int(time.time())}.4242", "full_log": f"sshd: failed password from {srcip}",
        "decoder": {"parent": "sshd", "name": "sshd"},
        "data": {"srcip": srcip, "srcport": "40000", "dstuser": "root"},
        "location": "/var/log/auth.log",
    }, separators=(",", ":"))


def in_namespace_of(pid: int, steps: list[dict[str, Any]]) -> list[Any]:
    completed = subprocess.run(
        ["nsenter", f"--net=/proc/{pid}/ns/net", "--", sys.executable, str(HELPERS),
         json.dumps(steps)], capture_output=True, text=True, timeout=60, check=False)
    assert completed.returncode == 0, completed.stderr
    results: list[Any] = json.loads(completed.stdout)
    return results


def connection_dropped(pid: int) -> bool:
    _, connected = in_namespace_of(pid, [
        {"op": "listen", "host": "127.0.0.1"},
        {"op": "probe", "source": SRCIP, "target": "127.0.0.1"},
    ])
    return not connected


def blackhole_routed(pid: int) -> bool:
    (listing,) = in_namespace_of(pid, [{"op": "cmd", "argv": ["ip", "route", "show"]}])
    return f"blackhole {SRCIP}" in listing["stdout"]


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen within {timeout}s")


def _drain(engine: subprocess.Popen[str], output: queue.Queue[str | None]) -> None:
    """Read the engine's stderr for the whole run, so that it never blocks on a full pipe."""
    assert engine.stderr is not None
    for line in engine.stderr:
        output.put(line)
    output.put(None)


def _wait_for_start(output: queue.Queue[str | None], timeout: float = 30) -> str | None:
    """None once the engine says it started; what it wrote when it ends or hangs instead."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = output.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            break
        if "engine started" in line:
            return None
        seen.append(line)
    return "".join(seen) or "(nothing)"


@contextmanager
def running_engine(home: Path, alerts: Path) -> Iterator[int]:
    """The pid of `arconsole run` for HOME, started in a network namespace of its own."""
    engine = subprocess.Popen(
        ["unshare", "-n", "--", sys.executable, "-m", "arconsole", "run",
         str(home / "etc" / "ossec.conf"), "--home", str(home), "--alerts", str(alerts),
         "--state", str(home / "var" / "arconsole" / "state.db")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=home.parent,
    )
    output: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_drain, args=(engine, output), daemon=True).start()
    try:
        seen = _wait_for_start(output)
        assert seen is None, f"the engine did not start:\n{seen}"
        yield engine.pid
    finally:
        engine.terminate()
        try:
            engine.wait(timeout=15)
        except subprocess.TimeoutExpired:
            engine.kill()
            engine.wait()


@contextmanager
def engine_in_namespace(tmp_path: Path, config: str) -> Iterator[tuple[Path, int, Path]]:
    """(home, engine pid, alerts file) for a fresh home holding the stock scripts."""
    home = tmp_path / "home"
    install_scripts(home)
    (home / "etc").mkdir()
    (home / "etc" / "ossec.conf").write_text(config)
    alerts = home / "logs" / "alerts" / "alerts.json"
    alerts.parent.mkdir(parents=True)
    alerts.write_text("")
    with running_engine(home, alerts) as pid:
        yield home, pid, alerts


def fire(alerts: Path) -> None:
    with alerts.open("a") as handle:
        handle.write(alert_line(SRCIP) + "\n")


def assert_logged_one_block(home: Path, name: str) -> None:
    """The script's log: an add with its handshake, then the engine's delete."""
    logged = messages_of(home, name)
    assert logged.count("Starting") == 2 and logged.count("Ended") == 2, logged
    commands = [json.loads(m)["command"] for m in logged
                if m.startswith("{") and '"module":"active-response"' not in m]
    assert commands == ["add", "continue", "delete"]


def test_firewall_drop_blocks_then_the_engine_lifts_the_block(tmp_path: Path) -> None:
    require_netns("iptables", "nsenter")
    with engine_in_namespace(tmp_path, ossec_conf("firewall-drop")) as (home, pid, alerts):
        assert not connection_dropped(pid), "blocked before any alert"
        fire(alerts)
        wait_for(lambda: connection_dropped(pid), 15, "the block")
        wait_for(lambda: not connection_dropped(pid), 20, "the end of the block")
    assert_logged_one_block(home, "firewall-drop")


def test_route_null_through_the_engine(tmp_path: Path) -> None:
    require_netns("nsenter")
    with engine_in_namespace(tmp_path, ossec_conf("route-null")) as (home, pid, alerts):
        assert not blackhole_routed(pid)
        fire(alerts)
        wait_for(lambda: blackhole_routed(pid), 15, "the blackhole route")
        wait_for(lambda: not blackhole_routed(pid), 20, "the removal of the route")
    assert_logged_one_block(home, "route-null")


def test_host_deny_through_the_engine_with_extra_args(tmp_path: Path) -> None:
    require_netns("nsenter")
    hosts_deny = tmp_path / "hosts.deny"
    hosts_deny.write_text("sshd: 10.9.9.9\n")
    config = ossec_conf("host-deny", f"--hosts-deny {hosts_deny}")
    with engine_in_namespace(tmp_path, config) as (home, _, alerts):
        fire(alerts)
        wait_for(lambda: f"ALL:{SRCIP}\n" in hosts_deny.read_text(), 15, "the hosts.deny line")
        wait_for(lambda: SRCIP not in hosts_deny.read_text(), 20, "the removal of the line")
    assert hosts_deny.read_text() == "sshd: 10.9.9.9\n"
    assert_logged_one_block(home, "host-deny")


def test_the_sample_home_runs_its_real_scripts_in_demo_mode(tmp_path: Path) -> None:
    """sample-conf holds the real scripts and its ossec.conf blocks on rule 5712, yet the
    firewall of the engine's namespace stays empty: the demo marker records instead."""
    require_netns("iptables", "nsenter")
    home = tmp_path / "sample"
    shutil.copytree(Path(__file__).resolve().parents[1] / "sample-conf", home)
    # The engine runs scripts with a fixed PATH, where `env python3` may be a Python without
    # arconsole: point the launchers at this one, as `arconsole demo` does.
    for name, module in SAMPLE_SCRIPTS.items():
        (home / "active-response" / "bin" / name).write_text(launcher_text(module, sys.executable))
    (home / "logs" / "alerts").mkdir(parents=True, exist_ok=True)
    alerts = home / "logs" / "alerts" / "alerts.json"
    alerts.write_text("")
    with running_engine(home, alerts) as pid:
        fire(alerts)
        demo_log = home / "logs" / "demo-actions.log"
        wait_for(lambda: demo_log.exists() and "firewall-drop" in demo_log.read_text(), 15,
                 "the demo record")
        (rules,) = in_namespace_of(pid, [{"op": "cmd", "argv": ["iptables", "-S"]}])
    assert "-A " not in rules["stdout"]
    argvs = [json.loads(line)["argv"] for line in demo_log.read_text().splitlines()
             if '"argv"' in line]
    assert [a[1:] for a in argvs if a[0].endswith("iptables")][:2] == [
        ["-I", chain, "-s", SRCIP, "-j", "DROP"] for chain in ("INPUT", "FORWARD")]
    assert "Ended" in messages_of(home, "firewall-drop")

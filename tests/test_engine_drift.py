"""Drift, proven in a network namespace: a real `arconsole run --verify-interval 0.5` with the
stock firewall-drop (iptables) and route-null; the rule is removed behind the engine's back
(`iptables -F`, `ip route del`), and the engine re-applies it once, logs `drift repaired`, and
still reverses the block at its time.
"""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from test_scripts_engine import SRCIP, alert_line, blackhole_routed, connection_dropped, ossec_conf
from test_scripts_helpers import require_netns

from arconsole.scripts.install import install_scripts
from tests.test_scripts_engine import in_namespace_of

pytestmark = pytest.mark.netns


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout}s")
        time.sleep(0.1)


@contextmanager
def engine_verifying(tmp_path: Path, executable: str) -> Iterator[tuple[int, list[str]]]:
    """(engine pid, its log lines so far) for a home with the stock scripts, in a netns."""
    home = tmp_path / "home"
    install_scripts(home)
    (home / "etc").mkdir()
    # Ten seconds: long enough to remove the rule and see it repaired before the delete.
    (home / "etc" / "ossec.conf").write_text(
        ossec_conf(executable).replace("<timeout>2</timeout>", "<timeout>10</timeout>"))
    alerts = home / "logs" / "alerts" / "alerts.json"
    alerts.parent.mkdir(parents=True)
    alerts.write_text("")
    engine = subprocess.Popen(
        ["unshare", "-n", "--", sys.executable, "-m", "arconsole", "run",
         str(home / "etc" / "ossec.conf"), "--home", str(home), "--alerts", str(alerts),
         "--state", str(home / "var" / "arconsole" / "state.db"), "--verify-interval", "0.5"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=home.parent,
    )
    lines: list[str] = []
    output: queue.Queue[None] = queue.Queue()

    def drain() -> None:
        assert engine.stderr is not None
        for line in engine.stderr:
            lines.append(line)
        output.put(None)

    threading.Thread(target=drain, daemon=True).start()
    try:
        wait_for(lambda: any("engine started" in line for line in lines), 30, "the start")
        with alerts.open("a") as handle:
            handle.write(alert_line(SRCIP) + "\n")
        yield engine.pid, lines
    finally:
        engine.terminate()
        engine.wait(timeout=30)


def repaired(lines: list[str]) -> int:
    return sum("drift repaired" in line for line in lines)


def test_a_flushed_iptables_rule_is_re_applied_once(tmp_path: Path) -> None:
    require_netns("iptables", "nsenter")
    with engine_verifying(tmp_path, "firewall-drop") as (pid, lines):
        wait_for(lambda: connection_dropped(pid), 15, "the block")
        time.sleep(1.2)  # checks ran and found it in force: nothing repaired
        assert repaired(lines) == 0
        (flushed,) = in_namespace_of(pid, [{"op": "cmd", "argv": ["iptables", "-F"]}])
        assert flushed["returncode"] == 0  # gone behind the engine's back (the next check
        wait_for(lambda: repaired(lines) == 1, 10, "the repair")  # may come before a probe)
        assert connection_dropped(pid)  # in force again
        time.sleep(1.5)
        assert repaired(lines) == 1  # once: it holds now
        wait_for(lambda: not connection_dropped(pid), 20, "the end of the block")
    assert any("block reversed" in line for line in lines)


def test_a_removed_blackhole_route_is_re_applied(tmp_path: Path) -> None:
    require_netns("nsenter")
    with engine_verifying(tmp_path, "route-null") as (pid, lines):
        wait_for(lambda: blackhole_routed(pid), 15, "the route")
        in_namespace_of(pid, [{"op": "cmd", "argv": ["ip", "route", "del", "blackhole", SRCIP]}])
        wait_for(lambda: repaired(lines) == 1, 10, "the repair")
        assert blackhole_routed(pid)

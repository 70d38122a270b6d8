"""What the real-Wazuh lab tests share (tests/test_fleet_lab*.py): the skip marks, starting and
stopping a lab (`start-lab --analysisd`: a real 4.14.7 manager and agent on 127.0.0.1), the
agent's stand-in firewall-drop, an arconsole engine on the lab's manager home, and the sshd
line that becomes a real rule-5710 alert.

The lab needs root and the tools in ../shared; tests skip, never fail, without them. Never run
two lab modules at once on one machine (see the brief): each module starts one lab of its own.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import pytest

from arconsole.engine.engine import Engine
from arconsole.engine.options import EngineOptions, Mode
from tests.fleet_support import shared

TOOL = shared("tools", "wazuh-4.14.7")
LAB_MARKS = [
    pytest.mark.skipif(not (TOOL / "start-lab").exists(), reason="Wazuh tools absent"),
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
]

# The manager's own config binds no response: Wazuh would deliver it too (double delivery).
MANAGER_CONF = """<ossec_config>
  <command><name>firewall-drop</name><executable>firewall-drop</executable>
    <timeout_allowed>yes</timeout_allowed></command>
</ossec_config>
"""

ARCONSOLE_CONF_TEMPLATE = """<ossec_config>
  <cluster><node_name>node01</node_name></cluster>
  <command><name>firewall-drop</name><executable>firewall-drop</executable>
    <timeout_allowed>yes</timeout_allowed></command>
  <active-response><command>firewall-drop</command><location>local</location>
    <rules_id>5710</rules_id><timeout>{timeout}</timeout></active-response>
</ossec_config>
"""

# Stands in for the agent's firewall-drop: logs the message it got the way Wazuh's scripts do
# (8.5), so logcollector ships it and the manager raises 651; records it for the test.
AGENT_SCRIPT = """#!/bin/sh
IFS= read -r line
printf '%s %s: %s\\n' "$(date '+%Y/%m/%d %H:%M:%S')" active-response/bin/firewall-drop \\
    "$line" >> logs/active-responses.log
printf '%s\\n' "$line" >> ran.log
"""


def lab_env(path: Path) -> dict[str, str]:
    """The lab's `lab.env` (NAME=value lines) as a dict."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        name, _, value = line.partition("=")
        if name and not name.startswith("#"):
            values[name.removeprefix("export ").strip()] = value.strip().strip("'\"")
    return values


class Lab(NamedTuple):
    """A running lab: its directory (`manager/`, `agent/`, `lab.env`) and lab.env's values,
    with AUTH_LOG, the file the agent's logcollector follows as sshd's log."""

    home: Path
    env: dict[str, str]

    @property
    def alerts(self) -> Path:
        return Path(self.env["ALERTS"])

    @property
    def ran(self) -> Path:
        """Every message the agent's firewall-drop received, one per line."""
        return self.home / "agent" / "ran.log"


@contextmanager
def running_lab(base: Path, *, manager_conf: str, agent_script: str, port: int) -> Iterator[Lab]:
    """Start a lab in `base` (skip the test when it cannot start) and stop it afterwards.

    `port` is the manager's: helpers share the machine, so never the default one.
    """
    (base / "manager.conf").write_text(manager_conf)
    auth_log = base / "auth.log"
    started = subprocess.run(
        [str(TOOL / "start-lab"), str(base / "d"), "--analysisd", "--port", str(port),
         "--manager-conf", str(base / "manager.conf"), "--localfile", str(auth_log)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    if started.returncode != 0 or "ready" not in started.stdout:
        pytest.skip(f"start-lab failed: {started.stderr.strip()[-300:]}")
    home = base / "d"
    try:
        # start-lab made the agent's bin folder; the script must be there before any send.
        script = home / "agent" / "active-response" / "bin" / "firewall-drop"
        script.write_text(agent_script)
        script.chmod(0o755)
        from arconsole.scripts.agent_reverse import install_agent_scripts

        install_agent_scripts(home / "agent")
        env = lab_env(home / "lab.env")
        env["AUTH_LOG"] = str(auth_log)
        yield Lab(home, env)
    finally:
        subprocess.run([str(TOOL / "stop-lab"), str(home)], capture_output=True, check=False,
                       timeout=60)


def lab_port(base: int) -> int:
    """A manager port of its own for this test process (one range per module)."""
    return base + os.getpid() % 1000


FOLLOWER_OPENED_S = 1.5  # the engine's follower has opened alerts.json at its end by then


async def lab_engine(lab: Lab, tmp_path: Path, config_text: str,
                     mode: Mode = Mode.ENFORCE) -> Engine:
    """A started arconsole engine on the lab's manager home, following its real alerts.json
    and delivering through its real queue, with `config_text` as its own config."""
    config = tmp_path / "arconsole.conf"
    config.write_text(config_text)
    engine = Engine(EngineOptions(
        config_path=config, home=lab.home / "manager", alerts_path=lab.alerts,
        state_path=tmp_path / "state.db", watch_config=False, control_socket=False,
        agent_queue=Path(lab.env["AR_QUEUE"]), mode=mode,
    ))
    await engine.start(follow=True)
    await asyncio.sleep(FOLLOWER_OPENED_S)
    return engine


def sshd_attempt(lab: Lab, srcip: str, pid: int) -> None:
    """An sshd line on the agent that the manager turns into a real rule-5710 alert."""
    with open(lab.env["AUTH_LOG"], "a") as log:
        log.write(f"{time.strftime('%b %e %H:%M:%S')} agent1 sshd[{pid}]: Invalid user ke "
                  f"from {srcip} port 10013 ssh2\n")


async def wait_until(predicate: Callable[[], object], timeout: float) -> None:
    """Poll `predicate` until it holds; fail with its source after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            try:
                source = inspect.getsource(predicate).strip()[:160]
            except (OSError, TypeError):
                source = repr(predicate)
            raise AssertionError(f"not reached in {timeout:g}s: {source}")
        await asyncio.sleep(0.1)

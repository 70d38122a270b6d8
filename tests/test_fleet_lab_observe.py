"""Real Wazuh 4.14.7, `--mode observe` (`start-lab --analysisd`, the lab's default manager
config: firewall-drop, local, rules_id 5710, timeout 600 here): Wazuh dispatches its own
response; arconsole runs and sends nothing by itself, shows the fleet row from the real 651,
and `blocks reverse AGENT:program-key` runs the delete on the real agent through remoted
(`!arconsole-reverse`); the row ends with the real 652. Skipped without the tools or root."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from arconsole.engine.engine import Engine
from arconsole.engine.fleet_store import FleetStore
from arconsole.engine.options import EngineOptions, Mode
from tests.fleet_support import shared
from tests.test_fleet_lab import AGENT_SCRIPT, lab_env

TOOL = shared("tools", "wazuh-4.14.7")
pytestmark = [
    pytest.mark.skipif(not (TOOL / "start-lab").exists(), reason="Wazuh tools absent"),
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
]

WAZUH_CONF = """<ossec_config>
  <command><name>firewall-drop</name><executable>firewall-drop</executable>
    <timeout_allowed>yes</timeout_allowed></command>
  <active-response><command>firewall-drop</command><location>local</location>
    <rules_id>5710</rules_id><timeout>600</timeout></active-response>
</ossec_config>
"""

# Answers check_keys like Wazuh's firewall-drop (the agent's execd holds the timer here).
AGENT_STATEFUL = AGENT_SCRIPT.replace(
    'printf \'%s\\n\' "$line" >> ran.log\n',
    'printf \'%s\\n\' "$line" >> ran.log\n'
    'case $line in *\'"command":"add"\'*)\n'
    '  ip=$(printf \'%s\' "$line" | sed -n \'s/.*"data":{"srcip":"\\([0-9.]*\\)".*/\\1/p\')\n'
    '  printf \'{"version":1,"origin":{"name":"firewall-drop","module":"active-response"},'
    '"command":"check_keys","parameters":{"keys":["%s"]}}\\n\' "$ip"\n'
    '  IFS= read -r reply ;;\n'
    'esac\n',
)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    base = tmp_path_factory.mktemp("lab")
    (base / "manager.conf").write_text(WAZUH_CONF)
    auth_log = base / "auth.log"
    port = 17000 + os.getpid() % 1000
    started = subprocess.run(
        [str(TOOL / "start-lab"), str(base / "d"), "--analysisd", "--port", str(port),
         "--manager-conf", str(base / "manager.conf"), "--localfile", str(auth_log)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    if started.returncode != 0 or "ready" not in started.stdout:
        pytest.skip(f"start-lab failed: {started.stderr.strip()[-300:]}")
    home = base / "d"
    script = home / "agent" / "active-response" / "bin" / "firewall-drop"
    script.write_text(AGENT_STATEFUL)
    script.chmod(0o755)
    from arconsole.scripts.agent_reverse import install_agent_scripts

    install_agent_scripts(home / "agent")
    env = lab_env(home / "lab.env")
    env["AUTH_LOG"] = str(auth_log)
    try:
        yield home, env
    finally:
        subprocess.run([str(TOOL / "stop-lab"), str(home)], capture_output=True, check=False,
                       timeout=60)


async def wait_until(predicate: object, timeout: float) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("not reached in time")
        await asyncio.sleep(0.1)


async def test_observe_wazuh_block_then_reverse_it_on_the_real_agent(
    lab: tuple[Path, dict[str, str]], tmp_path: Path,
) -> None:
    home, env = lab
    manager = home / "manager"
    config = tmp_path / "arconsole.conf"
    config.write_text("<ossec_config><cluster><node_name>node01</node_name></cluster>"
                      + WAZUH_CONF.split("<ossec_config>", 1)[1])
    engine = Engine(EngineOptions(
        config_path=config, home=manager, alerts_path=Path(env["ALERTS"]),
        state_path=tmp_path / "state.db", watch_config=False, control_socket=False,
        agent_queue=Path(env["AR_QUEUE"]), mode=Mode.OBSERVE,
    ))
    await engine.start(follow=True)
    try:
        store = FleetStore(engine.store)
        await asyncio.sleep(1.5)  # the follower has opened alerts.json at its end
        with open(env["AUTH_LOG"], "a") as log:
            log.write(f"{time.strftime('%b %e %H:%M:%S')} agent1 sshd[4243]: Invalid user ke "
                      "from 203.0.113.44 port 10013 ssh2\n")
        key = "001:firewall-drop-203.0.113.44"
        await wait_until(lambda: engine.fleet.table.find(key) is not None, 40)
        row = engine.fleet.table.find(key)
        assert row is not None and row.active and row.timeout_max == 600
        assert store.deliveries() == []  # observe: arconsole sent nothing by itself
        [result] = await engine.reverse_blocks([key], "tester")
        assert result.ok and "the agent keeps its own timer until" in result.detail
        await wait_until(lambda: not row.active, 40)
        assert row.last_rule == "652"
        [reverse] = store.deliveries()
        assert reverse.program == "arconsole-reverse" and reverse.agent == "001"
    finally:
        await engine.stop()

"""Real Wazuh 4.14.7 end to end (`start-lab --analysisd`): an sshd line on the agent becomes a
real 5710 alert in the manager's alerts.json; arconsole, following it on the manager home with
its own config and `--agent-transport wazuh-queue`, delivers `!firewall-drop` through the real
remoted; the agent's real execd runs the script; the script's log line comes back as a real
rule-651 alert, which arconsole's fleet table shows and which confirms the delivery; at
expiry arconsole sends `!arconsole-reverse`, the agent runs the delete, and rule 652 comes back.

The manager's own config binds no response (Wazuh would deliver it too: double delivery).
Skipped where the tools are absent or not root. One lab for the module.
"""

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
from arconsole.engine.options import EngineOptions
from tests.fleet_support import shared

TOOL = shared("tools", "wazuh-4.14.7")
pytestmark = [
    pytest.mark.skipif(not (TOOL / "start-lab").exists(), reason="Wazuh tools absent"),
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
]

MANAGER_CONF = """<ossec_config>
  <command><name>firewall-drop</name><executable>firewall-drop</executable>
    <timeout_allowed>yes</timeout_allowed></command>
</ossec_config>
"""

ARCONSOLE_CONF = """<ossec_config>
  <cluster><node_name>node01</node_name></cluster>
  <command><name>firewall-drop</name><executable>firewall-drop</executable>
    <timeout_allowed>yes</timeout_allowed></command>
  <active-response><command>firewall-drop</command><location>local</location>
    <rules_id>5710</rules_id><timeout>8</timeout></active-response>
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
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        name, _, value = line.partition("=")
        if name and not name.startswith("#"):
            values[name.removeprefix("export ").strip()] = value.strip().strip("'\"")
    return values


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    base = tmp_path_factory.mktemp("lab")
    (base / "manager.conf").write_text(MANAGER_CONF)
    auth_log = base / "auth.log"
    port = 16000 + os.getpid() % 1000  # helpers share the machine: not the default port
    started = subprocess.Popen(
        [str(TOOL / "start-lab"), str(base / "d"), "--analysisd", "--port", str(port),
         "--manager-conf", str(base / "manager.conf"), "--localfile", str(auth_log)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    # start-lab makes the agent's bin folder first; the script must be there before sends.
    out, err = started.communicate(timeout=120)
    if started.returncode != 0 or "ready" not in out:
        pytest.skip(f"start-lab failed: {err.strip()[-300:]}")
    home = base / "d"
    script = home / "agent" / "active-response" / "bin" / "firewall-drop"
    script.write_text(AGENT_SCRIPT)
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


async def test_sshd_line_to_delivery_through_real_remoted_and_651_confirmation(
    lab: tuple[Path, dict[str, str]], tmp_path: Path,
) -> None:
    home, env = lab
    manager = home / "manager"
    config = tmp_path / "arconsole.conf"
    config.write_text(ARCONSOLE_CONF)
    engine = Engine(EngineOptions(
        config_path=config, home=manager, alerts_path=Path(env["ALERTS"]),
        state_path=tmp_path / "state.db", watch_config=False, control_socket=False,
        agent_queue=Path(env["AR_QUEUE"]),
    ))
    await engine.start(follow=True)
    delivery = engine.agent_delivery
    assert delivery is not None
    try:
        store = FleetStore(engine.store)
        await asyncio.sleep(1.5)  # the follower has opened alerts.json at its end
        stamp = time.strftime("%b %e %H:%M:%S")
        with open(env["AUTH_LOG"], "a") as log:
            log.write(f"{stamp} agent1 sshd[4242]: Invalid user ke from 203.0.113.9 "
                      "port 10013 ssh2\n")
        await wait_until(lambda: bool(store.deliveries("sent")), 30)
        record = store.deliveries("sent")[0]
        assert (record.agent, record.program, record.key) == ("001", "firewall-drop",
                                                              "203.0.113.9")
        ran = home / "agent" / "ran.log"
        await wait_until(ran.exists, 20)
        assert '"command":"add"' in ran.read_text()  # the agent's execd ran the ad-hoc run
        assert '"module":"wazuh-execd"' in ran.read_text()
        await wait_until(lambda: bool(store.deliveries("confirmed")), 30)
        row = engine.fleet.table.find("001:firewall-drop-203.0.113.9")
        assert row is not None and row.active and row.last_rule == "651"
        assert row.trigger_rule == "5710" and row.timeout_max == 8
        # arconsole's timer (the agent's run had timeout 0): at expiry !arconsole-reverse goes
        # out through remoted, the agent runs the program's delete, and rule 652 comes back.
        await wait_until(lambda: not row.active, 60)
        assert row.last_rule == "652"
        assert '"command":"delete"' in ran.read_text()
        reverse = [r for r in store.deliveries() if r.program == "arconsole-reverse"]
        assert [r.agent for r in reverse] == ["001"]
        await wait_until(lambda: store.get_delivery(reverse[0].id).state == "confirmed", 30)
    finally:
        await engine.stop()

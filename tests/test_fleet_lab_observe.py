"""Real Wazuh 4.14.7, `--mode observe` (`start-lab --analysisd`, the lab's default manager
config: firewall-drop, local, rules_id 5710, timeout 600 here): Wazuh dispatches its own
response; arconsole runs and sends nothing by itself, shows the fleet row from the real 651,
and `blocks reverse AGENT:program-key` runs the delete on the real agent through remoted
(`!arconsole-reverse`); the row ends with the real 652. Skipped without the tools or root."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from arconsole.engine.options import Mode
from tests.fleet_support import engine_fleet_store
from tests.lab_support import (
    AGENT_SCRIPT,
    LAB_MARKS,
    Lab,
    lab_engine,
    lab_port,
    running_lab,
    sshd_attempt,
    wait_until,
)

pytestmark = LAB_MARKS

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
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("lab"), manager_conf=WAZUH_CONF,
                     agent_script=AGENT_STATEFUL, port=lab_port(17000)) as started:
        yield started


async def test_observe_wazuh_block_then_reverse_it_on_the_real_agent(
    lab: Lab, tmp_path: Path,
) -> None:
    engine = await lab_engine(
        lab, tmp_path, "<ossec_config><cluster><node_name>node01</node_name></cluster>"
        + WAZUH_CONF.split("<ossec_config>", 1)[1], mode=Mode.OBSERVE)
    try:
        store = engine_fleet_store(engine)
        sshd_attempt(lab, "203.0.113.44", 4243)
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

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

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fleet_support import engine_fleet_store
from tests.lab_support import (
    AGENT_SCRIPT,
    ARCONSOLE_CONF_TEMPLATE,
    LAB_MARKS,
    MANAGER_CONF,
    Lab,
    lab_engine,
    lab_port,
    running_lab,
    sshd_attempt,
    wait_until,
)

pytestmark = LAB_MARKS

ARCONSOLE_CONF = ARCONSOLE_CONF_TEMPLATE.format(timeout=8)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("lab"), manager_conf=MANAGER_CONF,
                     agent_script=AGENT_SCRIPT, port=lab_port(16000)) as started:
        yield started


async def test_sshd_line_to_delivery_through_real_remoted_and_651_confirmation(
    lab: Lab, tmp_path: Path,
) -> None:
    engine = await lab_engine(lab, tmp_path, ARCONSOLE_CONF)
    delivery = engine.agent_delivery
    assert delivery is not None
    try:
        store = engine_fleet_store(engine)
        sshd_attempt(lab, "203.0.113.9", 4242)
        await wait_until(lambda: bool(store.deliveries("sent")), 30)
        record = store.deliveries("sent")[0]
        assert (record.agent, record.program, record.key) == ("001", "firewall-drop",
                                                              "203.0.113.9")
        ran = lab.ran
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

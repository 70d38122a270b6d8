"""Real Wazuh 4.14.7 (`start-lab --analysisd`), case (c): the agent's daemons (agentd, execd,
logcollector) are stopped and started again in the middle of one of arconsole's agent blocks.

Nothing is lost: the block stays in arconsole's hands (the ad-hoc run has timeout 0, so the
agent's execd held no timer and ran no delete when it stopped); the agent's real "Wazuh agent
started" alert (rule 503, which the lab raises on every agentd start) makes arconsole send the
block's add again, which the restarted execd runs; at the block's original expiry the
`!arconsole-reverse` delete runs on the agent and its rule-652 alert comes back. And when the
block expires while the agent is down (remoted cannot pass the reversal on), the agent's 503
makes arconsole send the unconfirmed reversal again: the delete runs once the agent is back.
Found here: what an agent runs in its first second back may never reach the manager (the
restarted logcollector reads active-responses.log from its end once it opens it), so those
runs can end `unconfirmed` although they ran; the tests assert them on the agent.

Skipped where the tools are absent or not root. One lab for the module.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from arconsole.engine.fleet_store import DeliveryRecord
from tests.fleet_support import engine_fleet_store
from tests.lab_support import (
    AGENT_SCRIPT,
    ARCONSOLE_CONF_TEMPLATE,
    LAB_MARKS,
    MANAGER_CONF,
    Lab,
    lab_engine,
    lab_env,
    lab_port,
    running_lab,
    sshd_attempt,
    wait_until,
)

pytestmark = LAB_MARKS

TIMEOUT = 30  # long enough for a restart (about 5 s here) well inside the block
ARCONSOLE_CONF = ARCONSOLE_CONF_TEMPLATE.format(timeout=TIMEOUT)
CHILDREN: list[subprocess.Popen[bytes]] = []  # the daemons this module started again

# The agent daemons in start-lab's order (the last three pids of lab.env), how it starts them.
AGENT_DAEMONS = (
    ["./bin/wazuh-execd", "-f", "-d", "-d", "-g", "root"],
    ["./bin/wazuh-agentd", "-f", "-d", "-u", "root", "-g", "root"],
    ["./bin/wazuh-logcollector", "-f", "-d"],
)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    try:
        with running_lab(tmp_path_factory.mktemp("lab"), manager_conf=MANAGER_CONF,
                         agent_script=AGENT_SCRIPT, port=lab_port(18000)) as started:
            yield started
    finally:
        for child in CHILDREN:  # stop-lab stopped them (their pids are in lab.env): reap
            if child.poll() is None:
                child.kill()
            child.wait(timeout=10)


def running(pid: int) -> bool:
    """Alive and not a zombie (the lab's daemons are not our children: init reaps them)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def stop_agent(home: Path) -> None:
    """Stop the agent's execd, agentd and logcollector (TERM, as a service stop does)."""
    agent_pids = [int(p) for p in lab_env(home / "lab.env")["PIDS"].split()[-3:]]
    for pid in reversed(agent_pids):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while any(running(p) for p in agent_pids):
        assert time.monotonic() < deadline, "the agent's daemons did not stop"
        time.sleep(0.05)


def start_agent(home: Path) -> None:
    """Start them again as start-lab does; their pids go into lab.env so stop-lab stops them."""
    env_file = home / "lab.env"
    text = env_file.read_text()
    pids = lab_env(env_file)["PIDS"].split()
    agent = home / "agent"
    shim = {"LD_PRELOAD": str(home / "wazuhuser.so")}
    started: list[subprocess.Popen[bytes]] = []
    for argv in AGENT_DAEMONS:
        name = argv[0].rsplit("/", 1)[1]
        extra = shim if name == "wazuh-logcollector" else {}
        with open(agent / "logs" / f"{name}-restart.out", "ab") as out:
            started.append(subprocess.Popen(argv, cwd=agent, stdin=subprocess.DEVNULL,
                                            stdout=out, stderr=subprocess.STDOUT,
                                            env={**os.environ, **extra}))
        CHILDREN.append(started[-1])
        if name == "wazuh-execd":
            wait_path(agent / "queue" / "alerts" / "execq", 10)
        elif name == "wazuh-agentd":
            wait_path(agent / "queue" / "sockets" / "queue", 20)
    new = pids[:-3] + [str(p.pid) for p in started]
    env_file.write_text(text.replace(" ".join(pids), " ".join(new)))


def wait_path(path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def commands(ran: Path, srcip: str = "203.0.113.77") -> list[str]:
    """What the agent's firewall-drop ran for `srcip`, in order."""
    if not ran.exists():
        return []
    return [json.loads(line)["command"] for line in ran.read_text().splitlines()
            if line and f'"srcip":"{srcip}"' in line]


def rules_seen(alerts: Path, rule: str) -> int:
    return sum(1 for line in alerts.read_text().splitlines()
               if f'"id":"{rule}"' in line.split('"agent"', 1)[0])


async def test_agent_restart_mid_block_loses_nothing_and_resends_on_503(
    lab: Lab, tmp_path: Path,
) -> None:
    home, alerts, ran = lab.home, lab.alerts, lab.ran
    engine = await lab_engine(lab, tmp_path, ARCONSOLE_CONF)
    delivery = engine.agent_delivery
    assert delivery is not None
    try:
        store = engine_fleet_store(engine)
        sshd_attempt(lab, "203.0.113.77", 4244)
        key = "001:firewall-drop-203.0.113.77"
        await wait_until(lambda: bool(store.deliveries("confirmed")), 40)
        ident = delivery.blocks.find(key)
        assert ident is not None
        expires_at = delivery.blocks.blocks[ident].expires_at
        assert commands(ran) == ["add"]
        started_503 = rules_seen(alerts, "503")

        restart_began = time.monotonic()
        stop_agent(home)
        start_agent(home)
        # The stop ran no delete: the ad-hoc run had timeout 0, the agent's execd held no timer.
        assert commands(ran) == ["add"]
        # The real 503 makes arconsole send the block again; the restarted execd runs it.
        await wait_until(lambda: rules_seen(alerts, "503") > started_503, 40)
        await wait_until(lambda: len([d for d in store.deliveries()
                                      if d.program == "firewall-drop"]) == 2, 10)
        await wait_until(lambda: commands(ran) == ["add", "add"], 20)
        resent_after = time.monotonic() - restart_began
        assert delivery.blocks.find(key) == ident  # still arconsole's, same expiry
        assert delivery.blocks.blocks[ident].expires_at == expires_at
        assert time.time() < expires_at, "the restart took the whole block: raise TIMEOUT"
        # (The re-sent add's own 651 may never come: the restarted logcollector starts reading
        # active-responses.log at its end, and the add can be logged before it opens the
        # file. That delivery then ends `unconfirmed`, with the reason; see the second test.)

        # At the original expiry the delete runs on the restarted agent; 652 comes back.
        row = engine.fleet.table.find(key)
        assert row is not None and row.active
        await wait_until(lambda: not row.active, TIMEOUT + 40)
        assert row.last_rule == "652"
        assert commands(ran) == ["add", "add", "delete"]
        reverse = [d for d in store.deliveries() if d.program == "arconsole-reverse"]
        assert [d.agent for d in reverse] == ["001"]
        assert reverse[0].queued_at >= expires_at
        await wait_until(lambda: store.get_delivery(reverse[0].id).state == "confirmed", 30)
        print(f"restart -> re-sent add ran on the agent: {resent_after:.1f}s")
    finally:
        await engine.stop()


async def test_block_expiring_while_the_agent_is_down_is_reversed_when_it_is_back(
    lab: Lab, tmp_path: Path,
) -> None:
    home, alerts, ran = lab.home, lab.alerts, lab.ran
    engine = await lab_engine(lab, tmp_path, ARCONSOLE_CONF_TEMPLATE.format(timeout=8))
    delivery = engine.agent_delivery
    assert delivery is not None
    srcip = "203.0.113.78"
    key = f"001:firewall-drop-{srcip}"
    try:
        store = engine_fleet_store(engine)
        sshd_attempt(lab, srcip, 4245)
        await wait_until(lambda: any(d.state == "confirmed" and d.key == srcip
                                     for d in store.deliveries()), 40)
        assert commands(ran, srcip) == ["add"]
        stop_agent(home)
        down_at = time.monotonic()

        def reversals() -> list[DeliveryRecord]:
            return [d for d in store.deliveries()
                    if d.program == "arconsole-reverse" and d.key == srcip]

        # The block expires while the agent is down: the reversal goes into remoted, in vain.
        await wait_until(lambda: bool(reversals()) and reversals()[0].state == "sent", 20)
        assert delivery.blocks.find(key) is None
        await asyncio.sleep(1.0)  # give a (wrong) late delivery the chance to show
        assert commands(ran, srcip) == ["add"]
        started_503 = rules_seen(alerts, "503")
        start_agent(home)
        await wait_until(lambda: rules_seen(alerts, "503") > started_503, 40)
        await wait_until(lambda: len(reversals()) == 2, 10)  # sent again on the 503
        await wait_until(lambda: "delete" in commands(ran, srcip), 20)
        back_after = time.monotonic() - down_at
        assert commands(ran, srcip) == ["add", "delete"]
        # Not asserted: the 652 for this delete. The agent runs it within about a second of
        # connecting, and the restarted logcollector, which starts reading
        # active-responses.log at its end, may open the file only after that line (seen
        # here: one run of two). The reversal then ends `unconfirmed` after CONFIRM_WAIT.
        print(f"agent down -> delete ran after it came back: {back_after:.1f}s after the stop")
    finally:
        await engine.stop()

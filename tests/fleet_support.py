"""What the fleet tests share: an engine with agents (a config with agent responses, an
inventory file, Wazuh's queue socket bound at HOME/queue/alerts/ar, the engine started with
`--agents` and `--agent-transport wazuh-queue`), reading the datagrams it sent, the bytes
expected; and where the shared fixtures and tools are (`../shared` beside the repo root, or
the folder named by ARCONSOLE_SHARED for worktrees that sit elsewhere)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from pathlib import Path
from typing import Any

from arconsole.engine.clock import ManualClock
from arconsole.engine.engine import Engine
from arconsole.engine.fleet_store import DeliveryRecord, FleetStore
from arconsole.engine.store import StateStore
from tests.engine_support import command, make_home, response, started

# The inventory as Wazuh's API answers it: 001 and 002 speak JSON, 003 is disconnected,
# 004 is older than 4.2 (argv messages), 000 is the manager itself.
API_AGENTS = {
    "data": {
        "affected_items": [
            {"id": "000", "name": "manager", "ip": "127.0.0.1", "version": "Wazuh v4.14.7",
             "status": "active"},
            {"id": "001", "name": "web-01", "ip": "192.0.2.1", "version": "Wazuh v4.14.7",
             "status": "active"},
            {"id": "002", "name": "db-01", "ip": "192.0.2.2", "version": "Wazuh v4.2.0",
             "status": "active"},
            {"id": "003", "name": "off-01", "ip": "192.0.2.3", "version": "Wazuh v4.14.7",
             "status": "disconnected"},
            {"id": "004", "name": "old-01", "ip": "192.0.2.4", "version": "Wazuh v4.1.5",
             "status": "active"},
        ],
        "total_affected_items": 5,
    },
    "error": 0,
}


def fleet_home(tmp_path: Path) -> Path:
    """A home whose config routes to agents (rule 5710: local, 60 s; 5711: defined agent 002,
    30 s; 5712: all agents) and whose HOME/agents.json is API_AGENTS."""
    home = make_home(tmp_path, [command("firewall-drop"), command("host-deny")], [
        response("firewall-drop", location="local", rules_id="5710", timeout=60),
        response("host-deny", location="defined-agent", rules_id="5711", timeout=30,
                 extra="<agent_id>002</agent_id>"),
        response("firewall-drop", location="all", rules_id="5712"),
    ])
    (home / "agents.json").write_text(json.dumps(API_AGENTS))
    return home


def queue_path(home: Path) -> Path:
    """Where `--agent-transport wazuh-queue` sends: Wazuh's AR queue under HOME."""
    return home / "queue" / "alerts" / "ar"


def fleet_options(home: Path) -> dict[str, Any]:
    """The engine options of a fleet test (`--agents HOME/agents.json`,
    `--agent-transport wazuh-queue`), for `started`, `new_engine` or the console."""
    return {"agents_file": home / "agents.json", "agent_queue": queue_path(home)}


async def fleet_engine(home: Path, clock: ManualClock | None = None,
                       **changes: Any) -> Engine:
    """A started engine with agents on `home` (`engine_support.started` with
    `fleet_options`); `changes` adds or overrides options."""
    return await started(home, clock, **(fleet_options(home) | changes))


def bind_queue(home: Path) -> socket.socket:
    """Wazuh's queue, played by a real Unix datagram socket bound where the engine sends."""
    path = queue_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    return sock


def received(sock: socket.socket) -> list[bytes]:
    """Every datagram waiting on the queue now, in order (none: an empty list)."""
    sock.setblocking(False)
    out: list[bytes] = []
    while True:
        try:
            out.append(sock.recv(70000))
        except BlockingIOError:
            return out


def expected(flags: str, agent: str, executable: str, alert: bytes,
             extra: list[str] | None = None) -> bytes:
    """The exact datagram for running `executable` on `agent` for `alert` (spec 6.3)."""
    body = json.dumps(
        {"version": 1, "origin": {"name": "node01", "module": "arconsole"},
         "command": "!" + executable,
         "parameters": {"extra_args": extra or [], "alert": "ALERT"}},
        separators=(",", ":"),
    ).encode().replace(b'"ALERT"', alert)
    return f"(local_source) [] {flags} {agent} ".encode() + body + b"\0"


async def settle(engine: Engine) -> None:
    """Let the engine's delivery take what was handed to it, then wait until it is idle."""
    delivery = engine.agent_delivery
    assert delivery is not None
    for _ in range(3):
        await asyncio.sleep(0)
    await delivery.wait_idle()


def shared(*parts: str) -> Path:
    """The first existing `<candidate>/<parts>`, else the conventional path (tests skip)."""
    conventional = Path(__file__).resolve().parents[2] / "shared"
    candidates = [conventional]
    if os.environ.get("ARCONSOLE_SHARED"):
        candidates.append(Path(os.environ["ARCONSOLE_SHARED"]))
    for base in candidates:
        if base.joinpath(*parts).exists():
            return base.joinpath(*parts)
    return conventional.joinpath(*parts)


def stored_deliveries(store: StateStore, *states: str) -> list[DeliveryRecord]:
    """The delivery records of `store` (any of `states`; all when none), through a FleetStore
    opened for the look and closed after it."""
    with FleetStore(store) as fleet:
        return fleet.deliveries(*states)


def engine_fleet_store(engine: Engine) -> FleetStore:
    """The running engine's own fleet store (no second store on its state file to close)."""
    store = engine.fleet.table.store
    assert store is not None, "the engine's fleet table is not attached"
    return store

"""The fleet part of `arconsole blocks list`: blocks on agents (arconsole's and Wazuh's)."""

from __future__ import annotations

import time
from typing import Any

from arconsole.engine.store import StateStore
from arconsole.safetext import literal


def stored_fleet(store: StateStore) -> list[dict[str, object]]:
    """The fleet listing from a state file no engine holds."""
    from arconsole.engine.fleet import fleet_listing
    from arconsole.engine.fleet_store import FleetStore

    with FleetStore(store) as fleet:  # read-only here: reads the tables if they exist
        return fleet_listing(fleet.load_rows(), fleet.load_agent_blocks(), time.time())


def format_fleet(rows: list[dict[str, Any]]) -> str:
    lines = ["blocks on agents:"]
    for row in rows:
        if row.get("owner") == "arconsole":
            until = time.strftime("%H:%M:%S", time.localtime(float(row["expires_at"])))
            end = f"until {until} (arconsole's timer)"
        else:
            end = f"expected end {row.get('expected_end')}; {row.get('note')}"
        lines.append(literal(f"  {row['key']}  {row['state']}  {end}"))
    return "\n".join(lines)

"""Where the shared fixtures and tools are: `../shared` beside the repo root, or the folder
named by ARCONSOLE_SHARED (for worktrees that sit elsewhere). Looked up when a test runs."""

from __future__ import annotations

import os
from pathlib import Path

from arconsole.engine.engine import Engine
from arconsole.engine.fleet_store import DeliveryRecord, FleetStore
from arconsole.engine.store import StateStore


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

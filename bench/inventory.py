"""Benchmark: how long the engine's loop stalls while `--agents FILE` is re-read after a change.

The baseline is the parse itself (`load_agents` on the same file, same run): before the re-read
moved to a worker thread the loop stalled for all of it (ratio ~1). What is left is the part of
the parse that holds the GIL in C (msgspec's decode), so the ratio is the stall / the parse
(lower is better).

    python bench/inventory.py [--agents 200000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

from arconsole.engine.agents import AgentDirectory, load_agents
from arconsole.engine.inventory import AgentInventory


class _Context:
    """What AgentInventory reads of an engine's context: the file and where notices go."""

    def __init__(self, path: Path) -> None:
        self.options = type("Options", (), {"agents_file": path})()

    def notice(self, level: str, text: str) -> None:
        pass


async def _stall_during_reread(path: Path) -> float:
    inventory = AgentInventory(_Context(path))  # type: ignore[arg-type]
    inventory.load()
    done = asyncio.Event()

    def changed(_: AgentDirectory) -> None:
        done.set()

    watcher = asyncio.create_task(inventory.watch(path, changed))
    await inventory.watch_ready.wait()
    path.write_text(path.read_text().replace('"a1"', '"b1"', 1))
    longest, last = 0.0, time.perf_counter()
    while not done.is_set():
        await asyncio.sleep(0.005)
        now = time.perf_counter()
        longest, last = max(longest, now - last), now
    watcher.cancel()
    return longest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--agents", type=int, default=200_000)
    args = parser.parse_args()
    path = Path(tempfile.mkdtemp()) / "agents.json"
    path.write_text(json.dumps([
        {"id": f"{n:03d}", "name": f"a{n}", "ip": "10.0.0.1", "version": "Wazuh v4.9.0",
         "status": "active"} for n in range(args.agents)]))
    started = time.perf_counter()
    load_agents(path)
    parse = time.perf_counter() - started
    stall = asyncio.run(_stall_during_reread(path))
    size = path.stat().st_size / 2**20
    print(f"{args.agents} agents ({size:.1f} MiB): parse {parse * 1e3:.0f} ms, "
          f"longest loop stall during the re-read {stall * 1e3:.0f} ms, ratio {stall / parse:.2f}")


if __name__ == "__main__":
    main()

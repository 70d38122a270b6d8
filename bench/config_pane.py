"""Benchmark: how long loading a big config into the console's config pane holds the loop
(the embedded engine's loop too).

Baseline, same run: what the pane did before its nodes were made lazily — the outline built
and compared on the loop, then a tree node made for every item (measured by making every
node of the same tree). Now the outline is built and compared on a worker thread, and only
the nodes shown are made. Prints the loop time of each and the ratio (lower is better).

    python bench/config_pane.py [--mib 1]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

from textual.app import App, ComposeResult

from arconsole.config.loader import load_config
from arconsole.console.config_outline import OutlineChanges, build_outline
from arconsole.console.themes import APP_VARIABLES
from arconsole.console.widgets.config_tree import ConfigTree

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_config_size import realistic_config


class _Pane(App[None]):
    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(APP_VARIABLES)

    def compose(self) -> ComposeResult:
        yield ConfigTree(id="tree")


def _make_every_node(tree: ConfigTree) -> None:
    while tree._unmade:
        for path in list(tree._unmade):
            tree._make_children(tree._by_path[path])


async def _measure(path: Path, rounds: int) -> tuple[float, float]:
    config = load_config(path)
    app = _Pane()
    eager: list[float] = []
    lazy: list[float] = []
    async with app.run_test() as pilot:
        tree = app.query_one(ConfigTree)
        for generation in range(1, rounds + 1):
            # Before: outline, comparison and every node on the loop.
            started = time.perf_counter()
            outline = build_outline(config, generation=generation)
            tree.show(outline, changes=OutlineChanges.between(tree.outline, outline))
            _make_every_node(tree)
            eager.append(time.perf_counter() - started)
            await pilot.pause()
            # Now: outline and comparison on a thread; the loop makes the shown nodes.
            outline = build_outline(config, generation=generation)
            changes = OutlineChanges.between(tree.outline, outline)
            started = time.perf_counter()
            tree.show(outline, changes=changes)
            lazy.append(time.perf_counter() - started)
            await pilot.pause()
    return sorted(eager)[len(eager) // 2], sorted(lazy)[len(lazy) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ossec.conf"
        path.write_text(realistic_config(int(args.mib * (1 << 20))))
        items = sum(1 for _ in build_outline(load_config(path)).walk())
        eager, lazy = asyncio.run(_measure(path, args.rounds))
    print(f"config {args.mib:g} MiB, {items} outline items; loop time per load (median of "
          f"{args.rounds}):")
    print(f"  before (eager tree, outline on the loop): {eager * 1000:8.1f} ms")
    print(f"  now    (lazy tree, outline on a thread):  {lazy * 1000:8.1f} ms")
    print(f"  ratio now/before: {lazy / eager:.2f}")


if __name__ == "__main__":
    main()

"""Blocks at scale: restoring 100,000 blocks from the state file, and 10,000 expiries at once.

Plain script (not a test): prints rates and ratios against baselines measured in the same run.

    python bench/blocks.py [--blocks 100000] [--expiries 10000]

Part 1 (`bench_restore`): `StateStore.load_blocks()` against a bare `SELECT * FROM blocks`
with fetchall on the same file (target: at most 3x), memory per restored Block, time to open
(integrity check included), and commit latency with and without fsync.
Part 2 (`bench_expiries`): 10,000 blocks due in the same second among 100,000: picking them
from the engine's TimerTable against a scan of every block, then persisting their reversal.
Part 3 (`bench_on_time`): a real engine and a real stateful script: how long blocks really
last at a steady 50 alerts/s (target: p99 within [timeout, timeout + 100 ms]), and how late
deletes run when 1,000 blocks expire at once (target: the last one <= 1 s late). Durations are
measured from the engine's own records: the add took effect when the block was stored (its
`continue`), the delete when its script was started.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from arconsole.engine.model import Block, BlockState, Protocol
from arconsole.engine.store import StateStore
from arconsole.engine.timers import TimerTable

START = 1_700_000_000.0
TIMEOUT = 600


def delete_message(ip: str, alert_id: str) -> bytes:
    """A message the size and shape of what Wazuh sends firewall-drop (spec 8.4)."""
    return json.dumps(
        {
            "version": 1,
            "origin": {"name": "node01", "module": "wazuh-execd"},
            "command": "delete",
            "parameters": {
                "extra_args": [],
                "alert": {
                    "timestamp": "2024-01-01T00:00:00.000+0000",
                    "rule": {"level": 10, "description": "sshd: brute force trying to get "
                             "access to the system. Authentication failed.", "id": "5712"},
                    "agent": {"id": "000", "name": "node01"},
                    "id": alert_id,
                    "data": {"srcip": ip, "srcuser": "root"},
                },
                "program": "active-response/bin/firewall-drop",
            },
        },
        separators=(",", ":"),
    ).encode()


def make_blocks(count: int, *, started_at: Callable[[int], float]) -> list[Block]:
    blocks = []
    for i in range(count):
        ip = f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
        alert_id = f"1700000000.{i}"
        blocks.append(
            Block(
                key=f"firewall-drop-{ip}", command="firewall-drop", name="firewall-drop600",
                executable="firewall-drop", protocol=Protocol.JSON, target="server", srcip=ip,
                user=None, started_at=started_at(i), timeout=TIMEOUT, offences=0,
                delete_message=delete_message(ip, alert_id), alert_id=alert_id, rule_id="5712",
            )
        )
    return blocks


def best_of(runs: int, action: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        gc.collect()
        began = time.perf_counter()
        action()
        times.append(time.perf_counter() - began)
    return min(times)


def bench_restore(folder: Path, count: int) -> None:
    print(f"== restore: {count:,} active blocks")
    path = folder / "restore.db"
    blocks = make_blocks(count, started_at=lambda i: START + i % 3600)
    with StateStore.open(path) as store:
        began = time.perf_counter()
        with store.transaction():
            for block in blocks:
                store.save_block(block)
        elapsed = time.perf_counter() - began
    print(f"store {count:,} blocks in one transaction: {elapsed:.2f} s "
          f"({count / elapsed:,.0f} blocks/s); file {path.stat().st_size / 1e6:.1f} MB")
    del blocks

    began = time.perf_counter()
    store = StateStore.open(path)
    print(f"open (integrity check included): {time.perf_counter() - began:.3f} s")
    try:
        connection = store._conn  # the baseline reads the same file through the same link
        plain = best_of(3, lambda: connection.execute("SELECT * FROM blocks").fetchall())
        restore = best_of(3, store.load_blocks)
        print(f"baseline SELECT * FROM blocks, fetchall: {plain:.3f} s "
              f"({count / plain:,.0f} rows/s)")
        print(f"load_blocks():                           {restore:.3f} s "
              f"({count / restore:,.0f} blocks/s)")
        print(f"ratio load_blocks / baseline: {restore / plain:.2f}x (target <= 3x)")

        gc.collect()
        tracemalloc.start()
        loaded = store.load_blocks()
        held, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert len(loaded) == count
        print(f"memory per restored Block (list included): {held / count:,.0f} bytes "
              f"(of which delete_message {len(loaded[0].delete_message)} bytes of data)")
        del loaded
    finally:
        store.close()
    bench_commits(folder)


def bench_commits(folder: Path, commits: int = 2000) -> None:
    """What "stored before reported done" costs per action, with and without fsync."""
    for durable in (False, True):
        path = folder / f"commits-{durable}.db"
        blocks = make_blocks(commits, started_at=lambda i: START)
        with StateStore.open(path, durable=durable) as store:
            began = time.perf_counter()
            for block in blocks:
                store.save_block(block)
            elapsed = time.perf_counter() - began
        level = "FULL (fsync per commit)" if durable else "NORMAL (survives kill -9)"
        print(f"one commit per block, synchronous={level}: "
              f"{elapsed / commits * 1e6:,.0f} us/commit ({commits / elapsed:,.0f}/s)")


# --------------------------------------------------------------------------------------------
# bench_expiries: 10,000 simultaneous expiries (uses the engine's TimerTable)
# --------------------------------------------------------------------------------------------


def bench_expiries(folder: Path, count: int, due: int) -> None:
    print(f"== expiries: {due:,} due in the same second among {count:,} blocks")
    # The first `due` blocks start together; the rest are spread over the following hour.
    blocks = make_blocks(count, started_at=lambda i: START if i < due else START + 1 + i % 3600)
    table = TimerTable()
    for block in blocks:
        table.schedule(block.key, block.expires_at)
    now = START + TIMEOUT

    began = time.perf_counter()
    popped = table.pop_due(now)
    timer_time = time.perf_counter() - began
    assert len(popped) == due, len(popped)

    # Baseline: what a table-less engine does each tick, test every block (execd's list walk).
    began = time.perf_counter()
    scanned = [block.key for block in blocks if block.expired(now)]
    scan_time = time.perf_counter() - began
    assert sorted(scanned) == sorted(popped)
    print(f"TimerTable.pop_due:        {timer_time * 1e3:8.1f} ms ({due / timer_time:,.0f} keys/s)")
    print(f"baseline scan every block: {scan_time * 1e3:8.1f} ms")
    print(f"ratio pop_due / scan: {timer_time / scan_time:.2f}x")

    # Most ticks find nothing due: the table answers from its top, a scan still walks all.
    ticks = 1000
    began = time.perf_counter()
    for _ in range(ticks):
        table.pop_due(now)
    idle_table = (time.perf_counter() - began) / ticks
    began = time.perf_counter()
    for _ in range(3):
        [block.key for block in blocks[due:] if block.expired(now)]
    idle_scan = (time.perf_counter() - began) / 3
    print(f"idle tick (nothing due): TimerTable {idle_table * 1e6:.2f} us, "
          f"scan {idle_scan * 1e3:.1f} ms, ratio {idle_scan / idle_table:,.0f}x "
          "in the table's favour")

    # Persisting the reversal as the engine does: mark reversing, then forget once reversed,
    # each its own commit; against the same writes batched into one transaction.
    by_key = {block.key: block for block in blocks[:due]}
    per_action = _persist_reversals(folder / "expiries-each.db", by_key, popped, batched=False)
    batched = _persist_reversals(folder / "expiries-batch.db", by_key, popped, batched=True)
    print(f"persist {due:,} reversals, 2 commits each: {per_action:.2f} s "
          f"({due / per_action:,.0f} reversals/s)")
    print(f"baseline, same writes in one transaction:  {batched:.2f} s")
    print(f"ratio per-commit / batched: {per_action / batched:.2f}x")


def _persist_reversals(
    path: Path, by_key: dict[str, Block], keys: list[str], *, batched: bool
) -> float:
    with StateStore.open(path) as store:
        with store.transaction():
            for block in by_key.values():
                store.save_block(block)
        began = time.perf_counter()
        if batched:
            with store.transaction():
                _reverse_all(store, by_key, keys)
        else:
            _reverse_all(store, by_key, keys)
        elapsed = time.perf_counter() - began
        assert store.count_blocks() == 0
    return elapsed


def _reverse_all(store: StateStore, by_key: dict[str, Block], keys: list[str]) -> None:
    for key in keys:
        store.save_block(by_key[key].with_(state=BlockState.REVERSING))
        store.delete_block(key)


# --------------------------------------------------------------------------------------------
# bench_on_time: real engine, real script, real clock
# --------------------------------------------------------------------------------------------

# A stateful script of (almost) no cost: dash builtins only. It keys on the alert's srcip.
KEYS_SCRIPT = r"""#!/bin/sh
read -r line
case "$line" in
  *'"command":"add"'*)
    ip=${line#*\"srcip\":\"}; ip=${ip%%\"*}
    k='{"version":1,"origin":{"name":"b","module":"b"},"command":"check_keys"'
    printf '%s,"parameters":{"keys":["%s"]}}\n' "$k" "$ip"
    read -r reply ;;
esac
exit 0
"""


def _on_time_home(folder: Path, timeout: int) -> Path:
    home = folder / f"on-time-{timeout}-{time.monotonic_ns()}"
    for part in ("etc", "active-response/bin", "logs/alerts", "var/arconsole"):
        (home / part).mkdir(parents=True)
    (home / "etc" / "ossec.conf").write_text(
        "<ossec_config><command><name>keys</name><executable>keys</executable>"
        "<timeout_allowed>yes</timeout_allowed></command><active-response><command>keys"
        f"</command><location>local</location><level>5</level><timeout>{timeout}</timeout>"
        "</active-response></ossec_config>\n"
    )
    script = home / "active-response" / "bin" / "keys"
    script.write_text(KEYS_SCRIPT)
    script.chmod(0o755)
    return home


def _alert(n: int) -> bytes:
    ip = f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"
    return json.dumps({"timestamp": "2026-12-03T10:00:00.000+0000", "id": f"1.{n}",
                       "rule": {"level": 10, "id": "5712", "description": "brute force",
                                "groups": ["sshd"]}, "agent": {"id": "000", "name": "m"},
                       "data": {"srcip": ip}, "location": "/var/log/secure"},
                      separators=(",", ":")).encode()


async def _measure_blocks(home: Path, count: int, rate: float | None, timeout: int) -> list[float]:
    """Run `count` alerts (at `rate`/s, or all at once) and return, per block, how long after
    its add took effect its delete was started."""
    from arconsole.engine.engine import Engine
    from arconsole.engine.events import BlockChanged, ScriptRan
    from arconsole.engine.options import EngineOptions

    options = EngineOptions(
        config_path=home / "etc" / "ossec.conf", home=home,
        alerts_path=home / "logs" / "alerts" / "alerts.json",
        state_path=home / "var" / "arconsole" / "state.db", watch_config=False,
        control_socket=False,
    )
    engine = Engine(options)
    events = engine.bus.subscribe(capacity=10 * count)
    await engine.start(follow=False)
    began = time.monotonic()
    for n in range(count):
        if rate is not None:
            await asyncio.sleep(max(0.0, began + n / rate - time.monotonic()))
        await engine.handle_line(_alert(n))
    await engine.drain()  # every add has run: the blocks are in the book
    deadline = time.monotonic() + timeout + 60
    while engine.blocks and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    await engine.drain()
    await engine.stop()
    started: dict[str, float] = {}
    durations: list[float] = []
    for event in events.drain():
        if isinstance(event, BlockChanged) and event.change == "added":
            started[str(event.block["key"])] = float(event.block["started_at"])  # type: ignore[arg-type]
        elif isinstance(event, ScriptRan) and event.action == "delete" and event.key in started:
            durations.append(event.at - event.duration - started[event.key])
    assert len(durations) == count, (len(durations), count)
    return durations


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def bench_on_time(folder: Path, steady: int, burst: int, timeout: int) -> None:
    print(f"== on time: {timeout} s blocks, {steady} at 50/s, then {burst} at once")
    durations = asyncio.run(_measure_blocks(_on_time_home(folder, timeout), steady, 50.0, timeout))
    p50 = (_percentile(durations, .5) - timeout) * 1e3
    print(f"steady 50/s: duration - timeout p50 {p50:.1f} ms, "
          f"p99 {(_percentile(durations, .99) - timeout) * 1e3:.1f} ms, "
          f"min {(min(durations) - timeout) * 1e3:.1f} ms "
          "(target: p99 within [0, 100] ms; never below 0)")
    late = asyncio.run(_measure_blocks(_on_time_home(folder, timeout), burst, None, timeout))
    print(f"burst of {burst} expiring together: delete lateness p50 "
          f"{(_percentile(late, .5) - timeout) * 1e3:.0f} ms, p99 "
          f"{(_percentile(late, .99) - timeout) * 1e3:.0f} ms, last {(max(late) - timeout):.2f} s "
          "(target: last <= 1 s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=100_000)
    parser.add_argument("--expiries", type=int, default=10_000)
    parser.add_argument("--steady", type=int, default=250, help="alerts at 50/s (part 3)")
    parser.add_argument("--burst", type=int, default=1000, help="alerts at once (part 3)")
    parser.add_argument("--timeout", type=int, default=3, help="block timeout (part 3)")
    parser.add_argument("--only-on-time", action="store_true", help="run part 3 only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="arconsole-bench-") as folder:
        if not args.only_on_time:
            bench_restore(Path(folder), args.blocks)
            bench_expiries(Path(folder), args.blocks, args.expiries)
        bench_on_time(Path(folder), args.steady, args.burst, args.timeout)


if __name__ == "__main__":
    main()

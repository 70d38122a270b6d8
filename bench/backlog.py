"""Backlog replay: a long alerts.json read from the start with responses firing (issue 13.7).

Plain script (not a test). It writes N realistic alerts (the demo's generator: SSH bursts, web
scans, repeat offenders, white-listed sources, noise) into a private copy of `sample-conf/`,
then measures in the same run:
- baseline: the same file's plain decode + decide (no engine), alerts/s;
- replay: a dry-run engine reading it `--from-start` as `arconsole run` does (its event log
  written to /dev/null through the same logger), until every alert is handled and every
  response has finished; alerts/s, and the ratio to the baseline.
Target: the replay at >= 50,000 alerts/s.

    python bench/backlog.py [--alerts 200000] [--seed 7]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import shutil
import tempfile
import time
from pathlib import Path

from arconsole.alerts.jsonreader import decode_alert_line
from arconsole.config.loader import load_config
from arconsole.console.generator import AlertGenerator
from arconsole.engine.decide import Decider
from arconsole.engine.engine import Engine
from arconsole.engine.eventlog import EventLogger
from arconsole.engine.options import EngineOptions, Mode

SAMPLE = Path(__file__).resolve().parent.parent / "sample-conf"


def make_home(folder: Path, alerts: int, seed: int) -> Path:
    home = folder / "home"
    shutil.copytree(SAMPLE, home)
    (home / "logs" / "alerts").mkdir(parents=True, exist_ok=True)
    (home / "var" / "arconsole").mkdir(parents=True, exist_ok=True)
    path = home / "logs" / "alerts" / "alerts.json"
    generator = AlertGenerator(path, white_listed=["10.0.1.5"], seed=seed,
                               clock=lambda: 1_780_000_000.0 + generator.counter * 0.01)
    pending: list[dict[str, object]] = []
    while generator.written < alerts:
        while len(pending) < 5000:
            pending.extend(generator.burst())
        take = min(len(pending), alerts - generator.written)
        generator.write(pending[:take])
        del pending[:take]
    return home


def baseline(home: Path) -> tuple[float, float, int, int]:
    """Plain decode + decide of every line: (alerts/s, alerts per CPU second, alerts,
    responses decided)."""
    config = load_config(home / "etc" / "ossec.conf")
    decider = Decider(config, None)
    lines = (home / "logs" / "alerts" / "alerts.json").read_bytes().splitlines()
    began, cpu = time.perf_counter(), time.process_time()
    responses = 0
    for line in lines:
        responses += len(decider.fired(decode_alert_line(line)))
    elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
    return len(lines) / elapsed, len(lines) / cpu, len(lines), responses


async def replay(home: Path, alerts: int) -> tuple[float, float, int, int]:
    """A dry-run engine from the start: (alerts/s, alerts per CPU second, blocks, log lines)."""
    options = EngineOptions(
        config_path=home / "etc" / "ossec.conf", home=home,
        alerts_path=home / "logs" / "alerts" / "alerts.json",
        state_path=home / "var" / "arconsole" / "state.db", mode=Mode.DRY_RUN,
        from_start=True, watch_config=False, control_socket=False,
    )
    engine = Engine(options)
    with open("/dev/null", "w") as null:
        counted = _Counting(null)
        logger = EventLogger(counted)
        subscription = engine.bus.subscribe(idle_alerts=False)  # as `arconsole run` does
        printer = asyncio.create_task(logger.follow(subscription))
        began, cpu = time.perf_counter(), time.process_time()
        await engine.start()
        while engine.stats.alerts + engine.stats.input_errors < alerts:
            await asyncio.sleep(0.01)
        await engine.drain()
        elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
        blocks = len(engine.blocks)
        await engine.stop()
        await asyncio.sleep(0)
        logger.flush(subscription)
        printer.cancel()
    return alerts / elapsed, alerts / cpu, blocks, counted.lines


class _Counting:
    """A stream that counts the lines written through it."""

    def __init__(self, stream: object) -> None:
        self.stream = stream
        self.lines = 0

    def write(self, text: str) -> int:
        self.lines += text.count("\n")
        return self.stream.write(text)  # type: ignore[attr-defined, no-any-return]

    def flush(self) -> None:
        self.stream.flush()  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="arconsole-backlog-") as folder:
        home = make_home(Path(folder), args.alerts, args.seed)
        size = (home / "logs" / "alerts" / "alerts.json").stat().st_size
        print(f"== backlog: {args.alerts:,} alerts, {size / 1e6:.0f} MB, sample config, dry run")
        # The replay first: its peak RSS is then the engine's, not the baseline's lines.
        rate, rate_cpu, blocks, lines = asyncio.run(replay(home, args.alerts))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        plain, plain_cpu, count, responses = baseline(home)
        assert count == args.alerts
        print(f"baseline decode + decide: {plain:,.0f} alerts/s, {plain_cpu:,.0f} per CPU s "
              f"({responses:,} responses decided)")
        print(f"engine replay (--from-start, dry-run): {rate:,.0f} alerts/s, {rate_cpu:,.0f} per "
              f"CPU s, {blocks:,} blocks, {lines:,} log lines, peak RSS {peak:.0f} MB")
        # Wall time is the target; CPU time says the same with less noise on a shared machine
        # (the replay's wall time also holds the state file's writes to disk).
        print(f"ratio replay / decode+decide: {rate / plain:.2f} wall, {rate_cpu / plain_cpu:.2f} "
              "CPU (target: replay >= 50,000/s)")

if __name__ == "__main__":
    main()

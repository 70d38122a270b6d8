"""Follower benchmark: throughput against a plain readline loop, and write-to-yield latency.

    python bench/follow.py [--lines 300000] [--latency-lines 3000] [--repeat 3]

1. Throughput: a writer process appends alert lines as fast as it can while an AlertFollower
   follows the file, twice: writing 64 lines per write, and one line per write as analysisd
   does; then, in the same run, the finished file is read by the follower from its start and
   by a plain `readline` loop (the baseline), best of --repeat runs each. Lines per second
   for each (wall clock; while written, the writer may be the limit, and it prints its own
   rate), and the follower's own CPU per line (`time.process_time`, which counts the
   file-event thread too) while the file is written against on the finished file.
2. Latency at 1,000 lines per second: a writer process stamps each line with
   CLOCK_MONOTONIC (system-wide on Linux, so comparable across processes); the follower
   notes when each line comes out. p50 / p99 / max, with file events and with polling only.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from arconsole.alerts.follower import AlertFollower, Line

REAL = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "real" / "alerts-sample.json"

FAST_WRITER = """
import os, sys, time
path, count, per_write = sys.argv[1], int(sys.argv[2]), int(sys.argv[4])
lines = open(sys.argv[3], "rb").read().splitlines(keepends=True)
fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
block, written = [], 0
start = time.perf_counter()
for n in range(count):
    block.append(lines[n % len(lines)])
    if len(block) == per_write:
        os.write(fd, b"".join(block)); block.clear()
if block:
    os.write(fd, b"".join(block))
print(count / (time.perf_counter() - start))
"""

PACED_WRITER = """
import os, sys, time
path, count, rate = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
pad = b"x" * 600
fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
start = time.monotonic()
for n in range(count):
    delay = start + n / rate - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    os.write(fd, b'{"stamp": %d, "pad": "%s"}\\n' % (time.monotonic_ns(), pad))
"""


def sample_lines(directory: Path) -> Path:
    """Real alerts when the shared fixtures are there, else a synthetic ~1 KB alert."""
    source = directory / "sample.json"
    if REAL.exists():
        source.write_bytes(REAL.read_bytes())
    else:
        source.write_bytes(b'{"rule": {"id": "5712", "level": 10}, "pad": "%s"}\n' % (b"x" * 900))
    return source


async def follow_while_written(
    path: Path, count: int, sample: Path, per_write: int
) -> tuple[float, float, int, float]:
    """(seconds, follower CPU seconds, lines seen, the writer's own lines per second)."""
    path.unlink(missing_ok=True)
    path.touch()
    follower = AlertFollower(path, position=None)
    writer = subprocess.Popen(
        [sys.executable, "-c", FAST_WRITER, str(path), str(count), str(sample), str(per_write)],
        stdout=subprocess.PIPE,
    )
    seen = 0
    cpu = time.process_time()
    start = time.perf_counter()
    async for batch in follower.batches():
        seen += sum(isinstance(item, Line) for item in batch)
        if seen >= count:
            follower.stop()
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu
    out, _ = writer.communicate()
    return elapsed, cpu, seen, float(out)


async def follow_finished_file(
    path: Path, count: int, *, batches: bool
) -> tuple[float, float, int]:
    """(seconds, CPU seconds, lines seen)."""
    follower = AlertFollower(path, position=None, from_start=True, use_events=False)
    seen = 0
    cpu = time.process_time()
    start = time.perf_counter()
    if batches:
        async for batch in follower.batches():
            seen += len(batch)
            if seen >= count:
                follower.stop()
    else:
        async for _item in follower.lines():
            seen += 1
            if seen >= count:
                follower.stop()
    return time.perf_counter() - start, time.process_time() - cpu, seen


def readline_loop(path: Path) -> tuple[float, int]:
    seen = 0
    start = time.perf_counter()
    with open(path, "rb") as handle:
        while line := handle.readline():
            seen += bool(line)
    return time.perf_counter() - start, seen


async def latency(path: Path, count: int, rate: float, *, use_events: bool) -> list[float]:
    path.touch()
    follower = AlertFollower(path, position=None, use_events=use_events)
    delays: list[float] = []

    async def consume() -> None:
        async for item in follower.lines():
            now = time.monotonic_ns()
            if isinstance(item, Line):
                stamp = int(item.data.split(b'"stamp": ', 1)[1].split(b",", 1)[0])
                delays.append((now - stamp) / 1e6)
                if len(delays) >= count:
                    follower.stop()

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.3)  # let the watch start
    writer = subprocess.Popen(
        [sys.executable, "-c", PACED_WRITER, str(path), str(count), str(rate)]
    )
    await task
    writer.wait()
    return delays


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=300_000)
    parser.add_argument("--latency-lines", type=int, default=3_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        sample = sample_lines(directory)
        path = directory / "alerts.json"

        live = [await follow_while_written(path, args.lines, sample, per_write)
                for per_write in (64, 1)]
        size = path.stat().st_size
        # Best of --repeat runs each, interleaved: the machine may be shared and noisy.
        base_s = lines_s = batch_s = batch_cpu = float("inf")
        for _ in range(args.repeat):
            seconds, base_n = readline_loop(path)
            base_s = min(base_s, seconds)
            seconds, _, lines_n = await follow_finished_file(path, args.lines, batches=False)
            lines_s = min(lines_s, seconds)
            seconds, cpu, batch_n = await follow_finished_file(path, args.lines, batches=True)
            batch_s, batch_cpu = min(batch_s, seconds), min(batch_cpu, cpu)
        assert base_n == lines_n == batch_n == args.lines, (base_n, lines_n, batch_n)
        assert all(seen == args.lines for _, _, seen, _ in live), live
        base_rate = base_n / base_s
        finished_rate = args.lines / batch_s
        print(f"throughput, {args.lines:,} lines, {size / 2**20:.0f} MiB "
              f"(avg {size / args.lines:.0f} B/line)")  # fmt: skip
        print(f"  readline loop (baseline)          {base_rate:>12,.0f} lines/s")
        for label, seconds in (
            ("follower lines(), finished file", lines_s),
            ("follower batches(), finished file", batch_s),
        ):
            rate = args.lines / seconds
            print(f"  {label:<36} {rate:>10,.0f} lines/s  ratio {rate / base_rate:.2f}")
        print(f"  finished file: follower CPU {1e6 * batch_cpu / args.lines:.2f} us/line")
        for (seconds, cpu, _, writer_rate), per_write in zip(live, (64, 1), strict=True):
            rate = args.lines / seconds
            print(f"  while written, {per_write:>2} line(s) per write: {rate:>10,.0f} lines/s "
                  f"= {rate / finished_rate:.2f} of the finished file (the writer alone: "
                  f"{writer_rate:,.0f}/s); follower CPU {1e6 * cpu / args.lines:.2f} us/line "
                  f"= {batch_cpu / cpu:.2f} of the finished file's rate")

        for use_events in (True, False):
            path = directory / f"latency-{use_events}.json"
            delays = await latency(path, args.latency_lines, 1000.0, use_events=use_events)
            how = "file events" if use_events else "polling every 0.25 s"
            print(f"latency at 1,000 lines/s, {how}: p50 {statistics.median(delays):.2f} ms, "
                  f"p99 {percentile(delays, 0.99):.2f} ms, max {max(delays):.2f} ms")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())

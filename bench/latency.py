"""Latency from an alert line appended to alerts.json to its response script starting.

A real `arconsole run` process follows a real file that this benchmark appends to at a
steady rate. The response is a tiny compiled program that records the wall-clock time at
which it started and the alert id it was given, so the figure includes following, decoding,
deciding, the handshake spawn and process start-up; nothing is simulated.

Baseline, measured in the same run: the same program spawned directly by this process right
after each write (no file, no engine) -- the floor any engine has to pay.

The engine runs with ARCONSOLE_STAGE_TRACE (arconsole.stagetrace), and the percentiles of
each stage are printed (follower wake-up, decode and decide, spawner queue wait, posix_spawn,
cgroup move, message, script start), so that a miss says where the time went.

    python bench/latency.py [--rate 1000] [--seconds 10] [--fire-ratio 0.1]

Wazuh's execd works in 1 s ticks; the target is p99 under 25 ms at 1,000 alerts per second,
with the engine's RSS flat after the first 10 s (sampled once a second from /proc).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

try:
    from arconsole.stagetrace import STAGES
except ImportError:  # an older tree, measured for comparison: no stage trace
    STAGES = ()

STAMP_C = r"""
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>
int main(void) {
    struct timespec ts; clock_gettime(CLOCK_REALTIME, &ts);
    char line[8192]; ssize_t n = read(0, line, sizeof line - 1); if (n < 0) n = 0; line[n] = 0;
    char *id = strstr(line, "\"id\":\"lat.");
    char out[128]; int len = snprintf(out, sizeof out, "%ld.%09ld %.40s\n",
        (long)ts.tv_sec, ts.tv_nsec, id ? id + 6 : "?");
    int fd = open("stamps.log", O_WRONLY | O_APPEND | O_CREAT, 0600);
    if (fd >= 0) { write(fd, out, len); close(fd); }
    return 0;
}
"""

CONF = """<ossec_config>
  <global><white_list>127.0.0.1</white_list></global>
  <command><name>stamp</name><executable>stamp</executable>
    <timeout_allowed>no</timeout_allowed></command>
  <active-response><command>stamp</command><location>server</location>
    <rules_id>5712</rules_id></active-response>
</ossec_config>
"""


def build_home(root: Path) -> Path:
    home = root / "ossec"
    for sub in ("etc", "active-response/bin", "logs/alerts"):
        (home / sub).mkdir(parents=True)
    (home / "etc" / "ossec.conf").write_text(CONF)
    source = root / "stamp.c"
    source.write_text(STAMP_C)
    target = home / "active-response" / "bin" / "stamp"
    if shutil.which("cc"):
        subprocess.run(["cc", "-O2", "-o", str(target), str(source)], check=True)
    else:  # no compiler: a Python stand-in (start-up adds ~15 ms to both sides)
        target.write_text(f"#!{sys.executable} -S\nimport sys,time,re\nt=time.time()\n"
                          "l=sys.stdin.readline()\nm=re.search(r'\"id\":\"(lat\\.[0-9.]+)',l)\n"
                          "open('stamps.log','a').write(f'{t} {m.group(1) if m else \"?\"}\\n')\n")
    target.chmod(0o755)
    (home / "logs" / "alerts" / "alerts.json").touch()
    return home


def alert(n: int, fires: bool) -> bytes:
    rule = "5712" if fires else "5501"
    body = {"timestamp": "2026-11-23T10:00:00.000+0000",
            "rule": {"level": 10, "description": "sshd: brute force", "id": rule,
                     "groups": ["syslog", "sshd"]},
            "agent": {"id": "000", "name": "manager"}, "manager": {"name": "manager"},
            "id": f"lat.{n}", "full_log": "x" * 600,
            "data": {"srcip": f"198.51.{(n >> 8) & 255}.{n & 255}"},
            "location": "/var/log/secure"}
    return json.dumps(body, separators=(",", ":")).encode() + b"\n"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def rss_kib(pid: int) -> int:
    """The process's resident set size now, from /proc (0 once it is gone)."""
    try:
        for row in Path(f"/proc/{pid}/status").read_text().splitlines():
            if row.startswith("VmRSS:"):
                return int(row.split()[1])
    except OSError:
        pass
    return 0


RSS_SAMPLES: list[tuple[float, int]] = []  # (seconds since the flood began, KiB)


def run_engine(
    home: Path, rate: int, seconds: float, fire_ratio: float, trace: bool = True
) -> list[float]:
    env = dict(os.environ)
    if trace:
        env["ARCONSOLE_STAGE_TRACE"] = str(home / "stages.log")
    engine = subprocess.Popen(
        [sys.executable, "-m", "arconsole", "run", str(home / "etc" / "ossec.conf"), "--quiet"],
        stderr=subprocess.DEVNULL, env=env,
    )
    socket_path = home / "var" / "arconsole" / "state.db.sock"
    deadline = time.monotonic() + 20
    while not socket_path.exists():
        if time.monotonic() > deadline or engine.poll() is not None:
            raise SystemExit("engine did not start")
        time.sleep(0.05)
    # Readiness: one response gone all the way through (the engine imports and opens its
    # stages after the socket is there; that start-up is not what is measured here).
    alerts = home / "logs" / "alerts" / "alerts.json"
    stamps = home / "stamps.log"
    with alerts.open("ab", buffering=0) as out:
        out.write(alert(-1, True))
    while not (stamps.exists() and b"lat.-1" in stamps.read_bytes()):
        if time.monotonic() > deadline or engine.poll() is not None:
            raise SystemExit("engine did not run the warm-up response")
        time.sleep(0.05)
    written: dict[str, float] = {}
    every = max(1, round(1 / fire_ratio))
    interval = 1.0 / rate
    total = int(rate * seconds)
    start = time.monotonic()
    next_sample = start
    LOADS.append(os.getloadavg()[0])
    with alerts.open("ab", buffering=0) as out:
        for n in range(total):
            if time.monotonic() >= next_sample:
                RSS_SAMPLES.append((time.monotonic() - start, rss_kib(engine.pid)))
                next_sample += 1.0
            target = start + n * interval
            delay = target - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            fires = n % every == 0
            line = alert(n, fires)
            if fires:
                written[f"lat.{n}"] = time.time()
            out.write(line)
    time.sleep(2.0)
    LOADS.append(os.getloadavg()[0])
    engine.send_signal(signal.SIGTERM)
    engine.wait(timeout=30)
    WRITTEN.clear()
    WRITTEN.update(written)
    return latencies(home / "stamps.log", written)


LOADS: list[float] = []  # load average when the flood began and when it ended
WRITTEN: dict[str, float] = {}  # alert id -> wall time written
# (name, stage it starts at, stage it ends at); "written"/"started" are the bench's own times.
STAGE_SPANS = (
    ("follower wake-up (written -> look began)", "written", "woke"),
    ("read, decode, decide", "woke", "decided"),
    ("to the spawner (slot, pipes)", "decided", "queued"),
    ("spawner queue wait", "queued", "spawning"),
    ("posix_spawn (until exec)", "spawning", "spawned"),
    ("cgroup move", "spawned", "contained"),
    ("message written", "contained", "fed"),
    ("exec -> script's first instruction", "spawned", "started"),
    ("in all: written -> script started", "written", "started"),
    ("in all: written -> message written", "written", "fed"),
)


def stage_table(home: Path) -> list[str]:
    """Percentiles of each stage (arconsole.stagetrace), for the responses the scripts saw."""
    trace = home / "stages.log"
    if not trace.exists():
        return ["no stage trace (the engine wrote none)"]
    started: dict[str, float] = {}
    for row in (home / "stamps.log").read_text().splitlines():
        stamp, _, ident = row.partition(" ")
        started[ident.split('"')[0].strip()] = float(stamp)
    spans: dict[str, list[float]] = {name: [] for name, _, _ in STAGE_SPANS}
    for row in trace.read_text().splitlines():
        label, *fields = row.split(" ")
        ident = json.loads(label)
        if ident not in WRITTEN or ident not in started:
            continue
        times = dict(zip(STAGES, map(float, fields), strict=True))
        times["written"], times["started"] = WRITTEN[ident], started[ident]
        if not times["contained"]:  # no cgroup: the message follows the spawn
            times["contained"] = times["spawned"]
        for name, begin, end in STAGE_SPANS:
            if times[begin] and times[end]:
                spans[name].append((times[end] - times[begin]) * 1000)
    rows = []
    for name, values in spans.items():
        if values:
            rows.append(f"  {name:<42} p50 {statistics.median(values):7.2f}  p99 "
                        f"{percentile(values, 0.99):7.2f}  max {max(values):7.2f} ms")
    return rows


TIMELINE: list[tuple[float, float]] = []  # (wall time written, latency ms) of each response


def latencies(stamps: Path, written: dict[str, float]) -> list[float]:
    result = []
    TIMELINE.clear()
    for row in stamps.read_text().splitlines():
        stamp, _, ident = row.partition(" ")
        ident = ident.split('"')[0].strip()
        if ident in written:
            result.append((float(stamp) - written[ident]) * 1000)
            TIMELINE.append((written[ident], result[-1]))
    return result


def windows(timeline: list[tuple[float, float]], width: float) -> list[str]:
    """p99 and max per `width` seconds of the run: when the slow responses happened."""
    if not timeline:
        return []
    first = min(at for at, _ in timeline)
    buckets: dict[int, list[float]] = {}
    for at, latency in timeline:
        buckets.setdefault(int((at - first) // width), []).append(latency)
    return [f"{index * width:>4.0f}s p99 {percentile(values, 0.99):6.1f} max "
            f"{max(values):6.1f}" for index, values in sorted(buckets.items())]


def run_baseline(home: Path, count: int) -> list[float]:
    program = str(home / "active-response" / "bin" / "stamp")
    stamps = home / "stamps.log"
    stamps.unlink(missing_ok=True)
    written = {}
    for n in range(count):
        ident = f"lat.{n}"
        written[ident] = time.time()
        child = subprocess.Popen([program], stdin=subprocess.PIPE, cwd=home)
        assert child.stdin is not None
        child.stdin.write(b'{"id":"' + ident.encode() + b'"}\n')
        child.stdin.close()
        child.wait()
    return latencies(stamps, written)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=1000, help="alert lines per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--fire-ratio", type=float, default=0.1,
                        help="share of alerts that fire a response (default 0.1)")
    parser.add_argument("--windows", type=float, default=0.0,
                        help="also print p99/max per window of this many seconds")
    parser.add_argument("--no-trace", action="store_true",
                        help="run the engine without its stage trace (no per-stage table)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="arconsole-latency-"))
    try:
        home = build_home(root)
        measured = run_engine(home, args.rate, args.seconds, args.fire_ratio, not args.no_trace)
        timeline = list(TIMELINE)
        expected = int(args.rate * args.seconds * args.fire_ratio)
        stages = stage_table(home)
        baseline = run_baseline(home, min(500, max(50, len(measured))))
        print(f"alerts: {args.rate}/s for {args.seconds:.0f}s, {args.fire_ratio:.0%} fire "
              f"({len(measured)}/{expected} responses seen); load average "
              + (f"{LOADS[0]:.1f} at the start, {LOADS[-1]:.1f} at the end" if LOADS else "?"))
        for name, values in (("engine: write -> script start", measured),
                             ("baseline: spawn -> script start", baseline)):
            if not values:
                print(f"{name}: no samples")
                continue
            print(f"{name}: p50 {statistics.median(values):.1f} ms, "
                  f"p99 {percentile(values, 0.99):.1f} ms, max {max(values):.1f} ms")
        if measured and baseline:
            print(f"ratio p99 engine/baseline: "
                  f"{percentile(measured, 0.99) / max(0.001, percentile(baseline, 0.99)):.1f}x; "
                  f"target p99 < 25 ms: {'met' if percentile(measured, 0.99) < 25 else 'missed'}")
        print("where the time went, per response (ms):")
        for row in stages:
            print(row)
        if measured and args.windows:
            print(f"per {args.windows:.0f} s window (ms):")
            for row in windows(timeline, args.windows):
                print("  " + row)
            slow = sorted((at, latency) for at, latency in timeline if latency >= 25)
            if slow:
                print(f"{len(slow)} responses >= 25 ms; written at (wall clock): "
                      + ", ".join(f"{at:.3f}:{latency:.0f}" for at, latency in slow[:40]))
        settled = [kib for at, kib in RSS_SAMPLES if at >= 10]
        if len(settled) >= 2:
            print(f"engine RSS: {settled[0] / 1024:.1f} MiB at 10 s, {settled[-1] / 1024:.1f} MiB "
                  f"at the end, max {max(settled) / 1024:.1f} MiB "
                  f"(growth after 10 s: {(settled[-1] - settled[0]) / 1024:+.1f} MiB)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

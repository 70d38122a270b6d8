"""Fleet-table updates against decisions through the whole engine, as `arconsole run
--from-start` reads them.

Plain script (not a test); `bench/fleet.py` prints its result beside its own (bare) ratio:

    python bench/fleet_engine.py [--alerts 20000] [--rounds 5] [--mode dry-run|observe]

bench/fleet.py compares the bare pair (decode + table + rows log of one AR line against decode +
`Decider.fired` of one 5710). An operator feels the engine instead: the follower, the intake,
the bus and `arconsole run`'s event log, the watermark, the state file. So here a dry-run
engine (`--mode`) reads from the start:

(a) a file of N AR log alerts laid out as analysisd 4.14.7 writes them (`ar_alert_wazuh`): rule
    651 adds, each with a key of its own, and every tenth line a 652 delete of an add five
    lines before it (same agent, program and key); their 50 agents in its inventory
    (`--agents`);
(b) a file of N realistic alerts whose responses fire: bench/backlog.py's generator (SSH
    bursts, web scans, repeat offenders, white-listed sources, noise) and the sample config,
    the same config (a) is read with, and no inventory, exactly as bench/backlog.py runs it
    (with (a)'s 50 agents, each `location=all` response would go to 50 agents: about ten
    deliveries an alert, each reported undelivered without a transport);

each until every line is handled and all work done (start included, as bench/backlog.py),
alerts/s and CPU per alert, the two files taking turns in each round (after a round to warm up,
dropped), a fresh state file each run; the ratio (a)/(b) per round, median and range. Both
runs subscribe `arconsole run`'s event log (to /dev/null) as run does; (a) is also run with no
subscriber, to show what the event per fleet row and its log line cost. `--profile` prints
cProfile's top functions for one run of each instead.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import json
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from arconsole.engine.engine import Engine
from arconsole.engine.eventlog import EventLogger
from arconsole.engine.options import EngineOptions, Mode
from bench.backlog import make_home
from bench.fleet import ar_alert_wazuh

DELETE_EVERY = 10  # every tenth AR line is a 652 delete
DELETE_BACK = 5  # of the add this many lines before it


def ar_delete(line: bytes) -> bytes:
    """The 652 execd's delete of `line`'s block logs, as analysisd writes it: the 651 with
    rule 652's id and description and `delete` as the command (in `data` and `full_log`)."""
    alert = json.loads(line)
    alert["rule"]["id"] = "652"
    alert["rule"]["description"] = "Host Unblocked by firewall-drop Active Response"
    alert["data"]["command"] = "delete"
    head, colon, message = alert["full_log"].partition(": {")
    body = json.loads("{" + message)
    body["command"] = "delete"
    alert["full_log"] = head + colon[:-1] + " " + json.dumps(body, separators=(",", ":"))
    return json.dumps(alert, separators=(",", ":")).encode()


def ar_file(path: Path, count: int) -> tuple[int, int]:
    """Write `count` AR lines; (adds, deletes)."""
    lines = [ar_alert_wazuh(n) for n in range(count)]
    deletes = 0
    for n in range(DELETE_EVERY - 1, count, DELETE_EVERY):
        lines[n] = ar_delete(lines[n - DELETE_BACK])
        deletes += 1
    path.write_bytes(b"\n".join(lines) + b"\n")
    return count - deletes, deletes


class Run(NamedTuple):
    wall: float  # seconds
    cpu: float  # seconds of this process
    updates: int  # fleet rows added, refreshed or lifted
    fired: int  # responses fired (server ones dispatched)
    blocks: int


class _Counting:
    """/dev/null that counts the log lines written to it."""

    def __init__(self) -> None:
        self.lines = 0

    def write(self, text: str) -> int:
        self.lines += text.count("\n")
        return len(text)

    def flush(self) -> None:
        pass


async def replay(home: Path, alerts: Path, count: int, state: Path, mode: Mode,
                 agents: Path | None, logged: bool = True) -> Run:
    """A dry-run (or observing) engine reading `alerts` from the start (`agents`: its
    `--agents`), with `arconsole run`'s event log subscribed (unless not `logged`), until all
    `count` lines are handled and its work is done."""
    options = EngineOptions(
        config_path=home / "etc" / "ossec.conf", home=home, alerts_path=alerts,
        state_path=state, mode=mode, from_start=True, watch_config=False,
        control_socket=False, agents_file=agents,
    )
    engine = Engine(options)
    logger = EventLogger(_Counting())  # type: ignore[arg-type]
    subscription = engine.bus.subscribe(idle_alerts=False)  # as `arconsole run` does
    if not logged:
        subscription.close()  # no event is built at all
    printer = asyncio.create_task(logger.follow(subscription))
    began, cpu = time.perf_counter(), time.process_time()
    await engine.start()
    gc.freeze()  # as `arconsole run` does once started
    stats = engine.stats
    seen, still = 0, time.monotonic()
    while stats.alerts + stats.input_errors < count:
        await asyncio.sleep(0.01)
        if stats.alerts + stats.input_errors > seen:
            seen, still = stats.alerts + stats.input_errors, time.monotonic()
        elif time.monotonic() - still > 60:
            raise RuntimeError(f"{alerts.name}: stuck at {seen} of {count} lines")
    await engine.drain()
    await asyncio.sleep(0)  # the turn's write-behind (fleet rows) runs
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu
    assert stats.input_errors == 0, f"{stats.input_errors} lines refused"
    run = Run(wall, cpu, engine.fleet.updates, stats.fired, len(engine.blocks))
    await engine.stop()
    await asyncio.sleep(0)
    logger.flush(subscription)
    printer.cancel()
    gc.unfreeze()
    return run


class Comparison(NamedTuple):
    ar: list[Run]
    alerts: list[Run]
    ar_unlogged: list[Run]  # (a) with no event log subscribed
    lines: int  # in each file
    adds: int
    deletes: int

    def ratios(self, cpu: bool) -> list[float]:
        """(a)/(b) per round, in alerts per second: (b)'s time over (a)'s."""
        return sorted((b.cpu / a.cpu) if cpu else (b.wall / a.wall)
                      for a, b in zip(self.ar, self.alerts, strict=True))


def prepare(folder: Path, count: int, seed: int) -> tuple[Path, Path, Path, int, int]:
    """(home, AR file, alerts file, adds, deletes): a copy of the sample config, the
    inventory of the AR lines' 50 agents (HOME/agents.json), and both files."""
    home = make_home(folder, count, seed)
    agents = [{"id": f"{n:03d}", "name": f"agent-{n:03d}", "status": "active",
               "version": "Wazuh v4.14.7"} for n in range(1, 51)]
    (home / "agents.json").write_text(json.dumps(agents))
    ar_path = home / "logs" / "alerts" / "ar-alerts.json"
    adds, deletes = ar_file(ar_path, count)
    return home, ar_path, home / "logs" / "alerts" / "alerts.json", adds, deletes


def compare(folder: Path, count: int, rounds: int, seed: int = 7,
            mode: Mode = Mode.DRY_RUN) -> Comparison:
    """Both files through a fresh engine each, taking turns, `rounds` times."""
    home, ar_path, alerts_path, adds, deletes = prepare(folder, count, seed)
    inventory = home / "agents.json"
    ar_runs: list[Run] = []
    alert_runs: list[Run] = []
    unlogged: list[Run] = []
    # Round 0 warms up (the first run of each imports what the engine loads lazily): dropped.
    for round_ in range(rounds + 1):
        order = [(ar_path, inventory, ar_runs), (alerts_path, None, alert_runs),
                 (ar_path, inventory, unlogged)]
        for path, agents, runs in order if round_ % 2 == 0 else order[::-1]:
            # A state file of its own: a stored read position would skip the whole file.
            state = home / "var" / "arconsole" / f"state-{round_}-{id(runs)}.db"
            run = asyncio.run(replay(home, path, count, state, mode, agents,
                                     logged=runs is not unlogged))
            if round_:
                runs.append(run)
            gc.collect()
    for run in ar_runs + unlogged:
        assert run.updates == count, f"{run.updates} fleet updates of {count} AR lines"
    for run in alert_runs:
        assert run.fired > 0 and run.updates == 0
    return Comparison(ar_runs, alert_runs, unlogged, count, adds, deletes)


def spread(values: list[float]) -> str:
    values = sorted(values)
    return f"{values[len(values) // 2]:.2f} ({values[0]:.2f}-{values[-1]:.2f})"


def report(result: Comparison, mode: Mode) -> list[str]:
    count = result.lines

    def rates(runs: list[Run]) -> str:
        wall = sorted(count / r.wall for r in runs)
        cpu = sorted(r.cpu / count * 1e6 for r in runs)
        return (f"{wall[len(wall) // 2]:,.0f} alerts/s ({wall[0]:,.0f}-{wall[-1]:,.0f}), "
                f"{cpu[len(cpu) // 2]:.1f} us CPU/alert ({cpu[0]:.1f}-{cpu[-1]:.1f})")

    fired = result.alerts[0].fired
    logged = sorted(r.cpu for r in result.ar)[len(result.ar) // 2]
    unlogged = sorted(r.cpu for r in result.ar_unlogged)[len(result.ar_unlogged) // 2]
    return [
        f"through the engine, as `arconsole run --from-start` reads them ({mode} engine, "
        f"{count:,} lines a file, {len(result.ar)} rounds taking turns, median (range)):",
        f"  (a) AR log alerts ({result.adds:,} 651 adds, {result.deletes:,} 652 deletes): "
        + rates(result.ar),
        f"  (b) realistic alerts, responses firing ({fired:,} fired): " + rates(result.alerts),
        f"  ratio (a)/(b) through the engine: {spread(result.ratios(cpu=True))} per CPU "
        f"second, {spread(result.ratios(cpu=False))} wall (not the target's ratio: that "
        "is bench/fleet.py's bare one)",
        "  (a) with no event log subscribed (no event built per row): " + rates(result.ar_unlogged)
        + f"; run's log costs the AR path {(logged - unlogged) / count * 1e6:.1f} us/alert",
    ]


def profile(folder: Path, count: int, mode: Mode, top: int) -> str:
    """cProfile's top functions (by own time) of one run of each file."""
    home, ar_path, alerts_path, _, _ = prepare(folder, count, 7)
    out = io.StringIO()
    for name, path, agents in (("(a) AR log alerts", ar_path, home / "agents.json"),
                               ("(b) realistic alerts", alerts_path, None)):
        profiler = cProfile.Profile()
        state = home / "var" / "arconsole" / f"profile-{path.stem}.db"
        profiler.enable()
        asyncio.run(replay(home, path, count, state, mode, agents))
        profiler.disable()
        out.write(f"== {name}\n")
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--mode", choices=[Mode.DRY_RUN.value, Mode.OBSERVE.value],
                        default=Mode.DRY_RUN.value)
    parser.add_argument("--profile", type=int, metavar="TOP", default=0,
                        help="instead: cProfile one run of each, print the TOP functions")
    args = parser.parse_args()
    mode = Mode(args.mode)
    with tempfile.TemporaryDirectory(prefix="arconsole-fleet-engine-") as folder:
        if args.profile:
            print(profile(Path(folder), args.alerts, mode, args.profile))
            return
        result = compare(Path(folder), args.alerts, args.rounds, mode=mode)
        print("\n".join(report(result, mode)))
    print(f"  load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} (2 cores, shared)")


if __name__ == "__main__":
    main()

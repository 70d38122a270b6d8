"""The console under a flood: key latency, engine throughput with and without it, memory.

Plain script (not a test): prints figures and ratios against baselines measured in the same run.

    python bench/console.py [--seconds 60] [--rate 2000] [--burst 10] [--json FILE]

The engine runs on a private copy of the sample home (the demo's record-mode scripts) and
follows its alerts.json as in production, while a writer thread appends lines to it at the
offered rate; 99.5 % of them are quiet and 0.5 % brute force from the manager (they fire
firewall-drop, host-deny and disable-account on a rotating set of addresses, so blocks are
added, refreshed and expire all along).

Phases, each on a fresh home:

1. offered load, engine alone: `--rate` alerts/s for `--seconds`;
2. offered load, console attached: the same with the console (headless `run_test`, 120x36,
   its real timers) while keys are pressed every 100 ms after a 5 s warm-up: the time from a
   key event entering the app to the next screen update that shows its effect (p50, p99);
   RSS sampled every 2 s;
3. saturation: a backlog of alerts already in the file, read as fast as the engine goes for
   `--burst` seconds, alone then with the console (two interleaved rounds, best kept).

4. attached (the SSH use): a separate `arconsole run` process owns the engine; the console, in
   this process, attaches over the control socket (`SocketLink`). Key latency is measured with
   the engine idle (the baseline, same run), then with `--rate` alerts/s written to its file.

Targets: key p99 < 100 ms (offered load, and attached at `--rate`); throughput ratio
(console / alone) >= 0.9 for both the offered and the saturated load; RSS flat after the first
minute (growth over the second half of phase 2).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from arconsole.commands.demo import prepare_home
from arconsole.console.generator import SESSION_OPENED, SSH_BRUTE, SUDO, AlertGenerator
from arconsole.engine.engine import Engine
from arconsole.engine.link import LocalLink
from arconsole.engine.options import EngineOptions

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * PAGE / 1e6


def alert_pool(size: int = 20_000, seed: int = 5) -> list[bytes]:
    generator = AlertGenerator(Path(os.devnull), seed=seed)
    rng = random.Random(seed)
    offenders = [f"203.0.113.{n}" for n in range(1, 60)]
    manager = ("000", "demo-manager", None)
    lines = []
    for n in range(size):
        if n % 200 == 0:
            alert = generator.alert(SSH_BRUTE, rng.choice(offenders), agent=manager)
        else:
            alert = generator.alert(rng.choice((SESSION_OPENED, SUDO)), None)
        alert["id"] = f"1700000000.{n}"
        lines.append(json.dumps(alert, separators=(",", ":")).encode())
    return lines


def new_engine(root: Path, name: str, backlog: list[bytes] | None = None) -> Engine:
    home = prepare_home(root / name)
    (home / "var" / "arconsole").mkdir(parents=True, exist_ok=True)
    alerts = home / "logs" / "alerts" / "alerts.json"
    if backlog:
        alerts.write_bytes(b"".join(line + b"\n" for line in backlog))
    options = EngineOptions(
        config_path=home / "etc" / "ossec.conf", home=home, alerts_path=alerts,
        state_path=home / "var" / "arconsole" / "state.db", from_start=True,
        watch_config=False, control_socket=False,
    )
    return Engine(options)


def backlog(lines: list[bytes], seconds: float) -> list[bytes]:
    """Enough lines for `seconds` of the fastest engine seen here, with room to spare."""
    count = int(seconds * 15_000) + 20_000
    return [lines[n % len(lines)] for n in range(count)]


class Writer(threading.Thread):
    """Appends alerts at `rate` per second (in 10 ms slices), as Wazuh's analysisd would."""

    def __init__(self, path: Path, lines: list[bytes], rate: float, seconds: float) -> None:
        super().__init__(daemon=True)
        self.path, self.lines, self.rate, self.seconds = path, lines, rate, seconds
        self.written = 0

    def run(self) -> None:
        start = time.perf_counter()
        with open(self.path, "ab", buffering=0) as handle:
            while (elapsed := time.perf_counter() - start) < self.seconds:
                due = int(elapsed * self.rate)
                if due > self.written:
                    chunk = [self.lines[n % len(self.lines)] for n in range(self.written, due)]
                    handle.write(b"".join(line + b"\n" for line in chunk))
                    self.written = due
                time.sleep(0.01)


async def drive(engine: Engine, lines: list[bytes], rate: float | None, seconds: float,
                on_tick: Callable[[float], None] | None = None) -> dict[str, float]:
    """Offer `rate` alerts/s through the file (None: the backlog already there); return what
    the engine handled in `seconds`."""
    writer = None
    if rate is not None:
        writer = Writer(engine.options.alerts_path, lines, rate, seconds)
        writer.start()
    start = time.perf_counter()
    first = engine.stats.alerts
    behind = 0
    next_tick = 2.0
    while (elapsed := time.perf_counter() - start) < seconds:
        if writer is not None:
            behind = max(behind, writer.written - (engine.stats.alerts - first))
        if on_tick is not None and elapsed >= next_tick:
            on_tick(elapsed)
            next_tick += 2.0
        await asyncio.sleep(0.05)
    handled = engine.stats.alerts - first
    elapsed = time.perf_counter() - start
    if writer is not None:
        writer.join()
    return {"handled": handled, "seconds": elapsed, "per_second": handled / elapsed,
            "max_backlog": float(behind), "fired": engine.stats.fired}


async def engine_alone(root: Path, name: str, lines: list[bytes], rate: float | None,
                       seconds: float) -> dict[str, float]:
    engine = new_engine(root, name, None if rate is not None else backlog(lines, seconds))
    await engine.start()
    try:
        return await drive(engine, lines, rate, seconds)
    finally:
        await engine.stop()


class KeyProbe:
    """Presses keys like a terminal would and times them to the screen update showing them."""

    CYCLE: ClassVar[list[tuple[str, str | None]]] = [
        ("space", " "), ("down", None), ("down", None), ("up", None), ("up", None),
        ("space", " ")]

    def __init__(self, app: Any) -> None:
        self.app = app
        self.latencies: list[float] = []
        self.missed = 0
        self._pending: tuple[float, Callable[[], bool], str] | None = None
        self.by_key: list[tuple[str, float]] = []
        self._step = 0
        original = app._display
        console = app.console

        def display(screen: Any, renderable: Any) -> None:
            original(screen, renderable)
            if renderable is None:
                return
            # Encode the update as the terminal would receive it (headless skips this).
            render = getattr(renderable, "render_segments", None)
            if render is not None:
                render(console)
            if self._pending is not None and self._pending[1]():
                self.latencies.append(time.perf_counter() - self._pending[0])
                self.by_key.append((self._pending[2], self.latencies[-1]))
                self._pending = None

        app._display = display

    def press(self) -> None:
        from textual import events

        if self._pending is not None:
            if time.perf_counter() - self._pending[0] < 1.0:
                return  # still waiting for the previous one
            self.missed += 1
            self._pending = None
        key, char = self.CYCLE[self._step % len(self.CYCLE)]
        self._step += 1
        app = self.app
        view = app.main.alerts_view
        if key == "space":
            wanted_paused = not app.main.ring.paused
            done: Callable[[], bool] = lambda: app.main.ring.paused == wanted_paused  # noqa: E731
        else:
            wanted_cursor = view.cursor + (1 if key == "down" else -1)
            done = lambda: view.cursor == wanted_cursor  # noqa: E731
        self._pending = (time.perf_counter(), done, key)
        app._driver.send_message(events.Key(key, char))


async def with_console(root: Path, name: str, lines: list[bytes], rate: float | None,
                       seconds: float, *, probe: bool) -> dict[str, Any]:
    from arconsole.console.app import ConsoleApp

    engine = new_engine(root, name, None if rate is not None else backlog(lines, seconds))
    link = LocalLink(engine)  # subscribed now: the console sees the engine start
    app = ConsoleApp(link, theme="arconsole-dark", theme_dirs=[], operator="bench")
    memory: list[tuple[float, float]] = []
    result: dict[str, Any] = {}
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            while not app.main.ready.is_set():
                await pilot.pause(0.01)
            await engine.start()  # only now: the backlog is read while measuring
            app.main.alerts_view.focus()
            key_probe = KeyProbe(app) if probe else None
            pressing = True

            async def keys() -> None:
                await asyncio.sleep(min(5.0, seconds / 4))  # warm-up: the flood settles
                while pressing and key_probe is not None:
                    key_probe.press()
                    await asyncio.sleep(0.1)

            presser = asyncio.create_task(keys())
            result = await drive(engine, lines, rate, seconds,
                                 on_tick=lambda t: memory.append((t, rss_mb())))
            pressing = False
            await presser
            result["not_shown"] = app.main.not_shown
            result["ring"] = len(app.main.ring)
            if key_probe is not None:
                result["latencies"] = key_probe.latencies
                result["missed"] = key_probe.missed
            result["memory"] = memory
    finally:
        await link.close()
        await engine.stop()
    return result


async def attached_console(root: Path, name: str, lines: list[bytes], rate: float,
                           seconds: float) -> dict[str, Any]:
    """`arconsole run` in its own process; this process's console attached to its socket."""
    from arconsole.console.app import ConsoleApp
    from arconsole.engine.control import engine_listening, request
    from arconsole.engine.link import SocketLink
    from arconsole.engine.options import socket_path_for

    home = prepare_home(root / name)
    state = home / "var" / "arconsole" / "state.db"
    state.parent.mkdir(parents=True, exist_ok=True)
    alerts = home / "logs" / "alerts" / "alerts.json"
    socket = socket_path_for(state)
    repo = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": repo + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with open(root / f"{name}.log", "wb") as log:
        engine = subprocess.Popen([sys.executable, "-m", "arconsole", "run", "--quiet",
                                   str(home / "etc" / "ossec.conf")],
                                  stdout=log, stderr=subprocess.STDOUT, env=env)
    result: dict[str, Any] = {}
    try:
        deadline = time.monotonic() + 60
        while not await asyncio.to_thread(engine_listening, socket):
            if engine.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((root / f"{name}.log").read_text())
            await asyncio.sleep(0.1)
        link = await SocketLink.connect(socket)
        app = ConsoleApp(link, theme="arconsole-dark", theme_dirs=[], operator="bench")
        try:
            async with app.run_test(size=(120, 36)) as pilot:
                while not app.main.ready.is_set():
                    await pilot.pause(0.01)
                app.main.alerts_view.focus()
                # Rows for the cursor keys to move over, also in the idle baseline.
                with open(alerts, "ab") as handle:
                    handle.write(b"".join(line + b"\n" for line in lines[:300]))
                while len(app.main.ring) < 300:
                    await pilot.pause(0.05)
                probe = KeyProbe(app)
                for label, offered in (("idle", 0.0), ("flood", rate)):
                    before = (await asyncio.to_thread(request, socket, {"op": "status"}))
                    seen_before = app.main.bridge.alerts_total + app.main.bridge.pending_alerts
                    writer = Writer(alerts, lines, offered, seconds) if offered else None
                    if writer is not None:
                        writer.start()
                    start = time.perf_counter()
                    probe.latencies, probe.missed = [], 0
                    await asyncio.sleep(min(3.0, seconds / 4))  # warm-up: the flood settles
                    while time.perf_counter() - start < seconds:
                        probe.press()
                        await asyncio.sleep(0.1)
                    elapsed = time.perf_counter() - start
                    if writer is not None:
                        writer.join()
                    after = (await asyncio.to_thread(request, socket, {"op": "status"}))
                    seen = app.main.bridge.alerts_total + app.main.bridge.pending_alerts
                    result[label] = {
                        "offered": offered,
                        "engine_per_second": (after["alerts"] - before["alerts"]) / elapsed,
                        "console_per_second": (seen - seen_before) / elapsed,
                        "latencies": list(probe.latencies), "missed": probe.missed,
                    }
        finally:
            await link.close()
    finally:
        engine.terminate()
        await asyncio.to_thread(engine.wait, 30)
    return result


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def main(args: argparse.Namespace) -> dict[str, Any]:
    lines = alert_pool()
    figures: dict[str, Any] = {"rate": args.rate, "seconds": args.seconds, "burst": args.burst}
    if args.only_attached:
        with tempfile.TemporaryDirectory(prefix="arconsole-bench-") as directory:
            figures["attached"] = await attached_phase(Path(directory), lines, args)
        return figures
    with tempfile.TemporaryDirectory(prefix="arconsole-bench-") as directory:
        root = Path(directory)
        print(f"offered load: {args.rate:.0f} alerts/s for {args.seconds:.0f} s", flush=True)
        alone = await engine_alone(root, "alone", lines, args.rate, args.seconds)
        print(f"  engine alone:       {alone['per_second']:8.0f} alerts/s handled, "
              f"max backlog {alone['max_backlog']:.0f}, {alone['fired']} responses", flush=True)
        attached = await with_console(root, "console", lines, args.rate, args.seconds,
                                      probe=True)
        print(f"  console attached:   {attached['per_second']:8.0f} alerts/s handled, "
              f"max backlog {attached['max_backlog']:.0f}, {attached['fired']} responses, "
              f"{attached['not_shown']} alerts not shown", flush=True)
        offered_ratio = attached["per_second"] / alone["per_second"]
        print(f"  throughput ratio (console / alone): {offered_ratio:.3f}  (target >= 0.9)")
        latencies = [1000 * v for v in attached["latencies"]]
        print(f"  load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} "
              "CPUs (other work on the machine inflates the latencies)")
        p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
        print(f"  key press -> screen: p50 {p50:.1f} ms, p99 {p99:.1f} ms, max "
              f"{max(latencies, default=float('nan')):.1f} ms over {len(latencies)} keys, "
              f"{attached['missed']} not shown within 1 s  (target p99 < 100 ms)")
        memory = attached["memory"]
        # "Flat after the first minute"; a shorter run looks at its second half.
        since = 60.0 if args.seconds > 90 else args.seconds / 2
        late = [m for t, m in memory if t >= since]
        growth = (late[-1] - late[0]) if len(late) >= 2 else float("nan")
        print(f"  RSS: {memory[0][1]:.1f} MB at {memory[0][0]:.0f} s, "
              f"{memory[-1][1]:.1f} MB at {memory[-1][0]:.0f} s; growth after {since:.0f} s: "
              f"{growth:+.1f} MB  (target: flat)" if memory else "  RSS: no sample")
        figures["offered"] = {
            "alone_per_second": alone["per_second"], "console_per_second":
            attached["per_second"], "ratio": offered_ratio,
            "alone_max_backlog": alone["max_backlog"],
            "console_max_backlog": attached["max_backlog"],
            "not_shown": attached["not_shown"],
            "key_p50_ms": p50, "key_p99_ms": p99, "keys": len(latencies),
            "keys_missed": attached["missed"], "rss_mb": memory,
            "rss_second_half_growth_mb": growth,
        }
        print(f"saturation: as fast as possible for {args.burst:.0f} s, 2 rounds", flush=True)
        best_alone = best_console = 0.0
        for round_number in range(2):
            solo = await engine_alone(root, f"sat-alone-{round_number}", lines, None, args.burst)
            both = await with_console(root, f"sat-console-{round_number}", lines, None,
                                      args.burst, probe=False)
            best_alone = max(best_alone, solo["per_second"])
            best_console = max(best_console, both["per_second"])
            print(f"  round {round_number + 1}: alone {solo['per_second']:8.0f}/s, "
                  f"console {both['per_second']:8.0f}/s", flush=True)
        saturated_ratio = best_console / best_alone
        print(f"  best: alone {best_alone:.0f}/s, console {best_console:.0f}/s, ratio "
              f"{saturated_ratio:.3f}  (target >= 0.9)")
        figures["saturation"] = {"alone_per_second": best_alone,
                                 "console_per_second": best_console, "ratio": saturated_ratio}
        if args.attached_seconds > 0:
            figures["attached"] = await attached_phase(root, lines, args)
    return figures


async def attached_phase(root: Path, lines: list[bytes],
                         args: argparse.Namespace) -> dict[str, Any]:
    print(f"attached (SSH use): `arconsole run` in its own process, the console over its "
          f"socket; idle, then {args.rate:.0f} alerts/s, {args.attached_seconds:.0f} s each",
          flush=True)
    runs = await attached_console(root, "attached", lines, args.rate, args.attached_seconds)
    figures: dict[str, Any] = {}
    for label in ("idle", "flood"):
        run = runs[label]
        latencies = [1000 * v for v in run["latencies"]]
        p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
        print(f"  {label:5}: engine {run['engine_per_second']:7.0f} alerts/s, console saw "
              f"{run['console_per_second']:7.0f}/s; key -> screen p50 {p50:.1f} ms, p99 "
              f"{p99:.1f} ms over {len(latencies)} keys, {run['missed']} not shown within 1 s",
              flush=True)
        figures[label] = {"engine_per_second": run["engine_per_second"],
                          "console_per_second": run["console_per_second"],
                          "key_p50_ms": p50, "key_p99_ms": p99, "keys": len(latencies),
                          "keys_missed": run["missed"]}
    idle, flood = figures["idle"], figures["flood"]
    ratio = flood["key_p99_ms"] / idle["key_p99_ms"] if idle["key_p99_ms"] else float("nan")
    print(f"  key p99 flood / idle: {ratio:.2f}  (target: flood p99 < 100 ms)")
    figures["p99_ratio"] = ratio
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="offered-load duration")
    parser.add_argument("--rate", type=float, default=2000.0, help="offered alerts per second")
    parser.add_argument("--burst", type=float, default=10.0, help="saturation duration")
    parser.add_argument("--attached-seconds", type=float, default=30.0,
                        help="duration of each attached run (idle, flood); 0 skips the phase")
    parser.add_argument("--only-attached", action="store_true",
                        help="run only the attached phase")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    arguments = parser.parse_args()
    results = asyncio.run(main(arguments))
    if arguments.json:
        arguments.json.write_text(json.dumps(results, indent=2))

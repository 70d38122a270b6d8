"""Script executions per second and the engine's CPU per run: the Executor against raw posix_spawn.

Plain script (not a test): prints rates, CPU per run and ratios against baselines measured in
the same run.

    python bench/exec.py [--runs 1000] [--concurrency 16] [--rounds 5] [--ballast-mb 60]
    python bench/exec.py --machinery   # per-run calls, futures, callbacks, loop turns

The script is a stateless response (`#!/bin/sh`, reads its line, exits: execd's E12 path), fed
a Wazuh-sized add message. Variants, timed in `--rounds` interleaved rounds; every figure is
the median over the rounds (with the lowest and highest after it), and each executor/raw ratio
is taken within a round, against the raw loop timed next to it, then the median of those: on a
shared machine a burst of load elsewhere then hits both sides of a ratio alike.

- raw serial: `os.posix_spawn` (stdin from a pipe holding the message, stdout to /dev/null,
  new session) then `os.waitpid`, one at a time. The floor for one process per response.
- raw concurrent: the same with `--concurrency` processes in flight, reaped with `os.wait`.
- executor serial / concurrent: `Executor.run_json` one at a time, and `--concurrency` in
  flight as the engine uses it (max_concurrency = the same number, all runs gathered).
- Popen executor (serial, concurrent): the same Executor with its fallback spawner,
  `subprocess.Popen`, which is how every run was started before posix_spawn.
- no-cgroup executor: concurrent, without a cgroup per run (what containment costs; the
  line saying which containment applies shows whether cgroups were usable at all).

"CPU per run" is this process's own CPU time (all its threads, children excluded) per script
run: the engine's cost of starting, feeding, watching and reaping a script; "of which the
loop thread" is the thread CPU time of the thread running the event loop (the rest is the
spawner threads'). On a machine whose cores are busy with other work every figure grows
(cold caches, shared cores): the load average over the rounds is printed with them. The last
line divides the raw loop's CPU per x16 run by the executor's, the scripts' own CPU included
on both sides: on an idle machine x16 is CPU-bound and executor/raw tends to that quotient,
while on a busy one the raw loop's single thread is starved first (its children wait for a
CPU behind the scripts in flight while it waits in posix_spawn). The process
carries `--ballast-mb` of live Python objects, about an engine's heap, so that a spawn that
copied the parent would show it.

The executor does more than the raw loop: it resolves and checks the file, sets the working
directory, captures stderr, reads stdout for the check_keys line, enforces the time limit and
starts processes on its spawner thread. Targets: executor CPU per run <= 400 us, executor /
raw >= 0.8 for both the serial and the concurrent pair.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import statistics
import sys
import tempfile
import time
import types
from collections.abc import Callable
from pathlib import Path

from arconsole.engine.executor import SCRIPT_ENV, Executor

MESSAGE = (
    b'{"version":1,"origin":{"name":"node01","module":"wazuh-execd"},"command":"add",'
    b'"parameters":{"extra_args":[],"alert":{"timestamp":"2024-01-01T00:00:00.000+0000",'
    b'"rule":{"level":10,"description":"sshd: brute force trying to get access to the system. '
    b'Authentication failed.","id":"5712","firedtimes":8,"mail":false,"groups":["syslog",'
    b'"sshd","authentication_failures"]},"agent":{"id":"000","name":"node01"},'
    b'"manager":{"name":"node01"},"id":"1704067200.12345","full_log":"Jan  1 00:00:00 node01 '
    b'sshd[1234]: Failed password for invalid user admin from 203.0.113.7 port 4242 ssh2",'
    b'"decoder":{"parent":"sshd","name":"sshd"},"data":{"srcip":"203.0.113.7",'
    b'"srcport":"4242","srcuser":"admin"},"location":"/var/log/auth.log"},'
    b'"program":"active-response/bin/noop"}}\n'
)
SCRIPT = "#!/bin/sh\nread -r line\nexit 0\n"
CONTAINMENT: dict[bool, str] = {}  # cgroups on/off -> what the executor said it used


def make_home(root: Path) -> Path:
    bin_dir = root / "active-response" / "bin"
    bin_dir.mkdir(parents=True)
    script = bin_dir / "noop"
    script.write_text(SCRIPT)
    script.chmod(0o755)
    return root


def spawn_raw(path: str, env: dict[str, str]) -> int:
    read_end, write_end = os.pipe()
    try:
        pid = os.posix_spawn(
            path, [path], env,
            file_actions=[
                (os.POSIX_SPAWN_DUP2, read_end, 0),
                (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
            ],
            setsid=True,
        )
        os.write(write_end, MESSAGE)
    finally:
        os.close(read_end)
        os.close(write_end)
    return pid


def raw_serial(path: str, runs: int) -> None:
    for _ in range(runs):
        pid = spawn_raw(path, SCRIPT_ENV)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0


def raw_concurrent(path: str, runs: int, concurrency: int) -> None:
    started = finished = 0
    live: set[int] = set()
    while finished < runs:
        while started < runs and len(live) < concurrency:
            live.add(spawn_raw(path, SCRIPT_ENV))
            started += 1
        pid, status = os.wait()
        if pid in live:
            live.remove(pid)
            finished += 1
            assert os.waitstatus_to_exitcode(status) == 0


async def no_reply(line: bytes | None) -> bytes | None:
    return None


def make_executor(
    home: Path, concurrency: int, use_popen: bool, cgroups: bool = True
) -> Executor:
    return Executor(
        home, max_concurrency=concurrency, use_popen=use_popen or None, cgroups=cgroups
    )


async def executor_serial(home: Path, runs: int, use_popen: bool = False) -> None:
    executor = make_executor(home, 1, use_popen)
    for _ in range(runs):
        result = await executor.run_json("noop", MESSAGE[:-1], no_reply)
        assert result.ok, result
    await executor.aclose()


async def executor_concurrent(
    home: Path, runs: int, concurrency: int, use_popen: bool = False, cgroups: bool = True
) -> None:
    executor = make_executor(home, concurrency, use_popen, cgroups)
    results = await asyncio.gather(
        *(executor.run_json("noop", MESSAGE[:-1], no_reply) for _ in range(runs))
    )
    assert all(result.ok for result in results)
    CONTAINMENT[cgroups] = executor.containment
    await executor.aclose()


def timed(runs: int, job: Callable[[], None]) -> tuple[float, float, float, float]:
    """Runs per second, this process's own CPU microseconds per run (all its threads,
    children excluded: the part of the cost that is the executor's), the part of that
    spent on the calling thread, the event loop's (thread CPU time), and the scripts' own
    CPU microseconds per run (the reaped children's, from os.times)."""
    cpu = time.process_time()
    own = time.thread_time()
    before = os.times()
    started = time.perf_counter()
    job()
    elapsed = time.perf_counter() - started
    after = os.times()
    children = (after.children_user + after.children_system
                - before.children_user - before.children_system)
    return (runs / elapsed, (time.process_time() - cpu) * 1e6 / runs,
            (time.thread_time() - own) * 1e6 / runs, children * 1e6 / runs)


def machinery(home: Path, runs: int, concurrency: int) -> None:
    """What the loop thread does per run, counted (not timed: a loaded machine cannot change
    these): Python and C function calls, futures made, callbacks scheduled, loop turns."""
    counts: collections.Counter[str] = collections.Counter()
    counted = {"create_future": "futures", "call_soon": "callbacks", "_run_once": "loop turns"}

    def profile(frame: types.FrameType, event: str, arg: object) -> None:
        if event == "call":
            counts["Python calls"] += 1
            name = counted.get(frame.f_code.co_name)
            if name is not None:
                counts[name] += 1
        elif event == "c_call":
            counts["C calls"] += 1

    async def measure(width: int) -> None:
        executor = make_executor(home, width, False)
        await asyncio.gather(*(executor.run_json("noop", MESSAGE[:-1], no_reply)
                               for _ in range(4)))  # threads and cgroups set up
        counts.clear()
        sys.setprofile(profile)
        try:
            if width == 1:
                for _ in range(runs):
                    await executor.run_json("noop", MESSAGE[:-1], no_reply)
            else:
                await asyncio.gather(*(executor.run_json("noop", MESSAGE[:-1], no_reply)
                                       for _ in range(runs)))
        finally:
            sys.setprofile(None)
        await executor.aclose()

    for width in (1, concurrency):
        asyncio.run(measure(width))
        label = "serial" if width == 1 else f"x{width}"
        print(f"{label:>6} per run, loop thread: " + ", ".join(
            f"{name} {counts[name] / runs:.1f}"
            for name in ("Python calls", "C calls", "futures", "callbacks", "loop turns")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--ballast-mb", type=int, default=60)
    parser.add_argument("--machinery", action="store_true",
                        help="only count what the loop thread does per run (calls, futures, "
                        "callbacks, loop turns), which load cannot change")
    args = parser.parse_args()
    runs, concurrency, rounds = args.runs, args.concurrency, args.rounds
    if args.machinery:
        with tempfile.TemporaryDirectory(prefix="arconsole-bench-") as tmp:
            machinery(make_home(Path(tmp)), min(runs, 300), concurrency)
        return
    # About 100 bytes per small string in a list: an engine-sized heap of live objects.
    ballast = [str(number) for number in range(args.ballast_mb * 10_000)]

    with tempfile.TemporaryDirectory(prefix="arconsole-bench-") as tmp:
        home = make_home(Path(tmp))
        path = str(home / "active-response" / "bin" / "noop")
        wide = f"x{concurrency}"
        variants: dict[str, Callable[[], None]] = {
            "raw serial": lambda: raw_serial(path, runs),
            "executor serial": lambda: asyncio.run(executor_serial(home, runs)),
            "Popen executor serial": lambda: asyncio.run(executor_serial(home, runs, True)),
            f"raw {wide}": lambda: raw_concurrent(path, runs, concurrency),
            f"executor {wide}": lambda: asyncio.run(
                executor_concurrent(home, runs, concurrency)
            ),
            f"Popen executor {wide}": lambda: asyncio.run(
                executor_concurrent(home, runs, concurrency, True)
            ),
            f"no-cgroup executor {wide}": lambda: asyncio.run(
                executor_concurrent(home, runs, concurrency, cgroups=False)
            ),
        }
        # Rounds interleave the variants so a burst of load elsewhere hits them alike.
        rates: dict[str, list[float]] = {label: [] for label in variants}
        cpus: dict[str, list[float]] = {label: [] for label in variants}
        loop_cpus: dict[str, list[float]] = {label: [] for label in variants}
        totals: dict[str, list[float]] = {label: [] for label in variants}  # with scripts'
        loads: list[float] = []
        for _ in range(rounds):
            for label, job in variants.items():
                rate, cpu_per_run, loop_cpu, scripts_cpu = timed(runs, job)
                rates[label].append(rate)
                cpus[label].append(cpu_per_run)
                loop_cpus[label].append(loop_cpu)
                totals[label].append(cpu_per_run + scripts_cpu)
            loads.append(os.getloadavg()[0])
    print(f"{runs} runs of a stateless #!/bin/sh response, {os.cpu_count()} CPUs, "
          f"load average {spread(loads, '.1f')} over the rounds, "
          f"{len(ballast) // 10_000} MB ballast, "
          f"median of {rounds} interleaved rounds [lowest-highest]")
    print(f"containment: {CONTAINMENT.get(True, '?')}")
    for label in variants:
        print(f"  {label:<26} {spread(rates[label], '10.0f')} runs/s   "
              f"{spread(cpus[label], '5.0f')} us CPU per run, of which the loop thread "
              f"{spread(loop_cpus[label], '5.0f')}")
    for pair in ("serial", wide):
        raw = rates[f"raw {pair}"]
        ratio = [ex / base for ex, base in zip(rates[f"executor {pair}"], raw, strict=True)]
        popen = [ex / base for ex, base in zip(rates[f"Popen executor {pair}"], raw, strict=True)]
        cpu, popen_cpu = cpus[f"executor {pair}"], cpus[f"Popen executor {pair}"]
        print(f"{pair:>6}: executor CPU per run {statistics.median(cpu):.0f} us "
              f"(target <= 400; Popen: {statistics.median(popen_cpu):.0f}), "
              f"executor/raw {spread(ratio, '.2f')} (target >= 0.8; Popen: {spread(popen, '.2f')})")
    # With the cores to itself, x16 is CPU-bound: both sides then run at 2 cores over their
    # whole CPU per run (the scripts' included), and executor/raw tends to this quotient
    # (measured with raw x16 near its idle rate, 1,858/s: executor/raw 0.82-0.87 against a
    # quotient of 0.79-0.82, three executor variants). On a loaded machine the raw loop's
    # one thread is starved first and the rate ratio says little; the quotient, CPU against
    # CPU, moves less with load (it still grows with cold caches).
    bound = [base / ex for ex, base in zip(totals[f"executor {wide}"], totals[f"raw {wide}"],
                                           strict=True)]
    print(f"{wide:>6}: CPU per run with the scripts' own: raw "
          f"{statistics.median(totals[f'raw {wide}']):.0f} us, executor "
          f"{statistics.median(totals[f'executor {wide}']):.0f} us; raw/executor "
          f"{spread(bound, '.2f')} (what executor/raw tends to on an idle machine)")


def spread(values: list[float], form: str) -> str:
    """The median, then the lowest and highest: `12.3 [11.0-14.1]`."""
    return (f"{format(statistics.median(values), form)} "
            f"[{format(min(values), form).strip()}-{format(max(values), form).strip()}]")


if __name__ == "__main__":
    main()

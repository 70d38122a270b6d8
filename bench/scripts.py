"""CPU per run of the stock response scripts against a bare interpreter start, in the same run.

Plain script (not a test): prints CPU per run and ratios against a baseline measured in the
same run.

    python bench/scripts.py [--runs 40] [--rounds 3] [--site-launcher] [--throughput N] [--real]

Every run is driven as the engine drives a script: argv[0] `active-response/bin/<name>`, the
home as working directory, the engine's fixed environment (SCRIPT_ENV), one Wazuh-sized
message on stdin and, for an add, the `continue` answer to check_keys. The home holds the demo
marker (etc/arconsole-demo), so firewall-drop records what it would do instead of changing
the firewall: the run is the script's own cost, without iptables. CPU is the child's user +
system time from wait4, so the driver's own work is not counted. Variants, interleaved in
`--rounds` rounds, medians reported:

- baseline: `python3 -S -c pass` with the Python that runs this file (the floor for any
  Python script);
- installed: the launcher `arconsole install-scripts` writes (`#!python -IS`), add and delete;
- sample: the launcher kept in sample-conf (`#!/usr/bin/env -S python3 -S`, the package found
  on PYTHONPATH or through site), add and delete; PYTHONPATH is not in the engine's
  environment, so this measures its `site` fallback.

With `--throughput N`, N runs of each (the delete message; the baseline ignores it) are also
started 4 at a time and timed by the wall clock: runs per second, the ceiling they put on
blocks per second.

With `--real` the same runs change a real firewall: the bench re-runs itself in a network
namespace of its own (`unshare -n`, loopback only), without the demo marker, and the CPU of
each run includes the iptables commands it starts (wait4 counts reaped grandchildren).

Target (issue 13): installed add and delete <= 2x the baseline, in demo mode.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from arconsole.engine.executor import SCRIPT_ENV
from arconsole.scripts.install import install_scripts, sample_launcher_text

REPO = Path(__file__).resolve().parents[1]
SRCIP = "203.0.113.7"


def message(command: str) -> bytes:
    return (
        '{"version":1,"origin":{"name":"node01","module":"wazuh-execd"},"command":"'
        + command + '","parameters":{"extra_args":[],"alert":{"timestamp":'
        '"2024-01-01T00:00:00.000+0000","rule":{"level":10,"description":"sshd: brute force '
        'trying to get access to the system. Authentication failed.","id":"5712",'
        '"firedtimes":8,"mail":false,"groups":["syslog","sshd","authentication_failures"]},'
        '"agent":{"id":"000","name":"node01"},"manager":{"name":"node01"},'
        '"id":"1704067200.12345","full_log":"Jan  1 00:00:00 node01 sshd[1234]: Failed '
        'password for invalid user admin from 203.0.113.7 port 4242 ssh2","decoder":'
        '{"parent":"sshd","name":"sshd"},"data":{"srcip":"' + SRCIP + '","srcport":"4242",'
        '"srcuser":"admin"},"location":"/var/log/auth.log"},'
        '"program":"active-response/bin/firewall-drop"}}\n'
    ).encode()


ADD = message("add")
CONTINUE = message("continue")
DELETE = message("delete")


def make_home(root: Path, sample: bool) -> Path:
    home = Path(tempfile.mkdtemp(dir=root))
    install_scripts(home)
    (home / "etc").mkdir()
    if sample:
        (home / "active-response" / "bin" / "firewall-drop").write_text(
            sample_launcher_text("firewall_drop"))
    shutil.copy(REPO / "sample-conf" / "etc" / "arconsole-demo", home / "etc" / "arconsole-demo")
    return home


def cpu_of(argv: list[str], cwd: Path, first: bytes, reply: bytes | None) -> float:
    """Run one process as the engine does; its CPU seconds (user + system, from wait4)."""
    process = subprocess.Popen(argv, cwd=cwd, env=SCRIPT_ENV, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(first)
    process.stdin.flush()
    if reply is not None:
        line = process.stdout.readline()
        assert b'"check_keys"' in line, line
        process.stdin.write(reply)
    process.stdin.close()
    process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    assert process.returncode == 0, f"{argv[0]} ended with {process.returncode}"
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=40, help="runs per variant and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--site-launcher", action="store_true",
                        help="also run the launcher arconsole wrote before issue 13 (#!python, "
                        "with site, no -I/-S), with the arconsole that site finds")
    parser.add_argument("--real", action="store_true",
                        help="no demo marker: real iptables, inside a network namespace of "
                        "its own (needs root and unshare); CPU includes iptables")
    parser.add_argument("--throughput", type=int, default=0, metavar="N",
                        help="also time N delete runs per launcher, 4 in flight: runs per "
                        "second of wall time (what caps blocks per second)")
    parser.add_argument("--in-netns", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.real and not args.in_netns:
        argv = [sys.executable, __file__, *sys.argv[1:], "--in-netns"]
        raise SystemExit(subprocess.run(["unshare", "-n", "--", *argv], check=False).returncode)
    if args.in_netns:
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    root = Path(tempfile.mkdtemp(prefix="bench-scripts-"))
    try:
        homes = run_bench(root, args.runs, args.rounds, args.site_launcher, demo=not args.real)
        if args.throughput:
            print(f"throughput, {args.throughput} runs each, {IN_FLIGHT} in flight:")
            base = throughput([sys.executable, "-S", "-c", "pass"], root, args.throughput)
            print(f"  {'baseline: python3 -S -c pass':36s} {base:7.1f} runs/s")
            for kind, home in homes.items():
                rate = throughput(["active-response/bin/firewall-drop"], home, args.throughput)
                print(f"  {kind + ' firewall-drop delete':36s} {rate:7.1f} runs/s  "
                      f"{rate / base:5.2f} of baseline")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run_bench(root: Path, runs: int, rounds: int, site_launcher: bool,
              demo: bool) -> dict[str, Path]:
    """Print the CPU table; the homes, one per launcher kind."""
    homes = {"installed": make_home(root, False), "sample": make_home(root, True)}
    if site_launcher:
        homes["site"] = make_home(root, False)
        (homes["site"] / "active-response" / "bin" / "firewall-drop").write_text(
            f"#!{sys.executable}\nfrom arconsole.scripts.firewall_drop import main\n"
            f"import sys\nraise SystemExit(main(sys.argv))\n")
    if not demo:
        for home in homes.values():
            (home / "etc" / "arconsole-demo").unlink()
    script = ["active-response/bin/firewall-drop"]
    baseline = "baseline: python3 -S -c pass"
    samples: dict[str, list[float]] = {baseline: []}
    for kind in homes:
        samples[f"{kind} firewall-drop add"] = []
        samples[f"{kind} firewall-drop delete"] = []
    for _ in range(rounds):
        samples[baseline] += [cpu_of([sys.executable, "-S", "-c", "pass"], root, DELETE, None)
                              for _ in range(runs)]
        for kind, home in homes.items():
            for _ in range(runs):  # add then delete: the firewall holds at most one block
                samples[f"{kind} firewall-drop add"].append(cpu_of(script, home, ADD, CONTINUE))
                samples[f"{kind} firewall-drop delete"].append(cpu_of(script, home, DELETE, None))
    for home in homes.values():  # every add and delete really ran
        if demo:
            records = (home / "logs" / "demo-actions.log").read_text().splitlines()
            assert len(records) == 4 * runs * rounds, len(records)
        else:
            log = (home / "logs" / "active-responses.log").read_text()
            assert log.count(": Ended\n") == 2 * runs * rounds
    if not demo:
        rules = subprocess.run(["iptables", "-S"], capture_output=True, text=True, check=True)
        assert "-A " not in rules.stdout, rules.stdout
    base = statistics.median(samples[baseline])
    mode = "demo mode (recorded)" if demo else "real iptables in a network namespace"
    print(f"{sys.executable} ({sys.version.split()[0]}), {mode}, {rounds} rounds x {runs} "
          f"runs, CPU per run (user+sys), median [p10-p90]:")
    for name, values in samples.items():
        deciles = statistics.quantiles(values, n=10)
        median = statistics.median(values)
        print(f"  {name:36s} {median * 1000:6.2f} ms  [{deciles[0] * 1000:5.2f}-"
              f"{deciles[-1] * 1000:5.2f}]  {median / base:5.2f}x baseline")
    return homes


IN_FLIGHT = 4


def throughput(argv: list[str], cwd: Path, count: int) -> float:
    """Runs (fed the delete message) per second of wall time, IN_FLIGHT at once."""
    running: list[subprocess.Popen[bytes]] = []
    started = time.perf_counter()
    for _ in range(count):
        if len(running) == IN_FLIGHT:
            assert running.pop(0).wait() == 0
        process = subprocess.Popen(argv, cwd=cwd, env=SCRIPT_ENV, stdin=subprocess.PIPE,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True)
        assert process.stdin is not None
        with contextlib.suppress(BrokenPipeError):  # `pass` may be gone before reading
            process.stdin.write(DELETE)
        with contextlib.suppress(BrokenPipeError):
            process.stdin.close()
        running.append(process)
    for process in running:
        assert process.wait() == 0
    return count / (time.perf_counter() - started)


if __name__ == "__main__":
    main()

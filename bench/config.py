"""Benchmark: `arconsole check` and the config loader, against baselines in the same run.

  (a) start-up: `python -m arconsole check CONFIG` on Wazuh's default ossec.conf (from
      ../shared/fixtures/real, else the repo's sample-conf) against `python -c pass`: what a
      user waits for, and how much of it is the interpreter;
  (b) loading: `load_config_text` on Wazuh-shaped configs of growing size against lxml
      building its tree of the same text (a bare XML parse, nothing judged), and the peak
      memory of a load (VmHWM of a fresh interpreter) as a multiple of the file size;
  (c) a white list of single addresses (one `<global><white_list>` each, `--white-list`
      entries): the peak memory of the load, then with the engine's lookup structure
      (`WhiteList`) built from it, as multiples of the file size.

Each side runs `--rounds` times, alternating, and the best round is kept, so a busy machine
slows both alike. Ratios are arconsole / baseline (lower is better).

    python bench/config.py [--rounds 5] [--sizes 65536,1048576,4194304] [--white-list 200000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from lxml import etree
from peak_memory import in_fresh_interpreter

from arconsole.config.loader import load_config_text

REPO = Path(__file__).resolve().parents[1]
DEFAULT = REPO.parent / "shared" / "fixtures" / "real" / "ossec-wazuh-4.14-default.conf"
SAMPLE = REPO / "sample-conf" / "etc" / "ossec.conf"

MEASURE = """
import sys
from arconsole.config.loader import load_config
from bench.peak_memory import loader_warmed, peak_rss

before = loader_warmed()
load_config(sys.argv[1])
print(peak_rss() - before)
"""


WHITE_LIST_MEASURE = """
import sys, time
from arconsole.config.loader import load_config
from arconsole.engine.whitelist import WhiteList
from bench.peak_memory import loader_warmed, peak_rss

before = loader_warmed()
config = load_config(sys.argv[1])
loaded = peak_rss() - before
started = time.perf_counter()
white_list = WhiteList(config.white_list, config.flavour)
built = time.perf_counter() - started
print(loaded, peak_rss() - before, built)
"""


def white_list_shaped(count: int) -> str:
    """`count` single addresses, each in its own `<global><white_list>`."""
    return "<ossec_config>\n" + "".join(
        f"  <global>\n    <white_list>10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
        "</white_list>\n  </global>\n" for i in range(count)) + "</ossec_config>\n"


def wazuh_shaped(size: int) -> str:
    """Sections like Wazuh's default (global, syscheck, localfile, command, active-response,
    comments), every value distinct, repeated up to `size` characters."""
    parts, total, index = ["<ossec_config>\n"], 0, 0
    while total < size:
        index += 1
        part = (
            f"  <!-- part {index}: log collection, integrity checks and responses -->\n"
            f"  <global>\n    <email_to>team-{index}@example.com</email_to>\n"
            f"    <white_list>10.{index % 250}.{index // 250 % 250}.1</white_list>\n"
            "  </global>\n"
            f"  <syscheck>\n    <frequency>{43200 + index}</frequency>\n"
            f"    <directories check_all=\"yes\">/srv/app-{index}/etc</directories>\n"
            f"    <ignore>/srv/app-{index}/tmp</ignore>\n  </syscheck>\n"
            f"  <localfile>\n    <log_format>syslog</log_format>\n"
            f"    <location>/var/log/app-{index}/messages</location>\n  </localfile>\n"
            f"  <command>\n    <name>block-{index}</name>\n"
            "    <executable>firewall-drop</executable>\n"
            "    <timeout_allowed>yes</timeout_allowed>\n  </command>\n"
            f"  <active-response>\n    <command>block-{index}</command>\n"
            f"    <location>local</location>\n    <rules_id>{100000 + index}</rules_id>\n"
            f"    <timeout>{600 + index}</timeout>\n  </active-response>\n"
        )
        parts.append(part)
        total += len(part)
    parts.append("</ossec_config>\n")
    return "".join(parts)


def best(rounds: int, *sides: Callable[[], object]) -> list[float]:
    """The best time of each side over `rounds` alternating rounds."""
    times = [float("inf")] * len(sides)
    for _ in range(rounds):
        for index, side in enumerate(sides):
            started = time.perf_counter()
            side()
            times[index] = min(times[index], time.perf_counter() - started)
    return times


def run(command: list[str]) -> Callable[[], object]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return lambda: subprocess.run(command, capture_output=True, check=False, env=env, cwd=REPO)


def startup(rounds: int) -> None:
    config = DEFAULT if DEFAULT.exists() else SAMPLE
    check, bare = best(rounds, run([sys.executable, "-m", "arconsole", "check", str(config)]),
                       run([sys.executable, "-c", "pass"]))
    print(f"(a) start-up on {config.name}: check {check * 1000:.0f} ms, "
          f"bare interpreter {bare * 1000:.0f} ms, ratio {check / bare:.1f}x")


def loading(rounds: int, sizes: list[int]) -> None:
    parser = etree.XMLParser(recover=True, resolve_entities=False, huge_tree=True)
    with tempfile.TemporaryDirectory() as folder:
        for size in sizes:
            text = wazuh_shaped(size)
            data = text.encode()

            def load_it(data: bytes = data) -> object:
                return load_config_text(data, "bench.conf")

            def tree_it(data: bytes = data) -> object:
                return etree.fromstring(data, parser)

            load, tree = best(rounds, load_it, tree_it)
            path = Path(folder) / "ossec.conf"
            path.write_text(text)
            (peak,) = map(int, in_fresh_interpreter(MEASURE, path))
            mib = len(text) / 2**20
            print(f"(b) {mib:6.2f} MiB: load {load:.3f} s ({mib / load:.2f} MiB/s), "
                  f"lxml tree {tree:.3f} s, ratio {load / tree:.1f}x; "
                  f"peak memory {peak / len(text):.1f}x the file size")


def white_list_heavy(count: int) -> None:
    text = white_list_shaped(count)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ossec.conf"
        path.write_text(text)
        loaded, with_lookups, built = in_fresh_interpreter(WHITE_LIST_MEASURE, path)
    print(f"(c) {len(text) / 2**20:6.2f} MiB, {count} single-address white-list entries: "
          f"peak memory {int(loaded) / len(text):.1f}x the file size loaded, "
          f"{int(with_lookups) / len(text):.1f}x with the engine's lookups "
          f"(built in {float(built):.2f} s)")


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    arguments.add_argument("--rounds", type=int, default=5)
    arguments.add_argument("--sizes", default="65536,1048576,4194304",
                           help="config sizes in bytes, comma-separated")
    arguments.add_argument("--white-list", type=int, default=200_000,
                           help="entries of the white-list-heavy config (0: skip it)")
    options = arguments.parse_args()
    startup(options.rounds)
    loading(options.rounds, [int(size) for size in options.sizes.split(",")])
    if options.white_list:
        white_list_heavy(options.white_list)


if __name__ == "__main__":
    main()

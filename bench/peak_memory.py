"""The peak memory of loading a config, measured in a fresh interpreter: shared by
bench/config.py (which reports it) and tests/test_config_size.py (which bounds it).

`in_fresh_interpreter(script, path)` runs `script` with `python -c` on `path`, this repo first
on the path; the script imports `loader_warmed` and `peak_rss` from here:

    from arconsole.config.loader import load_config
    from bench.peak_memory import loader_warmed, peak_rss
    before = loader_warmed()
    config = load_config(sys.argv[1])  # what is measured
    print(peak_rss() - before)

The loader first, then this module: a load's peak moves with what was allocated before it
(imported the other way round, the responses-only config of tests/test_config_size.py peaked
at 12.6x its size instead of 11.1x).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def peak_rss() -> int:
    """This process's peak resident memory in bytes (VmHWM). VmHWM belongs to this process's
    memory map: unlike ru_maxrss it does not inherit the (much bigger) process that forked it
    (pytest's)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("/proc/self/status has no VmHWM line")


def loader_warmed() -> int:
    """Import the config loader and load a tiny config (imports, caches) so that neither
    counts in what is measured next; the peak so far, to measure from."""
    from arconsole.config.loader import load_config_text

    load_config_text("<ossec_config><global/></ossec_config>", "warm-up")
    return peak_rss()


def in_fresh_interpreter(script: str, path: Path) -> list[str]:
    """The words `script` printed, run in a fresh interpreter with `path` as its argument."""
    return subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True,
        timeout=300, cwd=REPO, check=True, env={**os.environ, "PYTHONPATH": str(REPO)},
    ).stdout.split()

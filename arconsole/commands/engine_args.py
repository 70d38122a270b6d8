"""The options `arconsole run` and the console share, and how they become EngineOptions."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from arconsole.config.model import Flavour, Role
from arconsole.engine.options import EngineOptions, Mode, resolve_paths

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """`90`, `90s`, `15m`, `2h`, `1d`, `1w` -> seconds."""
    match = _DURATION.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (use e.g. 90s, 15m, 2h, 1d)")
    return float(match.group(1)) * _UNIT[match.group(2)]


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", nargs="?", type=Path, metavar="CONFIG",
                        help="ossec.conf (default HOME/etc/ossec.conf)")
    parser.add_argument("--home", type=Path, help="Wazuh home (default: from CONFIG, /var/ossec)")
    parser.add_argument("--alerts", type=Path,
                        help="alerts file (default HOME/logs/alerts/alerts.json)")
    parser.add_argument("--state", type=Path,
                        help="state file (default HOME/var/arconsole/state.db)")
    parser.add_argument("--mode", choices=[m.value for m in Mode], default=Mode.ENFORCE.value)
    parser.add_argument("--flavour", choices=[f.value for f in Flavour], default="wazuh")
    parser.add_argument("--role", choices=[r.value for r in Role], default=None)
    parser.add_argument("--from-start", action="store_true",
                        help="on the very first start, read the alerts file from its beginning")
    parser.add_argument("--reverse-on-exit", action="store_true",
                        help="lift every block when stopping (Wazuh's behaviour)")
    parser.add_argument("--time-limit", type=float, default=30.0, metavar="SECONDS",
                        help="time limit for each script run (default 30)")
    parser.add_argument("--agents", type=Path, metavar="FILE",
                        help="JSON array of agents, for location all")
    parser.add_argument("--offender-decay", type=parse_duration, metavar="DURATION",
                        help="forget repeated-offender counts after this long (default never)")
    parser.add_argument("--skip-backlog-older-than", type=parse_duration, metavar="DURATION",
                        help="do not act on alerts older than this (e.g. 1h)")


def options_from_args(args: argparse.Namespace, *, read_only: bool = False) -> EngineOptions:
    config, home, alerts, state = resolve_paths(args.config, args.home, args.alerts, args.state)
    return EngineOptions(
        config_path=config, home=home, alerts_path=alerts, state_path=state,
        mode=Mode(args.mode), flavour=Flavour(args.flavour),
        role=Role(args.role) if args.role else None, from_start=args.from_start,
        reverse_on_exit=args.reverse_on_exit, read_only=read_only,
        time_limit=args.time_limit, agents_file=args.agents,
        offender_decay=args.offender_decay,
        skip_backlog_older_than=args.skip_backlog_older_than,
    )

"""The options `arconsole run` and the console share, and how they become EngineOptions."""

from __future__ import annotations

import argparse
from pathlib import Path

from arconsole.commands.errors import CommandError, path_failure
from arconsole.config.model import Flavour, Role
from arconsole.durations import parse_duration
from arconsole.engine.options import (
    DEFAULT_HOME,
    EngineOptions,
    Mode,
    parse_agent_transport,
    resolve_paths,
)


def duration_argument(text: str) -> float:
    """`parse_duration` as an argparse type: a bad value is a usage error naming it."""
    try:
        return parse_duration(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


MAX_TIME_LIMIT = 86_400.0  # a script that may run longer than a day is a typo, not a plan


def time_limit_argument(text: str) -> float:
    """Seconds a script may run: a finite number above 0 and at most a day."""
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < seconds <= MAX_TIME_LIMIT:  # also refuses nan
        raise argparse.ArgumentTypeError(
            f"{text!r}: give seconds above 0 and at most {MAX_TIME_LIMIT:g} (a day)")
    return seconds


def check_alerts_path(alerts: Path) -> None:
    """Refuse an alerts path that can never be read (under a file, behind a closed directory);
    a file that does not exist yet is fine: the engine waits for it, as Wazuh's writer makes it."""
    try:
        alerts.stat()
    except FileNotFoundError:
        return
    except OSError as error:
        raise CommandError(path_failure("read alerts", alerts, error)) from None
    if alerts.is_dir():
        raise CommandError(f"cannot read alerts {alerts}: Is a directory")


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", nargs="?", type=Path, metavar="CONFIG",
                        help="ossec.conf (default HOME/etc/ossec.conf)")
    parser.add_argument("--home", type=Path, help="Wazuh home (default: from CONFIG, /var/ossec)")
    parser.add_argument("--alerts", type=Path,
                        help="alerts file (default HOME/logs/alerts/alerts.json)")
    parser.add_argument("--state", type=Path,
                        help="state file (default HOME/var/arconsole/state.db)")
    parser.add_argument("--mode", choices=[m.value for m in Mode], default=Mode.ENFORCE.value,
                        help="enforce: run the responses (default); dry-run: decide, record "
                        "and show what would run, but run nothing; observe: Wazuh's own execd "
                        "runs the responses: show what it will run and follow the agents' "
                        "blocks; only operator actions act")
    parser.add_argument("--flavour", choices=[f.value for f in Flavour], default="wazuh",
                        help="decide as Wazuh 4.x (default) or as OSSEC 3.x")
    parser.add_argument("--role", choices=[r.value for r in Role], default=None,
                        help="default: agent when the config has a <client> section")
    parser.add_argument("--from-start", action="store_true",
                        help="on the very first start, read the alerts file from its beginning")
    parser.add_argument("--reverse-on-exit", action="store_true",
                        help="lift every block when stopping (Wazuh's behaviour)")
    parser.add_argument("--time-limit", type=time_limit_argument, default=30.0,
                        metavar="SECONDS",
                        help="time limit for each script run, in seconds (default 30, at most "
                        "86400)")
    parser.add_argument("--agents", type=Path, metavar="FILE",
                        help="JSON array of agents, for location all")
    parser.add_argument("--offender-decay", type=duration_argument, metavar="DURATION",
                        help="forget repeated-offender counts after this long (default never)")
    parser.add_argument("--verify-interval", type=time_limit_argument, metavar="SECONDS",
                        help="every SECONDS, ask the stock firewall scripts whether each block "
                        "is still in force, and re-apply a missing one once")
    parser.add_argument("--agent-transport", default="none", metavar="none|wazuh-queue[=PATH]",
                        help="how responses reach agents: none (recorded undelivered) or "
                        "through the manager's own queue (default PATH HOME/queue/alerts/ar)")
    parser.add_argument("--skip-backlog-older-than", type=duration_argument, metavar="DURATION",
                        help="do not act on alerts older than this (e.g. 1h)")


def options_from_args(args: argparse.Namespace, *, read_only: bool = False) -> EngineOptions:
    config, home, alerts, state = resolve_paths(args.config, args.home, args.alerts, args.state)
    check_alerts_path(alerts)
    try:
        agent_queue = parse_agent_transport(getattr(args, "agent_transport", "none"), home)
    except ValueError as error:
        raise SystemExit(f"arconsole: error: --agent-transport: {error}") from None
    return EngineOptions(
        config_path=config, home=home, alerts_path=alerts, state_path=state,
        mode=Mode(args.mode), flavour=Flavour(args.flavour),
        role=Role(args.role) if args.role else None, from_start=args.from_start,
        reverse_on_exit=args.reverse_on_exit, read_only=read_only,
        time_limit=args.time_limit, agents_file=args.agents,
        offender_decay=args.offender_decay,
        skip_backlog_older_than=args.skip_backlog_older_than, agent_queue=agent_queue,
        verify_interval=args.verify_interval,
    )


def with_home_hint(message: str, options: EngineOptions) -> str:
    """A start that failed on the default home says how to name another, or try the demo."""
    default_config = DEFAULT_HOME / "etc" / "ossec.conf"
    if options.config_path != default_config or not message.startswith(
            f"cannot read config {default_config}"):
        return message
    return (f"{message} (no CONFIG given, so {DEFAULT_HOME} was assumed: give CONFIG or "
            "--home HOME; `arconsole demo` opens the console on a sample)")

"""The `arconsole` command line: sub-commands, and the console when none is named."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

# Sub-command name -> module under arconsole.commands exposing register(subparsers).
COMMANDS: dict[str, str] = {
    "check": "arconsole.commands.check",
    "explain": "arconsole.commands.explain",
    "run": "arconsole.commands.run",
    "blocks": "arconsole.commands.blocks",
    "demo": "arconsole.commands.demo",
    "install-scripts": "arconsole.commands.install_scripts",
}
CONSOLE_MODULE = "arconsole.commands.console"


def _available(name: str) -> bool:
    try:
        importlib.import_module(COMMANDS[name])
    except ModuleNotFoundError as error:
        if error.name and error.name.startswith("arconsole.commands"):
            return False
        raise
    return True


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="arconsole",
        description="Operator console and active-response engine for Wazuh 4.x and OSSEC. "
        "With no sub-command, opens the console (arconsole [CONFIG] [options of run]).",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in COMMANDS.items():
        if _available(name):
            importlib.import_module(module).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    first = args_list[0] if args_list else None
    if first not in COMMANDS and first not in ("-h", "--help", "--version"):
        console = importlib.import_module(CONSOLE_MODULE)
        console_parser = argparse.ArgumentParser(prog="arconsole")
        console.configure(console_parser)
        console_args = console_parser.parse_args(args_list)
        return _guarded(console.run, console_args)
    if first == "--version":
        from arconsole import __version__

        print(f"arconsole {__version__}")
        return 0
    parser = build_parser()
    args = parser.parse_args(args_list)
    return _guarded(args.handler, args)


def _guarded(handler: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a command; an expected failure that escaped it still ends as one line, status 2."""
    from arconsole.commands.errors import CommandError, report

    try:
        return int(handler(args))
    except CommandError as error:
        return report(error.message, error.status)
    except KeyboardInterrupt:
        return 130
    except Exception as error:
        message = _expected_failure(error, args)
        if message is None:
            raise
        return report(message)


def _expected_failure(error: Exception, args: argparse.Namespace) -> str | None:
    """The one-line message for an OS, state or engine-connection error; None for a bug."""
    import sqlite3

    from arconsole.commands.errors import describe_start_failure
    from arconsole.engine.control import ControlError
    from arconsole.engine.store import StateError

    if isinstance(error, StateError | ControlError):
        return str(error)
    if not isinstance(error, OSError | sqlite3.Error):
        return None
    if hasattr(args, "mode") and hasattr(args, "state"):
        # `run` or the console: name the path the way a failed engine start does.
        from arconsole.engine.options import resolve_paths, socket_path_for

        config, _home, alerts, state = resolve_paths(args.config, args.home, args.alerts,
                                                     args.state)
        message, _status = describe_start_failure(
            error, config=config, state=state, alerts=alerts, socket=socket_path_for(state))
        return message
    named = getattr(error, "filename", None)
    reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return f"cannot use {named}: {reason}" if named else reason


if __name__ == "__main__":
    raise SystemExit(main())

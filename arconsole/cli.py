"""The `arconsole` command line: sub-commands, and the console when none is named."""

from __future__ import annotations

import argparse
import difflib
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from arconsole.safetext import literal

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


CONSOLE_HELP = (
    "Plain `arconsole [CONFIG] [options]` (or `arconsole console ...`) is the console: it "
    "starts the engine on CONFIG (default /var/ossec/etc/ossec.conf), or, when an engine "
    "already runs on the same state file (`arconsole run`, another console), attaches to it; "
    "add --read-only to watch without changing anything. `arconsole console --help` lists "
    "its options; `arconsole COMMAND --help` those of each command."
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="arconsole",
        usage="arconsole [CONFIG] [options]     (the console)\n"
        "       arconsole COMMAND [options]",
        description="Operator console and active-response engine for Wazuh 4.x and OSSEC.",
        epilog=CONSOLE_HELP,
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", prog="arconsole")
    console = importlib.import_module(CONSOLE_MODULE)
    console_parser = subparsers.add_parser(
        "console", help="the operator console (the default: plain `arconsole [CONFIG]`)")
    console.configure(console_parser)
    console_parser.set_defaults(handler=console.run)
    for name, module in COMMANDS.items():
        if _available(name):
            importlib.import_module(module).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    first = args_list[0] if args_list else None
    if first == "--version":
        from arconsole import __version__

        print(f"arconsole {__version__}")
        return 0
    if first not in COMMANDS and first not in ("console", "-h", "--help"):
        if first is not None and (guess := _mistyped_command(first)) is not None:
            sub = _subparser(build_parser(), guess)
            sys.stderr.write(sub.format_usage())
            print(f"arconsole: error: unknown command '{literal(first)}' "
                  f"(did you mean '{guess}'?)", file=sys.stderr)
            return 2
        console = importlib.import_module(CONSOLE_MODULE)
        console_parser = argparse.ArgumentParser(prog="arconsole", epilog=CONSOLE_HELP)
        console.configure(console_parser)
        console_args = _parse(console_parser, args_list)
        return _guarded(console.run, console_args)
    parser = build_parser()
    args = _parse(parser, args_list)
    return _guarded(args.handler, args)


def _mistyped_command(word: str) -> str | None:
    """The command `word` was probably meant to be, when it is neither a command nor a path
    (a CONFIG that exists is the console's, whatever its name)."""
    if word.startswith("-") or "/" in word or Path(word).exists():
        return None
    matches = difflib.get_close_matches(word, [*COMMANDS, "console"], n=1, cutoff=0.6)
    return matches[0] if matches else None


def _parse(parser: argparse.ArgumentParser, args_list: list[str]) -> argparse.Namespace:
    """parse_args, except that an unknown option is reported by the (sub-)command it was given
    to, with its usage and the option it most resembles."""
    args, extras = parser.parse_known_args(args_list)
    if extras:
        target = _innermost(parser, args)
        hints = [hint for extra in extras if (hint := _option_hint(target, extra))]
        words = " ".join(literal(extra) for extra in extras)
        target.error(f"unrecognized arguments: {words}" + (f" ({'; '.join(hints)})"
                                                          if hints else ""))
    return args


def _option_hint(parser: argparse.ArgumentParser, extra: str) -> str | None:
    """`did you mean --format?` for `--formt`; `did you mean --mode dry-run?` for `--dry-run`."""
    if not extra.startswith("-"):
        return None
    word = extra.split("=", 1)[0]
    for action in parser._actions:
        if action.option_strings and action.choices and word.lstrip("-") in action.choices:
            return f"did you mean {action.option_strings[-1]} {word.lstrip('-')}?"
    known = [option for action in parser._actions for option in action.option_strings]
    close = difflib.get_close_matches(word, known, n=1, cutoff=0.6)
    return f"did you mean {close[0]}?" if close else None


# argparse has no public way to walk its sub-commands: `_actions` and `_SubParsersAction` are
# the documented-in-source attributes every argparse since 3.2 has.
def _subparsers_of(parser: argparse.ArgumentParser) -> argparse._SubParsersAction[
        argparse.ArgumentParser] | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    action = _subparsers_of(parser)
    assert action is not None
    sub: argparse.ArgumentParser = action.choices[name]
    return sub


def _innermost(parser: argparse.ArgumentParser, args: argparse.Namespace
               ) -> argparse.ArgumentParser:
    """The parser of the deepest sub-command named in `args` (`blocks list`, `check`)."""
    current = parser
    while (action := _subparsers_of(current)) is not None:
        name = getattr(args, action.dest, None)
        if name not in action.choices:
            break
        current = action.choices[name]
    return current


def _guarded(handler: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a command; an expected failure that escaped it still ends as one line, status 2."""
    from arconsole.commands.errors import CommandError, report

    try:
        return int(handler(args))
    except CommandError as error:
        return report(error.message, error.status)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`arconsole blocks list | head`): stop quietly, as other tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
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

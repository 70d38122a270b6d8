"""The `arconsole` command line: sub-commands, and the console when none is named."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

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
        result: int = console.run(console_parser.parse_args(args_list))
        return result
    if first == "--version":
        from arconsole import __version__

        print(f"arconsole {__version__}")
        return 0
    parser = build_parser()
    args = parser.parse_args(args_list)
    result = args.handler(args)
    return int(result)


if __name__ == "__main__":
    raise SystemExit(main())

"""`arconsole check CONFIG`: judge an ossec.conf as Wazuh (or OSSEC) would, and say more.

Exit status: 0 without errors (warnings allowed), 1 with errors, 2 when the file cannot be
read. Everything is printed on stdout, as diagnostics, never as a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from arconsole.safetext import literal

EXIT_OK = 0
EXIT_ERRORS = 1
EXIT_UNREADABLE = 2


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check", help="check an ossec.conf and list its problems",
        description="Load CONFIG as Wazuh 4.x (or OSSEC) would and report every problem with "
        "its line and column. Exit status: 0 no error, 1 errors, 2 unreadable file.",
    )
    parser.add_argument("config", type=Path, metavar="CONFIG", help="the ossec.conf to check")
    parser.add_argument("--format", choices=["text", "json"], default="text")
    parser.add_argument("--flavour", choices=["wazuh", "ossec"], default="wazuh",
                        help="judge by Wazuh 4.x (default) or OSSEC rules")
    parser.add_argument("--role", choices=["manager", "agent"], default=None,
                        help="default: agent when the file has a <client> section")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from arconsole.config.loader import ConfigReadError, load_config
    from arconsole.config.model import Flavour, Role

    flavour = Flavour(args.flavour)
    role = Role(args.role) if args.role else None
    # Every value printed is escaped: the file's content (and even its name) may be hostile.
    path = literal(str(args.config))
    try:
        config = load_config(args.config, flavour=flavour, role=role)
    except ConfigReadError as error:
        reason = literal(error.strerror or str(error))
        if args.format == "json":
            _print_json({"config": path, "flavour": flavour.value, "error": reason,
                         "diagnostics": [], "errors": 1, "warnings": 0, "infos": 0})
        else:
            print(f"{path}: error: cannot read the file: {reason}")
        return EXIT_UNREADABLE
    counts = {severity: sum(1 for d in config.diagnostics if d.severity == severity)
              for severity in ("error", "warning", "info")}
    if args.format == "json":
        _print_json({
            "config": path,
            "flavour": config.flavour.value,
            "role": config.role.value,
            "role_detected": role is None,
            "diagnostics": [_escaped(d.to_json()) for d in config.diagnostics],
            "errors": counts["error"],
            "warnings": counts["warning"],
            "infos": counts["info"],
        })
    else:
        for diagnostic in config.diagnostics:
            print(f"{path}:{diagnostic.line}:{diagnostic.column}: {diagnostic.severity}: "
                  f"{literal(diagnostic.message)} [{literal(diagnostic.code)}]")
            if diagnostic.hint:
                print(f"    hint: {literal(diagnostic.hint)}")
        how = "detected" if role is None else "--role"
        print(f"{_summary(counts)} (judged as {config.flavour.value}, role {config.role.value} "
              f"{how})")
    return EXIT_ERRORS if counts["error"] else EXIT_OK


def _escaped(document: dict[str, object]) -> dict[str, object]:
    """A diagnostic's JSON with every text escaped as in the text output."""
    return {key: literal(value) if isinstance(value, str) else value
            for key, value in document.items()}


def _summary(counts: dict[str, int]) -> str:
    parts = [_plural(counts["error"], "error"), _plural(counts["warning"], "warning")]
    if counts["info"]:
        parts.append(_plural(counts["info"], "info"))
    return ", ".join(parts)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def _print_json(document: dict[str, object]) -> None:
    json.dump(document, sys.stdout, indent=2)
    sys.stdout.write("\n")

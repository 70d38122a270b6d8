"""`arconsole check CONFIG`: judge an ossec.conf as Wazuh (or OSSEC) would, and say more.

Exit status: 0 without errors (warnings allowed), 1 with errors, 2 when the file cannot be
read. Everything is printed on stdout, as diagnostics, never as a traceback.

When CONFIG is a Wazuh manager's own `HOME/etc/ossec.conf` routing responses to agents, Wazuh
delivers those itself: with `--agent-transport` (informational here, as `run` takes it) that
is a double-delivery warning, as `run` gives; without it, a note that it matters when arconsole
delivers too (code AR-DOUBLE-DELIVERY either way).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from arconsole.safetext import literal

if TYPE_CHECKING:
    from arconsole.config.diagnostics import Diagnostic
    from arconsole.config.model import Config

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
    parser.add_argument("--agent-transport", default="none", type=_transport,
                        metavar="none|wazuh-queue[=PATH]",
                        help="the transport `run` would use (only for the double-delivery "
                        "warning: check sends nothing)")
    parser.add_argument("--home", type=Path, metavar="HOME",
                        help="the Wazuh home (default: CONFIG's, when it is HOME/etc/ossec.conf)")
    parser.set_defaults(handler=run)


def _transport(text: str) -> str:
    from arconsole.engine.options import parse_agent_transport

    try:
        parse_agent_transport(text, Path("."))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


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
    transport = str(args.agent_transport).partition("=")[0]
    double = _double_delivery(config, args.config, args.home, transport)
    diagnostics = list(config.diagnostics)
    if double is not None:
        at = sum(1 for d in diagnostics if (d.line, d.column) <= (double.line, double.column))
        diagnostics.insert(at, double)
    counts = {severity: sum(1 for d in diagnostics if d.severity == severity)
              for severity in ("error", "warning", "info")}
    if args.format == "json":
        _print_json({
            "config": path,
            "flavour": config.flavour.value,
            "role": config.role.value,
            "role_detected": role is None,
            "diagnostics": [_escaped(d.to_json()) for d in diagnostics],
            "errors": counts["error"],
            "warnings": counts["warning"],
            "infos": counts["info"],
            "agent_transport": transport,
            "double_delivery": double is not None and double.severity == "warning",
        })
    else:
        for diagnostic in diagnostics:
            print(f"{path}:{diagnostic.line}:{diagnostic.column}: {diagnostic.severity}: "
                  f"{literal(diagnostic.message)} [{literal(diagnostic.code)}]")
            if diagnostic.hint:
                print(f"    hint: {literal(diagnostic.hint)}")
        how = "detected" if role is None else "--role"
        print(f"{_summary(counts)} (judged as {config.flavour.value}, role {config.role.value} "
              f"{how})")
    return EXIT_ERRORS if counts["error"] else EXIT_OK


def _double_delivery(config: Config, config_path: Path, home: Path | None,
                     transport: str) -> Diagnostic | None:
    """`run`'s double-delivery warning for the same file; a note when no transport is set."""
    from arconsole.config.diagnostics import Diagnostic, Severity
    from arconsole.config.double_delivery import agent_routed, double_delivery_warning
    from arconsole.engine.options import home_from_config

    home = home or home_from_config(config_path)
    warning = double_delivery_warning(config, config_path, home) if home else None
    if warning is None:
        return None
    first = agent_routed(config)[0]
    if transport != "none":
        return Diagnostic(Severity.WARNING, "AR-DOUBLE-DELIVERY", warning, first.line,
                          first.column, hint="arconsole delivers these too (--agent-transport "
                          f"{transport}); give run a config of its own")
    names = ", ".join(sorted({r.name for r in agent_routed(config)}))
    return Diagnostic(
        Severity.INFO, "AR-DOUBLE-DELIVERY",
        f"this is the Wazuh manager's own config and it routes {names} to agents: Wazuh "
        "delivers them itself; if arconsole delivers too (run --agent-transport "
        "wazuh-queue), each would reach the agents twice (double delivery)",
        first.line, first.column)


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

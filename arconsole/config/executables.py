"""Look for the responses' executables in a home's `active-response/bin` (spec 1.3)."""

from __future__ import annotations

import os
from pathlib import Path

from arconsole.config.diagnostics import Diagnostic, Severity
from arconsole.config.model import Command, Config

# Where every response executable lives, relative to the Wazuh home (execd's AR_BINDIR).
PROGRAM_DIR = "active-response/bin"


def check_executables(config: Config, bin_dir: Path) -> list[Diagnostic]:
    """A warning per command used by a response that can fire whose file is missing there.

    Missing scripts are warnings: the config is valid, the response fails when it fires
    (Wazuh's execd logs "not present" at that moment). Path-like names were refused already.
    """
    used = {r.command for r in config.active_responses if r.command}
    diagnostics: list[Diagnostic] = []
    checked: set[str] = set()
    for command in config.commands:
        if command.name not in used or command.name in checked:
            continue
        checked.add(command.name)
        problem = _problem(command, bin_dir)
        if problem is not None:
            diagnostics.append(problem)
    return diagnostics


def _problem(command: Command, bin_dir: Path) -> Diagnostic | None:
    name = command.executable
    if not name or "/" in name or "\\" in name or ".." in name:
        return None
    target = bin_dir / name
    if not target.is_file():
        return Diagnostic(
            Severity.WARNING, "AR-EXEC-MISSING",
            f"executable '{name}' of command '{command.name}' is not in {bin_dir}: the "
            "response fails each time it fires", command.line, command.column,
            f"install the script as {target}")
    if not os.access(target, os.X_OK):
        return Diagnostic(
            Severity.WARNING, "AR-EXEC-MODE",
            f"executable '{name}' of command '{command.name}' is not executable: the response "
            "fails each time it fires", command.line, command.column, f"chmod 750 {target}")
    return None

"""The engine side must never pull in Textual or Rich (design card; harlequin's contract)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import arconsole

PACKAGE_DIR = Path(arconsole.__file__).parent
HEADLESS_PACKAGES = ("config", "alerts", "engine")


def headless_modules() -> list[str]:
    names = []
    for package in HEADLESS_PACKAGES:
        path = PACKAGE_DIR / package
        names.append(f"arconsole.{package}")
        names.extend(
            f"arconsole.{package}.{info.name}" for info in pkgutil.iter_modules([str(path)])
        )
    return sorted(names)


def test_there_are_headless_modules_to_check() -> None:
    assert len(headless_modules()) > len(HEADLESS_PACKAGES)


@pytest.mark.parametrize("module", headless_modules())
def test_module_does_not_import_textual_or_rich(module: str) -> None:
    code = (
        "import importlib, sys\n"
        f"importlib.import_module({module!r})\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"{module} imports {result.stdout.strip()}"


def test_the_check_is_able_to_fail() -> None:
    """The probe really sees Textual when a module imports it."""
    code = "import sys, textual\nprint('textual' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "True"


# Which parts may not import which (issue 10 item 6): data flows config -> alerts -> engine ->
# console, and commands sit on top of everything. Imports inside functions count too.
FORBIDDEN = {
    "config": ("engine", "alerts", "console", "commands"),
    "alerts": ("engine", "console", "commands"),
    "engine": ("console", "commands"),
    "console": ("commands",),
}


def imported_modules(path: Path, package: str) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in a file, at any depth."""
    import ast

    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the file's own package
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts)
                name = f"{base}.{node.module}" if node.module else base
            else:
                name = node.module or ""
            found.append((node.lineno, name))
            # `from arconsole import engine` imports a part by its name too.
            found.extend((node.lineno, f"{name}.{alias.name}") for alias in node.names
                         if name == "arconsole")
    return found


def layering_violations(root: Path) -> list[str]:
    problems = []
    for part, forbidden in FORBIDDEN.items():
        for path in sorted((root / part).rglob("*.py")):
            relative = path.relative_to(root.parent).with_suffix("")
            package = ".".join(relative.parts[:-1])
            for line, module in imported_modules(path, package):
                words = module.split(".")
                if words[0] == "arconsole" and len(words) > 1 and words[1] in forbidden:
                    problems.append(f"{path.relative_to(root.parent)}:{line}: {part} imports "
                                    f"{module}")
    return problems


def test_parts_import_only_downwards() -> None:
    assert layering_violations(PACKAGE_DIR) == []


def test_the_layering_check_is_able_to_fail(tmp_path: Path) -> None:
    """A config module importing the engine, inside a function, is caught."""
    root = tmp_path / "arconsole"
    for part in FORBIDDEN:
        (root / part).mkdir(parents=True)
    (root / "config" / "bad.py").write_text(
        "def f():\n    from arconsole.engine.decide import Decider\n    return Decider\n"
    )
    (root / "alerts" / "rel.py").write_text("from ..console import app\n")
    (root / "console" / "fine.py").write_text("from arconsole.engine import model\n")
    assert sorted(layering_violations(root)) == [
        "arconsole/alerts/rel.py:1: alerts imports arconsole.console",
        "arconsole/config/bad.py:2: config imports arconsole.engine.decide",
    ]

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

"""What arconsole tells an operator is true, precise and said once (the truth2 sweep).

Each test pins one message that used to be wrong, vague or redundant, by its exact text or by
the property that was missing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from arconsole.engine.options import Mode

REPO = Path(__file__).resolve().parent.parent


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "arconsole", *args], capture_output=True,
                          text=True, timeout=60, check=False, cwd=REPO)


def test_run_help_says_what_every_mode_does() -> None:
    """`--mode` offered observe without a word on what it does."""
    result = run_cli("run", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())  # argparse wraps the help
    for mode in Mode:
        assert f"{mode.value}: " in text, mode
    assert "observe: Wazuh's own execd runs the responses" in text

"""Helpers for the config tests (no tests here): build small ossec.conf texts and query the
diagnostics of a loaded config."""

from __future__ import annotations

from pathlib import Path

from arconsole.config.diagnostics import Diagnostic, Severity
from arconsole.config.loader import load_config_text
from arconsole.config.model import Config, Flavour, Role

SHARED = Path(__file__).resolve().parents[2] / "shared"
REAL = SHARED / "fixtures" / "real"
REPO = Path(__file__).resolve().parents[1]
SEEDS_DATA = Path(__file__).resolve().parent / "data" / "seeds"

# The stock commands of scenarios.md Part B (restart-wazuh without timeout_allowed).
STOCK_COMMANDS = """\
  <command>
    <name>disable-account</name>
    <executable>disable-account</executable>
    <timeout_allowed>yes</timeout_allowed>
  </command>
  <command>
    <name>restart-wazuh</name>
    <executable>restart-wazuh</executable>
  </command>
  <command>
    <name>firewall-drop</name>
    <executable>firewall-drop</executable>
    <timeout_allowed>yes</timeout_allowed>
  </command>
  <command>
    <name>host-deny</name>
    <executable>host-deny</executable>
    <timeout_allowed>yes</timeout_allowed>
  </command>
  <command>
    <name>route-null</name>
    <executable>route-null</executable>
    <timeout_allowed>yes</timeout_allowed>
  </command>
"""

# The same for OSSEC, where <expect> is required.
OSSEC_COMMANDS = """\
  <command>
    <name>firewall-drop</name>
    <executable>firewall-drop.sh</executable>
    <expect>srcip</expect>
    <timeout_allowed>yes</timeout_allowed>
  </command>
  <command>
    <name>restart-ossec</name>
    <executable>restart-ossec.sh</executable>
    <expect></expect>
  </command>
"""


def conf(*blocks: str, stock: bool = True, flavour: Flavour = Flavour.WAZUH) -> str:
    """An ossec.conf holding the stock commands (unless `stock=False`) then `blocks`."""
    commands = (OSSEC_COMMANDS if flavour is Flavour.OSSEC else STOCK_COMMANDS) if stock else ""
    return "<ossec_config>\n" + commands + "\n".join(blocks) + "\n</ossec_config>\n"


def load(*blocks: str, stock: bool = True, flavour: Flavour = Flavour.WAZUH,
         role: Role | None = None) -> Config:
    return load_config_text(conf(*blocks, stock=stock, flavour=flavour), "test.conf",
                            flavour=flavour, role=role)


def load_text(text: str | bytes, flavour: Flavour = Flavour.WAZUH,
              role: Role | None = None) -> Config:
    return load_config_text(text, "test.conf", flavour=flavour, role=role)


def ar(*options: str) -> str:
    """An <active-response> block from option elements."""
    return "  <active-response>\n" + "".join(f"    {o}\n" for o in options) + "  </active-response>"


def codes(config: Config, severity: Severity | None = None) -> list[str]:
    return [d.code for d in config.diagnostics if severity is None or d.severity is severity]


def only(config: Config, code: str) -> Diagnostic:
    """The single diagnostic with that code (fails when there are none or several)."""
    found = [d for d in config.diagnostics if d.code == code]
    assert len(found) == 1, f"{code}: {config.diagnostics}"
    return found[0]


def line_of(text: str, needle: str, occurrence: int = 1) -> tuple[int, int]:
    """1-based (line, column) of the n-th occurrence of `needle` in `text`."""
    index = -1
    for _ in range(occurrence):
        index = text.index(needle, index + 1)
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return line, column

"""Collect diagnostics while reading a config, each pointing at an element's `<`."""

from __future__ import annotations

from arconsole.config.diagnostics import Diagnostic, Severity
from arconsole.config.model import ConfigNode
from arconsole.safetext import literal as printable

Where = ConfigNode | tuple[int, int]


class Findings:
    def __init__(self, path: str | None = None) -> None:
        self.items: list[Diagnostic] = []
        self.path = path  # set on each diagnostic now rather than copied in later

    def add(self, severity: Severity, code: str, where: Where, message: str,
            hint: str | None = None) -> None:
        line, column = (where.line, where.column) if isinstance(where, ConfigNode) else where
        self.items.append(Diagnostic(severity, code, message, line, column, hint, self.path))

    def error(self, code: str, where: Where, message: str, hint: str | None = None) -> None:
        self.add(Severity.ERROR, code, where, message, hint)

    def warning(self, code: str, where: Where, message: str, hint: str | None = None) -> None:
        self.add(Severity.WARNING, code, where, message, hint)

    def info(self, code: str, where: Where, message: str, hint: str | None = None) -> None:
        self.add(Severity.INFO, code, where, message, hint)


def quoted(text: str, limit: int = 60) -> str:
    """A value as it can be quoted in one line of a message, control characters escaped."""
    flat = printable(text)
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def space_hint(text: str) -> str | None:
    """Wazuh keeps spaces around a value (os_xml does not trim): say so when there are some."""
    if text != text.strip():
        return f"remove the spaces or line breaks around '{quoted(text.strip())}': Wazuh keeps them"
    return None

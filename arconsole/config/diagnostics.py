"""Diagnostics: what `arconsole check` reports, with the position of the offending element."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem in a config file.

    `code` is Wazuh's message number as a string ("1230", "1303"...) where Wazuh has one for
    the same condition, otherwise an arconsole code such as "AR-XML" or "AR-TYPO".
    `line` and `column` are 1-based and point at the offending element (its `<`).
    """

    severity: Severity
    code: str
    message: str
    line: int
    column: int
    hint: str | None = None
    path: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "severity": str(self.severity),
            "code": self.code,
            "line": self.line,
            "column": self.column,
            "message": self.message,
            "hint": self.hint,
        }

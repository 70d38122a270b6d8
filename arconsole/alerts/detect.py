"""Tell an `alerts.json` stream from an `alerts.log` one by its first non-blank line."""

from __future__ import annotations

from enum import StrEnum


class AlertFormat(StrEnum):
    JSON = "alerts.json"
    LOG = "alerts.log"


def detect_format(first_line: bytes) -> AlertFormat:
    """`** Alert ` starts an alerts.log record; anything else is read as alerts.json lines."""
    text = first_line.lstrip(b"\xef\xbb\xbf \t\r\n")  # a UTF-8 BOM or blanks may lead
    return AlertFormat.LOG if text.startswith(b"** Alert ") else AlertFormat.JSON

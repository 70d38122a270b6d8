"""What an operator types for `arconsole blocks`: checked as argparse types, before anything runs.

The rules are the engine's own (`engine.operations`, which the control socket applies too):
an address passes the same crafted-input check as an alert's `srcip` and may not carry an IPv6
zone, so `::1%-j ACCEPT` or a zone holding a newline never reaches a script; seconds are whole,
above 0 and at most ten years. Names and keys are printable. Every refusal quotes the value
escaped, so the error line itself cannot be forged; a usage error here means nothing ran.
"""

from __future__ import annotations

import argparse
import unicodedata

from arconsole.safetext import literal

# engine.operations.MAX_SECONDS (a test holds them equal), here without importing the engine,
# which would slow every sub-command's start: ten years; longer is a typo.
MAX_BLOCK_SECONDS = 10 * 365 * 86_400

MAX_NAME = 1024


def block_seconds(text: str) -> int:
    """SECONDS of `blocks extend` and `--timeout` of `blocks add`."""
    stripped = text.strip()
    digits = stripped[1:] if stripped[:1] in ("+", "-") else stripped
    if not (digits.isascii() and digits.isdigit()):
        raise argparse.ArgumentTypeError(f"not a whole number of seconds: '{literal(text)}'")
    if stripped.startswith("-"):
        raise argparse.ArgumentTypeError(
            f"{literal(text)}: negative seconds are refused; to end a block early, reverse it")
    # Length first: int() of a 10,000-digit string is refused (or slow) by Python itself.
    if len(digits.lstrip("0")) > len(str(MAX_BLOCK_SECONDS)) or int(digits) > MAX_BLOCK_SECONDS:
        raise argparse.ArgumentTypeError(_too_long(text))
    seconds = int(digits)
    if seconds == 0:
        raise argparse.ArgumentTypeError("0 seconds: give seconds above 0")
    return seconds


def _too_long(text: str) -> str:
    shown = text if len(text) <= 24 else text[:20] + "..."
    return (f"{literal(shown)} seconds is more than ten years "
            f"(at most {MAX_BLOCK_SECONDS} seconds)")


def address_argument(text: str) -> str:
    """`--srcip`: an IPv4 or IPv6 address that an alert could carry without being crafted."""
    from arconsole.engine.operations import operator_address_problem

    problem = operator_address_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return text


def name_argument(text: str) -> str:
    """`--command NAME` and KEY: printable text of a sane length."""
    if not text or len(text) > MAX_NAME or not _printable(text):
        raise argparse.ArgumentTypeError(
            f"'{literal(text[:MAX_NAME])}' is not a name (printable text, 1 to {MAX_NAME} "
            "characters)")
    return text


def _printable(text: str) -> bool:
    return all(char.isprintable() and unicodedata.category(char) != "Cf" for char in text)

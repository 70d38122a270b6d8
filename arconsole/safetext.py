"""Attacker-controlled text made safe to print on a terminal."""

from __future__ import annotations

import unicodedata


def literal(text: str) -> str:
    """Attacker text made safe to print: control, format (bidi) and other invisible
    characters become `\\xNN`/`\\uNNNN` escapes, so a terminal shows them literally."""
    if text.isprintable() and text.isascii():
        return text
    out = []
    for char in text:
        if char.isprintable() and unicodedata.category(char) != "Cf":
            out.append(char)
        elif ord(char) < 0x100:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(f"\\u{ord(char):04x}" if ord(char) < 0x10000 else f"\\U{ord(char):08x}")
    return "".join(out)

"""Attacker-controlled text made safe to print on a terminal: which characters must never
reach it as they are, and the visible escape each one is shown as. The console's own
rendering (`arconsole.console.text`) asks the same question here."""

from __future__ import annotations

import unicodedata


def needs_escape(char: str) -> bool:
    """True for a character a terminal must not get as it is: controls (C0, C1, DEL),
    format characters (bidi overrides, zero-width), separators and spaces other than the
    ASCII space, surrogates, private-use and unassigned code points."""
    if " " <= char <= "~":
        return False
    return not char.isprintable() or unicodedata.category(char) == "Cf"


def char_escape(char: str) -> str:
    """The visible escape for a character: `\\xNN`, `\\uNNNN` or `\\UNNNNNNNN`."""
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def literal(text: str) -> str:
    """Attacker text made safe to print: control, format (bidi) and other invisible
    characters become `\\xNN`/`\\uNNNN` escapes, so a terminal shows them literally."""
    if text.isprintable() and text.isascii():
        return text
    return "".join(char_escape(char) if needs_escape(char) else char for char in text)

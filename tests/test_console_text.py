"""Attacker text reaches the terminal as visible characters, never as escapes or markup."""

from __future__ import annotations

import pytest
from rich.cells import cell_len
from rich.console import Console

from arconsole.console.text import escape_text, fit, literal

HOSTILE = [
    "\x1b]52;c;aGVsbG8=\x07",  # OSC 52: would write the operator's clipboard
    "\x1b[2J\x1b[H",  # clear screen, cursor home
    "\x1b]0;pwned\x07",  # window title
    "evil\u202etxt.exe",  # right-to-left override
    "a\u2028b\u2029c",  # line and paragraph separators
    "nul\x00bell\x07back\x08cr\rlf\ntab\tdel\x7f",
    "\x9b31m",  # C1 CSI
    "\u200b\u2066hidden\u2069",  # zero width space, isolates
]


@pytest.mark.parametrize("text", HOSTILE)
def test_escape_text_leaves_no_control_or_format_character(text: str) -> None:
    import unicodedata

    shown = escape_text(text)
    assert all(unicodedata.category(c) not in ("Cc", "Cf", "Zl", "Zp") for c in shown)
    assert "\\" in shown  # something was made visible


def test_escapes_name_the_character() -> None:
    assert escape_text("a\x1bb") == "a\\x1bb"
    assert escape_text("x\u202ey") == "x\\u202ey"
    assert escape_text("1\n2\t3") == "1\\n2\\t3"
    assert escape_text("plain text [b]markup[/b]") == "plain text [b]markup[/b]"
    assert escape_text("café 日本") == "café 日本"  # printable non-ASCII stays
    assert escape_text(None) == "-"


def test_limit_cuts_before_escaping() -> None:
    assert escape_text("x" * 50, limit=10) == "x" * 9 + "…"


def test_literal_is_never_markup_and_styles_escapes() -> None:
    text = literal("[bold red]boom[/] \x1b[31m", escape_style="reverse")
    assert text.plain == "[bold red]boom[/] \\x1b[31m"
    assert any("reverse" in str(span.style) for span in text.spans)
    console = Console(force_terminal=True, color_system="truecolor", width=200)
    with console.capture() as capture:
        console.print(text, end="")
    rendered = capture.get()
    # The only ESC bytes are Rich's own SGR sequences, never the alert's.
    assert "\x1b[31m" not in rendered.replace("\x1b[7m", "")
    assert "\x1b]" not in rendered


@pytest.mark.parametrize("width", [1, 2, 5, 8, 13, 30])
@pytest.mark.parametrize("text", ["short", "a much longer description", "日本語テキスト",
                                  *HOSTILE])
def test_fit_is_exactly_width_cells(text: str, width: int) -> None:
    pieces = fit(text, width)
    joined = "".join(piece for piece, _ in pieces)
    assert cell_len(joined) == width
    assert "\x1b" not in joined and "\u202e" not in joined


def test_fit_keeps_escapes_whole_and_flagged() -> None:
    pieces = fit("a\x1bz", 10)
    assert ("\\x1b", True) in pieces
    cut = fit("ab\x1bcdef", 4)  # the escape does not fit: never shown half
    assert all(not flag for _, flag in cut)
    assert "".join(p for p, _ in cut) == "ab… "


@pytest.mark.parametrize("char", ["\x1b", "\x9b", "\x7f", "\u202e", "\u200b", "\u2028",
                                  "\u00a0", "\u3000", "\ue000", "\U000e0001", "\u0378"])
def test_the_console_and_the_command_line_escape_the_same_characters(char: str) -> None:
    """One rule (`safetext.needs_escape`) for both: hidden spaces (U+00A0, U+3000), private
    use and unassigned code points are shown as escapes on screen too, not only on stderr."""
    from arconsole.safetext import literal as printable

    assert escape_text(f"a{char}b") == printable(f"a{char}b") != f"a{char}b"


def test_tab_and_line_breaks_keep_their_names_on_screen() -> None:
    from arconsole.safetext import literal as printable

    assert escape_text("1\n2\r3\t") == "1\\n2\\r3\\t"
    assert printable("1\n2\r3\t") == "1\\x0a2\\x0d3\\x09"

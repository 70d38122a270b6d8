"""Attacker-controlled text, made safe to show.

Everything an alert carries (descriptions, user names, full logs, even "IP addresses") comes
from the network. It must reach the terminal as plain characters: never as Rich markup, never
as a terminal escape sequence, never as a control or bidi character that rearranges the line.
`escape_text` turns every such character into a visible escape (`\\x1b`, `\\u202e`), and
`literal` builds a Rich `Text` (never parsed as markup) with the escapes styled apart.
"""

from __future__ import annotations

from functools import lru_cache

from rich.cells import cell_len, set_cell_size
from rich.style import Style
from rich.text import Text

from arconsole.safetext import char_escape, needs_escape

# Tabs and line breaks by their names, the usual reading in a log line.
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


@lru_cache(maxsize=4096)
def _escape_char(char: str) -> str | None:
    """The visible escape for an unsafe character (`safetext.needs_escape` decides which),
    None when the character is safe."""
    if not needs_escape(char):
        return None
    return _NAMED.get(char) or char_escape(char)


def _is_plain(text: str) -> bool:
    # The common case (printable ASCII) answers without a per-character walk.
    return text.isascii() and text.isprintable()


def escape_text(text: str | None, *, limit: int | None = None) -> str:
    """`text` with every control, format and separator character shown as an escape.

    Backslashes are left alone: an attacker writing a literal `\\x1b` only gets the same
    harmless characters on screen. `limit` cuts long values (with an ellipsis) before escaping,
    so a 1 MB description costs nothing to show.
    """
    if text is None:
        return "-"
    if limit is not None and len(text) > limit:
        text = text[: max(0, limit - 1)] + "…"
    if _is_plain(text):
        return text
    parts: list[str] = []
    for char in text:
        escaped = _escape_char(char)
        parts.append(char if escaped is None else escaped)
    return "".join(parts)


def literal(
    text: str | None,
    style: str | Style = "",
    *,
    escape_style: str | Style = "reverse",
    limit: int | None = None,
    wrap: bool = False,
) -> Text:
    """A Rich `Text` showing `text` exactly, escapes highlighted so they cannot pass unseen."""
    if text is None:
        return Text("-", style=style, no_wrap=not wrap)
    if limit is not None and len(text) > limit:
        text = text[: max(0, limit - 1)] + "…"
    result = Text(style=style, no_wrap=not wrap, end="")
    if _is_plain(text):
        result.append(text)
        return result
    run: list[str] = []
    for char in text:
        escaped = _escape_char(char)
        if escaped is None:
            run.append(char)
            continue
        if run:
            result.append("".join(run))
            run.clear()
        result.append(escaped, style=escape_style)
    if run:
        result.append("".join(run))
    return result


def one_line(text: str | None, *, limit: int = 400) -> str:
    """A value for a table cell: escaped, cut to `limit` characters."""
    return escape_text(text, limit=limit)


def fit(text: str, width: int) -> list[tuple[str, bool]]:
    """`text` escaped, cut or padded to exactly `width` cells, as (piece, is_escape) pairs.

    Table cells need a fixed width; escapes are kept whole (never cut in the middle of
    `\\x1b`, which would show a misleading half escape) and flagged so they can be styled.
    """
    if width <= 0:
        return []
    if _is_plain(text):
        if len(text) > width:
            return [(text[: width - 1] + "…", False)] if width > 1 else [("…", False)]
        return [(text.ljust(width), False)]
    pieces: list[tuple[str, bool]] = []
    used = 0
    run: list[str] = []
    run_cells = 0

    def flush_run() -> None:
        nonlocal run_cells
        if run:
            pieces.append(("".join(run), False))
            run.clear()
        run_cells = 0

    for char in text:
        escaped = _escape_char(char)
        if escaped is None:
            cells = cell_len(char)
            if used + cells > width:
                break
            run.append(char)
            run_cells += cells
            used += cells
            continue
        if used + len(escaped) > width:
            break
        flush_run()
        pieces.append((escaped, True))
        used += len(escaped)
    else:
        flush_run()
        if used < width:
            pieces.append((" " * (width - used), False))
        return pieces
    # Cut: end with an ellipsis in the last cell.
    flush_run()
    while pieces and used > width - 1:
        piece, flag = pieces.pop()
        if flag:
            used -= len(piece)
            continue
        keep = set_cell_size(piece, max(0, cell_len(piece) - (used - (width - 1))))
        used -= cell_len(piece) - cell_len(keep)
        if keep:
            pieces.append((keep, False))
    pieces.append(("…" + " " * max(0, width - 1 - used), False))
    return pieces

"""Console themes: TOML files holding Textual `Theme` fields, shipped and the operator's own.

The shipped files live in the repository's `themes/` (copied into the wheel as
`arconsole/themes`); an operator adds files in `$XDG_CONFIG_HOME/arconsole/themes`. A file that
fails to load is collected, reported once, and never stops the console: a built-in is used.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, fields
from pathlib import Path

from textual.theme import Theme

import arconsole

DEFAULT_THEME = "arconsole-dark"
ANSI_THEME = "arconsole-ansi"
FALLBACK_THEME = "textual-dark"  # always registered by Textual
THEME_SUFFIXES = (".toml",)

_THEME_FIELDS = {f.name for f in fields(Theme)}

# arconsole's own colour variables, with the values used when a theme (e.g. one of Textual's
# built-ins picked from the palette) does not define them.
APP_VARIABLES: dict[str, str] = {
    "severity-high": "#FF5F5F",
    "severity-medium": "#E5C07B",
    "severity-low": "#8A94A6",
    "block-expiring": "#FFAF00",
    "block-failed": "#FF5F5F",
    "badge-paused": "#FFAF00",
    "badge-read-only": "#5FAFFF",
    "escaped-text": "#FF87FF",
    "config-changed": "#8CC265",
}


class ThemeError(ValueError):
    """A theme file that cannot be used; the message names the file and the reason."""


@dataclass(frozen=True, slots=True)
class ThemeFailure:
    path: Path
    error: str


def shipped_theme_dir() -> Path | None:
    """`arconsole/themes` in a wheel, else the repository's `themes/` beside the package."""
    package = Path(arconsole.__file__).resolve().parent
    for candidate in (package / "themes", package.parent / "themes"):
        if candidate.is_dir():
            return candidate
    return None


def user_theme_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "arconsole" / "themes"


def load_theme_file(path: Path) -> Theme:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ThemeError(f"{path}: cannot read: {error.strerror or error}") from error
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ThemeError(f"{path}: not valid TOML: {error}") from error
    unknown = sorted(set(data) - _THEME_FIELDS)
    if unknown:
        fields = "unknown field" if len(unknown) == 1 else "unknown fields"
        raise ThemeError(f"{path}: {fields}: {', '.join(unknown)}")
    for required in ("name", "primary"):
        if not isinstance(data.get(required), str) or not data[required]:
            raise ThemeError(f"{path}: missing {required!r}")
    variables = data.get("variables", {})
    if not isinstance(variables, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in variables.items()
    ):
        raise ThemeError(f"{path}: [variables] must map names to strings")
    try:
        theme = Theme(**data)
        # Parses every colour now, so a typo fails here and not in the middle of a redraw.
        theme.to_color_system().generate()
    except Exception as error:
        raise ThemeError(f"{path}: {error}") from error
    return theme


def load_themes(directories: Iterable[Path | None]) -> tuple[list[Theme], list[ThemeFailure]]:
    """Every theme file of `directories` (later directories override earlier ones by name)."""
    themes: dict[str, Theme] = {}
    failures: list[ThemeFailure] = []
    for directory in directories:
        if directory is None or not directory.is_dir():
            continue
        for path in sorted(directory.iterdir()):
            if path.suffix not in THEME_SUFFIXES or not path.is_file():
                continue
            try:
                theme = load_theme_file(path)
            except ThemeError as error:
                failures.append(ThemeFailure(path, str(error)))
                continue
            themes[theme.name] = theme
    return list(themes.values()), failures


def default_theme_name(environ: dict[str, str] | None = None) -> str:
    """The ANSI theme over SSH without truecolor (colours would be quantised), else dark."""
    env = os.environ if environ is None else environ
    remote = bool(env.get("SSH_CONNECTION") or env.get("SSH_CLIENT"))
    truecolor = env.get("COLORTERM", "").lower() in ("truecolor", "24bit")
    return ANSI_THEME if remote and not truecolor else DEFAULT_THEME

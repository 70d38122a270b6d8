"""Theme files: the shipped ones load, a broken one is reported once and a built-in is used."""

from __future__ import annotations

from pathlib import Path

import pytest

from arconsole.console.app import ConsoleApp
from arconsole.console.themes import (
    ANSI_THEME,
    APP_VARIABLES,
    DEFAULT_THEME,
    ThemeError,
    default_theme_name,
    load_theme_file,
    load_themes,
    shipped_theme_dir,
)

REPO = Path(__file__).resolve().parents[1]


def test_shipped_themes_load_with_an_ansi_one() -> None:
    directory = shipped_theme_dir()
    assert directory is not None
    themes, failures = load_themes([directory])
    assert failures == []
    by_name = {theme.name: theme for theme in themes}
    assert {"arconsole-dark", "arconsole-light", ANSI_THEME} <= set(by_name)
    ansi = by_name[ANSI_THEME]
    assert ansi.ansi
    assert all(value.startswith("ansi_") for value in (ansi.primary, ansi.error, ansi.warning))
    # Every arconsole colour variable is defined by every shipped theme.
    wanted = set(APP_VARIABLES)
    for theme in themes:
        assert wanted <= set(theme.variables), theme.name


def test_the_wheel_ships_the_theme_files() -> None:
    pyproject = (REPO / "pyproject.toml").read_text()
    assert '"themes" = "arconsole/themes"' in pyproject
    assert sorted(p.name for p in (REPO / "themes").glob("*.toml")) == [
        "arconsole-ansi.toml", "arconsole-dark.toml", "arconsole-light.toml"]


@pytest.mark.parametrize(("content", "reason"), [
    ('name = "x"\nprimary = "#123456"\nflavour = "mint"\n', "unknown field"),
    ('name = "x"\n', "missing 'primary'"),
    ('name = "x"\nprimary = "not-a-colour"\n', ""),
    ("name = ", "not valid TOML"),
    ('name = "x"\nprimary = "#123456"\nvariables = 3\n', "[variables]"),
])
def test_bad_theme_files_are_errors(tmp_path: Path, content: str, reason: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(content)
    with pytest.raises(ThemeError, match=str(path)) as caught:
        load_theme_file(path)
    assert reason in str(caught.value)


def test_default_theme_is_ansi_over_ssh_without_truecolor() -> None:
    assert default_theme_name({"SSH_CONNECTION": "1 2 3 4"}) == ANSI_THEME
    assert default_theme_name({"SSH_CONNECTION": "1 2 3 4", "COLORTERM": "truecolor"}) \
        == DEFAULT_THEME
    assert default_theme_name({}) == DEFAULT_THEME


async def test_broken_user_theme_is_reported_once_and_a_builtin_is_used(tmp_path: Path) -> None:
    user = tmp_path / "themes"
    user.mkdir()
    (user / "broken.toml").write_text('name = "broken"\nprimary = "#zz0000"\n')
    (user / "mine.toml").write_text('name = "mine"\nprimary = "#3366cc"\ndark = true\n')
    app = ConsoleApp(theme="broken", theme_dirs=[user], live=False)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await pilot.pause()
        assert app.theme == DEFAULT_THEME
        assert "mine" in app.available_themes  # a good user theme is registered
        notices = [n for n in app._notifications if "theme" in (n.title + n.message).lower()]
        assert len(notices) == 1
        assert "broken.toml" in notices[0].message and "'broken'" in notices[0].message
        app.theme = "mine"  # and can be chosen
        await pilot.pause()
        assert app.current_theme.primary == "#3366cc"

"""Themes: the shipped ones are valid (three at least, one light), the user's are added, a
broken file is reported and skipped, never fatal, and a file lacking some of our variables is
loaded with pe-dark's for those, and reported."""

from __future__ import annotations

from pathlib import Path

from textual.theme import Theme
from textual.widgets import Select

from promptexecution.console.screens.settings import SettingsScreen
from promptexecution.console.theming import (
    DEFAULT_THEME,
    FALLBACK_VARIABLES,
    PE_VARIABLES,
    load_themes,
    pick,
)
from tests.conftest import ServerHandle

from .conftest import make_app
from .scenes import SIZE, wait_for

GOOD = """name = "mine"
primary = "#ff0000"
[variables]
status-completed = "green"
status-processing = "blue"
status-failed = "red"
status-cancelled = "grey"
cost = "orange"
"""


def test_shipped_themes_are_valid_textual_themes() -> None:
    loaded = load_themes()
    assert loaded.problems == []
    assert {"pe-dark", "pe-light", "pe-solarized"} <= set(loaded.themes)
    assert DEFAULT_THEME in loaded.themes
    assert any(not t.dark for t in loaded.themes.values())  # at least one light theme
    for theme in loaded.themes.values():
        assert isinstance(theme.to_textual(), Theme)


def test_user_themes_are_added_and_broken_ones_reported(tmp_path: Path) -> None:
    (tmp_path / "mine.toml").write_text(GOOD)
    (tmp_path / "broken.toml").write_text("name = [\n")
    (tmp_path / "badcolour.toml").write_text(GOOD.replace('"#ff0000"', '"not-a-colour"')
                                             .replace('"mine"', '"other"'))
    (tmp_path / "badvar.toml").write_text(GOOD.replace('"orange"', '"not-a-colour"')
                                          .replace('"mine"', '"third"'))
    (tmp_path / "extra.toml").write_text("font = 1\n" + GOOD.replace('"mine"', '"fourth"'))
    loaded = load_themes(tmp_path)
    assert "mine" in loaded.themes
    assert not {"other", "third", "fourth"} & set(loaded.themes)
    text = "\n".join(loaded.problems)
    assert len(loaded.problems) == 4
    assert "broken.toml: not readable TOML" in text
    assert "badcolour.toml: primary" in text
    assert "badvar.toml: variables: Value error, 'not-a-colour' is not a colour" in text
    assert "extra.toml: font: Extra inputs are not permitted" in text
    assert all(p.endswith("; skipped") for p in loaded.problems)


def test_a_theme_lacking_some_of_our_variables_takes_pe_darks_with_one_notice(
        tmp_path: Path) -> None:
    (tmp_path / "sea.toml").write_text(
        GOOD.replace('"mine"', '"sea"').replace('status-failed = "red"\n', "")
        .replace('cost = "orange"\n', ""))
    (tmp_path / "bare.toml").write_text('name = "bare"\nprimary = "#fff"\n')
    loaded = load_themes(tmp_path)
    assert loaded.problems == [
        f"{tmp_path / 'bare.toml'}: [variables] lacks {', '.join(PE_VARIABLES)}; "
        f"using pe-dark's for those",
        f"{tmp_path / 'sea.toml'}: [variables] lacks status-failed, cost; "
        f"using pe-dark's for those"]
    sea = loaded.themes["sea"].to_textual().variables
    assert sea == {**FALLBACK_VARIABLES, "status-completed": "green",
                   "status-processing": "blue", "status-cancelled": "grey"}
    assert loaded.themes["bare"].to_textual().variables == FALLBACK_VARIABLES


async def test_a_partial_user_theme_is_offered_applied_and_noticed(
        console_server: ServerHandle, tmp_path: Path) -> None:
    themes = tmp_path / "config" / "themes"
    themes.mkdir(parents=True)
    (themes / "sea.toml").write_text(GOOD.replace('"mine"', '"sea"')
                                     .replace('status-failed = "red"\n', ""))
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        notes = [n.message for n in app._notifications]
        assert [n for n in notes if "sea.toml" in n] == [
            f"{themes / 'sea.toml'}: [variables] lacks status-failed; using pe-dark's for those"]
        await pilot.press("f9")
        assert isinstance(app.screen, SettingsScreen)
        select = app.screen.query_one("#theme", Select)
        assert ("sea", "sea") in select._options
        select.value = "sea"
        await wait_for(pilot, lambda: app.theme == "sea")
        variables = app.get_css_variables()
        assert variables["status-failed"] == FALLBACK_VARIABLES["status-failed"]
        assert variables["status-completed"] == "green"


def test_a_missing_theme_falls_back() -> None:
    loaded = load_themes()
    assert pick(loaded, "pe-light") == ("pe-light", None)
    name, problem = pick(loaded, "neon")
    assert name == DEFAULT_THEME and problem and "neon" in problem


def test_fallback_variables_match_the_default_theme() -> None:
    from promptexecution.console.theming import DEFAULT_THEME, FALLBACK_VARIABLES, load_themes

    assert load_themes().themes[DEFAULT_THEME].variables == FALLBACK_VARIABLES

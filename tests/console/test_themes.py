"""Themes: the shipped ones are valid (three at least, one light), the user's are added, and
a broken file is reported and skipped, never fatal."""

from __future__ import annotations

from pathlib import Path

from textual.theme import Theme

from promptexecution.console.theming import DEFAULT_THEME, load_themes, pick

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
    (tmp_path / "novars.toml").write_text('name = "bare"\nprimary = "#fff"\n')
    loaded = load_themes(tmp_path)
    assert "mine" in loaded.themes and "other" not in loaded.themes
    assert "bare" not in loaded.themes
    text = "\n".join(loaded.problems)
    assert "broken.toml: not readable TOML" in text
    assert "badcolour.toml: primary" in text
    assert "novars.toml: variables" in text and "status-completed" in text


def test_a_missing_theme_falls_back() -> None:
    loaded = load_themes()
    assert pick(loaded, "pe-light") == ("pe-light", None)
    name, problem = pick(loaded, "neon")
    assert name == DEFAULT_THEME and problem and "neon" in problem


def test_fallback_variables_match_the_default_theme() -> None:
    from promptexecution.console.theming import DEFAULT_THEME, FALLBACK_VARIABLES, load_themes

    assert load_themes().themes[DEFAULT_THEME].variables == FALLBACK_VARIABLES

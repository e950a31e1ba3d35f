"""Pilot tests of Settings against the real server: the list marks the profile in use (not only
the default) and the marker follows a switch; the embedded profile's form says where its URL
and key come from, and placeholders read as examples; every button's label fits at 80x24."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rich.cells import cell_len
from textual.pilot import Pilot
from textual.widgets import Button, Input, OptionList, Static

from promptexecution.console.app import PeApp
from promptexecution.console.config import Profile
from promptexecution.console.screens.settings import SettingsScreen, describe_profile
from tests.conftest import ServerHandle

from .conftest import make_app
from .scenes import ready, wait_for
from .test_playground import SIZE, text_of

KEY_FIELDS = ("#base_url", "#api_key", "#api_key_env")


async def open_settings(pilot: Pilot[Any]) -> SettingsScreen:
    await ready(pilot)
    await pilot.press("f9")
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, SettingsScreen)
    return screen


def lines(screen: SettingsScreen) -> dict[str, str]:
    listing = screen.query_one("#profiles", OptionList)
    options = [listing.get_option_at_index(i) for i in range(listing.option_count)]
    return {str(option.id): str(option.prompt) for option in options}


async def highlight(pilot: Pilot[Any], screen: SettingsScreen, name: str) -> None:
    listing = screen.query_one("#profiles", OptionList)
    listing.highlighted = listing.get_option_index(name)
    await pilot.pause()
    assert screen.editing == name


def test_describe_profile_marks_default_and_in_use() -> None:
    local, work = Profile("local"), Profile("work", "https://x/v2", api_key_env="WORK_PE_KEY")
    assert describe_profile(local, "local", "local").startswith("● local (default, in use)  ·  ")
    assert describe_profile(work, "local", "local") == "  work  ·  https://x/v2  ·  $WORK_PE_KEY"
    assert describe_profile(work, "local", "work").startswith("● work (in use)  ·  ")
    assert describe_profile(local, "local", "work").startswith("  local (default)  ·  ")


async def test_the_list_marks_the_profile_in_use_and_the_marker_follows_a_switch(
        console_server: ServerHandle, tmp_path: Path) -> None:
    app = make_app(console_server, tmp_path)
    config = app.config
    config.profiles["other"] = Profile("other", console_server.base_url,
                                       api_key=console_server.local_key)
    app = PeApp(config, config_path=tmp_path / "config" / "config.toml", profile="other",
                output_file=tmp_path / "last-output.txt", draft_file=tmp_path / "draft.json")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_settings(pilot)
        shown = lines(screen)
        assert shown["other"].startswith("● other (in use)  ·  "), shown  # in use, not default
        assert shown["test"].startswith("  test (default)  ·  "), shown
        assert shown["local"].startswith("  local  ·  "), shown

        await highlight(pilot, screen, "test")
        await pilot.click("#use")
        await wait_for(pilot, lambda: app.profile_name == "test")
        shown = lines(screen)
        assert shown["test"].startswith("● test (default, in use)  ·  "), shown
        assert shown["other"].startswith("  other  ·  "), shown

        # A switch from elsewhere (the palette's "Use profile") moves it too, and leaves the
        # highlight and what is typed in the form alone.
        screen.query_one("#api_key_env", Input).value = "TYPED_HERE"
        app.switch_profile("other")
        await wait_for(pilot, lambda: lines(screen)["other"].startswith("● other (in use)"))
        assert lines(screen)["test"].startswith("  test (default)  ·  ")
        assert screen.editing == "test"
        assert screen.query_one("#api_key_env", Input).value == "TYPED_HERE"


async def test_the_embedded_profile_says_where_its_url_and_key_come_from(
        console_server: ServerHandle, tmp_path: Path) -> None:
    app = make_app(console_server, tmp_path)
    app.config.profiles["lab"] = Profile("lab")  # no URL either: also the embedded server
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_settings(pilot)
        note = screen.query_one("#embedded-note", Static)

        await highlight(pilot, screen, "local")
        for field in KEY_FIELDS:
            box = screen.query_one(field, Input)
            assert box.disabled and box.value == "" and box.placeholder.startswith("none"), field
        assert note.display and "embedded server" in text_of(note)
        assert "URL and key" in text_of(note) and "data dir" in text_of(note)

        await highlight(pilot, screen, "test")  # remote: examples, open fields, no note
        for field in KEY_FIELDS:
            assert not screen.query_one(field, Input).disabled, field
        assert screen.query_one("#base_url", Input).placeholder.startswith("e.g. https://")
        assert screen.query_one("#api_key_env", Input).placeholder == "e.g. WORK_PE_KEY"
        assert screen.query_one("#api_key", Input).placeholder == "empty keeps the stored key"
        assert not note.display

        await highlight(pilot, screen, "lab")  # can still be given a URL
        assert not screen.query_one("#base_url", Input).disabled
        assert note.display and "No base URL" in text_of(note)

        await pilot.click("#new")
        await pilot.pause()
        for field in ("#name", *KEY_FIELDS):
            box = screen.query_one(field, Input)
            assert not box.disabled and box.placeholder.startswith("e.g. "), field
        assert not note.display

        # Saving local still works, and keeps it the embedded server.
        await highlight(pilot, screen, "local")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.config.profiles["local"] == Profile("local")
        assert "✓ saved" in text_of(screen.query_one("#form-result", Static))


@pytest.mark.parametrize("size", [(80, 24), (60, 30), (140, 42)])
async def test_every_button_label_is_fully_visible(console_server: ServerHandle, tmp_path: Path,
                                                  size: tuple[int, int]) -> None:
    app: PeApp = make_app(console_server, tmp_path)
    async with app.run_test(size=size) as pilot:
        screen = await open_settings(pilot)
        await pilot.pause()
        buttons = list(screen.query(Button))
        assert {"new", "use", "default", "remove", "save", "test"} <= {b.id for b in buttons}
        for button in buttons:
            label = str(button.label)
            assert button.content_region.width >= cell_len(label), (label, button.region)
            geometry = screen.find_widget(button)
            region, clip = geometry.region, geometry.clip
            # Not cropped sideways by its row or pane (the form's own buttons may sit below
            # the fold at 24 rows: it scrolls).
            assert clip.x <= region.x and region.right <= clip.right, (label, region, clip)
            if button.parent is not None and button.parent.id == "profile-actions":
                assert geometry.visible_region == region, (label, region, clip)
        rows = screen.query_one("#profile-actions")
        assert rows.has_class("-narrow") == (size[0] < 80)  # two to a row only when needed
        if size[0] >= 140:  # room enough: Textual's usual 16-column buttons, as before
            assert all(b.region.width >= 16 for b in buttons)

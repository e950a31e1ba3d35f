"""The Templates screen (F3) with Pilot against the real server: list, filter, detail, edit
with live validation, save with a note, versions and diffs, restore, labels, archive,
$EDITOR, create and duplicate, run a version in the Playground."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Input, Select, Static, TextArea

from promptexecution.console.app import PeApp
from promptexecution.console.screens.templates import TemplatesScreen
from promptexecution.console.screens.templates.dialogs import AskScreen, ConfirmScreen
from promptexecution.console.screens.templates.editor import EditTemplateScreen, VariableRow
from promptexecution.console.screens.templates.labels import LabelsTable
from promptexecution.console.screens.templates.template_list import TemplateList
from promptexecution.console.screens.templates.versions import VersionsTable
from promptexecution.console.widgets.diff_view import DiffView
from tests.conftest import ServerHandle

from .conftest import make_app
from .scenes import ready, wait_for

SIZE = (140, 42)


def _client(server: ServerHandle) -> httpx.Client:
    return server.client(server.local_key)


def _seed(server: ServerHandle) -> str:
    client = _client(server)
    made = client.post("/templates", json={
        "name": "aa_letter", "prompt": "Dear {{ who }},\nthanks for {{ thing }}.\nBye",
        "description": "a thank-you letter", "tags": ["mail"],
        "variables": [{"name": "who", "type": "string", "required": True},
                      {"name": "thing", "type": "string", "default": "the gift"}],
        "change_note": "first"})
    assert made.status_code == 201, made.text
    return str(made.json()["template_id"])


async def _templates(pilot: Pilot[Any]) -> tuple[PeApp, TemplatesScreen]:
    app = await ready(pilot)
    await pilot.press("f3")
    await wait_for(pilot, lambda: isinstance(app.screen, TemplatesScreen)
                   and app.screen.loaded_at_least_once)
    screen = app.screen
    assert isinstance(screen, TemplatesScreen)
    return app, screen


async def _select(pilot: Pilot[Any], screen: TemplatesScreen, name: str) -> None:
    listing = screen.query_one(TemplateList)
    index = next(i for i, t in enumerate(listing.rows) if t.name == name)
    listing.focus()
    listing.move_to(index)
    await pilot.pause()


async def _edit(pilot: Pilot[Any], screen: TemplatesScreen, name: str) -> None:
    """Highlights template `name` and opens the editor on it."""
    await _select(pilot, screen, name)
    await pilot.press("e")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, EditTemplateScreen))


def _text(screen: Any, selector: str) -> str:
    """What a Static shows, as plain text (it may hold Rich tables and styled text)."""
    content = screen.query_one(selector, Static).content
    if isinstance(content, str):
        return content
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(content)
    return console.export_text()


async def test_the_list_shows_every_template_and_filters_as_you_type(
    console_server: ServerHandle, tmp_path: Path
) -> None:
    _seed(console_server)
    async with make_app(console_server, tmp_path).run_test(size=SIZE) as pilot:
        app, screen = await _templates(pilot)
        listing = screen.query_one(TemplateList)
        assert len(listing.rows) == len(screen.templates) > 10  # the seeded examples too
        assert listing.has_focus  # one-key actions work at once
        await pilot.press("slash")
        await pilot.press(*"thank")  # the description matches
        await wait_for(pilot, lambda: [t.name for t in listing.rows] == ["aa_letter"])
        assert "1 active" in _text(screen, "#templates-count")
        assert "aa_letter" in _text(screen, "#detail-head")
        assert "Dear" in _text(screen, "#detail-prompt")
        assert "who" in _text(screen, "#detail-variables")
        await pilot.press(*"zzz")
        await wait_for(pilot, lambda: not listing.rows)
        assert "no active template matches" in listing.empty_text
        await pilot.press("escape")
        assert listing.has_focus
        screen.query_one("#templates-filter", Input).value = ""
        await pilot.press("s")  # by last updated: the newest first
        await wait_for(pilot, lambda: screen.sort == "updated")
        assert listing.rows[0].name == "aa_letter"


async def test_edit_validates_live_and_saves_a_new_version_with_its_note(
    console_server: ServerHandle, tmp_path: Path
) -> None:
    template_id = _seed(console_server)
    async with make_app(console_server, tmp_path).run_test(size=SIZE) as pilot:
        app, screen = await _templates(pilot)
        await _edit(pilot, screen, "aa_letter")
        editor = app.screen
        assert isinstance(editor, EditTemplateScreen)
        assert "saving makes 1.1" in _text(editor, "#edit-title")
        area = editor.query_one("#edit-prompt", TextArea)
        area.load_text("Dear {{ who }} {{ mood }},\n{% if %}")
        await wait_for(pilot, lambda: "TEMPLATE_SYNTAX_ERROR" in _text(editor, "#edit-problems"))
        assert "line 2" in _text(editor, "#edit-problems")
        area.load_text("Dear {{ who }}, {{ mood }}!")
        await wait_for(pilot, lambda: "UNDECLARED_VARIABLE" in _text(editor, "#edit-problems"))
        assert "UNUSED_VARIABLE" in _text(editor, "#edit-problems")  # thing
        assert "‹who›" in _text(editor, "#edit-rendered")  # no sample yet: a stand-in
        first = editor.query(VariableRow).first()
        first.query_one(".var-sample", Input).value = "Ada"
        await wait_for(pilot, lambda: "Dear Ada" in _text(editor, "#edit-rendered"))
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, AskScreen))
        assert "version 1.1" in str(app.screen.title_text)
        app.screen.query_one("#ask-input", Input).value = "asks about the mood"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TemplatesScreen))
    stored = _client(console_server).get(f"/templates/{template_id}").json()
    assert stored["version"] == "1.1" and stored["change_note"] == "asks about the mood"
    assert stored["prompt"] == "Dear {{ who }}, {{ mood }}!"


async def test_a_save_over_a_newer_version_is_refused_then_stored_on_top_when_asked_again(
    console_server: ServerHandle, tmp_path: Path
) -> None:
    """A colleague saved 1.1 while this edit of 1.0 was open: saving used to store 1.2 from
    the old prompt, silently undoing theirs."""
    template_id = _seed(console_server)
    client = _client(console_server)
    async with make_app(console_server, tmp_path).run_test(size=SIZE) as pilot:
        app, screen = await _templates(pilot)
        await _edit(pilot, screen, "aa_letter")
        editor = app.screen
        client.put(f"/templates/{template_id}", json={"prompt": "Colleague's {{ who }}"})
        editor.query_one("#edit-tags", Input).value = "mail, mine"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, AskScreen))
        app.screen.query_one("#ask-input", Input).value = "my tags"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "1.1 was saved elsewhere" in _text(editor, "#edit-status"))
        assert client.get(f"/templates/{template_id}").json()["version"] == "1.1"
        assert "saving makes 1.2" in _text(editor, "#edit-title")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, AskScreen))
        assert app.screen.query_one("#ask-input", Input).value == "my tags"  # kept
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TemplatesScreen))
    stored = client.get(f"/templates/{template_id}").json()
    assert stored["version"] == "1.2" and stored["tags"] == ["mail", "mine"]
    assert stored["prompt"] == "Dear {{ who }},\nthanks for {{ thing }}.\nBye"


async def test_opening_and_saving_changes_nothing_that_was_not_typed(
    console_server: ServerHandle, tmp_path: Path
) -> None:
    client = _client(console_server)
    made = client.post("/templates", json={
        "name": "aa_exact", "prompt": "Hi {{ who }}", "description": "ends in a space ",
        "tags": ["a,b"], "variables": [{"name": "who", "default": "", "description": "x "}]})
    assert made.status_code == 201, made.text
    async with make_app(console_server, tmp_path).run_test(size=SIZE) as pilot:
        app, screen = await _templates(pilot)
        await _edit(pilot, screen, "aa_exact")
        app.screen.query_one("#edit-prompt", TextArea).load_text("Hello {{ who }}")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, AskScreen))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TemplatesScreen))
    stored = client.get("/templates/aa_exact").json()
    assert stored["version"] == "1.1" and stored["prompt"] == "Hello {{ who }}"
    assert stored["description"] == "ends in a space " and stored["tags"] == ["a,b"]
    assert stored["variables"][0]["default"] == "" and stored["variables"][0]["description"] \
        == "x "


async def test_a_refused_save_shows_the_error_in_place_and_keeps_every_field(
    console_server: ServerHandle, tmp_path: Path
) -> None:
    _seed(console_server)
    async with make_app(console_server, tmp_path).run_test(size=SIZE) as pilot:
        app, screen = await _templates(pilot)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, EditTemplateScreen))
        editor = app.screen
        editor.query_one("#edit-name", Input).value = "aa_letter"  # taken
        editor.query_one("#edit-prompt", TextArea).load_text("Something new")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, AskScreen))
        await pilot.press("enter")
        await wait_for(pilot, lambda: "TEMPLATE_NAME_TAKEN" in _text(editor, "#edit-status"))
        assert "request req_" in _text(editor, "#edit-status")
        assert editor.query_one("#edit-prompt", TextArea).text == "Something new"
        assert app.screen is editor
        editor.query_one("#edit-name", Input).value = "bad name!"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "Not saved" in _text(editor, "#edit-status"))
        assert "not ' ', '!'" in _text(editor, "#edit-status") or "space" in _text(
            editor, "#edit-status")


async def test_versions_diff_restore_and_run_a_version_in_the_playground(
    console_server: ServerHandle, tmp_path: Path
) -> None:
    template_id = _seed(console_server)
    client = _client(console_server)
    client.put(f"/templates/{template_id}", json={
        "prompt": "Dear {{ who }},\nmany thanks for {{ thing }}.\nBye", "change_note": "warmer",
        "tags": ["mail", "thanks"]})
    async with make_app(console_server, tmp_path).run_test(size=(160, 45)) as pilot:
        app, screen = await _templates(pilot)
        await _select(pilot, screen, "aa_letter")
        await pilot.press("v")
        table = screen.query_one(VersionsTable)
        await wait_for(pilot, lambda: table.row_count == 2)
        view = screen.query_one(DiffView)
        await wait_for(pilot, lambda: view.changes > 0)
        assert "1.0 → 1.1" in _text(screen, "#diff-title")
        assert view.changes == 2  # the prompt line, the tags line
        rows = [str(table.get_row_at(i)) for i in range(2)]
        assert "warmer" in rows[0] and "first" in rows[1]
        await pilot.press("u")  # side by side at 160 columns
        await wait_for(pilot, lambda: view.split)
        await pilot.press("down")  # 1.0: the first version, compared with nothing
        await wait_for(pilot, lambda: "first version" in _text(screen, "#diff-title"))
        await pilot.press("R")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.click("#confirm-yes")
        await wait_for(pilot, lambda: client.get(f"/templates/{template_id}").json()["version"]
                       == "1.2")
        restored = client.get(f"/templates/{template_id}").json()
        assert restored["prompt"].startswith("Dear {{ who }},\nthanks")
        assert restored["change_note"] == "restored from 1.0"
        await wait_for(pilot, lambda: table.row_count == 3 and not screen.fetching)
        await pilot.pause(0.2)
        table.focus()
        table.move_cursor(row=2)  # 1.0 again
        await wait_for(pilot, lambda: table.current == "1.0")
        await pilot.press("p")
        await wait_for(pilot, lambda: app.current_mode == "playground"
                       and app.playground is not None and app.playground.pinned is not None)
        playground = app.playground
        assert playground is not None and playground.pinned is not None
        assert playground.pinned.version == "1.0"
        request, _ = playground.build_request()
        assert request is not None and request.template_version == "1.0"
        assert "pinned" in _text(playground, "#template-info")


async def test_labels_set_move_back_and_remove(
    console_server: ServerHandle, tmp_path: Path
) -> None:
    template_id = _seed(console_server)
    client = _client(console_server)
    client.put(f"/templates/{template_id}", json={"prompt": "v2 {{ who }}"})
    async with make_app(console_server, tmp_path).run_test(size=SIZE) as pilot:
        app, screen = await _templates(pilot)
        await _select(pilot, screen, "aa_letter")
        await pilot.press("l")
        table = screen.query_one(LabelsTable)
        await wait_for(pilot, lambda: table.labels is not None)
        assert "No labels yet" in _text(screen, "#labels-hint")
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, AskScreen))
        app.screen.query_one("#ask-input", Input).value = "production"
        await pilot.press("enter")
        await wait_for(pilot, lambda: table.row_count == 1)

        def label() -> dict[str, Any]:
            return dict(client.get(f"/templates/{template_id}/labels").json()["labels"][0])

        assert label()["version"] == "1.1"
        table.focus()
        await pilot.press("enter")  # move it
        await wait_for(pilot, lambda: isinstance(app.screen, AskScreen))
        app.screen.query_one("#ask-input", Input).value = "1.0"
        await pilot.press("enter")
        await wait_for(pilot, lambda: label()["version"] == "1.0")
        await wait_for(pilot, lambda: table.labels is not None and table.labels.labels
                       and table.labels.labels[0].version == "1.0")
        table.focus()
        await pilot.press("b")  # one-key rollback
        await wait_for(pilot, lambda: label()["version"] == "1.1")
        await wait_for(pilot, lambda: table.labels is not None and table.labels.labels
                       and table.labels.labels[0].version == "1.1")
        table.focus()
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.click("#confirm-yes")
        await wait_for(pilot, lambda: not client.get(f"/templates/{template_id}/labels")
                       .json()["labels"])


async def test_restoring_a_version_from_before_a_rename_keeps_the_new_name(
    console_server: ServerHandle, tmp_path: Path
) -> None:
    template_id = _seed(console_server)
    client = _client(console_server)
    client.put(f"/templates/{template_id}", json={"name": "aa_renamed", "prompt": "v2"})
    async with make_app(console_server, tmp_path).run_test(size=SIZE) as pilot:
        app, screen = await _templates(pilot)
        await _select(pilot, screen, "aa_renamed")
        await pilot.press("v")
        table = screen.query_one(VersionsTable)
        await wait_for(pilot, lambda: table.row_count == 2)
        await pilot.press("down", "R")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.click("#confirm-yes")
        await wait_for(pilot, lambda: client.get(f"/templates/{template_id}").json()["version"]
                       == "1.2")
        restored = client.get(f"/templates/{template_id}").json()
        assert restored["name"] == "aa_renamed" and restored["prompt"].startswith("Dear")


async def test_a_label_moved_elsewhere_shows_in_the_labels_tab(
    console_server: ServerHandle, tmp_path: Path
) -> None:
    """Moving a label changes no template, so the change marker cannot see it; the tab asks
    again while it is shown, and a rollback acts on what the label is now."""
    template_id = _seed(console_server)
    client = _client(console_server)
    client.put(f"/templates/{template_id}", json={"prompt": "v2 {{ who }}"})
    client.put(f"/templates/{template_id}/labels/production", json={"version": "1.0"})
    async with make_app(console_server, tmp_path, freshness=0.2).run_test(size=SIZE) as pilot:
        app, screen = await _templates(pilot)
        await _select(pilot, screen, "aa_letter")
        await pilot.press("l")
        table = screen.query_one(LabelsTable)
        await wait_for(pilot, lambda: table.row_count == 1)
        client.put(f"/templates/{template_id}/labels/production", json={"version": "1.1"})
        await wait_for(pilot, lambda: table.labels is not None
                       and table.labels.labels[0].version == "1.1")
        await pilot.press("i")
        assert app.focused is screen.query_one(TemplateList)  # not the hidden diff


async def test_brackets_in_notes_defaults_and_descriptions_are_text_not_markup(
    console_server: ServerHandle, tmp_path: Path
) -> None:
    made = _client(console_server).post("/templates", json={
        "name": "aa_brackets", "prompt": "Use {{ x }}", "change_note": "fix [/] and [red]x",
        "variables": [{"name": "x", "default": "[/]", "description": "[bold]loud"}]})
    assert made.status_code == 201, made.text
    async with make_app(console_server, tmp_path).run_test(size=SIZE) as pilot:
        app, screen = await _templates(pilot)
        await _select(pilot, screen, "aa_brackets")
        await wait_for(pilot, lambda: "[bold]loud" in _text(screen, "#detail-variables"))
        assert "[/]" in _text(screen, "#detail-variables")
        await pilot.press("v")
        table = screen.query_one(VersionsTable)
        await wait_for(pilot, lambda: table.row_count == 1)
        assert str(table.get_row_at(0)[3]) == "fix [/] and [red]x"
        assert app.is_running


async def test_a_reload_keeps_the_cursor_on_its_template_while_pages_arrive(
    console_server: ServerHandle, tmp_path: Path
) -> None:
    """A reload used to show its first page (100 by name) at once: the cursor left a
    template further down until every page was in, and e/x/d/p acted on another one."""
    client = _client(console_server)
    for i in range(230):
        assert client.post("/templates", json={"name": f"t{i:04d}", "prompt": "x"}
                           ).status_code == 201
    async with make_app(console_server, tmp_path).run_test(size=SIZE) as pilot:
        app, screen = await _templates(pilot)
        await _select(pilot, screen, "t0200")
        listing = screen.query_one(TemplateList)
        shown_while_loading: list[str | None] = []
        show = listing.show

        def watched(rows: list[Any], keep: str | None = None) -> None:
            show(rows, keep)
            shown_while_loading.append(listing.current.name if listing.current else None)

        listing.show = watched  # type: ignore[method-assign]
        screen.reload()
        await wait_for(pilot, lambda: shown_while_loading and not screen.fetching)
        assert set(shown_while_loading) == {"t0200"}


async def test_a_change_elsewhere_updates_one_template_without_loading_them_all(
    console_server: ServerHandle, tmp_path: Path
) -> None:
    _seed(console_server)
    async with make_app(console_server, tmp_path, freshness=0.2).run_test(size=SIZE) as pilot:
        app, screen = await _templates(pilot)
        await _select(pilot, screen, "aa_letter")
        client = app.client_or_none()
        assert client is not None
        pages: list[dict[str, Any]] = []
        listing_call = client.templates.list

        async def counted(**kwargs: Any) -> Any:
            pages.append(kwargs)
            return await listing_call(**kwargs)

        client.templates.list = counted  # type: ignore[method-assign]
        _client(console_server).put("/templates/aa_letter", json={"prompt": "Changed {{ who }}"})
        await wait_for(pilot, lambda: screen.current is not None
                       and screen.current.version == "1.1")
        assert all(p.get("sort") == "updated" for p in pages)  # no full load by name
        assert screen.current.name == "aa_letter"


async def test_archive_asks_first_and_archived_templates_stay_under_the_filter(
    console_server: ServerHandle, tmp_path: Path
) -> None:
    template_id = _seed(console_server)
    async with make_app(console_server, tmp_path).run_test(size=SIZE) as pilot:
        app, screen = await _templates(pilot)
        await _select(pilot, screen, "aa_letter")
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("escape")  # no: nothing happens
        await pilot.pause()
        assert _client(console_server).get(f"/templates/{template_id}").json()["status"] == \
            "active"
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.click("#confirm-yes")
        listing = screen.query_one(TemplateList)
        await wait_for(pilot, lambda: all(t.name != "aa_letter" for t in listing.rows))
        await pilot.press("a")  # archived
        await wait_for(pilot, lambda: [t.name for t in listing.rows] == ["aa_letter"])
        await pilot.press("e")  # an archived template cannot change: said, not done
        await pilot.pause()
        assert isinstance(app.screen, TemplatesScreen)


async def test_duplicate_makes_a_new_template_from_a_copy(
    console_server: ServerHandle, tmp_path: Path
) -> None:
    _seed(console_server)
    async with make_app(console_server, tmp_path).run_test(size=SIZE) as pilot:
        app, screen = await _templates(pilot)
        await _select(pilot, screen, "aa_letter")
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, EditTemplateScreen))
        editor = app.screen
        assert editor.query_one("#edit-name", Input).value == "aa_letter-copy"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, AskScreen))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TemplatesScreen))
    copy = _client(console_server).get("/templates/aa_letter-copy").json()
    assert copy["version"] == "1.0" and copy["variables"][0]["name"] == "who"


async def test_editor_command_edits_the_prompt_in_a_file(
    console_server: ServerHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed(console_server)
    script = tmp_path / "editor.py"
    script.write_text("import sys\np = sys.argv[1]\ntext = open(p).read()\n"
                      "open(p, 'w').write(text.replace('Bye', 'Farewell') + '\\n')\n")
    monkeypatch.setenv("VISUAL", f"{sys.executable} {script}")
    async with make_app(console_server, tmp_path).run_test(size=SIZE) as pilot:
        app, screen = await _templates(pilot)
        await _edit(pilot, screen, "aa_letter")
        editor = app.screen
        await pilot.press("ctrl+e")
        area = editor.query_one("#edit-prompt", TextArea)
        # the editor saved a final newline, as vim does; the prompt had none, so none is added
        await wait_for(pilot, lambda: area.text.endswith("Farewell"))


async def test_a_missing_editor_is_named_and_nothing_is_suspended(
    console_server: ServerHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a terminal, a missing editor raised inside Textual's suspend and left the console
    hung; now it is found before anything is suspended."""
    _seed(console_server)
    monkeypatch.setenv("VISUAL", "no-such-editor-here --wait")
    async with make_app(console_server, tmp_path).run_test(size=SIZE) as pilot:
        app, screen = await _templates(pilot)
        await _edit(pilot, screen, "aa_letter")
        editor = app.screen
        area = editor.query_one("#edit-prompt", TextArea)
        before = area.text
        await pilot.press("ctrl+e")
        await wait_for(pilot, lambda: "no-such-editor-here" in _text(editor, "#edit-status"))
        assert "was not found" in _text(editor, "#edit-status")
        assert area.text == before


async def test_an_unsaved_edit_is_kept_on_quit_and_offered_back(
    console_server: ServerHandle, tmp_path: Path
) -> None:
    _seed(console_server)
    async with make_app(console_server, tmp_path).run_test(size=SIZE) as pilot:
        app, screen = await _templates(pilot)
        await _edit(pilot, screen, "aa_letter")
        app.screen.query_one("#edit-prompt", TextArea).load_text("half-written {{ who }}")
        await pilot.press("ctrl+q")
    async with make_app(console_server, tmp_path).run_test(size=SIZE) as pilot:
        app, screen = await _templates(pilot)
        await _edit(pilot, screen, "aa_letter")
        area = app.screen.query_one("#edit-prompt", TextArea)
        await wait_for(pilot, lambda: area.text == "half-written {{ who }}")


async def test_an_edit_is_kept_once_typing_pauses_even_if_the_console_dies(
    console_server: ServerHandle, tmp_path: Path
) -> None:
    """No quit, no signal: the draft is on disk a moment after typing stops."""
    _seed(console_server)
    async with make_app(console_server, tmp_path).run_test(size=SIZE) as pilot:
        app, screen = await _templates(pilot)
        await _edit(pilot, screen, "aa_letter")
        app.screen.query_one("#edit-prompt", TextArea).load_text("typed, then a crash")
        app.screen.query_one("#edit-format", Select).value = "json"
        drafts = tmp_path / "template-drafts.json"
        await wait_for(pilot, lambda: drafts.exists()
                       and "typed, then a crash" in drafts.read_text())
        app.open_editors.clear()  # as if the process died: nothing is saved on the way out
    async with make_app(console_server, tmp_path).run_test(size=SIZE) as pilot:
        app, screen = await _templates(pilot)
        await _edit(pilot, screen, "aa_letter")
        area = app.screen.query_one("#edit-prompt", TextArea)
        await wait_for(pilot, lambda: area.text == "typed, then a crash")
        assert app.screen.query_one("#edit-format", Select).value == "json"


async def test_a_template_made_elsewhere_appears_without_a_reload(
    console_server: ServerHandle, tmp_path: Path
) -> None:
    async with make_app(console_server, tmp_path, freshness=0.2).run_test(size=SIZE) as pilot:
        app, screen = await _templates(pilot)
        _seed(console_server)
        listing = screen.query_one(TemplateList)
        await wait_for(pilot, lambda: any(t.name == "aa_letter" for t in listing.rows))

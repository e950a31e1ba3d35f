"""What a new user tried in a real terminal, each a Pilot test against the real server: hints
from the real keymap, key clashes, the palette's every action, errors in the user's words, a
dead server noticed, a 429's countdown, templates made elsewhere, a profile switch mid-run, a
second Run, names refused with their rule, no templates, focus, raw-prompt fields, the
simulator's knobs, and the frame at 80x24 and 200x55."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
from textual.command import CommandPalette
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, OptionList, Select, Static, TabbedContent, TextArea
from textual.widgets._footer import FooterKey

from promptexecution.console.app import PeApp
from promptexecution.console.commands import ActionCommands
from promptexecution.console.config import ConsoleConfig, Profile
from promptexecution.console.screens.help import HelpScreen
from promptexecution.console.screens.save_template import SaveTemplateScreen
from promptexecution.console.widgets.header import SessionLine
from promptexecution.console.widgets.variables_form import VariableField, VariablesForm
from promptexecution.server.core.config import ServerConfig
from tests.conftest import ServerHandle, running_server
from tests.server.processes import serving

from .conftest import make_app
from .scenes import fill, ready, wait_for
from .test_playground import SIZE, column, finished, text_of


def notes(app: PeApp) -> list[str]:
    return [n.message for n in app._notifications]


def header(app: PeApp) -> str:
    return text_of(app.screen.query_one(SessionLine))


def meta(app: PeApp) -> str:
    return text_of(column(app).query_one(".metadata", Static))


async def run_analysis(pilot: Pilot[Any], app: PeApp, simulate: dict[str, Any]) -> None:
    """Runs analysis_template with the simulator's knobs `simulate` (not waiting for it)."""
    assert app.playground is not None
    app.playground.extra_model_config = {"simulate": simulate}
    await fill(pilot, app, "analysis_template", data="x")
    await pilot.press("ctrl+enter")


def two_profiles(server: ServerHandle, tmp_path: Path, **kwargs: Any) -> PeApp:
    key = server.make_key("professional", account_id=None)
    config = ConsoleConfig(profiles={"a": Profile("a", server.base_url, api_key=key),
                                     "b": Profile("b", server.base_url,
                                                  api_key=server.local_key)},
                           default_profile="a")
    return PeApp(config, config_path=tmp_path / "c.toml", draft_file=tmp_path / "d.json",
                 **kwargs)


# ----------------------------------------------------------------------------- keys


async def test_hints_footer_and_help_show_the_keys_actually_bound(
        console_server: ServerHandle, tmp_path: Path) -> None:
    app = make_app(console_server, tmp_path)
    app.config.bindings = {"playground.run": "f5"}
    app._apply_keymap()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert "f5 runs" in meta(app)
        footer = [k.key_display for k in app.screen.query(FooterKey)]
        assert "f5" in footer and "^⏎" not in footer
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        help_text = " ".join(text_of(s) for s in app.screen.query(Static))
        assert "ctrl+j" not in help_text and "ctrl+enter" not in help_text
        assert "ctrl+t" in help_text and "ctrl+g" in help_text  # switching tabs


async def test_two_bindings_on_one_key_are_reported_and_both_stay_in_the_palette(
        console_server: ServerHandle, tmp_path: Path) -> None:
    app = make_app(console_server, tmp_path)
    app.config.bindings = {"mode.settings": "f2"}
    app._apply_keymap()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        clash = [n for n in notes(app) if "f2 is bound to" in n]
        assert clash and "mode.playground and mode.settings" in clash[0]
        assert clash[0].startswith(str(app.config_path))
        provider = ActionCommands(app.screen)
        titles = [title for title, _, _ in provider.entries()]
        assert {"Playground", "Settings", "Run", "Reload templates", "Quit"} <= set(titles)
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"settings")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.current_mode == "settings")


async def test_an_unknown_binding_notice_starts_with_its_file(console_server: ServerHandle,
                                                              tmp_path: Path) -> None:
    app = make_app(console_server, tmp_path)
    app.config.bindings = {"nonsense": "f3"}
    app._apply_keymap()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        note = next(n for n in notes(app) if "nonsense" in n)
        assert note.startswith(f"{app.config_path}: [bindings]")


# --------------------------------------------------------------------- connection


async def test_a_run_while_the_key_is_refused_says_what_to_do(console_server: ServerHandle,
                                                             tmp_path: Path) -> None:
    config = ConsoleConfig(profiles={"bad": Profile("bad", console_server.base_url,
                                                    api_key="pe_sk_live_wrong")},
                           default_profile="bad")
    app = PeApp(config, config_path=tmp_path / "c.toml", draft_file=tmp_path / "d.json")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.status.state == "unauthorized")
        assert app.playground is not None
        app.playground.query_one("#source-tabs", TabbedContent).active = "source-raw"
        app.playground.query_one("#raw-prompt", TextArea).text = "hello"
        await pilot.press("ctrl+enter")
        await finished(pilot, column(app))
        shown = text_of(column(app).query_one(".error", Static))
        assert "RuntimeError" not in shown
        assert "refused the key of profile bad" in shown and "Settings (F9)" in shown


async def test_a_server_that_dies_while_idle_is_noticed_within_seconds(tmp_path: Path) -> None:
    with running_server(tmp_path / "data") as srv:
        config = ConsoleConfig(profiles={"s": Profile("s", srv.base_url,
                                                      api_key=srv.local_key)},
                               default_profile="s")
        app = PeApp(config, config_path=tmp_path / "c.toml", draft_file=tmp_path / "d.json")
        async with app.run_test(size=SIZE) as pilot:  # the default heartbeat
            await ready(pilot)
            srv.server.should_exit = True
            await wait_for(pilot, lambda: app.status.state == "offline", limit=6)
            assert "offline" in header(app)


async def test_a_hung_server_is_noticed_within_seconds_and_its_return_too(
        tmp_path: Path) -> None:
    """SIGSTOP: the socket stays open and nothing answers, as with a dropped network."""
    with serving(tmp_path / "data") as (proc, url):
        key = (tmp_path / "data" / "local.key").read_text().strip()
        config = ConsoleConfig(profiles={"s": Profile("s", url, api_key=key)},
                               default_profile="s")
        app = PeApp(config, config_path=tmp_path / "c.toml", draft_file=tmp_path / "d.json")
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            os.kill(proc.pid, signal.SIGSTOP)
            try:
                await wait_for(pilot, lambda: app.status.state != "connected", limit=8)
                assert "connected" not in header(app).replace("connecting", "")
            finally:
                os.kill(proc.pid, signal.SIGCONT)
            await wait_for(pilot, lambda: app.status.state == "connected", limit=20)


async def test_the_heartbeat_asks_nothing_while_a_stream_proves_the_server_alive(
        console_server: ServerHandle, tmp_path: Path) -> None:
    """A probe mid-stream costs the stream's end its lag (bench_console_stream); the deltas
    already say the server answers. Once the stream ends, the heartbeat asks again."""
    app = make_app(console_server, tmp_path, heartbeat=0.2)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert app.session is not None and app.session.client is not None
        seen: list[tuple[str, bool]] = []
        app.session.client.add_observer(
            lambda e: seen.append((e.path, column(app).running)))
        await run_analysis(pilot, app, {"tokens_per_second": 40, "output_tokens": 60})
        await finished(pilot, column(app))
        await wait_for(pilot, lambda: any(path.endswith("/rate-limits") for path, _ in seen))
        execution = column(app).last_execution
        assert execution is not None and execution.status == "completed"
    assert not [path for path, running in seen if running and path.endswith("/rate-limits")]


async def test_a_reconnect_reloads_what_the_playground_shows(
        console_server: ServerHandle, tmp_path: Path) -> None:
    app = make_app(console_server, tmp_path, freshness=3600)  # only the reconnect reloads
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        session = app.session
        assert session is not None and app.playground is not None
        with console_server.client() as http:
            http.post("/templates", json={"name": "made_while_away", "prompt": "x"})
        # As the heartbeat finds a server gone: the app reconnects (the server is there
        # again), and the Playground reloads on the new connection.
        session._update(state="offline", message="gone")
        await wait_for(pilot, lambda: app.status.state == "connected")
        await wait_for(pilot, lambda: any(t.name == "made_while_away"
                                          for t in app.playground.templates))  # type: ignore


async def test_a_429_counts_down_its_wait_and_the_header_shows_the_burst_left(
        tmp_path: Path) -> None:
    config = ServerConfig(plans={"basic": {"burst_per_minute": 1, "requests_per_hour": 50,
                                           "concurrent": 1}})
    now = [0.0]
    with running_server(tmp_path / "data", config=config) as srv:
        key = srv.make_key("basic")
        console = ConsoleConfig(profiles={"basic": Profile("basic", srv.base_url, api_key=key)},
                                default_profile="basic")
        app = PeApp(console, config_path=tmp_path / "c.toml", draft_file=tmp_path / "d.json",
                    clock=lambda: now[0])
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            assert app.playground is not None
            await pilot.press("ctrl+t", *"hello", "ctrl+enter")
            await finished(pilot, column(app))
            assert "0 burst left" in header(app) and "49 requests/h left" in header(app)
            await pilot.press("ctrl+enter")
            await finished(pilot, column(app))
            box = column(app).query_one(".error", Static)
            assert "BURST_LIMIT_EXCEEDED" in text_of(box), meta(app)
            waited = [int(w) for w in text_of(box).split("Retry in ")[1].split(" s")[:1]]
            assert 0 < waited[0] <= 60
            now[0] += waited[0] - 1
            await wait_for(pilot, lambda: "Retry in 1 s" in text_of(box), limit=3)
            now[0] += 2
            await wait_for(pilot, lambda: "The limit has reset" in text_of(box), limit=3)


# ----------------------------------------------------------------------- templates


async def test_templates_made_elsewhere_appear_within_seconds(
        console_server: ServerHandle, tmp_path: Path) -> None:
    app = make_app(console_server, tmp_path, freshness=0.3)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        playground = app.playground
        assert playground is not None
        await fill(pilot, app, "analysis_template", data="still here")
        with console_server.client() as http:
            http.post("/templates", json={"name": "from_curl", "prompt": "x"})
        await wait_for(pilot, lambda: any(t.name == "from_curl" for t in playground.templates))
        # The open template was unchanged: what was typed stays.
        assert playground.query_one(VariableField).raw == "still here"


async def test_ctrl_l_reloads_the_templates(console_server: ServerHandle,
                                            tmp_path: Path) -> None:
    app = make_app(console_server, tmp_path, freshness=3600)  # only the key reloads
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        playground = app.playground
        assert playground is not None
        with console_server.client() as http:
            http.post("/templates", json={"name": "made_with_curl", "prompt": "x"})
        await pilot.pause(0.3)
        assert not any(t.name == "made_with_curl" for t in playground.templates)
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: any(t.name == "made_with_curl"
                                          for t in playground.templates))


async def test_with_no_templates_the_form_says_how_to_make_one(console_server: ServerHandle,
                                                               tmp_path: Path) -> None:
    key = console_server.make_key("professional")
    config = ConsoleConfig(profiles={"new": Profile("new", console_server.base_url,
                                                    api_key=key)}, default_profile="new")
    app = PeApp(config, config_path=tmp_path / "c.toml", draft_file=tmp_path / "d.json")
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert app.playground is not None
        info = text_of(app.playground.query_one("#template-info", Static))
        assert "No templates yet" in info and "ctrl+s" in info
        form = app.playground.query_one("#variables", VariablesForm)
        assert "takes no variables" not in " ".join(text_of(s) for s in form.query(Static))


async def test_save_as_template_refuses_a_name_with_its_rule(console_server: ServerHandle,
                                                            tmp_path: Path) -> None:
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert app.playground is not None
        app.playground.query_one("#source-tabs", TabbedContent).active = "source-raw"
        app.playground.query_one("#raw-prompt", TextArea).text = "A tagline for {{product}}"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, SaveTemplateScreen))
        dialog = app.screen
        name = dialog.query_one("#name", Input)
        name.focus()
        await pilot.press(*"my tagline!")
        assert name.value == "my tagline!"  # nothing typed is dropped
        error = dialog.query_one("#save-error", Static)
        await wait_for(pilot, lambda: "letters, digits" in text_of(error))
        assert "e.g. my_tagline" in text_of(error)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, SaveTemplateScreen)
        assert "Not saved" in text_of(error)
        with console_server.client() as http:
            assert http.get("/templates", params={"q": "tagline"}).json()["templates"] == []


# ------------------------------------------------------------------------ running


async def test_a_second_run_during_a_stream_says_it_cancelled_the_first(
        console_server: ServerHandle, tmp_path: Path) -> None:
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await run_analysis(pilot, app, {"hold_after_tokens": 5})
        await wait_for(pilot, lambda: column(app).view.text)
        app.playground.extra_model_config = {}  # type: ignore[union-attr]
        await pilot.press("ctrl+enter")
        await wait_for(pilot, lambda: any("was stopped (the server records it cancelled)" in n
                                          for n in notes(app)))
        await finished(pilot, column(app))


async def test_a_run_finishing_after_a_profile_switch_is_charged_to_its_own_profile(
        console_server: ServerHandle, tmp_path: Path) -> None:
    app = two_profiles(console_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert app.playground is not None
        app.playground.query_one("#source-tabs", TabbedContent).active = "source-raw"
        app.playground.query_one("#raw-prompt", TextArea).text = "Tell me about tea"
        app.playground.extra_model_config = {"simulate": {"tokens_per_second": 50,
                                                          "output_tokens": 150}}
        await pilot.press("ctrl+enter")
        await wait_for(pilot, lambda: column(app).view.text)
        app.switch_profile("b")
        assert column(app).running  # the switch came mid-stream
        await finished(pilot, column(app))
        execution = column(app).last_execution
        assert execution is not None and execution.metadata is not None
        assert app.sessions["a"].status.cost == pytest.approx(execution.metadata.cost)
        assert app.sessions["b"].status.cost == 0
        assert "(ran on profile a)" in meta(app)


async def test_a_failed_run_shows_its_execution_id(console_server: ServerHandle,
                                                   tmp_path: Path) -> None:
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await run_analysis(pilot, app, {"fail": "server_error"})
        await finished(pilot, column(app))
        assert "exec_" in meta(app)


async def test_a_cancelled_stream_shows_its_stored_execution_id(console_server: ServerHandle,
                                                                tmp_path: Path) -> None:
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await run_analysis(pilot, app, {"hold_after_tokens": 5})
        await wait_for(pilot, lambda: column(app).view.text)
        await pilot.press("escape")
        await wait_for(pilot, lambda: "cancelled after" in meta(app))
        execution_id = meta(app).split("\n")[1].split()[0]
        assert execution_id.startswith("exec_")
        with console_server.client() as http:
            await wait_for(pilot, lambda: http.get(f"/executions/{execution_id}").json()
                           .get("status") == "cancelled")


async def test_raw_prompt_placeholders_get_fields_and_are_filled(
        console_server: ServerHandle, tmp_path: Path) -> None:
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        playground = app.playground
        assert playground is not None
        await pilot.press("ctrl+t")
        assert playground.query_one("#source-tabs", TabbedContent).active == "source-raw"
        area = playground.query_one("#raw-prompt", TextArea)
        assert area.has_focus
        await pilot.press(*"Three tips for {{ drink }} in {{place}}")
        form = playground.query_one("#raw-variables", VariablesForm)
        await wait_for(pilot, lambda: len(form.query(VariableField)) == 2)
        await pilot.press("ctrl+enter")  # empty fields: refused in place, nothing sent
        await pilot.pause()
        assert column(app).last_execution is None and not column(app).running
        for field, value in zip(form.query(VariableField), ("green tea", "Kyoto"), strict=True):
            field.editor.value = value  # type: ignore[attr-defined]
        await pilot.press("ctrl+enter")
        await finished(pilot, column(app))
        rendered = column(app).last_execution.rendered_prompt  # type: ignore[union-attr]
        assert rendered == "Three tips for green tea in Kyoto"


async def test_the_simulators_knobs_are_in_the_model_settings(console_server: ServerHandle,
                                                              tmp_path: Path) -> None:
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        col = column(app)
        assert col.query_one("#model", Select).value == "simulator"
        assert all(w.display for w in col.query(".simulator-only"))
        col.query_one("#fail", Select).value = "content_policy"
        await fill(pilot, app, "analysis_template", data="x")
        await pilot.press("ctrl+enter")
        await finished(pilot, col)
        assert "CONTENT_POLICY_VIOLATION" in text_of(col.query_one(".error", Static))
        col.query_one("#fail", Select).clear()
        col.query_one("#tokens_per_second", Input).value = "0"
        await pilot.press("ctrl+enter")
        await pilot.pause()
        assert "tokens_per_second must be more than 0" in text_of(
            col.query_one(".settings-problem", Static))


# ------------------------------------------------------------------------- layout


async def test_tab_moves_through_visible_fields_only_and_the_tab_key_switches_tabs(
        console_server: ServerHandle, tmp_path: Path) -> None:
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await fill(pilot, app, "blog_post_seo_v2", topic="x")
        stops = []
        for _ in range(20):
            await pilot.press("tab")
            focused = app.focused
            assert focused is not None
            stops.append(focused)
            assert focused.region.area > 0, focused
        assert not any(isinstance(w, VariablesForm) for w in stops)
        await pilot.press("ctrl+g")
        assert column(app).query_one(TabbedContent).active == "rendered-1"


@pytest.mark.parametrize("size", [(80, 24), (200, 55)])
async def test_the_frame_at_80x24_and_200x55(console_server: ServerHandle, tmp_path: Path,
                                            size: tuple[int, int]) -> None:
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=size) as pilot:
        await ready(pilot)
        assert not [n for n in notes(app) if "[bindings]" in n]  # the defaults never clash
        shown = header(app)
        for part in ("test", "connected", "$0.0000", "/h"):
            assert part in shown, shown
        footer = [k.key_display for k in app.screen.query(FooterKey)]
        assert "f1" in footer and "^p" in footer
        playground = app.playground
        assert playground is not None
        playground.query_one("#template-filter", Input).value = "blog_post_seo"
        await pilot.pause()
        template_list = playground.query_one("#template-list", OptionList)
        assert template_list.option_count == 1
        assert template_list.size.height == 1  # as tall as what matches
        source = playground.query_one("#source")
        if size[0] >= 200:
            assert source.size.width >= 70  # the space is used
        else:
            assert column(app).size.width >= 40  # the output keeps room
        await pilot.press("f1")
        dialog = app.screen.query_one(".help")
        assert dialog.region.right <= size[0] and dialog.region.bottom <= size[1]
        table = app.screen.query_one(DataTable)
        assert table.row_count == len(app.binding_ids())


# ------------------------------------------------------- what a fresh-eyes review found


async def test_run_right_after_typing_a_placeholder_waits_for_its_field(
        console_server: ServerHandle, tmp_path: Path) -> None:
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+t", *"Tell me about {{topic}}", "ctrl+enter")  # no pause
        await pilot.pause()
        assert app.is_running
        assert "topic: required" in text_of(app.screen.query_one("#source-problems", Static))


async def test_values_typed_in_later_sessions_win_over_older_drafts(
        console_server: ServerHandle, tmp_path: Path) -> None:
    for value in ("green tea", "black tea"):
        app = make_app(console_server, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            await fill(pilot, app, "analysis_template", data=value)
            await app.action_quit()
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert app.playground is not None
        await wait_for(pilot, lambda: app.playground.query(VariableField))  # type: ignore
        assert app.playground.query_one(VariableField).raw == "black tea"


async def test_a_refresh_never_pulls_the_user_out_of_the_raw_prompt(
        console_server: ServerHandle, tmp_path: Path) -> None:
    app = make_app(console_server, tmp_path, freshness=0.2)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        playground = app.playground
        assert playground is not None
        await fill(pilot, app, "analysis_template", data="x")
        await pilot.press("ctrl+t", *"raw ")
        with console_server.client() as http:
            http.post("/templates", json={"name": "appears_meanwhile", "prompt": "x"})
        await wait_for(pilot, lambda: any(t.name == "appears_meanwhile"
                                          for t in playground.templates))
        await pilot.pause(0.3)
        await pilot.press(*"text")
        assert playground.query_one("#source-tabs", TabbedContent).active == "source-raw"
        assert playground.query_one("#raw-prompt", TextArea).text == "raw text"


async def test_opening_a_template_never_focuses_the_raw_prompts_fields(
        console_server: ServerHandle, tmp_path: Path) -> None:
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        playground = app.playground
        assert playground is not None
        with console_server.client() as http:
            http.post("/templates", json={"name": "no_vars", "prompt": "Say hi"})
        playground.reload()
        await wait_for(pilot, lambda: any(t.name == "no_vars" for t in playground.templates))
        await pilot.press("ctrl+t", *"About {{topic}}")
        await wait_for(pilot, lambda: playground.query_one("#raw-variables").query(
            VariableField))
        await playground.open_template("no_vars")
        await pilot.pause()
        assert playground.query_one("#source-tabs", TabbedContent).active == "source-template"
        assert app.focused is playground.query_one("#template-list")


async def test_switching_profile_forgets_the_old_accounts_templates(
        console_server: ServerHandle, tmp_path: Path) -> None:
    config = ConsoleConfig(profiles={
        "ok": Profile("ok", console_server.base_url, api_key=console_server.local_key),
        "bad": Profile("bad", console_server.base_url, api_key="pe_sk_live_wrong")},
        default_profile="ok")
    app = PeApp(config, config_path=tmp_path / "c.toml", draft_file=tmp_path / "d.json")
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await fill(pilot, app, "analysis_template", data="x")
        app.switch_profile("bad")
        await wait_for(pilot, lambda: app.status.state == "unauthorized")
        assert app.playground is not None
        assert app.playground.templates == [] and app.playground.selected is None
        assert app.known_templates() == []


async def test_markup_in_descriptions_keys_and_names_is_shown_as_text(
        console_server: ServerHandle, tmp_path: Path) -> None:
    with console_server.client() as http:
        http.post("/templates", json={"name": "odd", "prompt": "x",
                                      "description": "close with [/] here"})
    config = ConsoleConfig(profiles={"[b]x": Profile("[b]x", console_server.base_url,
                                                     api_key=console_server.local_key)},
                           default_profile="[b]x", bindings={"mode.settings": "[/]"})
    app = PeApp(config, config_path=tmp_path / "c.toml", draft_file=tmp_path / "d.json")
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"odd")
        await pilot.pause(0.5)
        assert app.is_running
        await pilot.press("escape")
        app.notify("a [/] in a message")
        await pilot.pause()
        assert app.is_running


async def test_save_as_template_fits_and_shows_its_refusal_at_80x24(
        console_server: ServerHandle, tmp_path: Path) -> None:
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+t", *"A tagline for {{product}}", "ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, SaveTemplateScreen))
        await pilot.press(*"my tagline!", "enter")
        await pilot.pause(0.3)
        error = app.screen.query_one("#save-error", Static)
        assert "Not saved" in text_of(error)
        region = error.region.intersection(app.screen.query_one(".dialog").region)
        assert region.height >= 1  # in view, not clipped away


async def test_over_a_dialog_the_palette_offers_only_what_works_there(
        console_server: ServerHandle, tmp_path: Path) -> None:
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("f1")
        titles = [t for t, _, _ in ActionCommands(app.screen).entries()]
        assert "Quit" in titles and "Compare +" not in titles


async def test_an_action_without_a_key_is_hinted_through_the_palettes_own_key(
        console_server: ServerHandle, tmp_path: Path) -> None:
    app = make_app(console_server, tmp_path)
    app.config.bindings = {"palette": "f12", "playground.run": "", "playground.copy": ""}
    app._apply_keymap()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert "the palette (f12) runs" in meta(app)
        assert not [n for n in notes(app) if "is bound to" in n]  # unbound is no clash


async def test_a_raw_prompt_with_thousands_of_placeholders_stays_responsive(
        console_server: ServerHandle, tmp_path: Path) -> None:
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert app.playground is not None
        await pilot.press("ctrl+t")
        app.playground.query_one("#raw-prompt", TextArea).text = " ".join(
            f"{{{{ v{i} }}}}" for i in range(5000))
        form = app.playground.query_one("#raw-variables", VariablesForm)
        await wait_for(pilot, lambda: form.query(VariableField), limit=20)
        assert len(form.query(VariableField)) == 200
        assert "5,000 placeholders" in " ".join(text_of(s) for s in form.query(".hint"))


async def test_filters_and_single_braces_get_raw_prompt_fields(console_server: ServerHandle,
                                                                tmp_path: Path) -> None:
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert app.playground is not None
        await pilot.press("ctrl+t", *"Hi {{ name|upper }} from {place}")
        form = app.playground.query_one("#raw-variables", VariablesForm)
        await wait_for(pilot, lambda: len(form.query(VariableField)) == 2)
        for field, value in zip(form.query(VariableField), ("bo", "Oslo"), strict=True):
            field.editor.value = value  # type: ignore[attr-defined]
        await pilot.press("ctrl+enter")
        await finished(pilot, column(app))
        assert column(app).last_execution.rendered_prompt == "Hi BO from Oslo"  # type: ignore

"""Pilot tests of the frame: start-up and connection, header, modes and their keys, help,
remapped bindings, the command palette, themes, Settings, and quitting."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import tomllib
from pathlib import Path

import uvicorn
from textual.widgets import DataTable, Input, OptionList, Static

from promptexecution.console.app import PeApp
from promptexecution.console.config import ConsoleConfig, Profile
from promptexecution.console.embedded import EmbeddedServer
from promptexecution.console.screens.help import HelpScreen
from promptexecution.console.screens.settings import SettingsScreen
from promptexecution.console.widgets.header import SessionLine
from promptexecution.server.app import create_app
from tests.conftest import ServerHandle, running_server

from .conftest import make_app
from .scenes import fill, ready, wait_for
from .test_playground import SIZE, column, finished, text_of


def header(app: PeApp) -> str:
    return text_of(app.screen.query_one(SessionLine))


def notes(app: PeApp) -> list[str]:
    return [n.message for n in app._notifications]


async def test_first_frame_before_connecting_then_reconnects_when_the_server_comes_back(
        tmp_path: Path) -> None:
    with running_server(tmp_path / "data") as srv:
        key = srv.local_key
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))  # reserved, not listening: connections are refused
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/v2"
    config = ConsoleConfig(profiles={"later": Profile("later", url, api_key=key)},
                           default_profile="later")
    app = PeApp(config, config_path=tmp_path / "c.toml", heartbeat=0.2)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.status.state == "offline")
        assert "offline" in header(app) and url in header(app)
        await pilot.press("f1")  # the UI answers while nothing does
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")

        server_app = create_app(tmp_path / "data")
        sock.listen(64)
        server = uvicorn.Server(uvicorn.Config(server_app, log_level="warning", lifespan="on"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        try:
            await wait_for(pilot, lambda: app.status.state == "connected", limit=15)
            await ready(pilot)
            assert "connected" in header(app) and "enterprise" in header(app)
        finally:
            server_app.state.ctx.stop_soon()  # as pe serve on SIGTERM: streams end now
            server.should_exit = True
            await asyncio.to_thread(thread.join, 10)
        # The server went away: the heartbeat notices, the header says so, and it retries.
        await wait_for(pilot, lambda: app.status.state == "offline")
        assert "offline" in header(app)
        sock.close()
        server_app.state.ctx.database.close()


async def test_header_shows_profile_url_state_plan_limit_and_session_cost(
        console_server: ServerHandle, tmp_path: Path) -> None:
    key = console_server.make_key("professional")
    config = ConsoleConfig(profiles={"pro": Profile("pro", console_server.base_url, api_key=key)},
                           default_profile="pro")
    app = PeApp(config, config_path=tmp_path / "c.toml")
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        shown = header(app)
        for part in ("pro", console_server.base_url, "connected", "professional",
                     "requests/h left", "$0.0000 this session"):
            assert part in shown, shown
        assert key not in app.screen.query_one(SessionLine).render().plain  # type: ignore
        before = app.status.hourly_remaining
        assert app.client_or_none() is not None
        await app.client_or_none().templates.create(  # type: ignore[union-attr]
            "mine", "Summarise {{data}}", variables=[{"name": "data", "required": True}])
        app.playground.reload()  # type: ignore[union-attr]
        await wait_for(pilot, lambda: app.playground.templates)  # type: ignore[union-attr]
        before = app.status.hourly_remaining
        await fill(pilot, app, "mine", data="count me")
        await pilot.press("ctrl+enter")
        await finished(pilot, column(app))
        cost = column(app).last_execution.metadata.cost  # type: ignore[union-attr]
        assert app.status.hourly_remaining == before - 1  # type: ignore[operator]
        assert f"${cost:.4f} this session" in header(app)


async def test_mode_keys_work_from_an_input_and_never_take_a_character(
        console_server: ServerHandle, tmp_path: Path) -> None:
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.click("#template-filter")
        await pilot.press("a", "f9")
        assert app.current_mode == "settings" and isinstance(app.screen, SettingsScreen)
        await pilot.press("f2")
        assert app.current_mode == "playground"
        assert app.playground.query_one("#template-filter", Input).value == "a"  # type: ignore
        tabs = text_of(app.screen.query_one("ModeTabs", Static))
        assert "F2 Playground" in tabs and "F9 Settings" in tabs


async def test_help_lists_every_binding_with_its_id(console_server: ServerHandle,
                                                    tmp_path: Path) -> None:
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        table = app.screen.query_one(DataTable)
        ids = {table.get_row_at(i)[3] for i in range(table.row_count)}
        assert ids == app.binding_ids()
        assert {"quit", "help", "palette", "mode.playground", "mode.settings", "playground.run",
                "playground.cancel", "playground.add_column", "playground.copy",
                "playground.save_template", "settings.test"} <= ids
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_bindings_are_remapped_from_the_config(console_server: ServerHandle,
                                                     tmp_path: Path) -> None:
    app = make_app(console_server, tmp_path)
    app.config.bindings = {"playground.run": "f6", "mode.settings": "f8", "nonsense": "f3"}
    app._apply_keymap()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert any("nonsense" in n for n in notes(app))  # an unknown id is reported
        await fill(pilot, app, "analysis_template", data="remapped")
        await pilot.press("f6")
        await finished(pilot, column(app))
        assert column(app).last_execution is not None
        assert "F8 Settings" in text_of(app.screen.query_one("ModeTabs", Static))
        await pilot.press("f8")
        assert app.current_mode == "settings"


async def test_palette_opens_a_template_and_switches_theme_and_profile(
        console_server: ServerHandle, tmp_path: Path) -> None:
    app = make_app(console_server, tmp_path)
    app.config.profiles["other"] = Profile("other", console_server.base_url,
                                           api_key=console_server.make_key("basic"))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("f9")

        async def command(query: str) -> None:
            await pilot.press("ctrl+p")
            await pilot.press(*query)
            await pilot.pause(0.3)
            await pilot.press("enter")
            await pilot.pause(0.1)

        await command("open template blog_post_seo")
        assert app.current_mode == "playground"
        assert app.playground.selected.name == "blog_post_seo_v2"  # type: ignore[union-attr]
        await command("switch theme pe-light")
        assert app.theme == "pe-light"
        saved = tomllib.loads((tmp_path / "config" / "config.toml").read_text())
        assert saved["theme"] == "pe-light"
        await command("switch profile other")
        await wait_for(pilot, lambda: app.status.profile == "other"
                       and app.status.state == "connected")
        assert app.status.plan == "basic"
        # The other account has none of these templates: the Playground lets go of it.
        await wait_for(pilot, lambda: app.playground.selected is None)  # type: ignore


async def test_a_broken_theme_file_gives_a_notification_and_a_fallback(
        console_server: ServerHandle, tmp_path: Path) -> None:
    themes = tmp_path / "config" / "themes"
    themes.mkdir(parents=True)
    (themes / "broken.toml").write_text("name = 'broken'\nprimary = 'not-a-colour'\n")
    (tmp_path / "config" / "config.toml").write_text('theme = "broken"\n')
    app = make_app(console_server, tmp_path)
    app.config.theme = "broken"
    app = PeApp(app.config, config_path=tmp_path / "config" / "config.toml")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.theme == "pe-dark"
        assert any("broken.toml" in n for n in notes(app))


async def test_every_shipped_theme_renders_the_playground(console_server: ServerHandle,
                                                          tmp_path: Path) -> None:
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert {"pe-dark", "pe-light", "pe-solarized"} <= set(app.theme_names())
        for name in app.theme_names():
            app.theme = name
            await pilot.pause()
            assert app.screen.styles.background is not None


async def test_settings_add_test_save_and_remove_a_profile(console_server: ServerHandle,
                                                           tmp_path: Path) -> None:
    app = make_app(console_server, tmp_path)
    key = console_server.make_key("professional", permissions=("execute", "templates"))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("f9")
        screen = app.screen
        await pilot.click("#new")
        screen.query_one("#name", Input).value = "work"
        screen.query_one("#base_url", Input).value = console_server.base_url
        screen.query_one("#api_key", Input).value = key
        await pilot.press("ctrl+t")
        result = screen.query_one("#form-result", Static)
        await wait_for(pilot, lambda: "✓" in text_of(result))
        assert "professional" in text_of(result) and "execute, templates" in text_of(result)
        await pilot.press("ctrl+s")
        await pilot.pause()
        path = tmp_path / "config" / "config.toml"
        saved = tomllib.loads(path.read_text())
        assert saved["profiles"]["work"] == {"base_url": console_server.base_url, "api_key": key}
        assert os.stat(path).st_mode & 0o777 == 0o600
        listing = screen.query_one("#profiles", OptionList)
        shown = " ".join(str(listing.get_option_at_index(i).prompt)
                         for i in range(listing.option_count))
        assert f"pe_sk_test_…{key[-4:]}" in shown and key not in shown  # masked
        assert key not in str(screen.query_one("#key-shown", Static).render())

        screen.query_one("#api_key", Input).value = "pe_sk_live_wrong"
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: "INVALID_API_KEY" in text_of(result))
        assert "req_" in text_of(result)

        await pilot.click("#remove")
        await pilot.pause()
        assert "work" not in tomllib.loads(path.read_text())["profiles"]


async def test_settings_refuse_bad_input_in_place(console_server: ServerHandle,
                                                  tmp_path: Path) -> None:
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("f9")
        screen = app.screen
        await pilot.click("#new")
        screen.query_one("#name", Input).value = "test"  # exists
        screen.query_one("#base_url", Input).value = "ftp://x"
        await pilot.press("ctrl+s")
        shown = text_of(screen.query_one("#form-result", Static))
        assert "already exists" in shown and "http://" in shown
        assert not (tmp_path / "config" / "config.toml").exists()


async def test_ctrl_q_stops_the_embedded_server_this_console_started(tmp_path: Path) -> None:
    embedded = EmbeddedServer(tmp_path / "data")
    app = PeApp(ConsoleConfig(), config_path=tmp_path / "c.toml", embedded=embedded)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert embedded.started_here and (tmp_path / "data" / "server.json").exists()
        process = embedded._process
        assert process is not None
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: process.poll() is not None, limit=15)
    assert process.returncode == 0  # a clean SIGTERM shutdown
    assert not (tmp_path / "data" / "server.json").exists()


async def test_ctrl_q_leaves_a_reused_embedded_server_running(tmp_path: Path) -> None:
    first = EmbeddedServer(tmp_path / "data")
    await asyncio.to_thread(first.connect)
    try:
        embedded = EmbeddedServer(tmp_path / "data")
        app = PeApp(ConsoleConfig(), config_path=tmp_path / "c.toml", embedded=embedded)
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            assert not embedded.started_here
            await pilot.press("ctrl+q")
        assert first.running() is not None
    finally:
        await asyncio.to_thread(first.stop)


async def test_textual_theme_picker_is_replaced_by_ours(console_server: ServerHandle,
                                                       tmp_path: Path) -> None:
    app = make_app(console_server, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Theme" not in titles and "Quit" in titles
        app.theme = "nord"  # however it got there, Settings still opens
        await pilot.press("f9")
        assert isinstance(app.screen, SettingsScreen)

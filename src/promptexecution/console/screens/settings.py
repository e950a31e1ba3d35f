"""Settings: profiles (add, edit, test, remove, make default) and the theme, saved to the
config with tomli-w. Keys are masked on screen; a key can also be named by an env var."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.markup import escape
from textual.widgets import Button, Input, Label, OptionList, Select, Static
from textual.widgets.option_list import Option

from ...exceptions import APIError
from ..config import Profile, mask
from ..errors import describe_error
from .base import ModeScreen

if TYPE_CHECKING:
    pass

_NAME = r"[A-Za-z0-9_\-]*"


def describe_profile(profile: Profile, default: str) -> str:
    where = profile.base_url or "embedded local server"
    if profile.embedded:
        key = "key from the server's data dir"
    elif profile.api_key:
        key = mask(profile.api_key)
    elif profile.api_key_env:
        key = f"${profile.api_key_env}"
    else:
        key = "$PE_API_KEY"
    star = " (default)" if profile.name == default else ""
    return f"{profile.name}{star}  ·  {where}  ·  {key}"


class SettingsScreen(ModeScreen):
    BINDINGS = [
        Binding("ctrl+s", "save_profile", "Save profile", id="settings.save", priority=True),
        Binding("ctrl+t", "test_profile", "Test", id="settings.test", priority=True),
    ]

    def __init__(self) -> None:
        super().__init__(id="settings")
        self.editing: str | None = None

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="settings-body"):
            with Vertical(id="profiles-pane"):
                yield Label("Profiles", classes="section-title")
                yield OptionList(id="profiles")
                with Horizontal(classes="buttons"):
                    yield Button("New", id="new")
                    yield Button("Use", id="use")
                    yield Button("Make default", id="default")
                    yield Button("Remove", id="remove", variant="error")
                yield Label("Theme", classes="section-title")
                names = self.pe.theme_names()
                yield Select([(name, name) for name in names], id="theme", allow_blank=False,
                             value=self.pe.theme if self.pe.theme in names else names[0])
            with VerticalScroll(id="profile-form"):
                yield Label("Profile", classes="section-title", id="form-title")
                yield Label("name")
                yield Input(id="name", restrict=_NAME, placeholder="work")
                yield Label("base URL (empty: the embedded local server)")
                yield Input(id="base_url", placeholder="https://api.promptexecution.com/v2")
                yield Label("API key (stored in the config file, mode 0600)")
                yield Input(id="api_key", password=True,
                            placeholder="empty keeps the stored key")
                yield Static("", id="key-shown", classes="hint")
                yield Label("or the name of an env var holding the key (replaces a stored key)")
                yield Input(id="api_key_env", placeholder="WORK_PE_KEY")
                with Horizontal(classes="buttons"):
                    yield Button("Save", id="save", variant="primary")
                    yield Button("Test", id="test")
                yield Static("", id="form-result")

    def on_mount(self) -> None:
        self.watch(self.app, "theme", self._theme_shown)
        self._fill_profiles(self.pe.profile_name)

    def _fill_profiles(self, highlight: str | None = None) -> None:
        config = self.pe.config
        option_list = self.query_one("#profiles", OptionList)
        option_list.clear_options()
        for name in sorted(config.profiles):
            line = Text(describe_profile(config.profiles[name], config.default_profile),
                        no_wrap=True, overflow="ellipsis")
            option_list.add_option(Option(line, id=name))
        if highlight in config.profiles:
            option_list.highlighted = option_list.get_option_index(highlight)
            self._edit(highlight)

    @on(OptionList.OptionHighlighted, "#profiles")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id:
            self._edit(event.option.id)

    def _edit(self, name: str | None) -> None:
        self.editing = name
        profile = self.pe.config.profiles.get(name) if name else None
        self.query_one("#form-title", Label).update(
            f"Profile {name}" if profile else "New profile")
        self.query_one("#name", Input).value = profile.name if profile else ""
        self.query_one("#base_url", Input).value = (profile.base_url or "") if profile else ""
        self.query_one("#api_key", Input).value = ""
        self.query_one("#api_key_env", Input).value = (
            (profile.api_key_env or "") if profile else "")
        shown = f"stored key: {mask(profile.api_key)}" if profile and profile.api_key else ""
        self.query_one("#key-shown", Static).update(shown)
        self._result("")

    def _result(self, text: str, kind: str = "") -> None:
        box = self.query_one("#form-result", Static)
        box.update(text)
        for name in ("-ok", "-error"):
            box.set_class(kind == name, name)

    def _form_profile(self) -> Profile | None:
        name = self.query_one("#name", Input).value.strip()
        base_url = self.query_one("#base_url", Input).value.strip() or None
        typed_key = self.query_one("#api_key", Input).value.strip()
        key_env = self.query_one("#api_key_env", Input).value.strip() or None
        problems = []
        if not name:
            problems.append("a name is required")
        elif name != self.editing and name in self.pe.config.profiles:
            problems.append(f"a profile named {name} already exists")
        if base_url and not base_url.startswith(("http://", "https://")):
            problems.append("the base URL starts with http:// or https://")
        if name == "local" and base_url:
            problems.append("'local' is the embedded server; give a remote profile another name")
        if problems:
            self._result("✗ " + "; ".join(problems), "-error")
            return None
        old = self.pe.config.profiles.get(self.editing or "")
        if old is not None and old.name == "local" and name != "local":
            self._result("✗ 'local' (the embedded server) keeps its name", "-error")
            return None
        key = typed_key or None
        if not key and old is not None and (not key_env or key_env == old.api_key_env):
            key = old.api_key  # "leave empty to keep", unless an env var now names the key
        return Profile(name, base_url, key if base_url else None, key_env if base_url else None)

    @on(Button.Pressed, "#save")
    def action_save_profile(self) -> None:
        profile = self._form_profile()
        if profile is None:
            return
        config = self.pe.config
        if self.editing and self.editing != profile.name:
            del config.profiles[self.editing]
            if config.default_profile == self.editing:
                config.default_profile = profile.name
        config.profiles[profile.name] = profile
        if self.pe.save_config(f"Profile {profile.name} saved."):
            self._result(f"✓ saved to {self.pe.config_path}", "-ok")
        self.pe.profile_changed(self.editing, profile)
        self._fill_profiles(profile.name)

    @on(Button.Pressed, "#new")
    def _new(self) -> None:
        self.query_one("#profiles", OptionList).highlighted = None
        self._edit(None)
        self.query_one("#name", Input).focus()

    @on(Button.Pressed, "#use")
    def _use(self) -> None:
        if self.editing:
            self.pe.switch_profile(self.editing)

    @on(Button.Pressed, "#default")
    def _default(self) -> None:
        if self.editing:
            self.pe.config.default_profile = self.editing
            self.pe.save_config(f"{self.editing} is now the default profile.")
            self._fill_profiles(self.editing)

    @on(Button.Pressed, "#remove")
    def _remove(self) -> None:
        name = self.editing
        config = self.pe.config
        if not name:
            return
        if name == "local":
            self._result("✗ 'local' (the embedded server) is always there", "-error")
            return
        if name == self.pe.profile_name:
            self._result("✗ this profile is in use: switch to another first", "-error")
            return
        del config.profiles[name]
        if config.default_profile == name:
            config.default_profile = "local"
        self.pe.save_config(f"Profile {name} removed.")
        self.pe.profile_removed(name)
        self._fill_profiles("local")

    def _theme_shown(self, theme: str) -> None:
        select = self.query_one("#theme", Select)
        if theme in self.pe.theme_names() and select.value != theme:
            select.value = theme

    @on(Select.Changed, "#theme")
    def _theme(self, event: Select.Changed) -> None:
        if isinstance(event.value, str) and event.value != self.pe.theme:
            self.pe.choose_theme(event.value)

    @on(Button.Pressed, "#test")
    def action_test_profile(self) -> None:
        profile = self._form_profile()
        if profile is not None:
            self._result("testing…")
            self._test(profile)

    @work(exclusive=True, group="settings-test", exit_on_error=False)
    async def _test(self, profile: Profile) -> None:
        from ...client import AsyncPromptExecutionClient

        if profile.embedded:
            session = self.pe.sessions.get(profile.name)
            client = session.client if session else None
            if client is None:
                self._result("✗ the embedded server is not connected yet", "-error")
                return
            owned = None
        else:
            key = profile.resolve_key()
            if not key:
                self._result("✗ no key: type one, or name an env var that is set", "-error")
                return
            owned = client = AsyncPromptExecutionClient(api_key=key,
                                                        base_url=str(profile.base_url),
                                                        max_retries=0, timeout=10)
        try:
            verified = await client.auth.verify()
        except APIError as exc:
            self._result(escape(describe_error(exc)), "-error")
            return
        finally:
            if owned is not None:
                await owned.aclose()
        limit = verified.rate_limit
        hourly = ("unlimited" if limit.requests_per_hour is None
                  else f"{limit.remaining:,} of {limit.requests_per_hour:,} left this hour")
        self._result(f"✓ key accepted · account {escape(verified.account_id)} · plan "
                     f"{verified.plan} · permissions {', '.join(verified.permissions)} · "
                     f"{hourly}", "-ok")

"""Settings: profiles (add, edit, test, use, remove, make default) and the theme, saved to
the config with tomli-w. Keys are masked on screen; a key can also be named by an env var.
The list marks the profile in use now (which may differ from the default); the embedded
profile's URL and key come from the embedded server, so its form says so instead."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from rich.cells import cell_len
from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.markup import escape
from textual.widgets import Button, Input, Label, OptionList, Select, Static
from textual.widgets.option_list import Option, OptionDoesNotExist

from ...exceptions import APIError
from ..config import Profile, mask
from ..errors import describe_error
from .base import ModeScreen

if TYPE_CHECKING:
    pass

_NAME = r"[A-Za-z0-9_\-]*"
IN_USE = "●"  # marks the profile in use now in the list

# Placeholders are examples ("e.g. ...") or explanations, never something that reads as a value.
_PLACEHOLDERS = {
    "name": "e.g. work",
    "base_url": "e.g. https://api.promptexecution.com/v2",
    "api_key": "e.g. pe_sk_live_…",
    "api_key_env": "e.g. WORK_PE_KEY",
}
_EMBEDDED_PLACEHOLDERS = {
    "base_url": "none: the embedded server's",
    "api_key": "none: the embedded server's",
    "api_key_env": "none needed",
}
_KEY_FIELDS = ("base_url", "api_key", "api_key_env")


def describe_profile(profile: Profile, default: str, active: str | None = None) -> str:
    """One line of the profile list: `● local (default, in use)  ·  where  ·  key`; a
    profile not in use starts with two spaces, so the names line up under the marker."""
    where = profile.base_url or "embedded local server"
    if profile.embedded:
        key = "key from the server's data dir"
    elif profile.api_key:
        key = mask(profile.api_key)
    elif profile.api_key_env:
        key = f"${profile.api_key_env}"
    else:
        key = "$PE_API_KEY"
    tags = [tag for tag, applies in (("default", profile.name == default),
                                     ("in use", profile.name == active)) if applies]
    marker = IN_USE if profile.name == active else " "
    shown = f" ({', '.join(tags)})" if tags else ""
    return f"{marker} {profile.name}{shown}  ·  {where}  ·  {key}"


_BUTTON_MIN_WIDTH = 16  # Textual's Button min-width


class ButtonRow(Horizontal):
    """Buttons side by side at Textual's usual width; narrower (as wide as their labels)
    when those do not fit; two to a row when even that does not fit. A Horizontal crops
    what does not fit, which cut `Make default` off at 80 columns."""

    def on_resize(self, event: events.Resize) -> None:
        labels = [self.label_width(button) for button in self.query(Button)]
        gaps = len(labels) - 1  # a margin of 1 after each button but the last
        usual = sum(max(width, _BUTTON_MIN_WIDTH) for width in labels) + gaps
        self.set_class(event.size.width < usual, "-compact")
        self.set_class(event.size.width < sum(labels) + gaps, "-narrow")

    @staticmethod
    def label_width(button: Button) -> int:
        """The width that shows the whole label: the label, line-pad each side, the gutter."""
        styles = button.styles
        return cell_len(str(button.label)) + 2 * styles.line_pad + styles.gutter.width


class SettingsScreen(ModeScreen):
    BINDINGS = [
        Binding("ctrl+s", "save_profile", "Save profile", id="settings.save", priority=True),
        Binding("ctrl+t", "test_profile", "Test", id="settings.test", priority=True),
    ]

    def __init__(self) -> None:
        super().__init__(id="settings")
        self.editing: str | None = None
        self._marked: str | None = None  # the profile the list marks as in use

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="settings-body"):
            with Vertical(id="profiles-pane"):
                yield Label("Profiles", classes="section-title")
                yield OptionList(id="profiles")
                with ButtonRow(classes="buttons", id="profile-actions"):
                    yield Button("New", id="new", tooltip="An empty form for a new profile")
                    yield Button("Use", id="use",
                                 tooltip="Switch to this profile now (this session only)")
                    yield Button("Make default", id="default",
                                 tooltip="Make this the profile pe starts with")
                    yield Button("Remove", id="remove", variant="error",
                                 tooltip="Remove this profile from the config")
                yield Label("Theme", classes="section-title")
                names = self.pe.theme_names()
                yield Select([(name, name) for name in names], id="theme", allow_blank=False,
                             value=self.pe.theme if self.pe.theme in names else names[0])
            with VerticalScroll(id="profile-form"):
                yield Label("Profile", classes="section-title", id="form-title")
                yield Label("name")
                yield Input(id="name", restrict=_NAME, placeholder=_PLACEHOLDERS["name"])
                yield Static("", id="embedded-note", classes="hint")
                yield Label("base URL (empty: the embedded local server)")
                yield Input(id="base_url", placeholder=_PLACEHOLDERS["base_url"])
                yield Label("API key (stored in the config file, mode 0600)")
                yield Input(id="api_key", password=True, placeholder=_PLACEHOLDERS["api_key"])
                yield Static("", id="key-shown", classes="hint")
                yield Label("or the name of an env var holding the key (replaces a stored key)")
                yield Input(id="api_key_env", placeholder=_PLACEHOLDERS["api_key_env"])
                with ButtonRow(classes="buttons", id="form-actions"):
                    yield Button("Save", id="save", variant="primary")
                    yield Button("Test", id="test")
                yield Static("", id="form-result")

    def on_mount(self) -> None:
        self.watch(self.app, "theme", self._theme_shown)
        self._fill_profiles(self.pe.profile_name)
        # The profile in use can change from elsewhere too (the palette's "Use profile").
        self.watch(self.app, "status", self._status_changed, init=False)

    def _line(self, name: str) -> Text:
        config = self.pe.config
        line = Text(describe_profile(config.profiles[name], config.default_profile,
                                     self.pe.profile_name), no_wrap=True, overflow="ellipsis")
        if name == self.pe.profile_name:
            line.stylize("bold")
        return line

    def _fill_profiles(self, highlight: str | None = None) -> None:
        config = self.pe.config
        option_list = self.query_one("#profiles", OptionList)
        option_list.clear_options()
        for name in sorted(config.profiles):
            option_list.add_option(Option(self._line(name), id=name))
        self._marked = self.pe.profile_name
        if highlight in config.profiles:
            option_list.highlighted = option_list.get_option_index(highlight)
            self._edit(highlight)

    def _mark_in_use(self) -> None:
        """Moves the in-use marker in place: the highlight and the form are left alone."""
        option_list = self.query_one("#profiles", OptionList)
        for name in {self._marked, self.pe.profile_name}:
            if name is not None and name in self.pe.config.profiles:
                with contextlib.suppress(OptionDoesNotExist):  # saved, but not listed yet
                    option_list.replace_option_prompt(name, self._line(name))
        self._marked = self.pe.profile_name

    def _status_changed(self, _status: object) -> None:
        if self.pe.profile_name != self._marked:
            self._mark_in_use()

    @on(OptionList.OptionHighlighted, "#profiles")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        # A refilled list highlights the profile already in the form: that is not a reset
        # (it would wipe the result of the save that refilled it).
        if event.option.id and event.option.id != self.editing:
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
        self._show_embedded(profile)
        self._result("")

    def _show_embedded(self, profile: Profile | None) -> None:
        """`local` is the embedded server: its URL and key come from the server, so the fields
        are disabled and say so. Another profile without a URL also runs on the embedded
        server; its fields stay open, to give it a URL."""
        local = profile is not None and profile.embedded and profile.name == "local"
        note = self.query_one("#embedded-note", Static)
        if local:
            note.update("local is the embedded server: pe starts or reuses it, and takes "
                        "its URL and key from its data dir. For a remote API, press New.")
        elif profile is not None and profile.embedded:
            note.update("No base URL: this profile uses the embedded local server and its "
                        "key. Type a URL to make it a remote profile.")
        note.set_class(profile is not None and profile.embedded, "-shown")
        placeholders = _EMBEDDED_PLACEHOLDERS if local else _PLACEHOLDERS
        for field in _KEY_FIELDS:
            box = self.query_one(f"#{field}", Input)
            box.disabled = local
            box.placeholder = placeholders[field]
        if profile is not None and profile.api_key and not local:
            self.query_one("#api_key", Input).placeholder = "empty keeps the stored key"

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
        saved = self.pe.save_config(f"Profile {profile.name} saved.")
        self.pe.profile_changed(self.editing, profile)
        self._fill_profiles(profile.name)
        if saved:  # after the refill, which resets the form
            self._result(f"✓ saved to {self.pe.config_path}", "-ok")

    @on(Button.Pressed, "#new")
    def _new(self) -> None:
        self.query_one("#profiles", OptionList).highlighted = None
        self._edit(None)
        self.query_one("#name", Input).focus()

    @on(Button.Pressed, "#use")
    def _use(self) -> None:
        if self.editing:
            self.pe.switch_profile(self.editing)
            self._mark_in_use()

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

"""`PeApp`: the console's frame. Modes (one per area, each with its own screen stack), the
session line and tab strip, bindings with ids that the config can remap, the command palette,
themes, and the connection to the API through one `ApiSession` per profile.

Network work runs in workers; the UI never waits on the network. The session's status is a
reactive the header watches; when the server goes away the status says so and the app keeps
reconnecting until it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.keys import format_key
from textual.notifications import SeverityLevel
from textual.reactive import reactive
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from ..exceptions import APIError
from . import config as config_module
from .clipboard import copy_with_tool
from .commands import (
    ActionCommands,
    BatchCommands,
    HistoryFilterCommands,
    ProfileCommands,
    TemplateCommands,
    ThemeCommands,
)
from .config import ConfigError, ConsoleConfig, Profile
from .drafts import default_draft_path
from .embedded import EmbeddedServer
from .errors import describe_error
from .files import write_private
from .screens.batches.batch_screen import BatchScreen
from .screens.batches.book import BatchBook, BatchState
from .screens.batches.screen import BatchesScreen
from .screens.batches.submit import SubmitScreen
from .screens.batches.watch import follow
from .screens.help import HelpScreen
from .screens.history.compare import CompareScreen
from .screens.history.screen import HistoryScreen
from .screens.playground import PlaygroundScreen
from .screens.save_template import SaveTemplateScreen
from .screens.settings import SettingsScreen
from .screens.templates import TemplatesScreen
from .screens.templates.editor import EditTemplateScreen
from .screens.templates.labels import LabelsTable
from .screens.templates.versions import VersionsTable
from .session import ApiSession, SessionStatus
from .theming import FALLBACK_VARIABLES, LoadedThemes, load_themes, pick

if TYPE_CHECKING:
    from ..client import AsyncPromptExecutionClient
    from ..client.types import ExecutionResult
    from ..models import Template


# Where a binding of the app applies besides everywhere: each mode's screen and the dialogs.
SCREEN_SCOPES = ("Playground", "Templates", "Templates: versions", "Templates: labels",
                 "Template editor", "History", "Batches", "Batch", "New batch", "Settings",
                 "help", "dialogs")


class PeApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "pe"
    MODE_LABELS: ClassVar[dict[str, str]] = {"playground": "Playground",
                                              "templates": "Templates", "history": "History",
                                              "batches": "Batches", "settings": "Settings"}
    DEFAULT_MODE = "playground"
    COMMANDS = App.COMMANDS | {TemplateCommands, ProfileCommands, ThemeCommands,
                               ActionCommands, HistoryFilterCommands, BatchCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", id="quit", priority=True),
        Binding("f1", "help", "Help", id="help", priority=True),
        Binding("ctrl+p", "command_palette", "Commands", id="palette", priority=True,
                show=False),
        Binding("f2", "switch_mode('playground')", "Playground", id="mode.playground",
                priority=True, show=False),
        Binding("f3", "switch_mode('templates')", "Templates", id="mode.templates",
                priority=True, show=False),
        Binding("f4", "switch_mode('history')", "History", id="mode.history",
                priority=True, show=False),
        Binding("f5", "switch_mode('batches')", "Batches", id="mode.batches",
                priority=True, show=False),
        Binding("f9", "switch_mode('settings')", "Settings", id="mode.settings",
                priority=True, show=False),
    ]

    status: reactive[SessionStatus] = reactive(SessionStatus(profile="local"), always_update=True)

    def __init__(
        self,
        config: ConsoleConfig | None = None,
        *,
        config_path: Path | None = None,
        profile: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        embedded: EmbeddedServer | None = None,
        output_file: Path | None = None,
        heartbeat: float = 2.0,
        freshness: float = 5.0,
        draft_file: Path | None = None,
        handle_signals: bool = False,
    ) -> None:
        self.config_path = config_path or config_module.config_path()
        self.config = config if config is not None else config_module.load(self.config_path)
        self.clock = clock
        # The wall clock, for ages such as "updated 5m ago" (scenes fix it).
        self.now: Callable[[], datetime] = lambda: datetime.now(UTC)
        self.sessions: dict[str, ApiSession] = {}
        self._embedded = embedded
        self._output_file = output_file
        self._heartbeat = heartbeat
        # How often a screen compares what it shows with the server (one cheap read each),
        # so things made elsewhere appear without a restart.
        self.freshness = freshness
        self._handle_signals = handle_signals  # only `pe` itself; tests keep their signals
        self.draft_file = draft_file or default_draft_path()
        self._startup_notes: list[tuple[str, str]] = []
        super().__init__()
        self.loaded_themes: LoadedThemes = load_themes(self.config_path.parent / "themes")
        for theme in self.loaded_themes.themes.values():
            self.register_theme(theme.to_textual())
        self._startup_notes += [(p, "warning") for p in self.loaded_themes.problems]
        chosen, problem = pick(self.loaded_themes, self.config.theme)
        if problem:
            self._startup_notes.append((problem, "warning"))
        self.theme = chosen
        self._apply_keymap()
        self.playground: PlaygroundScreen | None = None
        self.add_mode("playground", self._new_playground)
        self.add_mode("templates", TemplatesScreen)
        self.add_mode("history", HistoryScreen)
        self.add_mode("batches", BatchesScreen)
        self.add_mode("settings", SettingsScreen)
        self.open_editors: list[EditTemplateScreen] = []  # saved as drafts on quit
        # Every batch of the account, live from one event stream while connected (F5 shows
        # it; a batch seen running that finishes is announced on any screen).
        self.batch_book = BatchBook(clock=self.clock)
        self._batches_of: tuple[str, str | None] | None = None
        self._batches_live = False
        self.profile_name = self.config.profile(profile).name
        self.set_reactive(PeApp.status, SessionStatus(profile=self.profile_name))

    # ------------------------------------------------------------------ set-up

    def _apply_keymap(self) -> None:
        known = self.binding_ids()
        unknown = sorted(set(self.config.bindings) - known)
        if unknown:
            self._startup_notes.append(
                (f"{self.config_path}: [bindings] no binding has the id "
                 f"{', '.join(unknown)}; ids: {', '.join(sorted(known))}", "warning"))
        self.set_keymap({k: v for k, v in self.config.bindings.items() if k in known})
        for clash in self.key_clashes():
            self._startup_notes.append((clash, "warning"))

    def key_clashes(self) -> list[str]:
        """Keys that two bindings share where both apply (app-wide, or the same screen):
        one of them would never fire, so the user is told (the palette runs both)."""
        owners: dict[tuple[str, str], list[str]] = {}
        for where, binding in self.all_bindings():
            for key in filter(None, (k.strip() for k in self.keys_for(binding).split(","))):
                scopes = [where] if where != "everywhere" else ["everywhere", *SCREEN_SCOPES]
                for scope in scopes:
                    owners.setdefault((scope, key), []).append(binding.id or "")
        clashes = []
        for (_, key), ids in sorted(owners.items()):
            unique = sorted(set(ids))
            if len(unique) > 1:
                palette = self.key_for("palette")
                where = f"the palette ({palette})" if palette and palette != key else (
                    "the palette (ctrl+p in the default keys)")
                text = (f"{self.config_path}: [bindings] {key} is bound to "
                        f"{', '.join(unique[:-1])} and {unique[-1]}; only one can have it. "
                        f"Give the others another key; meanwhile {where} runs each")
                if text not in clashes:
                    clashes.append(text)
        return clashes

    @classmethod
    def binding_owners(cls) -> list[tuple[str, type]]:
        """Where bindings live, by the name help shows: the app, each screen, the widgets
        with keys of their own, and the dialogs."""
        return [("everywhere", cls), ("Playground", PlaygroundScreen),
                ("Templates", TemplatesScreen), ("Templates: versions", VersionsTable),
                ("Templates: labels", LabelsTable), ("Template editor", EditTemplateScreen),
                ("History", HistoryScreen), ("History: compare", CompareScreen),
                ("Batches", BatchesScreen), ("Batch", BatchScreen), ("New batch", SubmitScreen),
                ("Settings", SettingsScreen), ("help", HelpScreen),
                ("dialogs", SaveTemplateScreen)]

    @classmethod
    def all_bindings(cls) -> list[tuple[str, Binding]]:
        """(where, binding) for every binding with an id: the help screen lists these."""
        found: list[tuple[str, Binding]] = []
        for where, owner in cls.binding_owners():
            for binding in owner.BINDINGS:  # type: ignore[attr-defined]
                if isinstance(binding, Binding) and binding.id:
                    found.append((where, binding))
        return found

    def binding_ids(self) -> set[str]:
        return {binding.id for _, binding in self.all_bindings() if binding.id}

    def keys_for(self, binding: Binding) -> str:
        """The keys that trigger a binding now: the config's remapping, else its own."""
        return self.config.bindings.get(binding.id or "", binding.key)

    def key_for(self, binding_id: str) -> str | None:
        """The first key that triggers a binding now, after any remapping."""
        for _, binding in self.all_bindings():
            if binding.id == binding_id:
                return self.keys_for(binding).split(",")[0].strip()
        return None

    def hint_key(self, binding_id: str) -> str:
        """A binding's key for hints in the UI's own words (`ctrl+enter`), or, when it has
        none, the palette that runs it (with the palette's own key, if it has one)."""
        key = self.key_for(binding_id)
        if key:
            symbol = format_key(key)  # "slash" reads as "/", "question_mark" as "?"
            return symbol if len(symbol) == 1 else key
        palette = self.key_for("palette")
        return f"the palette ({palette})" if palette else "the palette"

    def not_connected(self) -> str:
        """Why nothing can be sent right now, and what to do, in the user's words."""
        status = self.status
        where = status.base_url or "the embedded server"
        settings = self.hint_key("mode.settings").upper()
        if status.state == "unauthorized" and status.message.startswith("MISSING_API_KEY"):
            return (f"profile {status.profile} has no key; give it one in Settings "
                    f"({settings}), or export PE_API_KEY")
        if status.state == "unauthorized":
            return (f"the server refused the key of profile {status.profile} "
                    f"({status.message or 'invalid key'}); fix it in Settings ({settings})")
        if status.state == "offline":
            return (f"{where} does not answer{f' ({status.message})' if status.message else ''};"
                    f" pe keeps trying, or check the profile in Settings ({settings})")
        return f"still connecting to {where}; try again when the header says connected"

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(FALLBACK_VARIABLES)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        # Textual's own theme picker offers themes without our variables; ours replaces it.
        for command in super().get_system_commands(screen):
            if command.title.lower() != "theme":
                yield command

    def on_mount(self) -> None:
        for message, severity in self._startup_notes:
            self.notify(message, severity=severity, timeout=10)  # type: ignore[arg-type]
        self.switch_profile(self.profile_name, announce=False)
        self.set_interval(self._heartbeat, self._check_connection)
        if self._handle_signals:
            self._exit_on_hangup()

    def _exit_on_hangup(self) -> None:
        """A closed terminal (SIGHUP) or a `kill` (SIGTERM) exits like ctrl+q, so the embedded
        server this console started is stopped rather than orphaned."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGHUP, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signum, self._save_and_exit)

    def _save_and_exit(self) -> None:
        self._save_draft()
        self.exit()

    def _save_draft(self) -> None:
        if self.playground is not None and self.playground.is_mounted:
            self.playground.save_draft()  # nothing typed is lost by quitting
        for editor in self.open_editors:
            editor.save_draft()

    def _check_connection(self) -> None:
        """A quiet server may have gone away: one cheap read (it counts against no limit)
        tells. A failure turns the state offline, which starts reconnecting."""
        session = self.session
        if session is None or session.status.state != "connected":
            return
        if not session.needs_probe(self._heartbeat):
            return  # traffic just proved it alive (a stream's deltas): no probe mid-stream
        if any(w.group == "heartbeat" and not w.is_finished for w in self.workers):
            return  # the last probe is still waiting: let it time out, don't replace it
        self.run_worker(session.check(), group="heartbeat", exit_on_error=False)

    # ------------------------------------------------------------------ batches

    def watch_status(self, status: SessionStatus) -> None:
        """Connected: the batches are followed; another server or profile: forgotten first."""
        where = (status.profile, status.base_url)
        if status.state != "connected":
            self._batches_live = False  # the stream ends by itself; it reopens on return
            return
        if where != self._batches_of:
            if self._batches_of is not None:
                self.batch_book.clear()
            self._batches_of = where
            self._batches_live = False
        if not self._batches_live:  # not on every status (each request updates it)
            self._batches_live = True
            self.restart_batch_watch()

    def restart_batch_watch(self) -> None:
        client = self.client_or_none()
        if client is None:
            return
        self.run_worker(follow(client, self.batch_book, self._batch_finished),
                        group="batch-watch", exclusive=True, exit_on_error=False,
                        name="watching batches")

    async def open_batch(self, batch_id: str) -> None:
        """The palette's "Open batch": its own screen, over the Batches list."""
        await self.switch_mode("batches")
        if not isinstance(self.screen, BatchScreen) or self.screen.batch_id != batch_id:
            self.push_screen(BatchScreen(batch_id))

    def _batch_finished(self, state: BatchState) -> None:
        counts = state.counts
        failed = f", {counts.failed:,} failed" if counts.failed else ""
        cancelled = f", {counts.cancelled:,} cancelled" if counts.cancelled else ""
        self.notify(f"Batch {state.batch_id} {state.status}: {counts.completed:,} completed"
                    f"{failed}{cancelled} of {counts.total:,} "
                    f"({self.hint_key('mode.batches').upper()} shows it).",
                    severity="warning" if counts.failed else "information", timeout=10)

    # ------------------------------------------------------------------ sessions

    @property
    def session(self) -> ApiSession | None:
        return self.sessions.get(self.profile_name)

    def client_or_none(self) -> AsyncPromptExecutionClient | None:
        session = self.session
        if session is None or session.status.state != "connected":
            return None
        return session.client

    def switch_profile(self, name: str, announce: bool = True) -> None:
        profile = self.config.profile(name)
        if name != self.profile_name:  # the old profile stops retrying in the background
            self.workers.cancel_group(self, f"connect-{self.profile_name}")
        self.profile_name = name
        session = self.sessions.get(name)
        if session is None:
            session = ApiSession(profile, embedded=self._embedded if profile.embedded else None)
            session.subscribe(partial(self._session_changed, session))
            self.sessions[name] = session
        self.status = session.status
        if session.status.state != "connected":
            self._connect(session)
        if announce:
            self.notify(f"Profile {name}: {profile.base_url or 'embedded local server'}")

    def _session_changed(self, session: ApiSession, status: SessionStatus) -> None:
        if self.session is not session:
            return  # a profile in the background, or a session already replaced
        was = self.status.state
        self.status = status
        if status.state == "offline" and was == "connected":
            self._connect(session)  # the server went away: keep trying until it returns

    def _connect(self, session: ApiSession) -> None:
        self.run_worker(session.connect(), group=f"connect-{session.profile.name}",
                        exclusive=True, exit_on_error=False, name="connecting")

    def profile_changed(self, old_name: str | None, profile: Profile) -> None:
        """Settings saved `profile` (maybe renamed from `old_name`): a session whose URL or
        key changed is closed, and the current profile reconnects with the new settings."""
        current = self.profile_name in (old_name, profile.name)
        session = self.sessions.get(old_name or profile.name)
        if session is not None and session.profile == replace(profile, name=session.profile.name):
            if old_name and old_name != profile.name:  # renamed only: keep the connection
                self.sessions[profile.name] = self.sessions.pop(old_name)
                session.profile = profile
                if current:
                    self.profile_name = profile.name
            return
        if session is not None:
            self.profile_removed(old_name or profile.name)
        if current:
            self.profile_name = profile.name
            self.switch_profile(profile.name, announce=False)

    def profile_removed(self, name: str) -> None:
        session = self.sessions.pop(name, None)
        if session is not None:
            self.workers.cancel_group(self, f"connect-{name}")
            self._close_session(session)

    @work(group="close-session", exit_on_error=False)
    async def _close_session(self, session: ApiSession) -> None:
        await session.close()

    def _new_playground(self) -> PlaygroundScreen:
        self.playground = PlaygroundScreen()
        return self.playground

    def known_templates(self) -> list[Template]:
        return list(self.playground.templates) if self.playground else []

    async def open_template(self, template_id: str) -> None:
        """The palette's "Open template": as Enter in the filter, the cursor lands on the
        template's first variable."""
        await self.switch_mode("playground")
        if self.playground is not None:
            await self.playground.open_template(template_id)

    async def open_template_version(self, template_id: str, version: str) -> None:
        """The Templates screen's "Run in Playground": that version, pinned, ready to fill."""
        client = self.client_or_none()
        if client is None:
            self.notify(f"Not opened: {self.not_connected()}", severity="warning")
            return
        template = await client.templates.get_version(template_id, version)
        await self.switch_mode("playground")
        if self.playground is not None:
            await self.playground.open_pinned(template)

    async def open_execution(self, execution: ExecutionResult) -> None:
        """History's "run again": the Playground with that execution's template version,
        variables and settings (or its rendered prompt), ready to run."""
        client = self.client_or_none()
        if client is None:
            self.notify(f"Not opened: {self.not_connected()}", severity="warning")
            return
        template = None
        if execution.template_id and execution.template_version:
            try:
                template = await client.templates.get_version(execution.template_id,
                                                              execution.template_version)
            except APIError as exc:
                self.notify(f"Not opened: {describe_error(exc)}", severity="error")
                return
        await self.switch_mode("playground")
        if self.playground is not None:
            await self.playground.open_execution(execution, template)
            what = f"{template.name} {template.version}" if template else "its prompt"
            self.notify(f"{execution.execution_id} in the Playground: {what}, its variables "
                        f"and settings; {self.hint_key('playground.run')} runs it again.")

    # ------------------------------------------------------------------ themes

    def theme_names(self) -> list[str]:
        return sorted(self.loaded_themes.themes)

    def choose_theme(self, name: str) -> None:
        self.theme = name
        self.config.theme = name
        self.save_config(f"Theme {name} saved.")

    def save_history_filter(self, name: str, text: str) -> None:
        self.config.history_filters[name] = text
        self.save_config(f"Filter {name} kept: {text}")

    async def use_history_filter(self, text: str) -> None:
        """A saved filter, applied on the History screen."""
        await self.switch_mode("history")
        screen = self.screen
        if isinstance(screen, HistoryScreen):
            screen.use_filter(text)

    def save_config(self, done: str | None = None) -> bool:
        try:
            path = config_module.save(self.config, self.config_path)
        except (OSError, ConfigError) as exc:
            self.notify(f"Could not save {self.config_path}: {exc}", severity="error")
            return False
        if done:
            self.notify(f"{done} ({path})")
        return True

    # ------------------------------------------------------------------ actions

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss()  # F1 toggles
        else:
            self.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        self._save_draft()
        if any(s.embedded and s.embedded.started_here for s in self.sessions.values()):
            self.notify("Stopping the embedded server…")
        for session in list(self.sessions.values()):
            await session.close()  # stops the embedded server only if it was started here
        self.exit()

    @work(group="copy", exclusive=True, exit_on_error=False)
    async def copy_output(self, text: str) -> None:
        """Copies in a worker: a clipboard tool may take a moment, the UI must not wait."""
        from platformdirs import user_cache_path

        target = self._output_file or user_cache_path("promptexecution") / "last-output.txt"
        tool = await asyncio.to_thread(copy_with_tool, text)
        if tool is not None:
            self.notify(f"Copied {len(text):,} characters to the clipboard ({tool}).")
            return
        self.copy_to_clipboard(text)  # OSC 52, which a terminal may ignore without a word
        await asyncio.to_thread(write_private, target, text)
        self.notify(f"Sent {len(text):,} characters to the terminal's clipboard (OSC 52). "
                    "Terminals that refuse it (tmux without set-clipboard, some SSH setups) "
                    f"copy nothing: the text is also in {target}", timeout=10)

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = True) -> None:
        """Every notification is plain text: they carry paths, names, keys and the server's
        messages, and one "[/]" among them would be a markup error (Widget.notify, which the
        screens call, passes markup=True on, so it is decided here)."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    def report_error(self, error: BaseException, doing: str) -> None:
        """The one place a background failure becomes a notification."""
        self.notify(f"{doing}: {describe_error(error)}", severity="error", timeout=10)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Any worker that ends in an error, anywhere in the app, is reported here."""
        worker = event.worker
        if event.state == WorkerState.ERROR and worker.error is not None:
            self.report_error(worker.error, worker.name or "background work")

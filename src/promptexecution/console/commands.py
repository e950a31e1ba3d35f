"""Command palette (ctrl+p) providers: open a template in the Playground, switch profile,
switch theme, and every mode and action. Each offers its commands with an empty query too,
so the palette is browsable."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.dom import DOMNode
from textual.markup import escape

from .screens.base import ModeScreen

if TYPE_CHECKING:
    from .app import PeApp


class _PeProvider(Provider):
    @property
    def pe(self) -> PeApp:
        return cast("PeApp", self.app)

    def entries(self) -> list[tuple[str, str, Callable[[], object]]]:
        """(text, help, command) for each thing this provider offers."""
        raise NotImplementedError

    # The palette reads a str prompt and help as markup; names, descriptions and keys come
    # from users and the server, so they are escaped (a description with "[/]" crashed it).
    async def discover(self) -> Hits:
        for text, help_text, command in self.entries():
            yield DiscoveryHit(escape(text), command, help=escape(help_text))

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, help_text, command in self.entries():
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), command, text=text,
                          help=escape(help_text))


class TemplateCommands(_PeProvider):
    def entries(self) -> list[tuple[str, str, Callable[[], object]]]:
        return [(f"Open template: {t.name}", t.description or "in the Playground",
                 partial(self.pe.open_template, t.template_id))
                for t in self.pe.known_templates()]


class BatchCommands(_PeProvider):
    """Jump to a batch: the newest 100 the console knows, with their status and counts."""

    def entries(self) -> list[tuple[str, str, Callable[[], object]]]:
        book = self.pe.batch_book
        found: list[tuple[str, str, Callable[[], object]]] = []
        for state in book.ordered()[:100]:
            counts = state.counts
            name = book.template_name(state) or "raw prompt"
            found.append((f"Open batch: {state.batch_id} ({name})",
                          f"{state.status}: {counts.completed + counts.failed:,} of "
                          f"{counts.total:,} done, {counts.failed:,} failed",
                          partial(self.pe.open_batch, state.batch_id)))
        return found


class ProfileCommands(_PeProvider):
    def entries(self) -> list[tuple[str, str, Callable[[], object]]]:
        current = self.pe.status.profile
        return [(f"Switch profile: {name}", profile.base_url or "embedded local server",
                 partial(self.pe.switch_profile, name))
                for name, profile in sorted(self.pe.config.profiles.items()) if name != current]


class ThemeCommands(_PeProvider):
    def entries(self) -> list[tuple[str, str, Callable[[], object]]]:
        return [(f"Switch theme: {name}", "saved to the config",
                 partial(self.pe.choose_theme, name))
                for name in self.pe.theme_names() if name != self.pe.theme]


class HistoryFilterCommands(_PeProvider):
    def entries(self) -> list[tuple[str, str, Callable[[], object]]]:
        return [(f"History filter: {name}", text, partial(self.pe.use_history_filter, text))
                for name, text in sorted(self.pe.config.history_filters.items())]


class ActionCommands(_PeProvider):
    """Every mode and every action of the screen in view, with its key: nothing is out of
    reach when a key is taken by another binding, or the terminal never sends it."""

    def entries(self) -> list[tuple[str, str, Callable[[], object]]]:
        app = self.pe
        screen = self.screen  # the screen the palette was opened over
        # Over a dialog or Help, the mode's actions would run behind it: only the app's.
        on_mode = isinstance(screen, ModeScreen)
        found: list[tuple[str, str, Callable[[], object]]] = []
        owners = dict(app.binding_owners())
        for where, binding in app.all_bindings():
            if binding.id in ("palette", "help.close", "dialog.close"):
                continue
            target: DOMNode
            action = binding.action
            owner = owners[where]
            if where == "everywhere":
                target = app
            elif on_mode and isinstance(screen, owner):
                target = screen
            elif on_mode and any(isinstance(w, owner) for w in screen.query("*")):
                # A widget's keys that act on its screen ("screen.restore_version").
                target, action = screen, action.removeprefix("screen.")
            else:
                continue
            keys = app.keys_for(binding).replace(",", " or ")
            found.append((binding.description or binding.action, f"{keys} · {binding.id}",
                          partial(app.run_action, action, target)))
        return found

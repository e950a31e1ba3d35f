"""The Templates screen (F3): every template of the account in a virtual list with a filter
as you type, the highlighted one's detail (prompt highlighted as Jinja, variables, settings,
per-version figures), its versions with diffs, and its labels.

Templates load a page at a time, the first page shown as soon as it arrives; filtering and
sorting then happen here, on what was loaded, so a keystroke costs no request.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Input, Static, TabbedContent, TabPane

from ....exceptions import APIError
from ...errors import describe_error
from ...freshness import newest_change, templates_change
from ...memory import settle_after_load
from ...widgets.diff_view import DiffView
from ...widgets.filter_input import FilterInput
from ..base import ModeScreen
from . import detail
from .dialogs import AskScreen, ConfirmScreen
from .labels import LabelsTable
from .template_list import TemplateList, haystack, matches
from .versions import SPLIT_MIN_WIDTH, VersionsTable

if TYPE_CHECKING:
    from ....client import AsyncPromptExecutionClient
    from ....models import Template, TemplateLabels, TemplateStats, TemplateVersions

PAGE = 100  # the API's largest page
PARALLEL_PAGES = 4
MAX_SYNC_PAGES = 5  # a sync that finds more changes than this loads everything again
STATUSES = ("active", "archived", "all")
DETAIL_AFTER = 0.03  # seconds the cursor rests before the detail pane follows
TYPING_PAUSE = 0.2  # the same while typing a filter: drawing the detail between keys slows them
STATS_AFTER = 0.25  # seconds the highlight rests before its figures are asked for


class TemplatesScreen(ModeScreen):
    # The list has the cursor, so its one-key actions work at once; / filters (k9s-style).
    AUTO_FOCUS = "#templates-list"
    BINDINGS = [
        Binding("e", "edit", "Edit", id="templates.edit"),
        Binding("n", "new", "New", id="templates.new"),
        Binding("d", "duplicate", "Duplicate", id="templates.duplicate"),
        Binding("p", "run", "Run in Playground", id="templates.run"),
        Binding("x", "archive", "Archive", id="templates.archive"),
        Binding("a", "cycle_status", "Active/archived", id="templates.status"),
        Binding("s", "cycle_sort", "Sort", id="templates.sort"),
        Binding("v", "show_tab('tab-versions')", "Versions", id="templates.versions"),
        Binding("l", "show_tab('tab-labels')", "Labels", id="templates.labels"),
        Binding("i", "show_tab('tab-detail')", "Detail", id="templates.detail", show=False),
        Binding("slash", "focus_filter", "Filter", id="templates.filter"),
        Binding("ctrl+l", "reload", "Reload", id="templates.reload", priority=True),
    ]

    def __init__(self) -> None:
        super().__init__(id="templates")
        self.templates: list[Template] = []
        self._hay: list[str] = []
        self._last_match: tuple[list[str], list[int]] | None = None  # words, what matched
        self.status_filter = "active"
        self.sort = "name"
        self.fetching = False
        self.loaded_at_least_once = False
        self.total: int | None = None
        self._seen: tuple[object, ...] | None = None
        self._connected_to: tuple[str, str | None] | None = None
        self._stats: dict[str, TemplateStats] = {}
        self._versions: dict[str, TemplateVersions] = {}
        self._labels: dict[str, TemplateLabels] = {}
        self._bodies: dict[tuple[str, str], Template] = {}  # (id, version) -> that version
        self._stats_timer: asyncio.TimerHandle | None = None
        self._detail_timer: asyncio.TimerHandle | None = None
        self._detail_of: tuple[str, ...] | None = None  # what the detail pane shows

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="templates-body"):
            with Vertical(id="templates-side"):
                yield FilterInput(lambda _: self._apply_filter(), placeholder=(
                    f"{self.pe.hint_key('templates.filter')} filter: name, tag, description"),
                                  compact=True, id="templates-filter")
                yield Static("", id="templates-count")
                yield TemplateList(id="templates-list", now=lambda: self.pe.now())
            with TabbedContent(initial="tab-detail", id="templates-tabs"):
                with TabPane("Detail", id="tab-detail"):
                    with VerticalScroll(id="template-detail", can_focus=False):
                        yield Static("", id="detail-head")
                        yield Static("", id="detail-prompt", classes="prompt-box")
                        yield Static("", id="detail-variables")
                        yield Static("", id="detail-settings")
                        yield Static("", id="detail-stats")
                with TabPane("Versions", id="tab-versions"):
                    yield VersionsTable(id="versions-table")
                    yield Static("", id="diff-title")
                    yield DiffView(id="versions-diff")
                with TabPane("Labels", id="tab-labels"):
                    yield LabelsTable(id="labels-table")
                    yield Static("", id="labels-hint", classes="hint")
            yield Static("", id="templates-error", classes="error")

    def on_mount(self) -> None:
        self.query_one(TemplateList).loading = True
        self.watch(self.app, "status", self._status_changed, init=True)
        self.set_interval(self.pe.freshness, self._check_freshness)
        self._show_count()

    # ------------------------------------------------------------------ loading

    def _status_changed(self, status: Any) -> None:
        where = (status.profile, status.base_url)
        connected = where if status.state == "connected" else None
        if connected != self._connected_to:
            if self._connected_to is not None and connected is not None:
                self._forget()  # another profile: its templates are not these
            self._connected_to = connected
            if connected is not None:
                self.reload()

    def _forget(self) -> None:
        self.templates, self._hay, self._last_match = [], [], None
        for cache in (self._stats, self._versions, self._labels, self._bodies):
            cache.clear()
        self._apply_filter()

    def _client(self) -> AsyncPromptExecutionClient | None:
        client = self.pe.client_or_none()
        if client is None:
            self._error(f"✗ {self.pe.not_connected()}")
        return client

    def _error(self, text: str) -> None:
        box = self.query_one("#templates-error", Static)
        box.update(Text(text))
        box.set_class(bool(text), "-shown")

    @work(exclusive=True, group="templates-load", exit_on_error=False,
          name="loading templates")
    async def reload(self, select: str | None = None) -> None:
        """Every template (active and archived). An empty list shows the first page as soon as
        it comes; a list already shown stays as it is until every page is here, so the cursor
        does not move under the user (and a key does not act on another template)."""
        client = self.pe.client_or_none()
        listing = self.query_one(TemplateList)
        if client is None:
            listing.loading = False
            return
        self.fetching = True
        try:
            self._seen = newest_change(await client.templates.list(limit=1, sort="updated",
                                                                   status="all"))
            first = await client.templates.list(limit=PAGE, status="all", sort="name")
            self.total = first.pagination.total
            found = list(first.templates)
            if not self.templates:
                self._set_templates(found, select)
                listing.loading = False
            offsets = list(range(PAGE, self.total, PAGE))
            for at in range(0, len(offsets), PARALLEL_PAGES):
                pages = await asyncio.gather(*(
                    client.templates.list(limit=PAGE, offset=o, status="all", sort="name")
                    for o in offsets[at:at + PARALLEL_PAGES]))
                for page in pages:
                    found.extend(page.templates)
                self._show_count(loaded=len(found))
            self._set_templates(found, select)
        except APIError as exc:
            self._error(f"Loading templates: {describe_error(exc)}")
            return
        finally:
            self.fetching = False
            listing.loading = False
        self._loaded(None)

    @work(exclusive=True, group="templates-load", exit_on_error=False,
          name="updating templates")
    async def sync(self, select: str | None = None) -> None:
        """Only what changed since this screen last looked: pages of the templates by last
        change, newest first, until one older than the newest already here. (A template is
        never deleted, only archived, which is a change too.) After a write, or when the
        freshness poll sees a change, this costs a request or two, not a page per 100."""
        client = self.pe.client_or_none()
        if client is None:
            return
        if not self.templates:
            self.reload(select)
            return
        newest = max(t.updated_at for t in self.templates)
        changed: list[Template] = []
        try:
            for offset in range(0, MAX_SYNC_PAGES * PAGE, PAGE):
                page = await client.templates.list(limit=PAGE, offset=offset, sort="updated",
                                                   status="all")
                if offset == 0:
                    self._seen = newest_change(page)
                fresh = [t for t in page.templates if t.updated_at >= newest]
                changed += fresh
                if len(fresh) < len(page.templates) or len(page.templates) < PAGE:
                    break
            else:  # more changed than a sync should fetch: load everything instead
                self.reload(select)
                return
        except APIError as exc:
            self._error(f"Updating templates: {describe_error(exc)}")
            return
        self._upsert(changed, select)

    async def refetch(self, template_id: str) -> None:
        """One template again (its labels changed, which is not a change of the template)."""
        client = self.pe.client_or_none()
        if client is None:
            return
        try:
            self._upsert([await client.templates.get(template_id)], template_id)
        except APIError as exc:
            self._error(f"Updating {template_id}: {describe_error(exc)}")

    def _upsert(self, changed: list[Template], select: str | None) -> None:
        by_id = {t.template_id: t for t in self.templates}
        by_id.update((t.template_id, t) for t in changed)
        self._set_templates(list(by_id.values()), select)
        self._loaded({t.template_id for t in changed})

    def _loaded(self, changed: set[str] | None) -> None:
        """After a load (changed=None: everything) or a sync: stale figures, versions and
        labels are asked for again, and the detail is drawn anew."""
        self._error("")
        self.loaded_at_least_once = True
        settle_after_load()
        for cache in (self._stats, self._versions, self._labels):
            for template_id in list(cache) if changed is None else changed:
                cache.pop(template_id, None)
        self._show_count()
        self._detail_of = None
        self._detail_due()

    def _set_templates(self, templates: list[Template], keep: str | None) -> None:
        # Duplicates across pages (a template renamed while paging) are kept once.
        unique = {t.template_id: t for t in templates}
        self._order_templates(list(unique.values()))
        self._apply_filter(keep)

    def _order_templates(self, templates: list[Template]) -> None:
        """Sorted once per load or sort change, so a filter keystroke only selects."""
        if self.sort == "updated":
            templates.sort(key=lambda t: t.updated_at, reverse=True)
        else:
            templates.sort(key=lambda t: (t.name.lower(), t.name))
        self.templates = templates
        self._hay = [haystack(t) for t in templates]
        self._last_match = None

    def _check_freshness(self) -> None:
        if self.loaded_at_least_once and not self.fetching and self.is_current:
            self._compare_with_server()
            if self.query_one("#templates-tabs", TabbedContent).active == "tab-labels":
                self._forget_labels()
                self._refresh_tab()

    @work(exclusive=True, group="templates-fresh", exit_on_error=False,
          name="checking templates")
    async def _compare_with_server(self) -> None:
        client = self.pe.client_or_none()
        if client is None:
            return
        change = await templates_change(client)
        if change is not None and change != self._seen and not self.fetching:
            self.sync()

    def action_reload(self) -> None:
        self.notify("Reloading templates…", timeout=2)
        self.reload()

    # ------------------------------------------------------------------ the list

    def _apply_filter(self, keep: str | None = None) -> None:
        listing = self.query_one(TemplateList)
        if keep is None and listing.current is not None:
            keep = listing.current.template_id
        words = self.query_one("#templates-filter", Input).value.lower().split()
        status = self.status_filter
        shown = [self.templates[i] for i in self._matching(words)]
        if status != "all":
            shown = [t for t in shown if t.status == status]
        listing.empty_text = self._empty_text(words)
        listing.show(shown, keep)
        self._show_count()

    def _matching(self, words: list[str]) -> list[int]:
        """Indexes of the templates whose name, tags or description hold every word. Typing
        on narrows: when each word of the last filter is inside a word of this one, only the
        last matches can match, so a keystroke searches those, not all 10,000."""
        candidates: range | list[int] = range(len(self.templates))
        last = self._last_match
        if last is not None and all(any(old in new for new in words) for old in last[0]):
            candidates = last[1]
        hays = self._hay
        if not words:
            found = list(candidates)
        elif len(words) == 1:  # the common case, without a generator per template
            word = words[0]
            found = [i for i in candidates if word in hays[i]]
        else:
            found = [i for i in candidates if matches(hays[i], words)]
        self._last_match = (words, found)
        return found

    def _empty_text(self, words: list[str]) -> str:
        if self.fetching or not self.loaded_at_least_once and not self.templates:
            return ""
        if not self.templates:
            new = self.pe.hint_key("templates.new")
            return f"no templates yet: {new} makes one"
        if words:
            return f"no {self.status_filter} template matches “{' '.join(words)}”"
        return f"no {self.status_filter} templates"

    def _show_count(self, loaded: int | None = None) -> None:
        listing = self.query_one(TemplateList)
        status = {"active": "active", "archived": "archived", "all": "active + archived"}
        text = Text(f"{len(listing.rows):,} {status[self.status_filter]} · by {self.sort}",
                    style="dim")
        if loaded is not None and self.total:
            text.append(f" · loading {loaded:,}/{self.total:,}", style="dim")
        # What each key does next, e.g. "a→archived  s→updated".
        then = STATUSES[(STATUSES.index(self.status_filter) + 1) % len(STATUSES)]
        for key, what in ((self.pe.hint_key("templates.status"), then),
                          (self.pe.hint_key("templates.sort"),
                           "updated" if self.sort == "name" else "name")):
            text.append(f"  {key}", style="bold")
            text.append(f"→{what}", style="dim")
        self.query_one("#templates-count", Static).update(text, layout=False)  # one line

    @on(Input.Submitted, "#templates-filter")
    def _to_list(self) -> None:
        self.query_one(TemplateList).focus()

    def key_escape(self) -> None:
        """Escape in the filter goes back to the list (where the one-key actions are)."""
        if self.focused is self.query_one("#templates-filter"):
            self.query_one(TemplateList).focus()

    def key_down(self) -> None:
        if self.focused is self.query_one("#templates-filter"):
            self.query_one(TemplateList).focus()

    def action_focus_filter(self) -> None:
        self.query_one("#templates-filter", Input).focus()

    def action_cycle_status(self) -> None:
        self.status_filter = STATUSES[(STATUSES.index(self.status_filter) + 1) % len(STATUSES)]
        self._apply_filter()

    def action_cycle_sort(self) -> None:
        self.sort = "updated" if self.sort == "name" else "name"
        self._order_templates(self.templates)
        self._apply_filter()

    @property
    def current(self) -> Template | None:
        return self.query_one(TemplateList).current

    @on(TemplateList.Highlighted)
    def _highlighted(self, event: TemplateList.Highlighted) -> None:
        """The detail follows the cursor a moment later: typing in the filter or holding
        a key down moves the cursor many times, and only the row it rests on is drawn."""
        if self._detail_timer is not None:
            self._detail_timer.cancel()
        typing = self.focused is self.query_one("#templates-filter")
        self._detail_timer = asyncio.get_running_loop().call_later(
            TYPING_PAUSE if typing else DETAIL_AFTER, self._detail_due)

    def _detail_due(self) -> None:
        self._detail_timer = None
        if not self.is_attached:
            return
        template = self.current
        shown = (template.template_id, template.version, template.status,
                 template.updated_at) if template else None
        if shown != self._detail_of or template is None:
            self._detail_of = shown
            self._show_detail(template)
            self._refresh_tab()

    @on(TemplateList.Chosen)
    def _chosen(self) -> None:
        self.action_edit()

    # ------------------------------------------------------------------ detail

    def _show_detail(self, template: Template | None) -> None:
        variables = self.app.theme_variables
        parts = {
            "#detail-head": detail.head(template) if template else Text(self._no_template()),
            "#detail-prompt": detail.prompt(template, variables) if template else "",
            "#detail-variables": detail.variables_table(template) if template else "",
            "#detail-settings": detail.settings(template) if template else "",
            "#detail-stats": detail.stats_table(self._stats.get(template.template_id), True)
            if template else "",
        }
        for selector, content in parts.items():
            self.query_one(selector, Static).update(content)
        self.query_one("#detail-prompt").display = template is not None
        if template is not None and template.template_id not in self._stats:
            self._stats_soon(template.template_id)

    def figures_loaded(self, template_id: str) -> bool:
        """Whether the per-version figures of `template_id` are here (tests, scenes)."""
        return template_id in self._stats

    def _no_template(self) -> str:
        if not self.loaded_at_least_once:
            return ""
        return f"Pick a template on the left, or make one ({self.pe.hint_key('templates.new')})."

    def _stats_soon(self, template_id: str) -> None:
        """Figures cost a query: asked for once the highlight rests, not per row passed."""
        if self._stats_timer is not None:
            self._stats_timer.cancel()
        self._stats_timer = asyncio.get_running_loop().call_later(
            STATS_AFTER, lambda: self._load_stats(template_id))

    @work(exclusive=True, group="templates-stats", exit_on_error=False,
          name="loading figures")
    async def _load_stats(self, template_id: str) -> None:
        self._stats_timer = None
        client = self.pe.client_or_none()
        if client is None:
            return
        try:
            self._stats[template_id] = await client.templates.stats(template_id)
        except APIError as exc:
            self.query_one("#detail-stats", Static).update(Text(describe_error(exc)))
            return
        current = self.current
        if current is not None and current.template_id == template_id:
            self.query_one("#detail-stats", Static).update(
                detail.stats_table(self._stats[template_id], False))

    # ------------------------------------------------------------------ tabs

    def action_show_tab(self, tab: str) -> None:
        self.query_one("#templates-tabs", TabbedContent).active = tab
        target = {"tab-versions": "#versions-table", "tab-labels": "#labels-table",
                  "tab-detail": "#templates-list"}[tab]  # never a widget the tab hides
        self.query_one(target).focus()
        self._refresh_tab()

    @on(TabbedContent.TabActivated, "#templates-tabs")
    def _tab_changed(self) -> None:
        self._forget_labels()
        self._refresh_tab()

    def _forget_labels(self) -> None:
        """Labels move without changing the template (no freshness marker sees it), so the
        Labels tab asks again whenever it is shown or polled; one cheap read."""
        if self.current is not None:
            self._labels.pop(self.current.template_id, None)

    def _refresh_tab(self) -> None:
        tab = self.query_one("#templates-tabs", TabbedContent).active
        template = self.current
        if tab == "tab-versions":
            versions = self._versions.get(template.template_id) if template else None
            self.query_one(VersionsTable).show(versions)
            if template is not None and versions is None:
                self._load_versions(template.template_id)
            else:
                self._show_diff()
        elif tab == "tab-labels":
            labels = self._labels.get(template.template_id) if template else None
            self.query_one(LabelsTable).show(labels)
            self._labels_hint(template, labels)
            if template is not None and labels is None:
                self._load_labels(template.template_id)

    @work(exclusive=True, group="templates-versions", exit_on_error=False,
          name="loading versions")
    async def _load_versions(self, template_id: str) -> None:
        client = self.pe.client_or_none()
        if client is None:
            return
        try:
            self._versions[template_id] = await client.templates.versions(template_id)
        except APIError as exc:
            self.query_one("#diff-title", Static).update(Text(describe_error(exc)))
            return
        if self.current is not None and self.current.template_id == template_id:
            self.query_one(VersionsTable).show(self._versions[template_id])
            self._show_diff()

    @on(DataTable.RowHighlighted, "#versions-table")
    def _version_highlighted(self) -> None:
        self._show_diff()

    def action_mark_version(self) -> None:
        self.query_one(VersionsTable).toggle_mark()
        self._show_diff()

    async def version_body(self, template_id: str, version: str) -> Template:
        key = (template_id, version)
        if key not in self._bodies:
            client = self.pe.client_or_none()
            if client is None:
                raise APIError(self.pe.not_connected())
            self._bodies[key] = await client.templates.get_version(template_id, version)
        return self._bodies[key]

    @work(exclusive=True, group="templates-diff", exit_on_error=False, name="diffing")
    async def _show_diff(self) -> None:
        table, template = self.query_one(VersionsTable), self.current
        title = self.query_one("#diff-title", Static)
        view = self.query_one(DiffView)
        version = table.current
        if template is None or version is None:
            title.update("")
            view.show([])
            return
        base = table.base_for(version)
        try:
            new = await self.version_body(template.template_id, version)
            old = await self.version_body(template.template_id, base) if base else None
        except APIError as exc:
            title.update(Text(describe_error(exc)))
            return
        new_prompt, new_rest = detail.document(new)
        old_prompt, old_rest = detail.document(old) if old else ("", "")
        view.show([("prompt", old_prompt, new_prompt),
                   ("variables and settings", old_rest, new_rest)],
                  split=view.split and self.size.width >= SPLIT_MIN_WIDTH)
        mode = "side by side" if view.split else "unified"
        keys = f"{self.pe.hint_key('templates.mark_version')} base · " \
               f"{self.pe.hint_key('templates.split')} {mode}"
        what = f"{base} → {version}" if base else f"{version} (the first version)"
        title.update(Text(f"{what}: {view.changes} changed line(s) · {keys}", style="bold"))

    def action_toggle_split(self) -> None:
        view = self.query_one(DiffView)
        if not view.split and self.size.width < SPLIT_MIN_WIDTH:
            self.notify(f"Side by side needs {SPLIT_MIN_WIDTH} columns; this terminal has "
                        f"{self.size.width}.", severity="warning")
            return
        view.set_split(not view.split)
        self._show_diff()

    @work(group="templates-view", exit_on_error=False, name="opening a version")
    async def action_view_version(self) -> None:
        template, version = self.current, self.query_one(VersionsTable).current
        if template is None or version is None:
            return
        from .version_screen import VersionScreen

        try:
            body = await self.version_body(template.template_id, version)
        except APIError as exc:
            self._error(f"Version {version}: {describe_error(exc)}")
            return
        self.app.push_screen(VersionScreen(body))

    def action_restore_version(self) -> None:
        template, version = self.current, self.query_one(VersionsTable).current
        if template is None or version is None:
            return
        if version == template.version:
            self.notify(f"{version} is already the latest version.", severity="warning")
            return
        nxt = detail.next_version(template.version)

        def answered(yes: bool | None) -> None:
            if yes:
                self._restore(template.template_id, version, template.version)

        self.app.push_screen(ConfirmScreen(
            f"Restore {template.name} {version}?",
            f"This stores {version}'s prompt, variables and settings as a new version "
            f"({nxt}); {template.version} and every other version stay as they are.",
            f"Restore as {nxt}"), answered)

    @work(exclusive=True, group="templates-write", exit_on_error=False, name="restoring")
    async def _restore(self, template_id: str, version: str, base: str) -> None:
        client = self._client()
        if client is None:
            return
        try:
            old = await self.version_body(template_id, version)
            made = await client.templates.update(  # not the name: callers may use it
                template_id, base_version=base, prompt=old.prompt, description=old.description,
                variables=old.variables, default_config=old.default_config, tags=old.tags,
                output_schema=old.output_schema, change_note=f"restored from {version}")
        except APIError as exc:
            self._error(f"Restore: {describe_error(exc)}")
            return
        self.notify(f"Restored {version} as {made.version}.")
        self.sync(select=template_id)

    def action_label_version(self) -> None:
        template, version = self.current, self.query_one(VersionsTable).current
        if template is None or version is None:
            return
        self._ask_label(template, version)

    def action_run_version(self) -> None:
        template, version = self.current, self.query_one(VersionsTable).current
        if template is not None and version is not None:
            self._run_in_playground(template.template_id, version)

    # ------------------------------------------------------------------ labels

    def _labels_hint(self, template: Template | None, labels: TemplateLabels | None) -> None:
        hint = ""
        if template is not None and labels is not None and not labels.labels:
            hint = (f"No labels yet. {self.pe.hint_key('templates.label_new')} puts one (such "
                    "as production) on a version; execute and batch take template_label.")
        elif template is not None:
            hint = (f"{self.pe.hint_key('templates.label_back')} moves a label back to where "
                    "it was (a rollback); 'latest' always means the newest version.")
        self.query_one("#labels-hint", Static).update(hint)

    @work(exclusive=True, group="templates-labels", exit_on_error=False,
          name="loading labels")
    async def _load_labels(self, template_id: str) -> None:
        client = self.pe.client_or_none()
        if client is None:
            return
        try:
            self._labels[template_id] = await client.templates.labels(template_id)
        except APIError as exc:
            self.query_one("#labels-hint", Static).update(Text(describe_error(exc)))
            return
        if self.current is not None and self.current.template_id == template_id:
            self._refresh_tab()

    def _ask_label(self, template: Template, version: str, label: str = "") -> None:
        def answered(name: str | None) -> None:
            if name:
                self._set_label(template.template_id, name, version)

        self.app.push_screen(AskScreen(
            f"Put a label on {template.name} {version}",
            "Lowercase letters, digits, '.', '_' or '-' (e.g. production). A label that "
            "exists moves here.", value=label, placeholder="production", button="Set label",
            allow_empty=False), answered)

    def action_label_new(self) -> None:
        template = self.current
        if template is not None:
            self._ask_label(template, template.version)

    def action_label_move(self) -> None:
        template, label = self.current, self.query_one(LabelsTable).current
        if template is None or label is None:
            return

        def answered(version: str | None) -> None:
            if version:
                self._set_label(template.template_id, label, version)

        self.app.push_screen(AskScreen(
            f"Move {label} of {template.name}", f"To which version? (latest is "
            f"{template.version})", value=template.version, button="Move",
            allow_empty=False), answered)

    def action_label_back(self) -> None:
        template, table = self.current, self.query_one(LabelsTable)
        label = table.current
        if template is None or label is None or table.labels is None:
            return
        row = next(r for r in table.labels.labels if r.label == label)
        if row.previous_version is None:
            self.notify(f"{label} has not moved yet: there is nothing to move it back to.",
                        severity="warning")
            return
        self._set_label(template.template_id, label, row.previous_version)

    def action_label_remove(self) -> None:
        template, label = self.current, self.query_one(LabelsTable).current
        if template is None or label is None:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._remove_label(template.template_id, label)

        self.app.push_screen(ConfirmScreen(
            f"Remove label {label}?", f"Runs that name template_label '{label}' will fail "
            "with TEMPLATE_LABEL_NOT_FOUND until it is set again.", "Remove"), answered)

    @work(exclusive=True, group="templates-write", exit_on_error=False, name="labelling")
    async def _set_label(self, template_id: str, label: str, version: str) -> None:
        client = self._client()
        if client is None:
            return
        try:
            done = await client.templates.set_label(template_id, label, version)
        except APIError as exc:
            self._error(f"Label {label}: {describe_error(exc)}")
            return
        self._error("")
        moved = f" (was {done.previous_version})" if done.previous_version else ""
        self.notify(f"{label} → {done.version}{moved}")
        await self._after_label_change(template_id)

    @work(exclusive=True, group="templates-write", exit_on_error=False, name="unlabelling")
    async def _remove_label(self, template_id: str, label: str) -> None:
        client = self._client()
        if client is None:
            return
        try:
            await client.templates.remove_label(template_id, label)
        except APIError as exc:
            self._error(f"Label {label}: {describe_error(exc)}")
            return
        self.notify(f"Removed label {label}.")
        await self._after_label_change(template_id)

    async def _after_label_change(self, template_id: str) -> None:
        await self.refetch(template_id)  # its labels; its versions show them too

    # ------------------------------------------------------------------ actions

    def action_edit(self) -> None:
        template = self.current
        if template is None:
            self.notify("Pick a template first.", severity="warning")
            return
        if template.status == "archived":
            self.notify(f"{template.name} is archived: archived templates cannot change. "
                        f"{self.pe.hint_key('templates.duplicate')} makes an active copy.",
                        severity="warning")
            return
        self._open_editor(template, duplicate=False)

    def action_new(self) -> None:
        self._open_editor(None, duplicate=False)

    def action_duplicate(self) -> None:
        template = self.current
        if template is None:
            self.notify("Pick a template to duplicate first.", severity="warning")
            return
        self._open_editor(template, duplicate=True)

    def _open_editor(self, template: Template | None, *, duplicate: bool) -> None:
        from .editor import EditTemplateScreen

        def saved(made: Template) -> None:
            self.sync(select=made.template_id)

        self.app.push_screen(EditTemplateScreen(template, duplicate=duplicate, on_saved=saved))

    def action_archive(self) -> None:
        template = self.current
        if template is None:
            return
        if template.status == "archived":
            self.notify(f"{template.name} is already archived.", severity="warning")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._archive(template.template_id)

        status_key = self.pe.hint_key("templates.status")
        self.app.push_screen(ConfirmScreen(
            f"Archive {template.name}?",
            "It stops running (execute answers TEMPLATE_ARCHIVED) and cannot change; its "
            f"versions and history stay readable, and {status_key} shows archived templates.",
            "Archive"), answered)

    @work(exclusive=True, group="templates-write", exit_on_error=False, name="archiving")
    async def _archive(self, template_id: str) -> None:
        client = self._client()
        if client is None:
            return
        try:
            done = await client.templates.delete(template_id)
        except APIError as exc:
            self._error(f"Archive: {describe_error(exc)}")
            return
        self._error("")
        self.notify(f"Archived {done.name}.")
        self.sync(select=template_id)

    def action_run(self) -> None:
        template = self.current
        if template is not None:
            self._run_in_playground(template.template_id, template.version)

    def _run_in_playground(self, template_id: str, version: str) -> None:
        self.run_worker(self.pe.open_template_version(template_id, version),
                        group="templates-run", exit_on_error=False, name="opening the Playground")

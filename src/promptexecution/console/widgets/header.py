"""The two lines at the top of every mode: the session line and the tab strip of the modes."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.markup import escape
from textual.widgets import Static

from ..session import SessionStatus

if TYPE_CHECKING:
    from ..app import PeApp

STATE_WORDS = {
    "connecting": "◌ connecting",
    "connected": "● connected",
    "offline": "○ offline, retrying",
    "unauthorized": "✗ key refused",
}


def describe(status: SessionStatus) -> list[tuple[str, str]]:
    """The header's parts as (text, css-variable-ish style name) pairs."""
    parts: list[tuple[str, str]] = [(status.profile, "profile")]
    parts.append((status.base_url or "embedded server", "url"))
    parts.append((STATE_WORDS[status.state], f"state-{status.state}"))
    if status.plan:
        parts.append((status.plan, "plan"))
    if status.unlimited:
        parts.append(("unlimited requests/h", "limit"))
    elif status.hourly_remaining is not None:
        parts.append((f"{status.hourly_remaining:,} requests/h left", "limit"))
    parts.append((f"${status.cost:.4f} this session", "cost"))
    return parts


class SessionLine(Static):
    """profile · base URL · state · plan · hourly remaining · session cost."""

    DEFAULT_CSS = """
    SessionLine { height: 1; width: 1fr; }
    """

    def on_mount(self) -> None:
        app = cast("PeApp", self.app)
        self.watch(app, "status", self._show, init=True)

    def _show(self, status: SessionStatus) -> None:
        styles = {"profile": "bold $primary", "state-connected": "$success",
                  "state-connecting": "$warning", "state-offline": "$error",
                  "state-unauthorized": "$error", "cost": "$cost", "url": "$text-muted"}
        line = "[bold reverse $primary] pe [/]"
        for value, kind in describe(status):
            style = styles.get(kind)
            line += f"  [{style}]{escape(value)}[/]" if style else f"  {escape(value)}"
        if status.message and status.state != "connected":
            line += f"  [$text-muted]{escape(status.message)}[/]"
        self.update(line)
        self.tooltip = status.message or None


class ModeTabs(Static):
    """The modes, each with its key; the current one stands out. Clicking switches."""

    DEFAULT_CSS = """
    ModeTabs { height: 1; width: 1fr; }
    """

    def on_mount(self) -> None:
        self.watch(self.app, "current_mode", self._show, init=True)

    def _show(self, current: str) -> None:
        app = cast("PeApp", self.app)
        chunks = []
        for mode, label in app.MODE_LABELS.items():
            key = app.key_for(f"mode.{mode}")
            chunk = f" {key.upper()} {label} " if key else f" {label} "
            if mode == current:
                chunks.append(f"[bold reverse $primary]{chunk}[/]")
            else:
                chunks.append(f"[@click=app.switch_mode('{mode}')]{chunk}[/]")
        self.update(" ".join(chunks))

"""The two lines at the top of every mode: the session line and the tab strip of the modes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, cast

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


@dataclass(frozen=True)
class Part:
    text: str
    kind: str  # the style's name in SessionLine.STYLES
    short: str | None = None  # what it abbreviates to when the line is narrow


def describe(status: SessionStatus) -> list[Part]:
    """The header's parts, in the order shown."""
    url = status.base_url or "embedded server"
    parts = [Part(status.profile, "profile"),
             Part(url, "url", re.sub(r"^\w+://|/v2/?$", "", url)),
             Part(STATE_WORDS[status.state], f"state-{status.state}")]
    if status.plan:
        parts.append(Part(status.plan, "plan"))
    if status.unlimited:
        parts.append(Part("unlimited requests/h", "limit", "∞/h"))
    elif status.hourly_remaining is not None:
        parts.append(Part(f"{status.hourly_remaining:,} requests/h left", "limit",
                          f"{status.hourly_remaining:,}/h"))
    if status.burst_remaining is not None:
        parts.append(Part(f"{status.burst_remaining:,} burst left", "burst",
                          f"{status.burst_remaining:,} burst"))
    parts.append(Part(f"${status.cost:.4f} this session", "cost", f"${status.cost:.4f}"))
    if status.message and status.state != "connected":
        parts.append(Part(status.message, "message", ""))
    return parts


# How a narrow header gives way, step by step, until it fits: the message and the URL go
# first; the state, the profile, the limits and the cost stay to 80 columns and below.
NARROWING: tuple[tuple[str, str], ...] = (
    ("message", "drop"), ("url", "short"), ("limit", "short"), ("burst", "short"),
    ("cost", "short"), ("plan", "drop"), ("url", "drop"), ("burst", "drop"),
)
LOGO = " pe "
GAP = "  "


def fit(parts: list[Part], width: int) -> list[tuple[str, str]]:
    """The parts as (text, kind), narrowed by NARROWING until the line fits `width`."""
    shown = [(p.text, p.kind) for p in parts]

    def length() -> int:
        return len(LOGO) + sum(len(GAP) + len(text) for text, _ in shown)

    for kind, how in NARROWING:
        if length() <= width:
            break
        for i, part in enumerate(parts):
            if part.kind == kind and shown[i][0]:
                shown[i] = ("" if how == "drop" else (part.short or part.text), kind)
    return [(text, kind) for text, kind in shown if text]


class SessionLine(Static):
    """profile · base URL · state · plan · hourly and burst remaining · session cost; it
    abbreviates to fit the terminal (see NARROWING)."""

    DEFAULT_CSS = """
    SessionLine { height: 1; width: 1fr; }
    """
    STYLES: ClassVar[dict[str, str]] = {
        "profile": "bold $primary", "state-connected": "$success",
        "state-connecting": "$warning", "state-offline": "$error",
        "state-unauthorized": "$error", "cost": "$cost", "url": "$text-muted",
        "message": "$text-muted"}

    def on_mount(self) -> None:
        app = cast("PeApp", self.app)
        self.watch(app, "status", self._show, init=True)

    def on_resize(self) -> None:
        self._show(cast("PeApp", self.app).status)

    def _show(self, status: SessionStatus) -> None:
        line = f"[bold reverse $primary]{LOGO}[/]"
        for value, kind in fit(describe(status), self.size.width or 200):
            style = self.STYLES.get(kind)
            line += f"{GAP}[{style}]{escape(value)}[/]" if style else f"{GAP}{escape(value)}"
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
            chunk = escape(f" {key.upper()} {label} " if key else f" {label} ")
            if mode == current:
                chunks.append(f"[bold reverse $primary]{chunk}[/]")
            else:
                chunks.append(f"[@click=app.switch_mode('{mode}')]{chunk}[/]")
        self.update(" ".join(chunks))

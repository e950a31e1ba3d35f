"""How one template reads in the detail pane: its head line, the prompt highlighted as Jinja,
the variables as a table, its settings, and its per-version figures."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ...widgets.jinja_editor import jinja_text

if TYPE_CHECKING:
    from ....models import Template, TemplateStats


def head(template: Template) -> Text:
    text = Text()
    text.append(template.name, style="bold")
    text.append(f"  v{template.version}", style="bold")
    if template.status == "archived":
        text.append("  archived", style="bold reverse")
    for label, version in sorted(template.labels.items()):
        text.append(f"  {label}→{version}", style="italic")
    if template.description:
        text.append(f"\n{template.description}", style="dim")
    if template.change_note:
        text.append(f"\nnote: {template.change_note}", style="dim italic")
    return text


def prompt(template: Template, variables: dict[str, str]) -> Text:
    return jinja_text(template.prompt, variables)


def _value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def variables_table(template: Template) -> RenderableType:
    if not template.variables:
        return Text("no variables", style="dim")
    table = Table(box=None, padding=(0, 1), expand=False, show_edge=False,
                  header_style="bold")
    for column in ("name", "type", "req"):
        table.add_column(column, no_wrap=True)
    for column in ("default", "description"):
        table.add_column(column, overflow="fold", min_width=len(column))
    for var in template.variables:
        table.add_row(*(Text(cell) for cell in (  # Text: a default may hold "[/]"
            str(var.get("name", "")), str(var.get("type", "string")),
            "yes" if var.get("required") else "", _value(var.get("default")),
            str(var.get("description") or ""))))
    return table


def settings(template: Template) -> Text:
    config = template.default_config or {}
    text = Text()
    shown = ", ".join(f"{k}={_value(v)}" for k, v in config.items()) or "server defaults"
    text.append("model config: ", style="bold")
    text.append(shown)
    text.append("\nresponse format: ", style="bold")
    text.append(str(config.get("response_format") or "text"))
    text.append("\ntags: ", style="bold")
    text.append(", ".join(template.tags) or "none")
    if template.output_schema is not None:
        text.append("\noutput schema: ", style="bold")
        text.append(json.dumps(template.output_schema, ensure_ascii=False, indent=1))
    return text


def stats_table(stats: TemplateStats | None, loading: bool) -> RenderableType:
    if stats is None:
        return Text("loading figures…" if loading else "", style="dim")
    table = Table(box=None, padding=(0, 1), show_edge=False, header_style="bold")
    for column in ("version", "runs", "failed", "p50", "p95", "avg cost"):
        table.add_column(column, justify="right" if column != "version" else "left")
    for row in reversed(stats.versions):
        rate = f"{row.failure_rate:.0%}" if row.failure_rate is not None else "–"
        table.add_row(
            row.version, f"{row.executions:,}", rate,
            f"{row.latency_p50:.2f}s" if row.latency_p50 is not None else "–",
            f"{row.latency_p95:.2f}s" if row.latency_p95 is not None else "–",
            f"${row.average_cost:.5f}" if row.average_cost is not None else "–",
        )
    return Group(Text("per version (from the server)", style="bold"), table)


def document(template: Template) -> tuple[str, str]:
    """A version as two texts to diff: its prompt, and everything else one fact per line."""
    lines = [f"name: {template.name}", f"description: {template.description or ''}",
             f"tags: {', '.join(template.tags)}"]
    for var in template.variables:
        parts = [f"type={var.get('type', 'string')}"]
        if var.get("required"):
            parts.append("required")
        if var.get("default") is not None:
            parts.append(f"default={_value(var['default'])}")
        if var.get("description"):
            parts.append(f"description={var['description']}")
        lines.append(f"variable {var.get('name')}: {' '.join(parts)}")
    for key, value in sorted((template.default_config or {}).items()):
        lines.append(f"model_config.{key}: {_value(value)}")
    if template.output_schema is not None:
        lines += ["output_schema:"] + json.dumps(template.output_schema, indent=2,
                                                 ensure_ascii=False).splitlines()
    return template.prompt, "\n".join(lines)


def next_version(current: str) -> str:
    """The version the server makes next (1.2 -> 1.3), to say it before saving."""
    major, _, minor = current.partition(".")
    return f"{major}.{int(minor or 0) + 1}" if minor.isdigit() or not minor else current

"""How one execution reads: the table's cells, the detail's sections, and the parts a user
can copy or compare. Everything from the server is Text (never markup)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.console import Group, RenderableType
from rich.markdown import Markdown
from rich.rule import Rule
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from ....history_cells import TITLES, cells, cost, readable, seconds
from ...theming import theme_colour
from ...widgets.virtual_table import Cell, Column

if TYPE_CHECKING:
    from ....client.types import ExecutionResult
    from ....models import ExecutionSummary

_TIME, _STATUS, _SOURCE, _MODEL, _TOKENS, _COST, _LATENCY, _OUTPUT = TITLES
COLUMNS = (
    Column(_TIME, 12),
    Column(_STATUS, 9),
    Column(_SOURCE, 0, max_width=30),
    Column(_MODEL, 12, hide_below=110),
    Column(_TOKENS, 7, align="right", hide_below=95),
    Column(_COST, 9, align="right", hide_below=70),
    Column(_LATENCY, 7, align="right"),
    Column(_OUTPUT, 0),
)
STATUS_COLOURS = {"completed": "success", "failed": "error", "cancelled": "warning",
                  "processing": "accent"}
MARKDOWN_LIMIT = 50_000  # characters; longer outputs show as plain text (rendering is slow)


def status_style(status: str, variables: dict[str, str]) -> str:
    """The theme's `status-<name>` colour, else its success/error/warning/accent one."""
    fallback = theme_colour(variables, STATUS_COLOURS.get(status, "foreground"), "")
    return theme_colour(variables, f"status-{status}", fallback)


def row_cells(row: ExecutionSummary, names: dict[str, str], variables: dict[str, str],
              now: datetime) -> list[Cell]:
    plain = cells(row, names, now)
    status = status_style(row.status, variables)
    output = Text(plain[7], style=status if row.status == "failed" else "")  # never markup
    return [*plain[:1], Text(row.status, style=status), *plain[2:7], output]


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True)


def head(execution: ExecutionResult, template_name: str | None,
         variables: dict[str, str]) -> Text:
    meta = execution.metadata
    text = Text()
    colour = status_style(execution.status, variables)
    text.append(execution.status, style=f"bold {colour}")
    text.append(f"  {execution.execution_id}", style="bold")
    if execution.template_id:
        text.append(f"\n{readable(template_name or execution.template_id)}")
        if execution.template_version:
            text.append(f" @ {execution.template_version}")
    else:
        text.append("\nraw prompt")
    lines = [("created", execution.created_at),
             ("model", getattr(meta, "model", None)),
             ("tokens", f"{getattr(meta, 'tokens_used', 0):,} "
                        f"({getattr(meta, 'input_tokens', None)} in, "
                        f"{getattr(meta, 'output_tokens', None)} out)"),
             ("cost", cost(getattr(meta, "cost", None))),
             ("latency", seconds(getattr(meta, "execution_time", None))),
             ("first token", seconds(getattr(meta, "time_to_first_token", None))),
             ("batch", execution.batch_id),
             ("request id", execution.request_id)]
    for label, value in lines:
        if value not in (None, "", "–"):
            text.append(f"\n{label}: ", style="dim")
            text.append(str(value))
    return text


def error_block(execution: ExecutionResult, variables: dict[str, str]) -> Text | None:
    error = execution.error
    if error is None:
        return None
    text = Text(readable(f"{error.code}: {error.message}"),
                style=f"bold {theme_colour(variables, 'error', 'red')}")
    request_id = error.request_id or execution.request_id
    if request_id:
        text.append(f"\nrequest id: {request_id}", style="dim")
    return text


def output(execution: ExecutionResult) -> RenderableType:
    content = execution.content or ""
    if not content:
        return Text("(no output)", style="dim")
    response_format = getattr(execution.metadata, "response_format", "text")
    if response_format in ("json", "structured"):
        try:
            return Syntax(_json(json.loads(content)), "json", word_wrap=True,
                          background_color="default")
        except ValueError:
            return Text(readable(content))
    if len(content) > MARKDOWN_LIMIT:
        return Text(readable(content))
    return Markdown(readable(content))


def settings(execution: ExecutionResult) -> RenderableType:
    meta = execution.metadata
    table = Table(box=None, padding=(0, 1), show_header=False, show_edge=False)
    table.add_column(style="dim", no_wrap=True)
    table.add_column(overflow="fold")
    used = getattr(meta, "variables_used", None) or {}
    for name, value in used.items():
        table.add_row(Text(f"{{{{ {readable(name)} }}}}"),
                      Text(readable(value) if isinstance(value, str) else _json(value)))
    config = (meta.model_settings if meta else None) or {}
    for key, value in sorted(config.items()):
        table.add_row(Text(readable(key)),
                      Text(readable(value) if isinstance(value, str) else _json(value)))
    table.add_row(Text("response format"), Text(str(getattr(meta, "response_format", "text"))))
    return table


def sections(execution: ExecutionResult, template_name: str | None,
             variables: dict[str, str]) -> list[tuple[str, RenderableType]]:
    """(title, body) in reading order."""
    parts: list[tuple[str, RenderableType]] = [("", head(execution, template_name, variables))]
    problem = error_block(execution, variables)
    if problem is not None:
        parts.append(("error", problem))
    parts.append(("output", output(execution)))
    parts.append(("rendered prompt", Text(readable(execution.rendered_prompt or ""))))
    parts.append(("variables and settings", settings(execution)))
    return parts


def whole(execution: ExecutionResult, template_name: str | None,
          variables: dict[str, str]) -> Group:
    """The sections one after another under their titles: the detail pane's content."""
    shown: list[RenderableType] = []
    for title, part in sections(execution, template_name, variables):
        if title:
            shown.append(Rule(title, align="left", style="dim"))
        shown.append(part)
    return Group(*shown)


def copyable(execution: ExecutionResult) -> list[tuple[str, str]]:
    """(what, text) a user may copy."""
    meta = execution.metadata
    parts = [("output", execution.content or ""),
             ("rendered prompt", execution.rendered_prompt or ""),
             ("variables (JSON)", _json(getattr(meta, "variables_used", None) or {})),
             ("model settings (JSON)", _json((meta.model_settings if meta else None) or {})),
             ("execution id", execution.execution_id),
             ("whole execution (JSON)", execution.model_dump_json(indent=2, by_alias=True))]
    if execution.request_id:
        parts.insert(5, ("request id", execution.request_id))
    return [(what, text) for what, text in parts if text]


def comparable(execution: ExecutionResult,
               template_name: str | None) -> tuple[str, str, str]:
    """(output, prompt, everything else one fact per line), for a side-by-side diff."""
    meta = execution.metadata
    template = template_name or execution.template_id
    version = f" @ {execution.template_version}" if execution.template_version else ""
    source = f"{template}{version}" if template else "(raw prompt)"
    facts = [f"status: {execution.status}", f"template: {source}",
             f"model: {getattr(meta, 'model', '')}",
             f"tokens: {getattr(meta, 'tokens_used', 0)}",
             f"cost: {cost(getattr(meta, 'cost', None))}",
             f"latency: {seconds(getattr(meta, 'execution_time', None))}"]
    for name, value in sorted((getattr(meta, "variables_used", None) or {}).items()):
        facts.append(f"variable {name}: {value if isinstance(value, str) else _json(value)}")
    for key, value in sorted(((meta.model_settings if meta else None) or {}).items()):
        facts.append(f"setting {key}: {value if isinstance(value, str) else _json(value)}")
    return execution.content or "", execution.rendered_prompt or "", "\n".join(facts)



"""Render preview: what a template, stored or being edited, renders to with given values, and
every problem an author should see while typing: syntax errors with line and column, names
used but not declared, declared but not used, missing or mistyped values.

It renders in the same sandbox, under the same limits, as execute, but runs no model and
spends no hourly or burst quota (core/middleware.counts_as_work), so an editor may call it
on every pause in typing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ...models import TemplatePreview, TemplatePreviewRequest
from ..core.errors import ApiError, validation
from ..core.http import ctx_of, json_response, parse_body, principal_of
from ..core.openapi import body_schema, errors
from .labels import labelled_version
from .rendering import check_text, resolve_variables
from .routes import check_variables, find_or_404, no_such_version

if TYPE_CHECKING:
    from ..context import ServerContext

router = APIRouter()
PATH = "/v2/preview"
PREVIEWS_PER_ACCOUNT = 2  # an editor runs one at a time; more is a flood of free renders


def _problem(error: ApiError, **extra: Any) -> dict[str, Any]:
    details = error.details or {}
    found = {"code": error.code, "message": error.message}
    for key in ("line", "column", "variable"):
        if isinstance(details.get(key), int | str):
            found[key] = details[key]
    return {**found, **extra}


def _raise_if_not_the_template(error: ApiError) -> None:
    """Busy or broken render workers (503 RENDERER_BUSY, with Retry-After) are the server's
    state, not a problem of the template: answered as execute answers them, so an editor
    does not tell its author the template is invalid."""
    if error.status >= 500:
        raise error


def _source(ctx: ServerContext, account_id: str, body: TemplatePreviewRequest
            ) -> tuple[str, list[dict[str, Any]] | None]:
    """The text to render and the variables it declares (None: those of `template_variables`)."""
    if body.template_id is None:
        if body.template_version is not None or body.template_label is not None:
            raise validation("INVALID_FIELD", "A version or label needs a 'template_id'",
                             field="template_id")
        if body.prompt is None:
            raise validation("MISSING_REQUIRED_FIELD",
                             "The 'template_id' or 'prompt' field is required", field="prompt")
        return body.prompt, None
    if body.template_version is not None and body.template_label is not None:
        raise validation("CONFLICTING_FIELDS",
                         "Give 'template_version' or 'template_label', not both",
                         field="template_label")
    current = find_or_404(ctx, account_id, body.template_id)
    version = body.template_version
    if body.template_label is not None:
        version = labelled_version(ctx.templates, current, body.template_label)
    stored = current
    if version is not None and version != current.version:
        found = ctx.templates.get_template(account_id, current.id, version)
        if found is None:
            raise no_such_version(current, version)
        stored = found
    return body.prompt if body.prompt is not None else stored.prompt, stored.variables


@router.post(
    PATH,
    tags=["templates"],
    summary="Render a template without running it",
    response_model=TemplatePreview,
    responses=errors(404),
    openapi_extra=body_schema(TemplatePreviewRequest),
)
async def preview_template(request: Request) -> Response:
    ctx = ctx_of(request)
    account_id = principal_of(request).account.id
    body, _ = await parse_body(request, TemplatePreviewRequest)
    source, stored_variables = _source(ctx, account_id, body)
    running = ctx.previews.get(account_id, 0)
    if running >= PREVIEWS_PER_ACCOUNT:
        raise ApiError(
            "rate_limit_error", "CONCURRENT_LIMIT_EXCEEDED",
            f"{running} previews of this account are rendering; a preview spends no quota, so "
            f"at most {PREVIEWS_PER_ACCOUNT} run at once. Retry in a second",
            details={"limit": PREVIEWS_PER_ACCOUNT, "retry_after": 1},
            headers={"Retry-After": "1"})
    ctx.previews[account_id] = running + 1
    try:
        return await _preview(ctx, account_id, body, source, stored_variables)
    finally:
        left = ctx.previews.get(account_id, 1) - 1
        if left > 0:
            ctx.previews[account_id] = left
        else:
            ctx.previews.pop(account_id, None)


async def _preview(ctx: ServerContext, account_id: str, body: TemplatePreviewRequest,
                   source: str, stored_variables: list[dict[str, Any]] | None) -> Response:
    problems: list[dict[str, Any]] = []
    declared: list[dict[str, Any]] = stored_variables or []
    if body.template_variables is not None:
        try:
            declared = check_variables(body.template_variables)
        except ApiError as error:
            problems.append(_problem(error))
            declared = [v.model_dump(exclude_none=True) for v in body.template_variables]
    provided = body.variables or {}
    result: dict[str, Any] = {"rendered_prompt": None, "variables_used": [],
                              "undeclared_variables": [], "unused_variables": [],
                              "missing_variables": []}
    try:
        referenced = await ctx.renderer.referenced(source, account_id)
    except ApiError as error:  # it cannot compile: the syntax error is the answer
        _raise_if_not_the_template(error)
        problems.append(_problem(error))
        return json_response({"valid": False, **result, "problems": problems})
    names = {v["name"] for v in declared}
    result["variables_used"] = sorted(referenced)
    result["undeclared_variables"] = sorted(referenced - names)
    result["unused_variables"] = sorted(names - referenced)
    for name in result["undeclared_variables"]:
        problems.append({"code": "UNDECLARED_VARIABLE", "variable": name,
                         "message": f"'{name}' is used but not declared"})
    for name in result["unused_variables"]:
        problems.append({"code": "UNUSED_VARIABLE", "variable": name,
                         "message": f"'{name}' is declared but never used"})
    try:
        values = resolve_variables(declared, provided, referenced)
        rendered = await ctx.renderer.render(source, values, account_id)
        check_text(rendered)
        result["rendered_prompt"] = rendered
    except ApiError as error:
        _raise_if_not_the_template(error)
        missing = (error.details or {}).get("missing_variables")
        if isinstance(missing, list):
            result["missing_variables"] = missing
        problems.append(_problem(error))
    # Undeclared and unused names are warnings: such a template still runs.
    blocking = [p for p in problems if p["code"] not in ("UNDECLARED_VARIABLE", "UNUSED_VARIABLE")]
    return json_response({"valid": not blocking, **result, "problems": problems})

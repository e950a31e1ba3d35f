"""Templates: create, list, read, update (a new immutable version), archive, and versions."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from ...models import TemplateCreate, TemplateUpdate, TemplateVariable
from ..core.clock import from_micros, iso, to_micros
from ..core.errors import ApiError, conflict, not_found, validation
from ..core.http import (
    ctx_of,
    json_response,
    pagination,
    parse_body,
    principal_of,
    public_base,
)
from ..core.idempotency import Idempotency
from ..core.jsonfast import dumps
from ..core.openapi import body_schema, errors
from .rendering import json_type_name
from .store import TemplateRecord

if TYPE_CHECKING:
    from ..context import ServerContext

router = APIRouter()

_TYPE_OK = {
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


def template_json(
    record: TemplateRecord, base: str, labels: list[sqlite3.Row] | None = None
) -> dict[str, Any]:
    """The wire form; `labels` are the template's (TemplateStore.labels)."""
    return {
        "template_id": record.id,
        "name": record.name,
        "description": record.description,
        "version": record.version,
        "status": record.status,
        "prompt": record.prompt,
        "variables": record.variables,
        "default_config": record.default_config,
        "tags": record.tags,
        "output_schema": record.output_schema,
        "change_note": record.change_note,
        "labels": {row["label"]: row["version"] for row in labels or ()},
        "created_at": iso(from_micros(record.created_us)),
        "updated_at": iso(from_micros(record.updated_us)),
        "url": f"{base}/templates/{record.id}",
    }


def check_variables(variables: list[TemplateVariable]) -> list[dict[str, Any]]:
    seen: set[str] = set()
    out = []
    for var in variables:
        if var.name in seen:
            raise validation(
                "DUPLICATE_VARIABLE",
                f"Variable '{var.name}' is declared twice",
                variable=var.name,
            )
        seen.add(var.name)
        if var.default is not None:
            ok = isinstance(var.default, _TYPE_OK[var.type]) and not (
                var.type in ("number", "integer") and isinstance(var.default, bool)
            )
            if not ok:
                raise validation(
                    "INVALID_VARIABLE_DEFAULT",
                    f"The default of '{var.name}' must be of type {var.type}, "
                    f"got {json_type_name(var.default)}",
                    variable=var.name,
                )
        out.append(var.model_dump(exclude_none=True))
    return out


def _check_tags(tags: list[str]) -> list[str]:
    for tag in tags:
        if not isinstance(tag, str) or not 1 <= len(tag) <= 50:
            raise validation("INVALID_FIELD", "Tags must be strings of 1 to 50 characters",
                             field="tags")
    return list(dict.fromkeys(tags))


def _check_config(ctx: ServerContext, config: Any) -> dict[str, Any] | None:
    if config is None:
        return None
    data: dict[str, Any] = config.model_dump(exclude_none=True)
    if "model" in data:
        ctx.catalog.get(data["model"])
    return data


def _next_version(current: str) -> str:
    major, _, minor = current.partition(".")
    return f"{major}.{int(minor or 0) + 1}"


def no_such_version(template: TemplateRecord, version: str) -> ApiError:
    return not_found("TEMPLATE_VERSION_NOT_FOUND",
                     f"Template '{template.name}' has no version '{version}'",
                     template_id=template.id, version=version)


def find_or_404(ctx: ServerContext, account_id: str, template_id: str) -> TemplateRecord:
    record = ctx.templates.get_template(account_id, template_id)
    if record is None:
        raise not_found(
            "TEMPLATE_NOT_FOUND", f"Template '{template_id}' was not found",
            template_id=template_id,
        )
    return record


def refuse_if_archived(record: TemplateRecord, asked: str) -> None:
    """An archived template cannot change: not its content, not its labels."""
    if record.status != "active":
        raise not_found(
            "TEMPLATE_ARCHIVED",
            f"Template '{asked}' was deleted (archived) and cannot be changed",
            template_id=record.id,
        )


@router.post(
    "/v2/templates",
    tags=["templates"],
    summary="Create a template",
    status_code=201,
    responses=errors(403, 409),
    openapi_extra=body_schema(TemplateCreate),
)
async def create_template(request: Request) -> Response:
    ctx = ctx_of(request)
    principal = principal_of(request, "templates")
    body, raw = await parse_body(request, TemplateCreate)
    account_id = principal.account.id
    # The SDK retries a POST whose answer was lost: replay the first answer, not a 409.
    idempotency = Idempotency(ctx, request, account_id, "POST /v2/templates", raw)
    previous = idempotency.previous()
    if previous is not None:
        return Response(previous[1], status_code=previous[0], media_type="application/json",
                        headers={"Idempotent-Replayed": "true"})
    await ctx.renderer.check(body.prompt, account_id)
    if ctx.templates.active_name_taken(account_id, body.name):
        raise conflict(
            "TEMPLATE_NAME_TAKEN",
            f"A template named '{body.name}' already exists; update it with "
            "PUT /v2/templates/{id} or choose another name",
            name=body.name,
        )
    now = to_micros(ctx.clock())
    record = TemplateRecord(
        id=ctx.ids.new("tmpl"),
        account_id=account_id,
        name=body.name,
        status="active",
        version="1.0",
        prompt=body.prompt,
        description=body.description,
        variables=check_variables(body.variables),
        default_config=_check_config(ctx, body.default_config),
        tags=_check_tags(body.tags),
        output_schema=body.output_schema,
        created_us=now,
        updated_us=now,
        change_note=body.change_note,
    )
    ctx.templates.insert_template(record)
    payload = template_json(record, public_base(request))
    idempotency.remember(201, dumps(payload))
    return json_response(payload, status=201)


@router.get("/v2/templates", tags=["templates"], summary="List templates")
async def list_templates(
    request: Request,
    q: str | None = Query(None, max_length=200, description="Text in name, description or tags"),
    tag: str | None = Query(None, max_length=50),
    status: Literal["active", "archived", "all"] = "active",
    limit: int = Query(20, ge=1, le=100),
    offset: int = Query(0, ge=0, le=10_000_000),
    sort: Literal["name", "updated"] = Query("name", description="updated: newest change first"),
) -> Response:
    ctx = ctx_of(request)
    principal = principal_of(request)
    records, total = ctx.templates.list_templates(
        principal.account.id,
        q=q,
        tag=tag,
        status=None if status == "all" else status,
        limit=limit,
        offset=offset,
        newest_first=sort == "updated",
    )
    base = public_base(request)
    labels = ctx.templates.labels([r.id for r in records])
    return json_response(
        {
            "templates": [template_json(r, base, labels[r.id]) for r in records],
            "pagination": pagination(total, limit, offset, len(records)),
        }
    )


@router.get("/v2/templates/{template_id}", tags=["templates"], summary="Get a template")
async def get_template(request: Request, template_id: str) -> Response:
    ctx = ctx_of(request)
    principal = principal_of(request)
    return _one(ctx, request, find_or_404(ctx, principal.account.id, template_id))


def _one(ctx: ServerContext, request: Request, record: TemplateRecord) -> Response:
    labels = ctx.templates.labels([record.id])[record.id]
    return json_response(template_json(record, public_base(request), labels))


@router.put(
    "/v2/templates/{template_id}",
    tags=["templates"],
    summary="Store a new version of a template",
    responses=errors(403, 409),
    openapi_extra=body_schema(TemplateUpdate),
)
async def update_template(request: Request, template_id: str) -> Response:
    ctx = ctx_of(request)
    principal = principal_of(request, "templates")
    body, _ = await parse_body(request, TemplateUpdate)
    account_id = principal.account.id
    find_or_404(ctx, account_id, template_id)  # an unknown template is a 404 before any work
    if body.prompt is not None:
        await ctx.renderer.check(body.prompt, account_id)
    # Read the current version only after the last await: from here to the write nothing
    # yields, so two PUTs at once make 1.1 and 1.2, never two 1.1s.
    current = find_or_404(ctx, account_id, template_id)
    refuse_if_archived(current, template_id)
    if body.base_version is not None and body.base_version != current.version:
        raise conflict(
            "VERSION_CONFLICT",
            f"'{current.name}' is at version {current.version} now, not {body.base_version}, "
            "which this edit began from: someone saved a newer version. Compare them, then "
            f"save again with base_version {current.version} to store yours on top",
            current_version=current.version, base_version=body.base_version,
        )
    given = body.model_fields_set
    if body.name is not None and ctx.templates.active_name_taken(account_id, body.name, current.id):
        raise conflict(
            "TEMPLATE_NAME_TAKEN", f"A template named '{body.name}' already exists",
            name=body.name,
        )
    updated = TemplateRecord(
        id=current.id,
        account_id=account_id,
        name=body.name if body.name is not None else current.name,
        status="active",
        version=current.version,
        prompt=body.prompt if body.prompt is not None else current.prompt,
        description=body.description if "description" in given else current.description,
        variables=(
            check_variables(body.variables) if body.variables is not None else current.variables
        ),
        default_config=(
            _check_config(ctx, body.default_config)
            if "default_config" in given
            else current.default_config
        ),
        tags=_check_tags(body.tags) if body.tags is not None else current.tags,
        output_schema=body.output_schema if "output_schema" in given else current.output_schema,
        created_us=current.created_us,
        updated_us=current.updated_us,
    )
    if updated.body() != current.body():  # an identical PUT stores no new version
        updated.version = _next_version(current.version)
        updated.updated_us = to_micros(ctx.clock())
        updated.change_note = body.change_note
        ctx.templates.add_template_version(updated)
    else:
        updated.change_note = current.change_note
    return _one(ctx, request, updated)


@router.delete("/v2/templates/{template_id}", tags=["templates"], summary="Archive a template",
               responses=errors(403))
async def delete_template(request: Request, template_id: str) -> Response:
    ctx = ctx_of(request)
    principal = principal_of(request, "templates")
    record = find_or_404(ctx, principal.account.id, template_id)
    if record.status != "archived":
        now = to_micros(ctx.clock())
        ctx.templates.set_template_status(record.id, "archived", now)
        record.status, record.updated_us = "archived", now
    return _one(ctx, request, record)


@router.get(
    "/v2/templates/{template_id}/versions", tags=["templates"], summary="List versions"
)
async def list_versions(request: Request, template_id: str) -> Response:
    ctx = ctx_of(request)
    principal = principal_of(request)
    record = find_or_404(ctx, principal.account.id, template_id)
    versions = ctx.templates.list_template_versions(record.id)
    labelled: dict[str, list[str]] = {}
    for row in ctx.templates.labels([record.id])[record.id]:
        labelled.setdefault(row["version"], []).append(row["label"])
    return json_response(
        {
            "template_id": record.id,
            "current_version": record.version,
            "versions": [
                {
                    "version": version,
                    "created_at": iso(from_micros(created_us)),
                    "name": body["name"],
                    "description": body.get("description"),
                    "change_note": note,
                    "labels": labelled.get(version, []),
                }
                for version, created_us, body, note in versions
            ],
        }
    )


@router.get(
    "/v2/templates/{template_id}/versions/{version}",
    tags=["templates"],
    summary="Get one version",
)
async def get_version(request: Request, template_id: str, version: str) -> Response:
    ctx = ctx_of(request)
    principal = principal_of(request)
    current = find_or_404(ctx, principal.account.id, template_id)
    record = ctx.templates.get_template(principal.account.id, current.id, version)
    if record is None:
        raise not_found(
            "TEMPLATE_VERSION_NOT_FOUND",
            f"Template '{template_id}' has no version '{version}'",
            template_id=current.id,
            version=version,
        )
    return _one(ctx, request, record)

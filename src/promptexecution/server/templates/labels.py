"""Labels: names such as `production` that point at one version of a template, so a caller
runs `template_label: "production"` and an author moves what that means without a deploy.
Beyond the spec (Langfuse has them); `latest` is reserved and always means the current version.
"""

from __future__ import annotations

import re
import sqlite3
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ...models import LABEL_PATTERN, LATEST_LABEL, LabelSet, TemplateLabel, TemplateLabels
from ..core.clock import from_micros, iso, to_micros
from ..core.errors import ApiError, not_found, validation
from ..core.http import ctx_of, json_response, parse_body, principal_of
from ..core.openapi import body_schema, errors
from .routes import find_or_404, no_such_version, refuse_if_archived
from .store import TemplateRecord, TemplateStore

if TYPE_CHECKING:
    from ..context import ServerContext

router = APIRouter()
MAX_LABELS = 100  # every read of the template carries them all
_LABEL = re.compile(LABEL_PATTERN)


def check_label(label: str) -> str:
    if not _LABEL.match(label):
        raise validation(
            "INVALID_LABEL",
            "A label is 1 to 50 lowercase letters, digits, '_', '.' or '-', starting with a "
            "letter or digit",
            label=label[:60],
        )
    return label


def labelled_version(store: TemplateStore, template: TemplateRecord, label: str) -> str:
    """The version `label` points at; a 404 in the spec's shape when it points nowhere."""
    if label == LATEST_LABEL:
        return template.version
    version = store.label_version(template.id, label)
    if version is None:
        raise no_such_label(template, label)
    return version


def no_such_label(template: TemplateRecord, label: str) -> ApiError:
    return not_found("TEMPLATE_LABEL_NOT_FOUND",
                     f"Template '{template.name}' has no label '{label[:60]}'",
                     template_id=template.id, label=label[:60])


def label_json(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "label": row["label"],
        "version": row["version"],
        "previous_version": row["previous_version"],
        "updated_at": iso(from_micros(row["updated_us"])),
    }


def _labels_of(ctx: ServerContext, template_id: str) -> list[sqlite3.Row]:
    return ctx.templates.labels([template_id])[template_id]


@router.get("/v2/templates/{template_id}/labels", tags=["templates"], summary="List labels",
            response_model=TemplateLabels)
async def list_labels(request: Request, template_id: str) -> Response:
    ctx = ctx_of(request)
    record = find_or_404(ctx, principal_of(request).account.id, template_id)
    return json_response({"template_id": record.id,
                          "labels": [label_json(r) for r in _labels_of(ctx, record.id)]})


@router.put(
    "/v2/templates/{template_id}/labels/{label}",
    tags=["templates"],
    summary="Point a label at a version (set or move it)",
    response_model=TemplateLabel,
    responses=errors(403),
    openapi_extra=body_schema(LabelSet),
)
async def set_label(request: Request, template_id: str, label: str) -> Response:
    ctx = ctx_of(request)
    principal = principal_of(request, "templates")
    body, _ = await parse_body(request, LabelSet)
    record = find_or_404(ctx, principal.account.id, template_id)
    refuse_if_archived(record, template_id)
    check_label(label)
    if label == LATEST_LABEL:
        raise validation("LABEL_RESERVED",
                         f"'{LATEST_LABEL}' always means the current version and cannot be set",
                         label=label)
    if not ctx.templates.template_version_exists(record.id, body.version):
        raise no_such_version(record, body.version)
    labels = _labels_of(ctx, record.id)
    if len(labels) >= MAX_LABELS and all(r["label"] != label for r in labels):
        raise validation("TOO_MANY_LABELS",
                         f"A template holds at most {MAX_LABELS} labels; remove one first",
                         limit=MAX_LABELS)
    ctx.templates.set_label(record.id, label, body.version, to_micros(ctx.clock()))
    row = next(r for r in _labels_of(ctx, record.id) if r["label"] == label)
    return json_response(label_json(row))


@router.delete(
    "/v2/templates/{template_id}/labels/{label}",
    tags=["templates"],
    summary="Remove a label",
    response_model=TemplateLabel,
    responses=errors(403),
)
async def remove_label(request: Request, template_id: str, label: str) -> Response:
    ctx = ctx_of(request)
    principal = principal_of(request, "templates")
    record = find_or_404(ctx, principal.account.id, template_id)
    refuse_if_archived(record, template_id)
    row = next((r for r in _labels_of(ctx, record.id) if r["label"] == label), None)
    if row is None or not ctx.templates.remove_label(record.id, label):
        raise no_such_label(record, label)
    return json_response(label_json(row))

"""Request specs for every endpoint, built once and used by both the sync and async clients."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel

from ._core import RequestSpec


def _clean(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _plain(v) for k, v in data.items() if v is not None}


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(by_alias=True, exclude_none=True)
    return value


def _id(value: str) -> str:
    return quote(value, safe="")


def execute(
    *,
    template_id: str | None = None,
    prompt: str | None = None,
    variables: Mapping[str, Any] | None = None,
    model_config: Mapping[str, Any] | BaseModel | None = None,
    response_format: str | None = None,
    template_version: str | None = None,
    template_label: str | None = None,
    stream: bool = False,
    idempotency_key: str | None = None,
) -> RequestSpec:
    body = _clean(
        {
            "template_id": template_id,
            "template_version": template_version,
            "template_label": template_label,
            "prompt": prompt,
            "variables": dict(variables) if variables is not None else None,
            "model_config": model_config,
            "response_format": response_format,
        }
    )
    if stream:
        body["stream"] = True
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    return RequestSpec("POST", "/execute", json=body, headers=headers)


def create_template(
    *,
    name: str,
    prompt: str,
    description: str | None = None,
    variables: Sequence[Mapping[str, Any]] | None = None,
    default_config: Mapping[str, Any] | None = None,
    tags: Sequence[str] | None = None,
    output_schema: Mapping[str, Any] | None = None,
    change_note: str | None = None,
) -> RequestSpec:
    return RequestSpec(
        "POST",
        "/templates",
        json=_clean(
            {
                "name": name,
                "prompt": prompt,
                "description": description,
                "variables": [dict(v) for v in variables] if variables is not None else None,
                "default_config": dict(default_config) if default_config is not None else None,
                "tags": list(tags) if tags is not None else None,
                "output_schema": dict(output_schema) if output_schema is not None else None,
                "change_note": change_note,
            }
        ),
    )


def update_template(template_id: str, **fields: Any) -> RequestSpec:
    """Every field given is sent, None too: `description=None` clears the description (a
    field left out is carried over from the current version)."""
    return RequestSpec("PUT", f"/templates/{_id(template_id)}",
                       json={k: _plain(v) for k, v in fields.items()})


def get_template(template_id: str) -> RequestSpec:
    return RequestSpec("GET", f"/templates/{_id(template_id)}")


def delete_template(template_id: str) -> RequestSpec:
    return RequestSpec("DELETE", f"/templates/{_id(template_id)}")


def list_templates(
    *, q: str | None = None, tag: str | None = None, status: str | None = None,
    limit: int | None = None, offset: int | None = None, sort: str | None = None,
) -> RequestSpec:
    return RequestSpec("GET", "/templates", params={"q": q, "tag": tag, "status": status,
                                                    "limit": limit, "offset": offset,
                                                    "sort": sort})


def template_versions(template_id: str) -> RequestSpec:
    return RequestSpec("GET", f"/templates/{_id(template_id)}/versions")


def template_version(template_id: str, version: str) -> RequestSpec:
    return RequestSpec("GET", f"/templates/{_id(template_id)}/versions/{_id(version)}")


def preview_template(
    *,
    template_id: str | None = None,
    template_version: str | None = None,
    template_label: str | None = None,
    prompt: str | None = None,
    template_variables: Sequence[Mapping[str, Any]] | None = None,
    variables: Mapping[str, Any] | None = None,
) -> RequestSpec:
    return RequestSpec("POST", "/preview", json=_clean({
        "template_id": template_id, "template_version": template_version,
        "template_label": template_label, "prompt": prompt,
        "template_variables": ([dict(v) for v in template_variables]
                               if template_variables is not None else None),
        "variables": dict(variables) if variables is not None else None,
    }))


def template_labels(template_id: str) -> RequestSpec:
    return RequestSpec("GET", f"/templates/{_id(template_id)}/labels")


def set_template_label(template_id: str, label: str, version: str) -> RequestSpec:
    return RequestSpec("PUT", f"/templates/{_id(template_id)}/labels/{_id(label)}",
                       json={"version": version})


def remove_template_label(template_id: str, label: str) -> RequestSpec:
    return RequestSpec("DELETE", f"/templates/{_id(template_id)}/labels/{_id(label)}")


def template_stats(template_id: str) -> RequestSpec:
    return RequestSpec("GET", f"/templates/{_id(template_id)}/stats")


def get_execution(
    execution_id: str, *, include_content: bool | None = None,
    include_metadata: bool | None = None,
) -> RequestSpec:
    return RequestSpec(
        "GET",
        f"/executions/{_id(execution_id)}",
        params={"include_content": include_content, "include_metadata": include_metadata},
    )


def list_executions(
    *, limit: int | None = None, offset: int | None = None, before: str | None = None,
    after: str | None = None, order: str | None = None, **filters: Any,
) -> RequestSpec:
    """A page of history: `filters` are HistoryFilters' fields (see types.py)."""
    return RequestSpec("GET", "/executions", params={
        "limit": limit, "offset": offset, "before": before, "after": after, "order": order,
        **_history_filters(filters)})


def export_executions(*, format: str = "jsonl", limit: int | None = None,
                      **filters: Any) -> RequestSpec:
    return RequestSpec("GET", "/executions/export",
                       params={"format": format, "limit": limit, **_history_filters(filters)})


HISTORY_FILTERS = ("template_id", "template_version", "status", "model", "batch_id",
                   "date_from", "date_to", "q", "min_cost", "max_cost", "min_execution_time",
                   "max_execution_time")


def _history_filters(filters: dict[str, Any]) -> dict[str, Any]:
    unknown = set(filters) - set(HISTORY_FILTERS)
    if unknown:
        raise TypeError(f"unknown history filter(s): {', '.join(sorted(unknown))}")
    return dict(filters)


def rate_limits() -> RequestSpec:
    return RequestSpec("GET", "/rate-limits")


def verify() -> RequestSpec:
    return RequestSpec("GET", "/auth/verify")


def models() -> RequestSpec:
    return RequestSpec("GET", "/models")


def submit_batch(
    *,
    inputs: Sequence[Mapping[str, Any]],
    template_id: str | None = None,
    prompt: str | None = None,
    template_version: str | None = None,
    template_label: str | None = None,
    model_config: Mapping[str, Any] | BaseModel | None = None,
    response_format: str | None = None,
    options: Mapping[str, Any] | None = None,
    callback_url: str | None = None,
    idempotency_key: str | None = None,
) -> RequestSpec:
    body = _clean({
        "template_id": template_id, "template_version": template_version,
        "template_label": template_label, "prompt": prompt,
        "inputs": [dict(i) for i in inputs], "model_config": model_config,
        "response_format": response_format,
        "processing_options": dict(options) if options is not None else None,
        "callback_url": callback_url,
    })
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    return RequestSpec("POST", "/batch", json=body, headers=headers)


def list_batches(*, status: str | None = None, limit: int | None = None,
                 offset: int | None = None) -> RequestSpec:
    return RequestSpec("GET", "/batch", params={"status": status, "limit": limit,
                                                "offset": offset})


def get_batch(batch_id: str, part: str = "") -> RequestSpec:
    return RequestSpec("GET", f"/batch/{_id(batch_id)}{part}")


def watch_batches(batch_id: str | None = None) -> RequestSpec:
    """One batch's event stream, or (no id) the stream of every running batch."""
    return RequestSpec("GET", f"/batch/{_id(batch_id)}/events" if batch_id else "/batch/events")


def batch_results(batch_id: str, *, status: str | None = None, limit: int | None = None,
                  offset: int | None = None, error_code: str | None = None) -> RequestSpec:
    return RequestSpec("GET", f"/batch/{_id(batch_id)}/results",
                       params={"status": status, "limit": limit, "offset": offset,
                               "error_code": error_code})


def batch_throughput(batch_id: str, buckets: int = 60) -> RequestSpec:
    return RequestSpec("GET", f"/batch/{_id(batch_id)}/throughput", params={"buckets": buckets})


def batch_action(batch_id: str, action: str) -> RequestSpec:
    return RequestSpec("POST", f"/batch/{_id(batch_id)}/{action}")

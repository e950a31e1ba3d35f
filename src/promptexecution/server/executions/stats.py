"""Per-version figures of a template, from its executions: how often each version ran, how
often it failed, how fast (p50/p95 of execution_time) and what it cost on average.

The executions are read through executions_by_template; the version and latency come out of
each execution's JSON body. Rollups kept as executions are written (the Monitor's usage
endpoint) would make this a lookup; until then it is one indexed scan of the template's runs,
on the database's reader thread, so the event loop serves other requests meanwhile.
`executions` counts every run; completed + failed + cancelled add up to it (a run still
processing is in none of them).
"""

from __future__ import annotations

import math
import sqlite3
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ...models import TemplateStats
from ..core.http import ctx_of, json_response, principal_of
from ..templates.routes import find_or_404

router = APIRouter()


def nearest_rank(ordered: list[float], fraction: float) -> float | None:
    """The nearest-rank percentile of an ascending list (a value that was really observed)."""
    if not ordered:
        return None
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


@router.get("/v2/templates/{template_id}/stats", tags=["templates"],
            summary="Per-version execution figures", response_model=TemplateStats)
async def template_stats(request: Request, template_id: str) -> Response:
    ctx = ctx_of(request)
    account_id = principal_of(request).account.id
    record = find_or_404(ctx, account_id, template_id)
    by_version = await ctx.database.read(lambda conn: _figures(conn, account_id, record.id))
    versions = []
    for version, _, _, _ in ctx.templates.list_template_versions(record.id):
        if version not in by_version:
            versions.append({"version": version, "executions": 0, "completed": 0, "failed": 0,
                             "cancelled": 0, "failure_rate": None, "latency_p50": None,
                             "latency_p95": None, "average_cost": None})
            continue
        figures = by_version[version]
        latencies = sorted(figures["latencies"])
        finished = figures["completed"] + figures["failed"]
        versions.append({
            "version": version,
            "executions": figures["executions"],
            "completed": figures["completed"],
            "failed": figures["failed"],
            "cancelled": figures["cancelled"],
            "failure_rate": round(figures["failed"] / finished, 4) if finished else None,
            "latency_p50": nearest_rank(latencies, 0.50),
            "latency_p95": nearest_rank(latencies, 0.95),
            "average_cost": round(figures["costs"] / figures["executions"], 8),
        })
    return json_response({"template_id": record.id, "versions": versions})


def _figures(conn: sqlite3.Connection, account_id: str, template_id: str
             ) -> dict[str, dict[str, Any]]:
    """One scan of the template's runs (on the database's reader thread), by version."""
    rows = conn.execute(
        "SELECT json_extract(body, '$.template_version'), status, cost, "
        "json_extract(body, '$.metadata.execution_time') FROM executions "
        "WHERE account_id=? AND template_id=?",
        (account_id, template_id),
    )
    by_version: dict[str, dict[str, Any]] = {}
    for version, status, cost, seconds in rows:
        figures = by_version.setdefault(
            version or "", {"executions": 0, "completed": 0, "failed": 0, "cancelled": 0,
                            "costs": 0.0, "latencies": []})
        figures["executions"] += 1
        figures["costs"] += cost or 0.0
        if status == "completed":
            figures["completed"] += 1
            if isinstance(seconds, int | float):
                figures["latencies"].append(float(seconds))
        elif status in ("failed", "cancelled"):
            figures[status] += 1
    return by_version

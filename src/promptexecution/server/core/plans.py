"""The spec's plan tables (sections 1 and 6), overridable per server in server.toml."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True)
class PlanLimits:
    name: str
    requests_per_hour: int | None  # None: unlimited
    burst_per_minute: int
    concurrent: int
    batch: bool
    custom_models: bool
    workflows: bool


DEFAULT_PLANS: dict[str, PlanLimits] = {
    "basic": PlanLimits("basic", 1_000, 100, 5, batch=False, custom_models=False, workflows=False),
    "professional": PlanLimits(
        "professional", 10_000, 500, 50, batch=True, custom_models=True, workflows=False
    ),
    "enterprise": PlanLimits(
        "enterprise", None, 2_000, 500, batch=True, custom_models=True, workflows=True
    ),
}

ALL_PERMISSIONS = ("execute", "batch", "templates")


def plans_with_overrides(overrides: dict[str, dict[str, Any]] | None) -> dict[str, PlanLimits]:
    plans = dict(DEFAULT_PLANS)
    for name, fields in (overrides or {}).items():
        if name not in plans:
            raise ValueError(f"unknown plan {name!r} in [plans]; expected one of {sorted(plans)}")
        allowed = {"requests_per_hour", "burst_per_minute", "concurrent"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"[plans.{name}] has unknown keys {sorted(unknown)}")
        plans[name] = replace(plans[name], **fields)
    return plans

"""Per-account rate limits: hourly and per-minute burst windows, and concurrent executions.

Fixed windows aligned to the UTC hour and minute, so `reset_time` is the top of the next
hour as in the spec. State is in memory: a restart starts fresh windows, which only errs in
the caller's favour.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from .clock import Clock, iso
from .errors import ApiError
from .plans import PlanLimits


@dataclass
class _Windows:
    hour: int = -1
    hour_used: int = 0
    minute: int = -1
    minute_used: int = 0
    active: int = 0


class RateSnapshot(NamedTuple):  # a tuple: made on every request, so cheap to build
    plan: PlanLimits
    hour_used: int
    minute_used: int
    active: int
    reset_epoch: int  # the top of the next UTC hour
    burst_reset_after: int  # seconds until the minute window starts afresh

    @property
    def hour_reset(self) -> datetime:
        return datetime.fromtimestamp(self.reset_epoch, UTC)

    @property
    def hourly_remaining(self) -> int | None:
        limit = self.plan.requests_per_hour
        return None if limit is None else max(limit - self.hour_used, 0)

    @property
    def burst_remaining(self) -> int:
        return max(self.plan.burst_per_minute - self.minute_used, 0)

    def headers(self) -> list[tuple[bytes, bytes]]:
        limit = self.plan.requests_per_hour
        remaining = self.hourly_remaining
        return [
            (b"x-ratelimit-limit", b"unlimited" if limit is None else str(limit).encode()),
            (
                b"x-ratelimit-remaining",
                b"unlimited" if remaining is None else str(remaining).encode(),
            ),
            (b"x-ratelimit-reset", str(self.reset_epoch).encode()),
            (b"x-ratelimit-burst-limit", str(self.plan.burst_per_minute).encode()),
            (b"x-ratelimit-burst-remaining", str(self.burst_remaining).encode()),
            # Not in the spec: relative, like Retry-After, so a client can pace itself
            # without trusting its clock against ours.
            (b"x-ratelimit-burst-reset-after", str(self.burst_reset_after).encode()),
        ]

    def as_json(self) -> dict[str, object]:
        return {
            "hourly": {
                "limit": self.plan.requests_per_hour,
                "used": self.hour_used,
                "remaining": self.hourly_remaining,
                "reset_time": iso(self.hour_reset),
            },
            "burst": {
                "limit": self.plan.burst_per_minute,
                "used": self.minute_used,
                "remaining": self.burst_remaining,
                "window": "1_minute",
            },
            "concurrent": {
                "limit": self.plan.concurrent,
                "active": self.active,
                "available": max(self.plan.concurrent - self.active, 0),
            },
        }


class RateLimiter:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._accounts: dict[str, _Windows] = {}

    def _windows(self, account_id: str) -> tuple[_Windows, datetime]:
        now = self._clock()
        epoch = int(now.timestamp())
        w = self._accounts.setdefault(account_id, _Windows())
        hour, minute = epoch // 3600, epoch // 60
        if w.hour != hour:
            w.hour, w.hour_used = hour, 0
        if w.minute != minute:
            w.minute, w.minute_used = minute, 0
        return w, now

    def snapshot(self, account_id: str, plan: PlanLimits) -> RateSnapshot:
        w, now = self._windows(account_id)
        return self._snap(w, plan, now.timestamp())

    @staticmethod
    def _snap(w: _Windows, plan: PlanLimits, now: float) -> RateSnapshot:
        burst_reset_after = max(1, -int(-((w.minute + 1) * 60 - now) // 1))
        return RateSnapshot(plan, w.hour_used, w.minute_used, w.active, (w.hour + 1) * 3600,
                            burst_reset_after)

    def consume(self, account_id: str, plan: PlanLimits) -> RateSnapshot:
        """Counts one work-creating request, or raises a 429 in the spec's shape."""
        w, now = self._windows(account_id)
        epoch = now.timestamp()
        limit = plan.requests_per_hour
        if limit is not None and w.hour_used >= limit:
            reset = (w.hour + 1) * 3600
            raise _limited(
                "HOURLY_LIMIT_EXCEEDED",
                f"You have exceeded your hourly rate limit of {limit:,} requests",
                limit,
                reset,
                epoch,
                self._snap(w, plan, epoch),
            )
        if w.minute_used >= plan.burst_per_minute:
            reset = (w.minute + 1) * 60
            raise _limited(
                "BURST_LIMIT_EXCEEDED",
                f"You have exceeded your burst limit of {plan.burst_per_minute:,} requests "
                "per minute",
                plan.burst_per_minute,
                reset,
                epoch,
                self._snap(w, plan, epoch),
            )
        w.hour_used += 1
        w.minute_used += 1
        return self._snap(w, plan, epoch)

    def acquire_slot(self, account_id: str, plan: PlanLimits) -> None:
        """Claims one concurrent-execution slot; release it with `release_slot`."""
        w, now = self._windows(account_id)
        if w.active >= plan.concurrent:
            raise _limited(
                "CONCURRENT_LIMIT_EXCEEDED",
                f"You have {w.active} executions in flight, the limit of your plan "
                f"({plan.concurrent}); wait for one to finish",
                plan.concurrent,
                now.timestamp() + 1,
                now.timestamp(),
                self._snap(w, plan, now.timestamp()),
            )
        w.active += 1

    def try_acquire_slot(self, account_id: str, plan: PlanLimits) -> bool:
        """Claims a concurrent slot if one is free (the batch runner waits instead of a 429)."""
        w, _ = self._windows(account_id)
        if w.active >= plan.concurrent:
            return False
        w.active += 1
        return True

    def release_slot(self, account_id: str) -> None:
        w = self._accounts.get(account_id)
        if w is not None and w.active > 0:
            w.active -= 1

    def active(self, account_id: str) -> int:
        w = self._accounts.get(account_id)
        return w.active if w else 0


def _limited(
    code: str, message: str, limit: int, reset_epoch: float, now_epoch: float, snap: RateSnapshot
) -> ApiError:
    retry_after = max(1, int(-(-(reset_epoch - now_epoch) // 1)))
    reset_time = datetime.fromtimestamp(now_epoch, UTC) + timedelta(seconds=retry_after)
    error = ApiError(
        "rate_limit_error",
        code,
        message,
        details={"limit": limit, "reset_time": iso(reset_time), "retry_after": retry_after},
        headers={"Retry-After": str(retry_after)},
    )
    error.rate = snap
    return error

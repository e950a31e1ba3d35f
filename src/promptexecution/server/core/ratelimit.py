"""Per-account rate limits: hourly and per-minute burst windows, and concurrent executions.

Fixed windows aligned to the UTC hour and minute, so `reset_time` is the top of the next
hour as in the spec. The counts live in memory and are written to the database a few times a
second (and at shutdown), so a restart keeps what was used; a crash loses at most the last
fraction of a second. A request that is refused or fails on the server's side is refunded
(core/middleware.py): only work that was done uses quota.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from ..db.connection import Database
from .clock import Clock, iso
from .errors import ApiError
from .plans import PlanLimits

log = logging.getLogger("promptexecution.server")
FLUSH_EVERY = 0.2  # seconds between writes of the counts


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
    minute: int  # the burst window (minutes since the epoch)

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


class UsageStore:
    """The hourly and burst counts of each account, as last written."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def load(self) -> list[tuple[str, int, int, int, int]]:
        rows = self.database.conn.execute(
            "SELECT account_id, hour, hour_used, minute, minute_used FROM rate_usage")
        return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    def save(self, rows: list[tuple[str, int, int, int, int]]) -> None:
        with self.database.transaction() as db:
            db.executemany(
                "INSERT INTO rate_usage(account_id, hour, hour_used, minute, minute_used) "
                "VALUES (?,?,?,?,?) ON CONFLICT(account_id) DO UPDATE SET hour=excluded.hour, "
                "hour_used=excluded.hour_used, minute=excluded.minute, "
                "minute_used=excluded.minute_used", rows)


class RateLimiter:
    def __init__(self, clock: Clock, store: UsageStore | None = None) -> None:
        self._clock = clock
        self._accounts: dict[str, _Windows] = {}
        self._store = store
        self._dirty: set[str] = set()
        self._flush_handle: asyncio.TimerHandle | None = None
        if store is not None:
            for account_id, hour, hour_used, minute, minute_used in store.load():
                self._accounts[account_id] = _Windows(hour, hour_used, minute, minute_used)

    def _changed(self, account_id: str) -> None:
        if self._store is None:
            return
        self._dirty.add(account_id)
        if self._flush_handle is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return
            self._flush_handle = loop.call_later(FLUSH_EVERY, self.flush)

    def flush(self) -> None:
        """Writes the counts that changed since the last write."""
        self._flush_handle = None
        if self._store is None or not self._dirty:
            return
        dirty, self._dirty = self._dirty, set()
        rows = [(a, w.hour, w.hour_used, w.minute, w.minute_used)
                for a in dirty if (w := self._accounts.get(a)) is not None]
        try:
            self._store.save(rows)
        except sqlite3.Error:
            log.warning("could not save rate-limit counts; they are kept in memory and "
                        "written with the next change", exc_info=True)
            self._dirty |= dirty

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
                            burst_reset_after, w.minute)

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
        self._changed(account_id)
        return self._snap(w, plan, epoch)

    def refund(self, account_id: str, consumed: RateSnapshot) -> None:
        """Gives back what `consume` took, in the windows it took it from (a refused request
        uses no quota)."""
        w = self._accounts.get(account_id)
        if w is None:
            return
        if w.hour == consumed.reset_epoch // 3600 - 1 and w.hour_used > 0:
            w.hour_used -= 1
        if w.minute == consumed.minute and w.minute_used > 0:
            w.minute_used -= 1
        self._changed(account_id)

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

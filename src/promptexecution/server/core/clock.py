"""Injectable time and id sources: tests and snapshots run on a fixed clock and seeded ids."""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]
Monotonic = Callable[[], float]


def system_clock() -> datetime:
    return datetime.now(UTC)


_last_iso: tuple[int | None, str] = (None, "")


def iso(moment: datetime) -> str:
    """The spec's timestamp form: `2024-01-15T09:15:30Z` (cached per second: it is called
    several times per request, and strftime is slow)."""
    global _last_iso
    second = int(moment.timestamp() // 1)
    cached_second, text = _last_iso
    if second != cached_second:
        text = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))
        _last_iso = (second, text)
    return text


def to_micros(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


def from_micros(micros: int) -> datetime:
    return datetime.fromtimestamp(micros / 1_000_000, UTC)


class IdSource:
    """Makes ids like `exec_0192f3a4b5c60a1b2c` that sort by creation time: 11 hex digits of
    milliseconds, then a counter that starts at a random point each millisecond. Ids that
    grow keep SQLite's id index appending at its end; random ids scatter every commit over
    the whole index (measured: 3x the commit cost). Seeded, the ids are a reproducible
    random sequence instead, for tests and snapshots. Ids need to be unique, not secret:
    every lookup is scoped to its account."""

    def __init__(self, seed: int | None = None) -> None:
        self._seed = seed
        self._rng = random.Random(seed if seed is not None else os.urandom(16))
        # Seeded: a sequence per kind of id, so a batch's id does not depend on how many
        # request ids a console's background reads took before it.
        self._seeded: dict[str, random.Random] = {}
        self._lock = threading.Lock()
        self._last_ms = -1
        self._counter = 0

    def new(self, prefix: str) -> str:
        with self._lock:
            if self._seed is not None:
                rng = self._seeded.setdefault(prefix, random.Random(f"{self._seed}:{prefix}"))
                return f"{prefix}_{rng.getrandbits(64):017x}"
            now_ms = time.time_ns() // 1_000_000
            if now_ms > self._last_ms:
                self._last_ms = now_ms
                self._counter = self._rng.getrandbits(20)
            else:  # same millisecond (or the clock stepped back): keep counting up
                self._counter += 1
                if self._counter >= 1 << 24:
                    self._last_ms += 1
                    self._counter = 0
            return f"{prefix}_{self._last_ms:011x}{self._counter:06x}"


class FixedClock:
    """A clock that stands still unless advanced: for stable snapshots and deterministic tests."""

    def __init__(self, start: datetime, step: float = 0.0) -> None:
        self._now = start
        self._step = step

    def __call__(self) -> datetime:
        now = self._now
        if self._step:
            self._now = now + timedelta(seconds=self._step)
        return now

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)

"""Injectable time and id sources: tests and snapshots run on a fixed clock and seeded ids."""

from __future__ import annotations

import random
import secrets
import string
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]
Monotonic = Callable[[], float]

_ALPHABET = string.ascii_lowercase + string.digits


def system_clock() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """The spec's timestamp form: `2024-01-15T09:15:30Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_micros(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


def from_micros(micros: int) -> datetime:
    return datetime.fromtimestamp(micros / 1_000_000, UTC)


class IdSource:
    """Makes ids like `exec_k3j9...`: random by default, reproducible when seeded."""

    def __init__(self, seed: int | None = None, length: int = 16) -> None:
        self._rng: random.Random | None = random.Random(seed) if seed is not None else None
        self._length = length
        self._lock = threading.Lock()

    def new(self, prefix: str) -> str:
        if self._rng is None:
            body = "".join(secrets.choice(_ALPHABET) for _ in range(self._length))
        else:
            with self._lock:
                body = "".join(self._rng.choice(_ALPHABET) for _ in range(self._length))
        return f"{prefix}_{body}"


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

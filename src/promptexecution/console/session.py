"""`ApiSession`: one per profile. It owns the SDK client, knows whether the server answers,
and keeps the numbers the header shows (plan, hourly requests remaining, session cost) up to
date from the SDK's observer events, so showing them costs no extra requests.

It knows nothing of Textual: listeners are plain callables, and the app turns changes into
messages. Connecting and reconnecting are async and meant to run in workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Literal

from ..client import AsyncPromptExecutionClient, RequestEvent
from ..client._core import retry_after_seconds
from ..exceptions import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    PermissionDeniedError,
)
from .config import Profile, mask
from .embedded import EmbeddedServer

CHECK_WITHIN = 3.0  # seconds the heartbeat waits for an answer

ConnectionState = Literal["connecting", "connected", "offline", "unauthorized"]


@dataclass(frozen=True)
class SessionStatus:
    profile: str
    base_url: str | None = None
    state: ConnectionState = "connecting"
    plan: str | None = None
    hourly_remaining: int | None = None  # None: unknown or unlimited (see `unlimited`)
    unlimited: bool = False
    burst_remaining: int | None = None  # requests left in the burst window, when known
    cost: float = 0.0
    requests: int = 0
    masked_key: str = "(no key)"
    message: str = ""


@dataclass
class ApiSession:
    profile: Profile
    embedded: EmbeddedServer | None = None
    retry_delays: tuple[float, ...] = (0.5, 1.0, 2.0, 5.0)
    status: SessionStatus = field(init=False)
    client: AsyncPromptExecutionClient | None = field(init=False, default=None)
    _listeners: list[Callable[[SessionStatus], None]] = field(init=False, default_factory=list)
    _heard_at: float = field(init=False, default=-math.inf)  # monotonic; the last answer
    _streams_open: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.status = SessionStatus(profile=self.profile.name, base_url=self.profile.base_url)
        if self.profile.embedded and self.embedded is None:
            self.embedded = EmbeddedServer()

    # -------------------------------------------------------------- listeners

    def subscribe(self, listener: Callable[[SessionStatus], None]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _update(self, **changes: object) -> None:
        self.status = replace(self.status, **changes)  # type: ignore[arg-type]
        for listener in list(self._listeners):
            listener(self.status)

    # -------------------------------------------------------------- connecting

    async def connect(self) -> SessionStatus:
        """Starts or finds the server, verifies the key, and keeps trying while it is away."""
        self._update(state="connecting", message="")
        attempt = 0
        while True:
            try:
                await self._connect_once()
                return self.status
            except (AuthenticationError, PermissionDeniedError) as exc:
                self._update(state="unauthorized", message=f"{exc.code}: {exc.message}")
                return self.status
            except (APIConnectionError, OSError, RuntimeError) as exc:
                self._update(state="offline", message=str(exc))
                if self.embedded is not None and self.client is not None:
                    # The embedded server is gone: find or start one again, maybe elsewhere.
                    await self.client.aclose()
                    self.client = None
            except APIError as exc:  # it answers, but not yet usefully (503, 429, 500...)
                self._update(state="offline", message=f"{exc.code}: {exc.message}; retrying")
                wait = retry_after_seconds(exc.headers.get("retry-after"))
                if wait is not None:
                    await asyncio.sleep(min(wait, 60.0))
                    continue
            delay = self.retry_delays[min(attempt, len(self.retry_delays) - 1)]
            attempt += 1
            await asyncio.sleep(delay)

    async def _connect_once(self) -> None:
        if self.client is None:
            key: str | None
            if self.embedded is not None:
                connection = await asyncio.to_thread(self.embedded.connect)
                base_url, key = connection.base_url, connection.api_key
            else:
                base_url, key = str(self.profile.base_url), self.profile.resolve_key()
                if not key:
                    raise AuthenticationError(
                        f"profile '{self.profile.name}' has no key: set api_key or "
                        "api_key_env, or export PE_API_KEY", code="MISSING_API_KEY")
            self.client = AsyncPromptExecutionClient(api_key=key, base_url=base_url,
                                                     max_retries=0)
            self.client.add_observer(self._observe)
            self._update(base_url=base_url, masked_key=mask(key))
        verified = await self.client.auth.verify()
        self._update(state="connected", plan=verified.plan, message="",
                     unlimited=verified.rate_limit.requests_per_hour is None,
                     hourly_remaining=verified.rate_limit.remaining)

    def heard(self) -> None:
        """The server just answered (a response, or a streamed delta): it is alive."""
        self._heard_at = time.monotonic()

    def heard_within(self, seconds: float) -> bool:
        return time.monotonic() - self._heard_at < seconds

    @contextlib.contextmanager
    def streaming(self) -> Iterator[None]:
        """A stream is open: its deltas prove the server alive (see `needs_probe`)."""
        self._streams_open += 1
        try:
            yield
        finally:
            self._streams_open -= 1

    def needs_probe(self, interval: float) -> bool:
        """Whether the heartbeat should ask. Recent traffic already answered; an open
        stream counts as alive until it is silent for as long as a probe would wait (a
        loaded machine may space deltas wider than the heartbeat's interval)."""
        if self._streams_open:
            return not self.heard_within(CHECK_WITHIN)
        return not self.heard_within(interval / 2)

    def _observe(self, event: RequestEvent) -> None:
        """Every HTTP exchange of the SDK lands here: no extra requests for the header."""
        if event.status is not None:
            self.heard()
        changes: dict[str, object] = {
            "requests": self.status.requests + (0 if event.stream_completed else 1)}
        if event.status is None:
            changes["state"] = "offline"
        elif self.status.state == "offline" and 200 <= event.status < 300:
            changes["state"] = "connected"  # a request got through: the server is back
        if event.cost:
            changes["cost"] = round(self.status.cost + event.cost, 10)
        if event.rate_limit.burst_limit is not None:
            changes["hourly_remaining"] = event.rate_limit.remaining
            changes["unlimited"] = event.rate_limit.limit is None
            changes["burst_remaining"] = event.rate_limit.burst_remaining
        self._update(**changes)

    async def check(self) -> bool:
        """One cheap probe (the heartbeat's). A server that does not answer within
        CHECK_WITHIN seconds (hung, or the network dropped: no error would come for a
        minute) is offline too."""
        if self.client is None:
            return False
        with contextlib.suppress(APIError):
            try:
                async with asyncio.timeout(CHECK_WITHIN):
                    await self.client.rate_limits.get()
            except TimeoutError:
                self._update(state="offline",
                             message=f"no answer within {CHECK_WITHIN:g} s; retrying")
                return False
            return True
        return False

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()
            self.client = None
        if self.embedded is not None:
            await asyncio.to_thread(self.embedded.stop)


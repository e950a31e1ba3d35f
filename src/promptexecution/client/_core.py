"""What the sync and async clients share: configuration, request building, retry decisions,
error mapping, rate-limit state and observer events. Only the I/O lives elsewhere.

Retries: connection errors, timeouts, 408, 409 (an Idempotency-Key still in use), 429 and 5xx
are retried up to `max_retries` times. The wait before retry `n` (0-based) is

    min(max_backoff, initial_backoff * 2**n) * uniform(0.75, 1.0)

unless the response has `Retry-After` (seconds or an HTTP date), which is honoured as is up
to `max_retry_after` (default 60 s); a longer wait raises `RateLimitError` at once, with
`retry_after` set, instead of blocking the caller. Every POST carries one `Idempotency-Key`,
the same on each retry, so a retried execution never runs twice.
"""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from collections.abc import Callable, Generator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from .. import __version__
from ..exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    RateLimitError,
    error_from_body,
)

DEFAULT_BASE_URL = "https://api.promptexecution.com/v2"
DEFAULT_TIMEOUT = 60.0
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_STREAM_CHUNK_TIMEOUT = 120.0
DEFAULT_MAX_RETRIES = 2
RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
# 409 is retried only when the conflict is transient; a taken name will not free itself.
RETRYABLE_CONFLICTS = frozenset({"IDEMPOTENCY_KEY_IN_USE", None})


@dataclass(frozen=True)
class RateLimitState:
    """The latest `X-RateLimit-*` headers; `None` where the server says `unlimited`."""

    limit: int | None = None
    remaining: int | None = None
    reset: datetime | None = None
    burst_limit: int | None = None
    burst_remaining: int | None = None
    burst_reset_after: float | None = None  # seconds, as of `updated_at`
    updated_at: float | None = None  # time.monotonic() of the response it came from
    server_time: datetime | None = None

    @classmethod
    def from_headers(cls, headers: httpx.Headers, previous: RateLimitState) -> RateLimitState:
        if "x-ratelimit-burst-limit" not in headers:
            return previous
        reset = _int(headers.get("x-ratelimit-reset"))
        date = headers.get("date")
        server_time = None
        if date:
            try:
                server_time = parsedate_to_datetime(date)
            except (TypeError, ValueError):
                server_time = None
        return cls(
            limit=_int(headers.get("x-ratelimit-limit")),
            remaining=_int(headers.get("x-ratelimit-remaining")),
            reset=datetime.fromtimestamp(reset, UTC) if reset is not None else None,
            burst_limit=_int(headers.get("x-ratelimit-burst-limit")),
            burst_remaining=_int(headers.get("x-ratelimit-burst-remaining")),
            burst_reset_after=_int(headers.get("x-ratelimit-burst-reset-after")),
            updated_at=time.monotonic(),
            server_time=server_time,
        )


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None  # "unlimited"


@dataclass(frozen=True)
class RequestEvent:
    """One HTTP exchange, as observers see it: one event per attempt, plus, for a stream that
    completes, one `stream_completed` event with its cost (`latency` is then the whole
    stream's duration, so a latency average should skip these)."""

    method: str
    path: str
    status: int | None  # None: no response (connection error or timeout)
    latency: float  # seconds
    attempt: int  # 1 for the first try
    rate_limit: RateLimitState
    request_id: str | None = None
    cost: float | None = None
    error_code: str | None = None
    will_retry: bool = False
    # A stream's exchange is reported when its headers arrive; its cost only exists at the end,
    # so a second event with `stream_completed` carries it (same request id, not a new request).
    stream_completed: bool = False


Observer = Callable[[RequestEvent], None]


@dataclass
class RequestSpec:
    method: str
    path: str
    json: Any = None
    params: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Send:
    spec: RequestSpec
    headers: dict[str, str]
    stream: bool = False


@dataclass(frozen=True)
class Sleep:
    seconds: float


Plan = Generator["Send | Sleep", "httpx.Response | httpx.HTTPError | None", Any]


@dataclass
class ClientConfig:
    api_key: str
    base_url: str
    timeout: float = DEFAULT_TIMEOUT
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    stream_chunk_timeout: float = DEFAULT_STREAM_CHUNK_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    initial_backoff: float = 0.5
    max_backoff: float = 8.0
    max_retry_after: float = 60.0
    pace_requests: bool = False
    pace_threshold: int = 0  # with pacing on, wait once at most this many requests remain
    # Model calls take seconds, so concurrency needs connections. The price: httpcore scans
    # its whole pool for each queued request (50 concurrent zero-latency calls ran at 330/s
    # on 50 connections, 654/s on 10), so CPU-bound callers may want a smaller pool.
    max_connections: int = 64
    default_headers: dict[str, str] = field(default_factory=dict)


def resolve_config(
    api_key: str | None,
    base_url: str | None,
    **options: Any,
) -> ClientConfig:
    key = api_key or os.environ.get("PE_API_KEY") or os.environ.get("PROMPT_EXECUTION_API_KEY")
    if not key:
        raise APIError(
            "No API key: pass api_key=..., or set PE_API_KEY or PROMPT_EXECUTION_API_KEY"
        )
    url = base_url or os.environ.get("PE_BASE_URL") or DEFAULT_BASE_URL
    given = {k: v for k, v in options.items() if v is not None}
    return ClientConfig(api_key=key, base_url=url.rstrip("/"), **given)


class ClientCore:
    """State and decisions shared by both clients; it never does I/O itself."""

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self.rate_limit = RateLimitState()
        self._observers: list[Observer] = []

    # -------------------------------------------------------------- observers

    def add_observer(self, observer: Observer) -> Callable[[], None]:
        """Registers `observer`; returns a function that removes it."""
        self._observers.append(observer)
        return lambda: self._observers.remove(observer) if observer in self._observers else None

    def notify(self, event: RequestEvent) -> None:
        for observer in list(self._observers):
            try:
                observer(event)
            except Exception:  # an observer's bug must never break a request
                pass

    # -------------------------------------------------------------- requests

    def headers(self, spec: RequestSpec) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {self.config.api_key}",
            "Accept": "application/json",
            "User-Agent": f"promptexecution-python/{__version__}",
            **self.config.default_headers,
            **spec.headers,
        }
        if spec.method == "POST":
            headers.setdefault("Idempotency-Key", f"pe-{uuid.uuid4()}")
        return headers

    def url(self, path: str) -> str:
        return self.config.base_url + path

    def timeout(self, stream: bool = False) -> httpx.Timeout:
        read = self.config.stream_chunk_timeout if stream else self.config.timeout
        return httpx.Timeout(self.config.timeout, connect=self.config.connect_timeout, read=read)

    @staticmethod
    def params(spec: RequestSpec) -> dict[str, Any] | None:
        if not spec.params:
            return None
        out: dict[str, Any] = {}
        for key, value in spec.params.items():
            if value is None:
                continue
            if isinstance(value, bool):
                value = "true" if value else "false"
            elif isinstance(value, datetime):
                value = value.isoformat()
            out[key] = value
        return out

    # -------------------------------------------------------------- responses

    def observe_response(
        self, spec: RequestSpec, response: httpx.Response, latency: float, attempt: int,
        body: Any, error: APIStatusError | None, will_retry: bool,
    ) -> None:
        self.rate_limit = RateLimitState.from_headers(response.headers, self.rate_limit)
        cost = None  # what running it cost: a read or a replayed response costs nothing
        replayed = response.headers.get("idempotent-replayed") == "true"
        if spec.method == "POST" and not replayed and isinstance(body, dict):
            metadata = body.get("metadata")
            if isinstance(metadata, dict) and isinstance(metadata.get("cost"), int | float):
                cost = float(metadata["cost"])
        self.notify(
            RequestEvent(
                method=spec.method,
                path=spec.path,
                status=response.status_code,
                latency=latency,
                attempt=attempt,
                rate_limit=self.rate_limit,
                request_id=response.headers.get("x-request-id"),
                cost=cost,
                error_code=error.code if error else None,
                will_retry=will_retry,
            )
        )

    def observe_stream_completed(self, spec: RequestSpec, request_id: str | None,
                                 latency: float, cost: float | None) -> None:
        self.notify(RequestEvent(method=spec.method, path=spec.path, status=200, latency=latency,
                                 attempt=1, rate_limit=self.rate_limit, request_id=request_id,
                                 cost=cost, stream_completed=True))

    def observe_failure(
        self, spec: RequestSpec, latency: float, attempt: int, will_retry: bool
    ) -> None:
        self.notify(
            RequestEvent(spec.method, spec.path, None, latency, attempt, self.rate_limit,
                         will_retry=will_retry)
        )

    @staticmethod
    def decode(response: httpx.Response) -> Any:
        if not response.content:
            return None
        try:
            return json.loads(response.content)
        except ValueError:
            return None

    def error_for(self, response: httpx.Response, body: Any) -> APIStatusError:
        return error_from_body(response.status_code, body, dict(response.headers))

    # -------------------------------------------------------------- retries

    def backoff(self, retry: int) -> float:
        base = min(self.config.max_backoff, self.config.initial_backoff * 2**retry)
        return base * random.uniform(0.75, 1.0)

    def retry_delay(self, error: APIStatusError, retry: int) -> float | None:
        """Seconds to wait before retrying `error`, or None to raise it now."""
        status = error.status_code or 0
        if status not in RETRYABLE_STATUS and not (status >= 500):
            return None
        if status == 409 and error.code not in RETRYABLE_CONFLICTS:
            return None
        if retry >= self.config.max_retries:
            return None
        after = retry_after_seconds(error.headers.get("retry-after"))
        if after is None:
            return self.backoff(retry)
        if after > self.config.max_retry_after:
            return None  # raise now: the caller decides whether to wait that long
        return after

    # -------------------------------------------------------------- the request plan

    def plan(self, spec: RequestSpec, *, stream: bool = False) -> Plan:
        """The whole life of one call, retries included, as a generator of I/O actions.

        A driver (sync or async) performs each `Send` and `Sleep` and sends back the
        `httpx.Response` or the transport error; the generator returns the decoded body
        (or, for `stream=True`, the still-open successful response).
        """
        headers = self.headers(spec)
        spec = with_idempotency(spec, headers)
        retry = 0
        while True:
            pause = self.pacing_delay()
            if pause:
                yield Sleep(pause)
            started = time.monotonic()
            outcome = yield Send(spec, headers, stream)
            latency = time.monotonic() - started
            if isinstance(outcome, httpx.HTTPError):
                wait = self.connection_retry_delay(retry)
                self.observe_failure(spec, latency, retry + 1, wait is not None)
                if wait is None:
                    raise connection_error(outcome, spec) from outcome
                yield Sleep(wait)
                retry += 1
                continue
            assert isinstance(outcome, httpx.Response)
            if outcome.status_code < 400:
                if stream:
                    self.observe_response(spec, outcome, latency, retry + 1, None, None, False)
                    return outcome
                body = self.decode(outcome)
                self.observe_response(spec, outcome, latency, retry + 1, body, None, False)
                return body
            body = self.decode(outcome)
            error = self.error_for(outcome, body)
            wait = self.retry_delay(error, retry)
            self.observe_response(spec, outcome, latency, retry + 1, body, error, wait is not None)
            if wait is None:
                raise error
            yield Sleep(wait)
            retry += 1

    def connection_retry_delay(self, retry: int) -> float | None:
        return self.backoff(retry) if retry < self.config.max_retries else None

    def pacing_delay(self) -> float:
        """With pacing on, how long to wait so the burst window refills instead of a 429."""
        state = self.rate_limit
        if not self.config.pace_requests or state.burst_remaining is None:
            return 0.0
        if state.burst_remaining > self.config.pace_threshold or state.updated_at is None:
            return 0.0
        elapsed = time.monotonic() - state.updated_at
        if state.burst_reset_after is not None:  # our server says when the window resets
            return max(0.0, state.burst_reset_after - elapsed) + 0.05
        # Other servers: assume windows aligned to the minute of the server's Date header.
        now = state.server_time or datetime.now(UTC)
        seconds_into_minute = (now.timestamp() + elapsed) % 60
        return max(0.0, 60.0 - seconds_into_minute) + 0.05


def retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def connection_error(exc: httpx.HTTPError, spec: RequestSpec) -> APIConnectionError:
    where = f"{spec.method} {spec.path}"
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(f"Request timed out: {where} ({type(exc).__name__})")
    return APIConnectionError(f"Could not reach the API for {where}: {exc or type(exc).__name__}")


def with_idempotency(spec: RequestSpec, headers: dict[str, str]) -> RequestSpec:
    """Pins the generated Idempotency-Key into the spec so every retry reuses it."""
    key = headers.get("Idempotency-Key")
    if key is None or "Idempotency-Key" in spec.headers:
        return spec
    return replace(spec, headers={**spec.headers, "Idempotency-Key": key})


__all__ = [
    "ClientConfig",
    "ClientCore",
    "Plan",
    "RateLimitError",
    "RateLimitState",
    "RequestEvent",
    "RequestSpec",
    "Send",
    "Sleep",
    "resolve_config",
]

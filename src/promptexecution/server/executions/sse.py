"""A streaming response for server-sent events that notices a client going away.

uvicorn's `send` keeps quiet after a disconnect, so the stream also listens on `receive`:
when the client leaves, the producer is cancelled at once (which cancels the model call),
and comment pings keep idle streams alive through proxies meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.responses import Response

from ..core.http import wait_for_disconnect

PING = b": ping\n\n"


class EventStreamResponse(Response):
    """A Response subclass only so frameworks pass it through untouched."""

    def __init__(
        self,
        events: AsyncIterator[bytes],
        *,
        headers: list[tuple[bytes, bytes]] | None = None,
        ping_interval: float = 15.0,
        on_close: Callable[[], None] | None = None,
        stopping: asyncio.Event | None = None,
        farewell: Callable[[], bytes] | None = None,
    ) -> None:
        """`stopping`: set when the server shuts down; the stream then ends at once, its
        last event `farewell()` (so a stream cannot hold a shutdown for its grace period)."""
        super().__init__(status_code=200, media_type="text/event-stream")
        self.events = events
        self.extra_headers = headers or []
        self.ping_interval = ping_interval
        self.on_close = on_close
        self.stopping = stopping
        self.farewell = farewell

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"text/event-stream; charset=utf-8"),
                        (b"cache-control", b"no-cache"),
                        (b"x-accel-buffering", b"no"),
                        *self.extra_headers,
                    ],
                }
            )
            producer = asyncio.ensure_future(self._produce(send))
            watcher = asyncio.ensure_future(wait_for_disconnect(receive))
            stopper = asyncio.ensure_future(
                self.stopping.wait() if self.stopping is not None else asyncio.Future())
            try:
                await asyncio.wait({producer, watcher, stopper},
                                   return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (producer, watcher, stopper):
                    if not task.done():
                        task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await producer
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            if stopper.done() and not stopper.cancelled() and producer.cancelled():
                # The server is stopping: say so, and end the response properly.
                if self.farewell is not None:
                    await send({"type": "http.response.body", "body": self.farewell(),
                                "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            if producer.done() and not producer.cancelled() and producer.exception():
                raise producer.exception()  # type: ignore[misc]
        finally:
            aclose = getattr(self.events, "aclose", None)
            if aclose is not None:
                await aclose()
            if self.on_close is not None:
                self.on_close()

    async def _produce(self, send: Any) -> None:
        iterator = self.events.__aiter__()
        pending: asyncio.Future[bytes] | None = None
        try:
            while True:
                if pending is None:
                    pending = asyncio.ensure_future(iterator.__anext__())
                done, _ = await asyncio.wait({pending}, timeout=self.ping_interval)
                if not done:
                    await send({"type": "http.response.body", "body": PING, "more_body": True})
                    continue
                try:
                    chunk = pending.result()
                except StopAsyncIteration:
                    break
                pending = None
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            if pending is not None and not pending.done():
                pending.cancel()
                with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                    await pending

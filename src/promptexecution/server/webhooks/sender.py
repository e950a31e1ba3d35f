"""Batch webhooks: signed deliveries to a batch's `callback_url`, retried with backoff, and a
log of every attempt (webhooks/store.py).

A server listening on loopback may call loopback URLs (a local app receiving its own
callbacks); a server listening on any other interface refuses private, loopback and
link-local targets unless `allow_private_webhooks = true`, so a batch cannot make it probe
the network it sits in.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from ...webhooks import sign
from ..batches.store import BatchRow
from ..core.jsonfast import dumps_bytes

if TYPE_CHECKING:
    from ..context import ServerContext

log = logging.getLogger("promptexecution.server")

def summary(row: BatchRow) -> dict[str, Any]:
    done = row.completed + row.failed
    return {
        "total_items": row.total,
        "completed": row.completed,
        "failed": row.failed,
        "cancelled": row.cancelled,
        "total_cost": round(row.total_cost, 8),
        "total_tokens": row.total_tokens,
        "success_rate": round(100 * row.completed / done, 2) if done else None,
    }


class WebhookSender:
    def __init__(self, ctx: ServerContext, bind_host: str = "127.0.0.1") -> None:
        self.ctx = ctx
        self.loopback_server = _is_loopback_host(bind_host)
        self.backoff = ctx.config.webhook_retry_delays
        self._http: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def send(self, row: BatchRow, event: str) -> None:
        """Queues one delivery (and its retries) without blocking the caller."""
        url = row.options.get("callback_url")
        if not url:
            return
        task = asyncio.get_running_loop().create_task(self._deliver(row, event, url))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.aclose()

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=10.0, follow_redirects=False)
        return self._http

    async def _deliver(self, row: BatchRow, event: str, url: str) -> None:
        account = self.ctx.accounts.get_account(row.account_id)
        if account is None:
            return
        webhook_id = self.ctx.ids.new("msg")
        body = dumps_bytes({"event": event, "batch_id": row.id, "status": row.status,
                            "summary": summary(row), "timestamp": self.ctx.timestamp()})
        refused = await self._refusal(url)
        if refused:
            self.ctx.webhook_log.add(row.id, webhook_id, event, url, 1, None, refused, 0.0,
                                      False)
            return
        for attempt in range(1, len(self.backoff) + 2):
            timestamp = int(time.time())
            headers = {
                "content-type": "application/json",
                "user-agent": "promptexecution-webhooks",
                "webhook-id": webhook_id,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": sign(account.webhook_secret, webhook_id, timestamp, body),
            }
            started = time.perf_counter()
            status, error = None, None
            try:
                response = await self._client().post(url, content=body, headers=headers)
                status = response.status_code
                if status >= 300:
                    error = f"HTTP {status}"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"[:300]
            took = (time.perf_counter() - started) * 1000
            self.ctx.webhook_log.add(row.id, webhook_id, event, url, attempt, status, error,
                                      took, error is None)
            if error is None or attempt > len(self.backoff):
                return
            await asyncio.sleep(self.backoff[attempt - 1])

    async def _refusal(self, url: str) -> str | None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return "refused: not an http(s) URL"
        if self.loopback_server or self.ctx.config.allow_private_webhooks:
            return None
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                parts.hostname, parts.port or (443 if parts.scheme == "https" else 80),
                type=socket.SOCK_STREAM)
        except OSError as exc:
            return f"refused: cannot resolve {parts.hostname}: {exc}"
        for info in infos:
            address = ipaddress.ip_address(info[4][0])
            if address.is_private or address.is_loopback or address.is_link_local:
                return (f"refused: {parts.hostname} is a private address ({address}); set "
                        "allow_private_webhooks = true in server.toml to allow it")
        return None

def _is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

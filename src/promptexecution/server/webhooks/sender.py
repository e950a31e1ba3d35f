"""Batch webhooks: signed deliveries to a batch's `callback_url`, through a durable outbox.

An event is written to the outbox when it happens, with its body and `webhook-id` fixed, so
a receiver can dedupe. One task delivers what is due, retries after `webhook_retry_delays`,
logs every attempt, and removes the entry once it is delivered or given up. A server killed
between attempts finds the outbox on restart and goes on where it stopped.

Every delivery checks its target again (webhooks/targets.py) and connects to the address it
checked. Redirects are not followed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

import httpx

from ...webhooks import sign
from ..core.jsonfast import dumps_bytes
from .store import Pending
from .targets import Target, TargetRefused, Unresolved

if TYPE_CHECKING:
    from ..context import ServerContext

log = logging.getLogger("promptexecution.server")

MAX_IN_FLIGHT = 32
TIMEOUT = 10.0  # for a whole attempt: connecting, sending, and the answer's status line


def _now_us() -> int:
    # Retry times are real time, whatever clock the server's records use.
    return int(time.time() * 1_000_000)


class WebhookSender:
    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx
        self.backoff = ctx.config.webhook_retry_delays
        self._http: httpx.AsyncClient | None = None
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        # Deliveries whose attempt could not be recorded (a full disk): not before then.
        self._not_before: dict[str, float] = {}

    def start(self) -> None:
        self._loop_task = asyncio.get_running_loop().create_task(self._run(), name="webhooks")

    def send(self, account_id: str, batch_id: str, url: str | None, event: str,
             payload: dict[str, Any]) -> None:
        """Writes one delivery to the outbox; the delivery task takes it from there."""
        if not url:
            return
        entry = Pending(self.ctx.ids.new("msg"), account_id, batch_id, event, url,
                        dumps_bytes(payload), attempts=0, next_us=_now_us())
        self.ctx.webhook_store.enqueue(entry, _now_us())
        self._wake.set()

    async def aclose(self) -> None:
        tasks = [t for t in (self._loop_task, *self._in_flight.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.aclose()

    # -------------------------------------------------------------- delivering

    async def _run(self) -> None:
        store = self.ctx.webhook_store
        while True:
            self._wake.clear()
            wait = 1.0
            started = False
            try:
                room = MAX_IN_FLIGHT - len(self._in_flight)
                if room > 0:
                    now = time.monotonic()
                    for entry in store.due(_now_us(), room + len(self._in_flight)):
                        if entry.webhook_id in self._in_flight or room <= 0:
                            continue
                        if self._not_before.get(entry.webhook_id, 0.0) <= now:
                            room -= 1
                            started = True
                            self._start(entry)
                next_us = store.next_due_us()
                if next_us is not None:
                    wait = min(wait, max(0.0, (next_us - _now_us()) / 1e6))
                if wait == 0 and not started:
                    wait = 1.0  # what is due is in flight (its end wakes us) or held back
            except Exception:  # the outbox must outlive one bad read (a locked database)
                log.exception("webhook outbox: could not read due deliveries; retrying")
            with contextlib.suppress(TimeoutError):  # not wait_for: see BatchRunner._loop
                async with asyncio.timeout(max(wait, 0.01)):
                    await self._wake.wait()

    def _start(self, entry: Pending) -> None:
        task = asyncio.get_running_loop().create_task(self._deliver(entry))
        self._in_flight[entry.webhook_id] = task

        def done(_: asyncio.Task[None]) -> None:
            self._in_flight.pop(entry.webhook_id, None)
            self._wake.set()

        task.add_done_callback(done)

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False)
        return self._http

    async def _deliver(self, entry: Pending) -> None:
        store = self.ctx.webhook_store
        attempt = entry.attempts + 1
        started = time.perf_counter()
        status, error, final = None, None, False
        try:
            target = await self.ctx.webhook_targets.check(entry.url)
            status = await self._post(entry, target)
            if status >= 300:
                error = f"HTTP {status}"
        except Unresolved as exc:
            error = f"not delivered: {exc}"
        except TargetRefused as exc:
            error, final = f"refused: {exc}", True  # no retry makes a refused target right
        except TimeoutError:
            error = f"no answer within {TIMEOUT:g} s"
        except Exception as exc:  # httpx's errors, and whatever else: a failed attempt
            error = f"{type(exc).__name__}: {exc}"[:300]
        took = (time.perf_counter() - started) * 1000
        delay = self.backoff[min(attempt, len(self.backoff)) - 1] if self.backoff else 60.0
        try:
            store.add_attempt(entry, attempt, status, error, took)
            if error is None or final or attempt > len(self.backoff):
                store.remove(entry.webhook_id)
            else:
                store.reschedule(entry.webhook_id, attempt, _now_us() + int(delay * 1e6))
            self._not_before.pop(entry.webhook_id, None)
        except Exception:
            # Not even that could be stored: try again later, not at once and forever.
            self._not_before[entry.webhook_id] = time.monotonic() + max(delay, 1.0)
            log.exception("webhook %s: could not record attempt %d", entry.webhook_id, attempt)
            return
        if error is not None:
            log.warning("webhook %s for batch %s, attempt %d: %s", entry.event, entry.batch_id,
                        attempt, error)

    async def _post(self, entry: Pending, target: Target) -> int:
        account = self.ctx.accounts.get_account(entry.account_id)
        if account is None:
            raise TargetRefused("the batch's account no longer exists")
        timestamp = int(time.time())
        headers = {
            "host": target.host_header,
            "content-type": "application/json",
            "user-agent": "promptexecution-webhooks",
            "webhook-id": entry.webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(account.webhook_secret, entry.webhook_id, timestamp,
                                      entry.body),
        }
        extensions = {"sni_hostname": target.host} if target.url.scheme == "https" else {}
        last: httpx.HTTPError | None = None
        async with asyncio.timeout(TIMEOUT):
            for address in target.addresses:  # connect only where the check said we may
                try:
                    # The status is the answer; the body is never read (it could be endless).
                    async with self._client().stream(
                            "POST", target.url_for(address), content=entry.body,
                            headers=headers, extensions=extensions) as response:
                        return response.status_code
                except httpx.ConnectError as exc:
                    last = exc
        assert last is not None
        raise last

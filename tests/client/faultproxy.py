"""A small fault-injecting HTTP/1.1 proxy for the SDK tests, in front of the real server.

It listens on 127.0.0.1 (its own event loop in a background thread) and handles one request
per connection. For each request it takes the next `Fault` of its plan (forward when the plan
is empty) and either forwards it to the server, answers with a canned status, drops the
connection without answering (before or after the server did the work), or relays only the
first bytes of the server's (streamed) answer and then cuts the connection. It records every
request it saw (method, path, headers, body, arrival time) so tests can check what the SDK
sent on each attempt, and can rewrite the server's `Date` header (for pacing tests).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

_ERROR_TYPES = {
    429: ("rate_limit_error", "BURST_LIMIT_EXCEEDED"),
    500: ("server_error", "INTERNAL_ERROR"),
    502: ("server_error", "BAD_GATEWAY"),
    503: ("service_unavailable", "SERVICE_UNAVAILABLE"),
    504: ("server_error", "GATEWAY_TIMEOUT"),
}


@dataclass
class Fault:
    """What to do with one request.

    kind: `forward`; `status` (answer `status` with `headers` and an error body in the spec's
    shape, or `body` when given); `drop` (close without forwarding); `drop_after` (forward,
    let the server answer, then close without relaying anything); `cut` (relay the response
    head and `cut_after` bytes of its body, then close).
    """

    kind: str = "forward"
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    cut_after: int = 0


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    at: float  # time.monotonic() when the request had fully arrived
    fault: str
    response_status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body)


class FaultProxy:
    def __init__(self, upstream: str, *, date: Callable[[], str] | None = None) -> None:
        parts = urlsplit(upstream)
        assert parts.hostname == "127.0.0.1" and parts.port
        self.upstream_host = parts.hostname
        self.upstream_port = parts.port
        self.date = date
        self.seen: list[Seen] = []
        self.port = 0
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fault-proxy", daemon=True)

    # ------------------------------------------------------------------ control

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        if not self._ready.wait(5):
            raise RuntimeError("fault proxy did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v2"

    def then(self, *faults: Fault) -> FaultProxy:
        """Queues faults for the next requests, in order."""
        with self._lock:
            self._faults.extend(faults)
        return self

    def pending(self) -> int:
        with self._lock:
            return len(self._faults)

    def requests(self, method: str | None = None, path: str | None = None) -> list[Seen]:
        """The requests seen so far, optionally only those to `method` / `path` (under /v2)."""
        return [
            s for s in list(self.seen)
            if (method is None or s.method == method)
            and (path is None or s.path.split("?", 1)[0] == "/v2" + path)
        ]

    # ------------------------------------------------------------------ the loop

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0)
        )
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()
            tasks = asyncio.all_tasks(self._loop)
            for task in tasks:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            self._loop.close()

    def _next_fault(self) -> Fault:
        with self._lock:
            return self._faults.popleft() if self._faults else Fault()

    def _canned(self, fault: Fault) -> bytes:
        request_id = f"req_proxy{next(self._ids):06d}"
        body = fault.body
        if body is None:
            type_, code = _ERROR_TYPES.get(fault.status, ("server_error", "INJECTED"))
            body = json.dumps(
                {"error": {"type": type_, "code": code,
                           "message": f"Injected {fault.status} by the test proxy",
                           "request_id": request_id}}
            ).encode()
        headers = {
            "Content-Type": "application/json",
            "Content-Length": str(len(body)),
            "Connection": "close",
            "X-Request-ID": request_id,
            **fault.headers,
        }
        head = f"HTTP/1.1 {fault.status} Injected\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in headers.items()
        )
        return head.encode("latin-1") + b"\r\n" + body

    def _rewrite_head(self, head: bytes, seen: Seen) -> bytes:
        lines = head.decode("latin-1").split("\r\n")
        seen.response_status = int(lines[0].split(" ", 2)[1])
        out = [lines[0]]
        for line in lines[1:]:
            if not line:
                continue
            name, _, value = line.partition(":")
            if self.date is not None and name.strip().lower() == "date":
                value = " " + self.date()
            seen.response_headers[name.strip().lower()] = value.strip()
            out.append(f"{name}:{value}")
        return ("\r\n".join(out) + "\r\n\r\n").encode("latin-1")

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream: asyncio.StreamWriter | None = None
        try:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                return
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            raw_headers: list[tuple[str, str]] = []
            for line in lines[1:]:
                if line:
                    name, _, value = line.partition(":")
                    raw_headers.append((name.strip(), value.strip()))
            headers = {k.lower(): v for k, v in raw_headers}
            length = int(headers.get("content-length", "0") or 0)
            body = await reader.readexactly(length) if length else b""
            fault = self._next_fault()
            seen = Seen(method, target, headers, body, time.monotonic(), fault.kind)
            self.seen.append(seen)

            if fault.kind == "drop":
                return
            if fault.kind == "status":
                seen.response_status = fault.status
                writer.write(self._canned(fault))
                await writer.drain()
                return

            up_reader, upstream = await asyncio.open_connection(
                self.upstream_host, self.upstream_port
            )
            request_head = f"{method} {target} HTTP/1.1\r\n" + "".join(
                f"{k}: {v}\r\n" for k, v in raw_headers if k.lower() != "connection"
            ) + "Connection: close\r\n\r\n"
            upstream.write(request_head.encode("latin-1") + body)
            await upstream.drain()
            response_head = self._rewrite_head(await up_reader.readuntil(b"\r\n\r\n"), seen)

            if fault.kind == "drop_after":
                await up_reader.read()  # the server finishes its answer; the client gets none
                return
            writer.write(response_head)
            if fault.kind == "cut":
                sent = 0
                while sent < fault.cut_after:
                    chunk = await up_reader.read(min(65536, fault.cut_after - sent))
                    if not chunk:
                        break
                    writer.write(chunk)
                    sent += len(chunk)
                await writer.drain()
                return
            while chunk := await up_reader.read(65536):
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            for stream in (writer, upstream):
                if stream is not None:
                    stream.close()

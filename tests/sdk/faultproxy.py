"""A small fault-injecting HTTP proxy for the SDK's retry tests.

It sits between the SDK and the real server on 127.0.0.1 and, for the next requests in its
plan, forwards them, answers with a canned status, drops the connection (before or after
the server did the work), or cuts a streamed response short. Every request it sees is
recorded (method, path, headers) so tests can check what the SDK sent on each attempt.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from dataclasses import dataclass, field


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class Fault:
    """What to do with one request. kind: forward | status | drop | drop_after | cut."""

    kind: str = "forward"
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b'{"error": {"type": "service_unavailable", "code": "INJECTED", "message": "x"}}'
    cut_after: int = 0  # bytes of the response to relay before cutting the connection
    delay: float = 0.0


class FaultProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.plan: deque[Fault] = deque()
        self.seen: list[Seen] = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        self._ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v2"

    def then(self, *faults: Fault) -> FaultProxy:
        self.plan.extend(faults)
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._client, "127.0.0.1", 0)
        )
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    return
                head, body, seen = request
                self.seen.append(seen)
                fault = self.plan.popleft() if self.plan else Fault()
                if fault.delay:
                    await asyncio.sleep(fault.delay)
                if fault.kind == "drop":
                    return
                if fault.kind == "status":
                    headers = {"content-type": "application/json", **fault.headers,
                               "content-length": str(len(fault.body)), "connection": "close"}
                    lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
                    writer.write(f"HTTP/1.1 {fault.status} Injected\r\n{lines}\r\n".encode()
                                 + fault.body)
                    await writer.drain()
                    return
                response = await self._forward(head, body, fault)
                if fault.kind == "drop_after":
                    return  # the server did the work; the client never hears of it
                writer.write(response)
                await writer.drain()
                return  # upstream answered with Connection: close
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()

    async def _forward(self, head: bytes, body: bytes, fault: Fault) -> bytes:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        lines = [line for line in head.split(b"\r\n") if line and
                 not line.lower().startswith(b"connection:")]
        up_writer.write(b"\r\n".join(lines) + b"\r\nConnection: close\r\n\r\n" + body)
        await up_writer.drain()
        chunks = []
        total = 0
        while True:
            chunk = await up_reader.read(65536)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if fault.kind == "cut" and total >= fault.cut_after:
                break
        up_writer.close()
        data = b"".join(chunks)
        return data[: fault.cut_after] if fault.kind == "cut" else data


async def _read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes, Seen] | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    head = head[:-4]
    first, *header_lines = head.decode("latin-1").split("\r\n")
    method, path, _ = first.split(" ", 2)
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = await reader.readexactly(length) if length else b""
    return head, body, Seen(method, path, headers)

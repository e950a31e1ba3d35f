"""Shared fixtures: a real server (uvicorn in a background thread, free loopback port)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from promptexecution.server.app import DB_NAME, create_app
from promptexecution.server.context import ServerContext
from promptexecution.server.core.accounts import AccountStore
from promptexecution.server.core.clock import Clock, IdSource
from promptexecution.server.core.config import ServerConfig
from promptexecution.server.db.connection import Database


@dataclass
class ServerHandle:
    """A running server: its URLs, its local (enterprise) key, and helpers to make others."""

    url: str
    data_dir: Path
    local_key: str
    ctx: ServerContext
    server: uvicorn.Server
    app: Any = None
    _keys: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"{self.url}/v2"

    def make_key(
        self,
        plan: str = "professional",
        permissions: tuple[str, ...] = ("execute", "batch", "templates"),
        account_id: str | None = None,
    ) -> str:
        """A key on a new account of `plan` (through a second connection, like `pe keys`)."""
        database = Database(self.data_dir / DB_NAME)
        store = AccountStore(database)
        try:
            now = int(time.time() * 1_000_000)
            if account_id is None:
                account_id = store.create_account(plan, f"test-{plan}", now).id
            _, plaintext = store.create_key(
                account_id, name="test", permissions=permissions, mode="test", now_us=now
            )
            return plaintext
        finally:
            database.close()

    def searchable(self) -> None:
        """Waits until the full-text index holds every execution stored so far (it trails
        the writes by a moment, on its own thread)."""
        newest = self.ctx.database.conn.execute("SELECT MAX(seq) FROM executions").fetchone()[0]
        assert self.ctx.text_index.wait_until_current(newest or 0)

    def client(self, key: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key or self.local_key}"}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30, **kwargs)


def free_socket(port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(512)
    return sock


@contextmanager
def serve_in_thread(app: Any, lifespan: str = "off", port: int = 0,
                    ) -> Iterator[tuple[str, uvicorn.Server]]:
    """Serves an ASGI app with uvicorn in a background thread on a (free) loopback port."""
    sock = free_socket(port)
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan=lifespan,
                       timeout_graceful_shutdown=2)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", server
    finally:
        # As `pe serve` does on SIGTERM: open streams (a console's batch watch) end now
        # rather than hold the grace period (2 s a test).
        ctx = getattr(getattr(app, "state", None), "ctx", None)
        if ctx is not None:
            ctx.stop_soon()
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextmanager
def running_server(
    data_dir: Path,
    *,
    config: ServerConfig | None = None,
    clock: Clock | None = None,
    ids: IdSource | None = None,
    monotonic: Callable[[], float] | None = None,
    port: int = 0,
    bind_host: str = "127.0.0.1",
) -> Iterator[ServerHandle]:
    """A server on a loopback port; `bind_host` is the address it believes it is bound to
    (what decides, for example, whether webhooks may go to loopback)."""
    app = create_app(data_dir, config=config, clock=clock, ids=ids, monotonic=monotonic,
                     bind_host=bind_host)
    try:
        with serve_in_thread(app, lifespan="on", port=port) as (url, server):
            yield ServerHandle(
                url=url,
                data_dir=data_dir,
                local_key=(data_dir / "local.key").read_text().strip(),
                ctx=app.state.ctx,
                server=server,
                app=app,
            )
    finally:
        app.state.ctx.database.close()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    """One shared server for tests that don't depend on global state."""
    with running_server(tmp_path_factory.mktemp("server")) as handle:
        yield handle


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[ServerHandle]:
    """A server of its own, for tests that count things or change limits."""
    with running_server(tmp_path / "data") as handle:
        yield handle


@pytest.fixture
def client(server: ServerHandle) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


def assert_error(response: httpx.Response, status: int, type_: str, code: str) -> dict[str, Any]:
    """Checks the spec's error shape and returns the error object."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert error["type"] == type_, error
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"]
    assert error["request_id"].startswith("req_")
    assert error["request_id"] == response.headers["x-request-id"]
    assert error["timestamp"].endswith("Z")
    return dict(error)

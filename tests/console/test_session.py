"""ApiSession against real servers: connect, header numbers from observer events (no extra
requests), a wrong key, and reconnecting when the server comes back."""

from __future__ import annotations

import asyncio
import socket
import threading
from pathlib import Path

import uvicorn

from promptexecution.console.config import Profile
from promptexecution.console.embedded import EmbeddedServer
from promptexecution.console.session import ApiSession, SessionStatus
from promptexecution.server.app import create_app
from tests.conftest import ServerHandle, running_server


async def test_connect_and_header_numbers_from_observed_requests(server: ServerHandle) -> None:
    key = server.make_key("professional")
    session = ApiSession(Profile("work", server.base_url, api_key=key))
    seen: list[SessionStatus] = []
    session.subscribe(seen.append)
    status = await session.connect()
    assert status.state == "connected" and status.plan == "professional"
    assert status.hourly_remaining == 10_000 and not status.unlimited
    assert status.masked_key == f"pe_sk_test_…{key[-4:]}"
    assert seen[0].state == "connecting"
    assert session.client is not None
    result = await session.client.execute(prompt="count my cost")
    assert session.status.cost == result.metadata.cost  # type: ignore[union-attr]
    assert session.status.hourly_remaining == 9_999
    requests = session.status.requests
    assert requests == 2  # verify + execute: the header cost no extra requests
    await session.close()


async def test_a_wrong_key_is_unauthorized_not_offline(server: ServerHandle) -> None:
    session = ApiSession(Profile("bad", server.base_url, api_key="pe_sk_live_wrong"))
    status = await session.connect()
    assert status.state == "unauthorized" and "INVALID_API_KEY" in status.message
    missing = ApiSession(Profile("none", server.base_url, api_key_env="NO_SUCH_VAR_X"))
    assert (await missing.connect()).state == "unauthorized"
    await session.close()


async def test_offline_until_the_server_appears(tmp_path: Path) -> None:
    """The profile points at a port where nothing listens yet: the session says offline and
    keeps trying, then connects by itself once a server listens there."""
    with running_server(tmp_path / "data") as srv:
        key = srv.local_key  # made by a first start; that server is gone again
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]  # reserved, not yet listening: connections are refused
    session = ApiSession(Profile("later", f"http://127.0.0.1:{port}/v2", api_key=key),
                         retry_delays=(0.05,))
    task = asyncio.create_task(session.connect())
    await asyncio.sleep(0.3)
    assert session.status.state == "offline" and not task.done()

    app = create_app(tmp_path / "data")
    sock.listen(64)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        status = await asyncio.wait_for(task, 10)
        assert status.state == "connected" and status.plan == "enterprise"
    finally:
        await session.close()
        server.should_exit = True
        await asyncio.to_thread(thread.join, 10)
        sock.close()
        app.state.ctx.database.close()


async def test_embedded_profile_starts_and_stops_its_server(tmp_path: Path) -> None:
    session = ApiSession(Profile("local"), embedded=EmbeddedServer(tmp_path))
    status = await session.connect()
    assert status.state == "connected" and status.plan == "enterprise" and status.unlimited
    assert (tmp_path / "server.json").exists()
    await session.close()
    assert not (tmp_path / "server.json").exists()


async def test_a_503_from_verify_is_retried_and_said_not_stuck_on_connecting(
        server: ServerHandle) -> None:
    from tests.client.faultproxy import Fault, FaultProxy

    with FaultProxy(server.url) as proxy:
        proxy.then(Fault("status", 503, headers={"Retry-After": "0"}), Fault("status", 503))
        session = ApiSession(Profile("flaky", proxy.url, api_key=server.local_key),
                             retry_delays=(0.05,))
        seen: list[SessionStatus] = []
        session.subscribe(seen.append)
        status = await asyncio.wait_for(session.connect(), 10)
        assert status.state == "connected" and status.plan == "enterprise"
        offline = [s for s in seen if s.state == "offline"]
        assert offline and all("SERVICE_UNAVAILABLE" in s.message for s in offline)
        assert len(proxy.requests("GET", "/auth/verify")) == 3  # two refused, one answered
        await session.close()

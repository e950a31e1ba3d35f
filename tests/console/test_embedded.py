"""The embedded server: started as a child when none runs, reused when one does, and
stopped on exit only by the console that started it."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from promptexecution.console.embedded import EmbeddedServer, EmbeddedServerError


def _verify(base_url: str, key: str) -> int:
    response = httpx.get(f"{base_url}/auth/verify", headers={"Authorization": f"Bearer {key}"})
    return response.status_code


def test_start_reuse_and_stop(tmp_path: Path) -> None:
    first = EmbeddedServer(tmp_path)
    connection = first.connect()
    try:
        assert connection.started_here
        assert connection.base_url.startswith("http://127.0.0.1:")
        assert _verify(connection.base_url, connection.api_key) == 200

        second = EmbeddedServer(tmp_path)
        reused = second.connect()
        assert not reused.started_here and reused.base_url == connection.base_url
        second.stop()  # not ours: it keeps running
        assert _verify(connection.base_url, connection.api_key) == 200
    finally:
        first.stop()
    with pytest.raises(httpx.HTTPError):
        _verify(connection.base_url, connection.api_key)
    assert not (tmp_path / "server.json").exists()


def test_a_stale_server_file_starts_a_new_server(tmp_path: Path) -> None:
    (tmp_path / "server.json").write_text(json.dumps(
        {"pid": 999999, "url": "http://127.0.0.1:9", "base_url": "http://127.0.0.1:9/v2"}))
    server = EmbeddedServer(tmp_path)
    try:
        connection = server.connect()
        assert connection.started_here and connection.base_url != "http://127.0.0.1:9/v2"
    finally:
        server.stop()


def test_a_server_that_cannot_start_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "server.toml").write_text("default_model = [\n")
    with pytest.raises(EmbeddedServerError, match="exited.*server.toml"):
        EmbeddedServer(tmp_path).connect(timeout=20)

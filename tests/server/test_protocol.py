"""HTTP details a careful user meets: the Allow header, URLs that never come from the Host
header, 415 for a body that is not JSON, a client that leaves mid-body, and SIGTERM with a
stream open."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from promptexecution.server.core.config import ServerConfig
from tests.conftest import ServerHandle, assert_error, running_server
from tests.server.processes import start_server


def test_405_allow_lists_every_method_of_the_path(client: httpx.Client) -> None:
    response = client.post("/templates/greeting_template")
    assert_error(response, 405, "validation_error", "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == "DELETE, GET, PUT"
    assert "DELETE, GET, PUT" in response.json()["error"]["message"]
    assert client.delete("/templates").headers["allow"] == "GET, POST"


def test_urls_come_from_the_bound_address_not_the_host_header(
    server: ServerHandle, client: httpx.Client
) -> None:
    spoofed = {"Host": "evil.example"}
    batch = client.post("/batch", json={"prompt": "x", "inputs": [{}]}, headers=spoofed).json()
    assert batch["progress_url"] == f"{server.base_url}/batch/{batch['batch_id']}/progress"
    assert batch["results_url"].startswith(server.base_url)
    template = client.get("/templates/greeting_template", headers=spoofed).json()
    assert template["url"] == f"{server.base_url}/templates/{template['template_id']}"


def test_urls_come_from_public_url_when_set(tmp_path: Path) -> None:
    config = ServerConfig(public_url="https://pe.example.com/api")
    with running_server(tmp_path, config=config) as srv, srv.client() as c:
        template = c.get("/templates/greeting_template").json()
        assert template["url"] == (
            f"https://pe.example.com/api/v2/templates/{template['template_id']}")
        batch = c.post("/batch", json={"prompt": "x", "inputs": [{}]}).json()
        assert batch["results_url"].startswith("https://pe.example.com/api/v2/batch/")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", "application/xml"])
def test_a_body_that_is_not_json_is_a_415(client: httpx.Client, content_type: str) -> None:
    for method, path in (("POST", "/execute"), ("POST", "/templates"), ("POST", "/batch"),
                         ("PUT", "/templates/greeting_template")):
        response = client.request(method, path, content=b'{"prompt": "x"}',
                                  headers={"Content-Type": content_type})
        error = assert_error(response, 415, "validation_error", "UNSUPPORTED_MEDIA_TYPE")
        assert error["details"]["expected"] == "application/json"


def test_json_content_types_are_accepted(client: httpx.Client) -> None:
    for content_type in ("application/json", "application/json; charset=utf-8",
                         "application/merge-patch+json", None):
        headers = {"Content-Type": content_type} if content_type else {}
        response = client.post("/execute", content=b'{"prompt": "x"}', headers=headers)
        assert response.status_code == 200, (content_type, response.text)


def test_a_client_leaving_mid_body_is_one_info_line(
    server: ServerHandle, caplog: pytest.LogCaptureFixture
) -> None:
    host, port = server.url.removeprefix("http://").split(":")
    with caplog.at_level(logging.INFO, logger="promptexecution.server"):
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(b"POST /v2/execute HTTP/1.1\r\nHost: x\r\n"
                         b"Authorization: Bearer " + server.local_key.encode() + b"\r\n"
                         b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
                         b'{"prompt": "half')
            time.sleep(0.2)
        deadline = time.monotonic() + 5
        while not any("disconnected" in r.message for r in caplog.records):
            assert time.monotonic() < deadline, [r.message for r in caplog.records]
            time.sleep(0.02)
    ours = [r for r in caplog.records if r.name == "promptexecution.server"]
    assert [r.levelname for r in ours] == ["INFO"], [(r.levelname, r.message) for r in ours]
    assert ours[0].exc_info is None and "\n" not in ours[0].getMessage()


def _read_events(response: httpx.Response, seen: list[dict[str, Any]],
                 first: threading.Event) -> None:
    event = None
    for line in response.iter_lines():
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: "):
            seen.append({"event": event, "data": json.loads(line.removeprefix("data: "))})
            first.set()


def test_sigterm_with_a_stream_open_shuts_down_cleanly(tmp_path: Path) -> None:
    data = tmp_path / "data"
    proc, url = start_server(data, "--log-level", "warning")
    key = (data / "local.key").read_text().strip()
    headers = {"Authorization": f"Bearer {key}"}
    seen: list[dict[str, Any]] = []
    first = threading.Event()
    body = {"prompt": "Tell me a long story", "stream": True,
            "model_config": {"simulate": {"hold_after_tokens": 3}}}
    try:
        with httpx.Client(base_url=url, headers=headers, timeout=30) as c, \
                c.stream("POST", "/execute", json=body) as response:
            reader = threading.Thread(target=_read_events, args=(response, seen, first))
            reader.start()
            assert first.wait(10)
            started = time.monotonic()
            os.kill(proc.pid, signal.SIGTERM)
            reader.join(10)
            output, _ = proc.communicate(timeout=10)
            took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, output
    assert took < 5, took  # within uvicorn's grace period, not held for it
    assert "Traceback" not in output and "ERROR" not in output, output
    assert [e["event"] for e in seen] == ["delta", "error"]
    assert seen[-1]["data"]["error"]["code"] == "SERVER_SHUTTING_DOWN"
    execution_id = seen[-1]["data"]["error"]["details"]["execution_id"]
    proc, url = start_server(data, "--log-level", "warning")
    try:
        with httpx.Client(base_url=url, headers=headers) as c:
            record = c.get(f"/executions/{execution_id}").json()
    finally:
        proc.terminate()
        proc.wait(10)
    assert record["status"] == "cancelled"
    assert record["content"] == seen[0]["data"]["delta"]


def test_sigterm_during_a_plain_execute_answers_503_at_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    proc, url = start_server(data, "--log-level", "warning")
    key = (data / "local.key").read_text().strip()
    answers: list[httpx.Response] = []

    def slow_execute() -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"},
                          timeout=30) as c:
            answers.append(c.post("/execute", json={"prompt": "x", "model_config": {
                "simulate": {"latency_ms": 8000}}}))

    caller = threading.Thread(target=slow_execute)
    try:
        caller.start()
        time.sleep(0.5)
        started = time.monotonic()
        os.kill(proc.pid, signal.SIGTERM)
        caller.join(10)
        output, _ = proc.communicate(timeout=10)
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0 and took < 3, (took, output)
    assert "Traceback" not in output and "ERROR" not in output, output
    assert_error(answers[0], 503, "service_unavailable", "SERVER_SHUTTING_DOWN")
    assert answers[0].headers["retry-after"] == "1"

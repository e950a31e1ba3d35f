"""Keys: missing, malformed, unknown, revoked; permissions; accounts can't see each other."""

from __future__ import annotations

import subprocess
import sys

import httpx

from tests.conftest import ServerHandle, assert_error


def test_missing_key(server: ServerHandle) -> None:
    response = httpx.get(f"{server.base_url}/auth/verify")
    assert_error(response, 401, "authentication_error", "MISSING_API_KEY")
    assert response.headers["www-authenticate"] == "Bearer"


def test_malformed_header(server: ServerHandle) -> None:
    for header in ("Basic abc", "Bearer", "pe_sk_live_x"):
        response = httpx.get(f"{server.base_url}/auth/verify", headers={"Authorization": header})
        assert_error(response, 401, "authentication_error", "INVALID_AUTHORIZATION_HEADER")


def test_unknown_and_wrongly_prefixed_keys(server: ServerHandle) -> None:
    for key in ("pe_sk_live_abc123def456ghi789", "sk-openai-key", server.local_key + "x"):
        with server.client(key) as c:
            error = assert_error(c.get("/auth/verify"), 401, "authentication_error",
                                 "INVALID_API_KEY")
        assert key not in error["message"]


def test_revoked_key_stops_working_at_once(server: ServerHandle) -> None:
    key = server.make_key("basic")
    with server.client(key) as c:
        key_id = c.get("/auth/verify").json()["key"]["id"]
        result = subprocess.run(
            [sys.executable, "-m", "promptexecution.cli", "keys", "revoke", key_id,
             "--data-dir", str(server.data_dir)],
            capture_output=True, text=True, check=True,
        )
        assert key_id in result.stdout
        assert_error(c.get("/auth/verify"), 401, "authentication_error", "INVALID_API_KEY")


def test_permissions_are_enforced(server: ServerHandle) -> None:
    key = server.make_key("professional", permissions=("templates",))
    with server.client(key) as c:
        error = assert_error(c.post("/execute", json={"prompt": "hi"}), 403,
                             "permission_error", "INSUFFICIENT_PERMISSIONS")
        assert error["details"]["required_permission"] == "execute"
        assert c.get("/templates").status_code == 200  # reads need no special permission
    key = server.make_key("professional", permissions=("execute",))
    with server.client(key) as c:
        response = c.post("/templates", json={"name": "t", "prompt": "x"})
        assert_error(response, 403, "permission_error", "INSUFFICIENT_PERMISSIONS")


def test_other_accounts_resources_are_404(server: ServerHandle, client: httpx.Client) -> None:
    execution_id = client.post("/execute", json={"prompt": "mine"}).json()["execution_id"]
    template_id = client.get("/templates/greeting_template").json()["template_id"]
    with server.client(server.make_key("enterprise")) as other:
        assert_error(other.get(f"/executions/{execution_id}"), 404, "not_found_error",
                     "EXECUTION_NOT_FOUND")
        assert_error(other.get(f"/templates/{template_id}"), 404, "not_found_error",
                     "TEMPLATE_NOT_FOUND")
        response = other.post("/execute", json={"template_id": template_id,
                                                "variables": {"name": "x"}})
        assert_error(response, 404, "not_found_error", "TEMPLATE_NOT_FOUND")
        listed = other.get("/executions").json()
        assert execution_id not in {e["execution_id"] for e in listed["executions"]}


def test_basic_plan_cannot_pick_a_custom_model(server: ServerHandle) -> None:
    with server.client(server.make_key("basic")) as c:
        ok = c.post("/execute", json={"prompt": "hi", "model_config": {"model": "simulator"}})
        assert ok.status_code == 200
        # The only other model needs a configured provider; an unknown one is a 400 first.
        response = c.post("/execute", json={"prompt": "hi", "model_config": {"model": "gpt-9"}})
        error = assert_error(response, 400, "validation_error", "MODEL_NOT_FOUND")
        assert "simulator" in error["details"]["available_models"]

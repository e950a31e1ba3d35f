"""`pe serve` and `pe keys`, run as real subprocesses."""

from __future__ import annotations

import signal
import stat
from pathlib import Path

import httpx

from tests.conftest import ServerHandle
from tests.server.processes import pe, serving


def test_help_lists_commands() -> None:
    result = pe("--help")
    assert result.returncode == 0
    assert "serve" in result.stdout and "keys" in result.stdout


def test_serve_health_key_file_and_clean_sigterm(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with serving(data) as (proc, base_url):
        root = base_url.removesuffix("/v2")
        assert httpx.get(f"{root}/health").status_code == 200
        key = (data / "local.key").read_text().strip()
        assert stat.S_IMODE((data / "local.key").stat().st_mode) == 0o600
        assert key.startswith("pe_sk_live_")
        verify = httpx.get(f"{base_url}/auth/verify", headers={"Authorization": f"Bearer {key}"})
        assert verify.json()["plan"] == "enterprise"
        assert (data / "server.json").exists()

        second = pe("serve", "--port", "0", "--data-dir", str(data))
        assert second.returncode == 1
        assert "already running" in second.stderr and base_url.removesuffix("/v2") in second.stderr

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    assert not (data / "server.json").exists()
    with serving(data) as (_, base_url):  # restarts on the same data, same key
        again = httpx.get(f"{base_url}/auth/verify", headers={"Authorization": f"Bearer {key}"})
        assert again.status_code == 200


def test_serve_reads_pe_data_dir(tmp_path: Path) -> None:
    with serving(tmp_path, env={"PE_DATA_DIR": str(tmp_path / "envdir")}) as (_, base_url):
        assert base_url.startswith("http://127.0.0.1:")
    assert (tmp_path / "envdir" / "local.key").exists()


def test_serve_reports_a_busy_port(tmp_path: Path, server: ServerHandle) -> None:
    port = server.url.rsplit(":", 1)[1]
    result = pe("serve", "--port", port, "--data-dir", str(tmp_path))
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


def test_keys_create_list_and_account_reuse(server: ServerHandle) -> None:
    data = str(server.data_dir)
    created = pe("keys", "create", "--data-dir", data, "--plan", "basic", "--name", "ci",
                 "--permissions", "execute,templates")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("pe_sk_live_")
    with server.client(key) as c:
        info = c.get("/auth/verify").json()
    assert info["plan"] == "basic" and info["permissions"] == ["execute", "templates"]

    more = pe("keys", "create", "--data-dir", data, "--account", info["account_id"], "--test")
    second = more.stdout.strip().splitlines()[-1]
    assert second.startswith("pe_sk_test_")
    with server.client(second) as c:
        assert c.get("/auth/verify").json()["account_id"] == info["account_id"]

    listing = pe("keys", "list", "--data-dir", data)
    assert listing.returncode == 0
    assert info["key"]["id"] in listing.stdout
    assert key not in listing.stdout and second not in listing.stdout

    bad = pe("keys", "create", "--data-dir", data, "--permissions", "root")
    assert bad.returncode == 2 and "unknown permissions" in bad.stderr
    missing = pe("keys", "create", "--data-dir", data, "--account", "acc_nope")
    assert missing.returncode == 2 and "no account" in missing.stderr
    assert pe("keys", "revoke", "key_nope", "--data-dir", data).returncode == 1


def test_bad_server_toml_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "server.toml").write_text("default_model = [\n")
    result = pe("serve", "--port", "0", "--data-dir", str(tmp_path))
    assert result.returncode == 1
    assert "server.toml" in result.stderr and "TOML" in result.stderr
    (tmp_path / "server.toml").write_text('default_model = "gpt-unknown"\n')
    result = pe("serve", "--port", "0", "--data-dir", str(tmp_path))
    assert result.returncode == 1 and "gpt-unknown" in result.stderr

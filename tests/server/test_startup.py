"""Start-up and disk trouble: one clear line and a non-zero exit for a database that cannot
be used, /ready that tells the truth about a full disk, and files only their owner reads."""

from __future__ import annotations

import contextlib
import sqlite3
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from promptexecution.server.app import DB_NAME
from promptexecution.server.db.connection import Database
from promptexecution.server.db.migrations import SCHEMA_VERSION
from tests.server.processes import pe, serving


def _refused(data: Path, *expected: str) -> str:
    result = pe("serve", "--port", "0", "--data-dir", str(data))
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 1, output
    assert "Traceback" not in output, output
    line = result.stderr.strip()
    assert "\n" not in line, output
    for text in expected:
        assert text in line, line
    return line


def test_a_damaged_database_is_one_clear_line(tmp_path: Path) -> None:
    tmp_path.joinpath(DB_NAME).write_bytes(b"this is not sqlite" * 300)
    _refused(tmp_path, "not a pe database", "move it away")


def test_a_database_that_is_a_directory_is_one_clear_line(tmp_path: Path) -> None:
    tmp_path.joinpath(DB_NAME).mkdir()
    _refused(tmp_path, "is a directory")


def test_a_database_from_a_newer_version_is_one_clear_line(tmp_path: Path) -> None:
    Database(tmp_path / DB_NAME).close()
    db = sqlite3.connect(tmp_path / DB_NAME)
    db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    db.commit()
    db.close()
    _refused(tmp_path, "upgrade promptexecution")


@contextlib.contextmanager
def small_disk(where: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted at `where` (root only: skipped elsewhere)."""
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _fill(disk: Path) -> Path:
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as handle, contextlib.suppress(OSError):
        while True:
            handle.write(b"\0" * 65536)
    return filler


def test_a_full_disk_at_start_is_one_clear_line(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", "512k") as disk:
        _fill(disk)
        _refused(disk / "data", "disk", "full", "free some space")


def test_ready_says_not_ready_while_the_disk_is_full(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", "48m") as disk, serving(disk / "data") as (_, url):
        root = url.removesuffix("/v2")
        assert httpx.get(f"{root}/ready").json() == {"status": "ready"}
        filler = _fill(disk)
        time.sleep(1.1)  # /ready looks again at most once a second
        full = httpx.get(f"{root}/ready")
        assert full.status_code == 503
        assert full.json()["status"] == "unavailable" and "full" in full.json()["reason"]
        assert httpx.get(f"{root}/health").status_code == 200  # alive, just not ready
        key = (disk / "data" / "local.key").read_text().strip()
        big = {"prompt": "x" * 900_000}
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as c:
            failed = c.post("/execute", json=big)
        assert failed.status_code == 503, failed.text  # the disk's fault, and said so
        assert failed.json()["error"]["code"] == "STORAGE_UNAVAILABLE"
        filler.unlink()
        # Ready again once a write succeeds and the failure is 10 s old.
        deadline = time.monotonic() + 15
        while httpx.get(f"{root}/ready").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.5)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_database_and_data_dir_are_owner_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with serving(data) as (_, url):
        httpx.get(f"{url.removesuffix('/v2')}/health")
        files = [data / DB_NAME, data / f"{DB_NAME}-wal", data / f"{DB_NAME}-shm"]
        assert {p.name: _mode(p) for p in files} == {p.name: 0o600 for p in files}
        assert _mode(data) == 0o700


def test_an_existing_install_is_made_owner_only_on_start(tmp_path: Path) -> None:
    data = tmp_path / "old"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    database = Database(data / DB_NAME)
    database.conn.execute("INSERT INTO meta VALUES ('x', 'y')")
    files = [data / DB_NAME, data / f"{DB_NAME}-wal", data / f"{DB_NAME}-shm"]
    for path in files:
        path.chmod(0o644)
    with serving(data) as (_, url):
        httpx.get(f"{url.removesuffix('/v2')}/health")
        assert {p.name: _mode(p) for p in files} == {p.name: 0o600 for p in files}
        assert _mode(data) == 0o700
    database.close()


def test_a_database_damaged_inside_is_one_clear_line(tmp_path: Path) -> None:
    database = Database(tmp_path / DB_NAME)
    database.close()
    db = sqlite3.connect(tmp_path / DB_NAME)
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    roots = [r[0] for r in db.execute(
        "SELECT rootpage FROM sqlite_master WHERE name IN ('rate_usage', 'accounts')")]
    db.close()
    with open(tmp_path / DB_NAME, "r+b") as handle:  # the tables' pages, not the header
        for root in roots:
            handle.seek((root - 1) * page_size)
            handle.write(b"\xff" * page_size)
    _refused(tmp_path, "damaged")

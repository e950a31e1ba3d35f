"""Storage: a database made by an older version is migrated in place, data kept."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from promptexecution.server.core.accounts import AccountStore
from promptexecution.server.db.connection import Database
from promptexecution.server.db.migrations import MIGRATIONS, SCHEMA_VERSION, statements


def test_a_version_1_database_is_migrated_to_the_current_schema(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    for statement in statements(MIGRATIONS[1]):
        db.execute(statement)
    db.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    db.execute("INSERT INTO accounts VALUES ('acc_old', 'old', 'basic', 'whsec_x', 1)")
    db.commit()
    db.close()

    database = Database(path)
    try:
        version = database.conn.execute("SELECT value FROM meta").fetchone()[0]
        assert int(version) == SCHEMA_VERSION
        assert AccountStore(database).get_account("acc_old") is not None
        assert database.conn.execute("SELECT COUNT(*) FROM batches").fetchone()[0] == 0
    finally:
        database.close()


def test_a_newer_database_is_refused(tmp_path: Path) -> None:
    Database(tmp_path / "db.sqlite3").close()
    db = sqlite3.connect(tmp_path / "db.sqlite3")
    db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'",
               (str(SCHEMA_VERSION + 1),))
    db.commit()
    db.close()
    with pytest.raises(RuntimeError, match="upgrade promptexecution"):
        Database(tmp_path / "db.sqlite3")


def test_statements_split_like_sqlite() -> None:
    assert statements("-- a comment; with a semicolon\nCREATE TABLE t (x);\n") == [
        "-- a comment; with a semicolon\nCREATE TABLE t (x);\n"
    ]
    with pytest.raises(ValueError):
        statements("CREATE TABLE t (x)")

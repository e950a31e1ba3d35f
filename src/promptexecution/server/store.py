"""SQLite storage for accounts, keys, templates, executions and idempotency records.

One connection, WAL, `synchronous=NORMAL`: every write is committed before the response that
reports it is sent, and survives a crash of the process (not necessarily a power cut).
Statements are short and run on the event loop's thread, which is faster than a thread hop.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import secrets
import sqlite3
import string
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .clock import IdSource
from .jsonfast import dumps

log = logging.getLogger("promptexecution.server")

SCHEMA_VERSION = 3
HOUR_US = 3_600_000_000

_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE accounts (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        plan TEXT NOT NULL,
        webhook_secret TEXT NOT NULL,
        created_us INTEGER NOT NULL
    );
    CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts(id),
        key_hash TEXT NOT NULL UNIQUE,
        display_prefix TEXT NOT NULL,
        name TEXT NOT NULL,
        mode TEXT NOT NULL,
        permissions TEXT NOT NULL,
        created_us INTEGER NOT NULL,
        revoked_us INTEGER
    );
    CREATE TABLE templates (
        id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts(id),
        name TEXT NOT NULL,
        status TEXT NOT NULL,
        current_version TEXT NOT NULL,
        description TEXT,
        tags TEXT NOT NULL,
        created_us INTEGER NOT NULL,
        updated_us INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX templates_active_name ON templates(account_id, name)
        WHERE status = 'active';
    CREATE INDEX templates_by_account ON templates(account_id, updated_us);
    CREATE TABLE template_versions (
        template_id TEXT NOT NULL REFERENCES templates(id),
        seq INTEGER NOT NULL,
        version TEXT NOT NULL,
        body TEXT NOT NULL,
        created_us INTEGER NOT NULL,
        PRIMARY KEY (template_id, version)
    );
    CREATE TABLE executions (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        account_id TEXT NOT NULL,
        template_id TEXT,
        status TEXT NOT NULL,
        model TEXT,
        tokens_used INTEGER NOT NULL DEFAULT 0,
        cost REAL NOT NULL DEFAULT 0,
        created_us INTEGER NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX executions_by_time ON executions(account_id, created_us);
    CREATE INDEX executions_by_status ON executions(account_id, status, created_us);
    -- (template, status) pages use executions_by_template and skip other statuses: one
    -- index fewer on every insert.
    CREATE INDEX executions_by_template ON executions(account_id, template_id, created_us);
    -- Hourly counts per filter combination: pagination.total stays exact and fast on
    -- millions of rows (whole hours are summed here, only partial edge hours are counted).
    CREATE TABLE execution_counts (
        account_id TEXT NOT NULL,
        template_id TEXT NOT NULL,
        status TEXT NOT NULL,
        hour INTEGER NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (account_id, template_id, status, hour)
    ) WITHOUT ROWID;
    CREATE INDEX execution_counts_by_status ON execution_counts(account_id, status, hour);
    CREATE INDEX execution_counts_by_hour ON execution_counts(account_id, hour);
    CREATE TABLE idempotency (
        account_id TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        key TEXT NOT NULL,
        body_hash TEXT NOT NULL,
        status_code INTEGER NOT NULL,
        response TEXT NOT NULL,
        created_us INTEGER NOT NULL,
        PRIMARY KEY (account_id, endpoint, key)
    );
    """,
    2: """
    CREATE TABLE batches (
        id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL,
        status TEXT NOT NULL,
        priority INTEGER NOT NULL,
        request TEXT NOT NULL,
        options TEXT NOT NULL,
        total INTEGER NOT NULL,
        completed INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0,
        cancelled INTEGER NOT NULL DEFAULT 0,
        total_cost REAL NOT NULL DEFAULT 0,
        total_tokens INTEGER NOT NULL DEFAULT 0,
        total_time REAL NOT NULL DEFAULT 0,
        created_us INTEGER NOT NULL,
        started_us INTEGER,
        finished_us INTEGER
    );
    CREATE INDEX batches_by_account ON batches(account_id, created_us);
    CREATE INDEX batches_unfinished ON batches(status)
        WHERE status IN ('queued', 'processing', 'cancelling');
    -- One row per input, stored at submit; its result is written exactly once, in the same
    -- transaction that moves the batch's counters, so a crash can neither lose nor double it.
    CREATE TABLE batch_items (
        batch_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        item_id TEXT NOT NULL,
        variables TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        result TEXT,
        error_code TEXT,
        retry_eligible INTEGER,
        updated_us INTEGER,
        PRIMARY KEY (batch_id, seq)
    ) WITHOUT ROWID;
    CREATE INDEX batch_items_by_status ON batch_items(batch_id, status, seq);
    """,
    3: """
    CREATE TABLE webhook_deliveries (
        seq INTEGER PRIMARY KEY,
        batch_id TEXT NOT NULL,
        webhook_id TEXT NOT NULL,
        event TEXT NOT NULL,
        url TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        status_code INTEGER,
        error TEXT,
        duration_ms REAL,
        delivered INTEGER NOT NULL,
        created_us INTEGER NOT NULL
    );
    CREATE INDEX webhook_deliveries_by_batch ON webhook_deliveries(batch_id, seq);
    """,
}

_KEY_ALPHABET = string.ascii_letters + string.digits
_BUMP_COUNT = (
    "INSERT INTO execution_counts(account_id, template_id, status, hour, n) VALUES (?,?,?,?,?) "
    "ON CONFLICT DO UPDATE SET n = n + excluded.n"
)


def _statements(script: str) -> list[str]:
    """Splits a migration into statements the way SQLite does (comments may hold ';')."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current)
            current = ""
    if current.strip() and not all(
        part.strip().startswith("--") or not part.strip() for part in current.splitlines()
    ):
        raise ValueError(f"incomplete SQL statement in a migration: {current!r}")
    return statements


def hash_key(plaintext: str) -> str:
    # Keys carry ~190 bits of randomness, so a fast hash is enough (no stretching needed).
    return hashlib.sha256(plaintext.encode()).hexdigest()


@dataclass
class Account:
    id: str
    name: str
    plan: str
    webhook_secret: str
    created_us: int


@dataclass
class ApiKey:
    id: str
    account_id: str
    key_hash: str
    display_prefix: str
    name: str
    mode: str
    permissions: list[str]
    created_us: int
    revoked_us: int | None


@dataclass
class TemplateRecord:
    id: str
    account_id: str
    name: str
    status: str
    version: str
    prompt: str
    description: str | None = None
    variables: list[dict[str, Any]] = field(default_factory=list)
    default_config: dict[str, Any] | None = None
    tags: list[str] = field(default_factory=list)
    output_schema: dict[str, Any] | None = None
    created_us: int = 0
    updated_us: int = 0

    def body(self) -> dict[str, Any]:
        """What one immutable version stores."""
        return {
            "name": self.name,
            "description": self.description,
            "prompt": self.prompt,
            "variables": self.variables,
            "default_config": self.default_config,
            "tags": self.tags,
            "output_schema": self.output_schema,
        }


@dataclass
class ExecutionFilter:
    account_id: str
    template_id: str | None = None
    status: str | None = None
    from_us: int | None = None
    to_us: int | None = None  # inclusive


class StoreLocked(RuntimeError):
    pass


class Store:
    def __init__(self, path: Path | str, ids: IdSource | None = None) -> None:
        self.path = str(path)
        self.ids = ids or IdSource()
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA busy_timeout=5000")
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.execute("PRAGMA cache_size=-65536")  # 64 MiB: keep hot index pages in memory
        self._migrate()
        self._data_version = self._read_data_version()
        self._data_version_checked = time.monotonic()
        self._generation = 0
        self._checkpointer: tuple[threading.Thread, threading.Event] | None = None

    # ------------------------------------------------------------------ plumbing

    def _migrate(self) -> None:
        db = self.db
        db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        current = int(row[0]) if row else 0
        if current > SCHEMA_VERSION:
            raise RuntimeError(
                f"database {self.path} has schema version {current}, newer than this "
                f"server's {SCHEMA_VERSION}; upgrade promptexecution"
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            db.execute("BEGIN IMMEDIATE")
            try:
                for statement in _statements(_MIGRATIONS[version]):
                    db.execute(statement)
                db.execute(
                    "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)",
                    (str(version),),
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def start_background_checkpoints(self, interval: float = 0.25) -> None:
        """Moves WAL checkpoints off the request path: they copy pages into the database and
        fsync it, which on a slow disk stalls whichever commit triggers them. A thread with
        its own connection runs PASSIVE checkpoints, which never block the writer."""
        if self._checkpointer is not None:
            return
        self.db.execute("PRAGMA wal_autocheckpoint=0")
        stop = threading.Event()

        def run() -> None:
            conn = sqlite3.connect(self.path, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout=5000")
            try:
                while not stop.wait(interval):
                    try:
                        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    except sqlite3.Error:
                        log.exception("WAL checkpoint failed; will retry")
            finally:
                conn.close()

        thread = threading.Thread(target=run, name="pe-wal-checkpoint", daemon=True)
        thread.start()
        self._checkpointer = (thread, stop)

    def close(self) -> None:
        if self._checkpointer is not None:
            thread, stop = self._checkpointer
            stop.set()
            thread.join(timeout=5)
            self._checkpointer = None
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        self.db.close()

    def _read_data_version(self) -> int:
        return int(self.db.execute("PRAGMA data_version").fetchone()[0])

    def generation(self) -> int:
        """Changes whenever keys, accounts or templates may have changed: on this server's
        template writes at once, and within a millisecond of any commit by another
        connection (such as `pe keys revoke`, which SQLite's data_version reveals)."""
        now = time.monotonic()
        if now - self._data_version_checked >= 0.001:
            self._data_version_checked = now
            version = self._read_data_version()
            if version != self._data_version:
                self._data_version = version
                self._generation += 1
        return self._generation

    def _templates_changed(self) -> None:
        self._generation += 1

    def ping(self) -> bool:
        try:
            self.db.execute("SELECT 1").fetchone()
            return True
        except sqlite3.Error:
            return False

    # ------------------------------------------------------------------ accounts and keys

    def create_account(self, plan: str, name: str, now_us: int) -> Account:
        account = Account(
            id=self.ids.new("acc"),
            name=name,
            plan=plan,
            # Standard Webhooks: "whsec_" + base64 of the HMAC key.
            webhook_secret="whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
            created_us=now_us,
        )
        self.db.execute(
            "INSERT INTO accounts(id, name, plan, webhook_secret, created_us) VALUES (?,?,?,?,?)",
            (account.id, account.name, account.plan, account.webhook_secret, account.created_us),
        )
        return account

    def get_account(self, account_id: str) -> Account | None:
        row = self.db.execute("SELECT * FROM accounts WHERE id=?", (account_id,)).fetchone()
        return Account(**dict(row)) if row else None

    def list_accounts(self) -> list[Account]:
        return [Account(**dict(r)) for r in self.db.execute("SELECT * FROM accounts ORDER BY 5")]

    def create_key(
        self,
        account_id: str,
        *,
        name: str,
        permissions: Sequence[str],
        mode: str,
        now_us: int,
    ) -> tuple[ApiKey, str]:
        """Returns the stored key and its plaintext, which is never stored or shown again."""
        secret = "".join(secrets.choice(_KEY_ALPHABET) for _ in range(32))
        plaintext = f"pe_sk_{mode}_{secret}"
        key = ApiKey(
            id=self.ids.new("key"),
            account_id=account_id,
            key_hash=hash_key(plaintext),
            display_prefix=plaintext[: len(f"pe_sk_{mode}_") + 4],
            name=name,
            mode=mode,
            permissions=list(permissions),
            created_us=now_us,
            revoked_us=None,
        )
        self.db.execute(
            "INSERT INTO api_keys(id, account_id, key_hash, display_prefix, name, mode, "
            "permissions, created_us) VALUES (?,?,?,?,?,?,?,?)",
            (
                key.id,
                key.account_id,
                key.key_hash,
                key.display_prefix,
                key.name,
                key.mode,
                json.dumps(key.permissions),
                key.created_us,
            ),
        )
        return key, plaintext

    @staticmethod
    def _key(row: sqlite3.Row) -> ApiKey:
        data = dict(row)
        data["permissions"] = json.loads(data["permissions"])
        return ApiKey(**data)

    def find_key(self, key_hash: str) -> ApiKey | None:
        row = self.db.execute("SELECT * FROM api_keys WHERE key_hash=?", (key_hash,)).fetchone()
        return self._key(row) if row else None

    def list_keys(self) -> list[ApiKey]:
        rows = self.db.execute("SELECT * FROM api_keys ORDER BY created_us")
        return [self._key(r) for r in rows]

    def revoke_key(self, key_id_or_prefix: str, now_us: int) -> ApiKey | None:
        rows = self.db.execute(
            "SELECT * FROM api_keys WHERE (id=? OR display_prefix=?) AND revoked_us IS NULL",
            (key_id_or_prefix, key_id_or_prefix),
        ).fetchall()
        if len(rows) != 1:
            return None
        key = self._key(rows[0])
        self.db.execute("UPDATE api_keys SET revoked_us=? WHERE id=?", (now_us, key.id))
        key.revoked_us = now_us
        return key

    # ------------------------------------------------------------------ templates

    def _template_from(self, row: sqlite3.Row, body_json: str, version: str) -> TemplateRecord:
        body = json.loads(body_json)
        return TemplateRecord(
            id=row["id"],
            account_id=row["account_id"],
            status=row["status"],
            version=version,
            created_us=row["created_us"],
            updated_us=row["updated_us"],
            **body,
        )

    def insert_template(self, record: TemplateRecord) -> None:
        db = self.db
        self._templates_changed()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(
                "INSERT INTO templates(id, account_id, name, status, current_version, "
                "description, tags, created_us, updated_us) VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    record.id,
                    record.account_id,
                    record.name,
                    record.status,
                    record.version,
                    record.description,
                    json.dumps(record.tags),
                    record.created_us,
                    record.updated_us,
                ),
            )
            self._insert_version(record, seq=1)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _insert_version(self, record: TemplateRecord, seq: int) -> None:
        self.db.execute(
            "INSERT INTO template_versions(template_id, seq, version, body, created_us) "
            "VALUES (?,?,?,?,?)",
            (record.id, seq, record.version, json.dumps(record.body()), record.updated_us),
        )

    def add_template_version(self, record: TemplateRecord) -> None:
        """Stores `record` as a new immutable version and makes it current."""
        db = self.db
        self._templates_changed()
        db.execute("BEGIN IMMEDIATE")
        try:
            seq = db.execute(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM template_versions WHERE template_id=?",
                (record.id,),
            ).fetchone()[0]
            self._insert_version(record, seq=seq)
            db.execute(
                "UPDATE templates SET name=?, current_version=?, description=?, tags=?, "
                "updated_us=? WHERE id=?",
                (
                    record.name,
                    record.version,
                    record.description,
                    json.dumps(record.tags),
                    record.updated_us,
                    record.id,
                ),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def find_template_row(self, account_id: str, id_or_name: str) -> sqlite3.Row | None:
        """By `tmpl_` id, else by name (an active template wins over archived ones)."""
        row = self.db.execute(
            "SELECT * FROM templates WHERE account_id=? AND id=?", (account_id, id_or_name)
        ).fetchone()
        if row is None:
            row = self.db.execute(
                "SELECT * FROM templates WHERE account_id=? AND name=? "
                "ORDER BY status='active' DESC, updated_us DESC LIMIT 1",
                (account_id, id_or_name),
            ).fetchone()
        return row

    def get_template(
        self, account_id: str, id_or_name: str, version: str | None = None
    ) -> TemplateRecord | None:
        row = self.find_template_row(account_id, id_or_name)
        if row is None:
            return None
        wanted = version or row["current_version"]
        body = self.db.execute(
            "SELECT body FROM template_versions WHERE template_id=? AND version=?",
            (row["id"], wanted),
        ).fetchone()
        if body is None:
            return None
        return self._template_from(row, body[0], wanted)

    def template_version_exists(self, template_id: str, version: str) -> bool:
        return (
            self.db.execute(
                "SELECT 1 FROM template_versions WHERE template_id=? AND version=?",
                (template_id, version),
            ).fetchone()
            is not None
        )

    def active_name_taken(self, account_id: str, name: str, except_id: str | None = None) -> bool:
        row = self.db.execute(
            "SELECT id FROM templates WHERE account_id=? AND name=? AND status='active'",
            (account_id, name),
        ).fetchone()
        return row is not None and row[0] != except_id

    def list_templates(
        self,
        account_id: str,
        *,
        q: str | None,
        tag: str | None,
        status: str | None,
        limit: int,
        offset: int,
    ) -> tuple[list[TemplateRecord], int]:
        where = ["t.account_id = ?"]
        args: list[Any] = [account_id]
        if status:
            where.append("t.status = ?")
            args.append(status)
        if q:
            where.append("(t.name LIKE ? ESCAPE '\\' OR COALESCE(t.description,'') LIKE ? "
                         "ESCAPE '\\' OR t.tags LIKE ? ESCAPE '\\')")
            pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            args += [pattern, pattern, pattern]
        if tag:
            where.append("EXISTS (SELECT 1 FROM json_each(t.tags) WHERE value = ?)")
            args.append(tag)
        clause = " AND ".join(where)
        total = self.db.execute(f"SELECT COUNT(*) FROM templates t WHERE {clause}", args).fetchone()
        rows = self.db.execute(
            f"SELECT t.*, v.body AS body FROM templates t JOIN template_versions v "
            f"ON v.template_id = t.id AND v.version = t.current_version WHERE {clause} "
            f"ORDER BY t.name, t.created_us LIMIT ? OFFSET ?",
            [*args, limit, offset],
        ).fetchall()
        return [self._template_from(r, r["body"], r["current_version"]) for r in rows], total[0]

    def list_template_versions(self, template_id: str) -> list[tuple[str, int, dict[str, Any]]]:
        rows = self.db.execute(
            "SELECT version, created_us, body FROM template_versions WHERE template_id=? "
            "ORDER BY seq",
            (template_id,),
        )
        return [(r[0], r[1], json.loads(r[2])) for r in rows]

    def set_template_status(self, template_id: str, status: str, now_us: int) -> None:
        self._templates_changed()
        self.db.execute(
            "UPDATE templates SET status=?, updated_us=? WHERE id=?", (status, now_us, template_id)
        )

    # ------------------------------------------------------------------ executions

    def _bump_count(
        self, account_id: str, template_id: str | None, status: str, created_us: int, delta: int
    ) -> None:
        self.db.execute(
            _BUMP_COUNT, (account_id, template_id or "", status, created_us // HOUR_US, delta)
        )

    def insert_execution(self, account_id: str, created_us: int, execution: dict[str, Any]) -> None:
        self.insert_executions(account_id, [(created_us, execution)])

    def insert_executions(
        self,
        account_id: str,
        items: Iterable[tuple[int, dict[str, Any]] | tuple[int, dict[str, Any], str]],
    ) -> None:
        """One transaction for many rows (a commit costs more than several inserts).

        An item may carry the execution already serialised, so it is encoded only once.
        """
        self.insert_executions_of([(account_id, *item) for item in items])

    def insert_executions_of(self, items: Sequence[tuple[Any, ...]]) -> None:
        """Like insert_executions, for rows of several accounts: (account_id, created_us,
        execution[, body_json])."""
        rows = []
        counts: dict[tuple[str, str, str, int], int] = {}
        for item in items:
            account_id, created_us, execution = item[0], item[1], item[2]
            body = item[3] if len(item) > 3 else dumps(execution)
            metadata = execution.get("metadata") or {}
            template_id = execution.get("template_id")
            status = execution["status"]
            rows.append((execution["execution_id"], account_id, template_id, status,
                         metadata.get("model"), metadata.get("tokens_used", 0),
                         metadata.get("cost", 0.0), created_us, body))
            bucket = (account_id, template_id or "", status, created_us // HOUR_US)
            counts[bucket] = counts.get(bucket, 0) + 1
        db = self.db
        db.execute("BEGIN")
        try:
            db.executemany(
                "INSERT INTO executions(id, account_id, template_id, status, model, "
                "tokens_used, cost, created_us, body) VALUES (?,?,?,?,?,?,?,?,?)",
                rows,
            )
            db.executemany(_BUMP_COUNT, [(*bucket, n) for bucket, n in counts.items()])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def update_execution(self, account_id: str, execution: dict[str, Any]) -> None:
        """Replaces a stored execution (e.g. `processing` -> `completed`), keeping counts exact."""
        db = self.db
        row = db.execute(
            "SELECT status, created_us FROM executions WHERE id=?", (execution["execution_id"],)
        ).fetchone()
        if row is None:
            raise KeyError(execution["execution_id"])
        metadata = execution.get("metadata") or {}
        db.execute("BEGIN")
        try:
            db.execute(
                "UPDATE executions SET status=?, model=?, tokens_used=?, cost=?, body=? "
                "WHERE id=?",
                (
                    execution["status"],
                    metadata.get("model"),
                    metadata.get("tokens_used", 0),
                    metadata.get("cost", 0.0),
                    dumps(execution),
                    execution["execution_id"],
                ),
            )
            if row["status"] != execution["status"]:
                template_id = execution.get("template_id")
                self._bump_count(account_id, template_id, row["status"], row["created_us"], -1)
                self._bump_count(account_id, template_id, execution["status"], row["created_us"], 1)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def get_execution(self, account_id: str, execution_id: str) -> dict[str, Any] | None:
        row = self.db.execute(
            "SELECT body FROM executions WHERE id=? AND account_id=?", (execution_id, account_id)
        ).fetchone()
        return json.loads(row[0]) if row else None

    def stale_processing(self) -> list[tuple[str, dict[str, Any]]]:
        """Executions left `processing` by a server that died: the caller marks them failed."""
        rows = self.db.execute(
            "SELECT account_id, body FROM executions WHERE status='processing'"
        ).fetchall()
        return [(r[0], json.loads(r[1])) for r in rows]

    @staticmethod
    def _filter_sql(
        f: ExecutionFilter, lo: int | None, hi: int | None, time_column: str = "created_us"
    ) -> tuple[str, list[Any]]:
        """WHERE clause for a filter, with `lo <= time_column <= hi` (either may be open)."""
        where = ["account_id = ?"]
        args: list[Any] = [f.account_id]
        if f.template_id is not None:
            where.append("template_id = ?")
            args.append(f.template_id)
        if f.status is not None:
            where.append("status = ?")
            args.append(f.status)
        if lo is not None:
            where.append(f"{time_column} >= ?")
            args.append(lo)
        if hi is not None:
            where.append(f"{time_column} <= ?")
            args.append(hi)
        return " AND ".join(where), args

    def list_executions(
        self, f: ExecutionFilter, limit: int, offset: int
    ) -> list[sqlite3.Row]:
        clause, args = self._filter_sql(f, f.from_us, f.to_us)
        return self.db.execute(
            "SELECT id, template_id, status, model, tokens_used, cost, created_us "
            f"FROM executions WHERE {clause} ORDER BY created_us DESC, seq DESC "
            "LIMIT ? OFFSET ?",
            [*args, limit, offset],
        ).fetchall()

    def count_executions(self, f: ExecutionFilter) -> int:
        """Exact count: whole hours from `execution_counts`, partial edge hours from rows."""
        lo, hi = f.from_us, f.to_us
        first_full = -(-lo // HOUR_US) if lo is not None else None  # first hour fully inside
        end_full = (hi + 1) // HOUR_US if hi is not None else None  # first hour not fully inside
        if first_full is not None and end_full is not None and first_full >= end_full:
            clause, args = self._filter_sql(f, lo, hi)
            return int(self.db.execute(f"SELECT COUNT(*) FROM executions WHERE {clause}", args)
                       .fetchone()[0])
        clause, args = self._filter_sql(
            f, first_full, end_full - 1 if end_full is not None else None, time_column="hour"
        )
        total = self.db.execute(
            f"SELECT COALESCE(SUM(n), 0) FROM execution_counts WHERE {clause}", args
        ).fetchone()[0]
        if first_full is not None and lo is not None and lo < first_full * HOUR_US:
            clause, edge_args = self._filter_sql(f, lo, first_full * HOUR_US - 1)
            total += self.db.execute(
                f"SELECT COUNT(*) FROM executions WHERE {clause}", edge_args
            ).fetchone()[0]
        if end_full is not None and hi is not None and hi >= end_full * HOUR_US:
            clause, edge_args = self._filter_sql(f, end_full * HOUR_US, hi)
            total += self.db.execute(
                f"SELECT COUNT(*) FROM executions WHERE {clause}", edge_args
            ).fetchone()[0]
        return int(total)

    # ------------------------------------------------------------------ idempotency

    def get_idempotent(
        self, account_id: str, endpoint: str, key: str, min_created_us: int
    ) -> sqlite3.Row | None:
        return self.db.execute(
            "SELECT body_hash, status_code, response FROM idempotency "
            "WHERE account_id=? AND endpoint=? AND key=? AND created_us >= ?",
            (account_id, endpoint, key, min_created_us),
        ).fetchone()

    def put_idempotent(
        self,
        account_id: str,
        endpoint: str,
        key: str,
        body_hash: str,
        status_code: int,
        response: str,
        now_us: int,
    ) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO idempotency(account_id, endpoint, key, body_hash, "
            "status_code, response, created_us) VALUES (?,?,?,?,?,?,?)",
            (account_id, endpoint, key, body_hash, status_code, response, now_us),
        )

    def prune_idempotency(self, before_us: int) -> None:
        self.db.execute("DELETE FROM idempotency WHERE created_us < ?", (before_us,))

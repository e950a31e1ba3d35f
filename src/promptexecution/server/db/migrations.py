"""The schema, as numbered migrations: a database made by any earlier version is brought up to
date in place when the server opens it, and one made by a newer version is refused."""

from __future__ import annotations

import sqlite3

SCHEMA_VERSION = 11
MIGRATIONS: dict[int, str] = {
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
    4: """
    -- Batch items' executions are executions too, findable by their batch. Partial, so an
    -- interactive execution's insert does not pay for this index.
    ALTER TABLE executions ADD COLUMN batch_id TEXT;
    CREATE INDEX executions_by_batch ON executions(account_id, batch_id, created_us)
        WHERE batch_id IS NOT NULL;
    """,
    5: """
    -- Webhook deliveries still to be made: the body is fixed when the event happens, and a
    -- row stays until the delivery succeeds or is given up, so a crash loses none.
    CREATE TABLE webhook_outbox (
        webhook_id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL,
        batch_id TEXT NOT NULL,
        event TEXT NOT NULL,
        url TEXT NOT NULL,
        body BLOB NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_us INTEGER NOT NULL,
        created_us INTEGER NOT NULL
    );
    CREATE INDEX webhook_outbox_due ON webhook_outbox(next_us);
    """,
    6: """
    -- Each account's hourly and burst counts, so a restart keeps what was used.
    CREATE TABLE rate_usage (
        account_id TEXT PRIMARY KEY,
        hour INTEGER NOT NULL,
        hour_used INTEGER NOT NULL,
        minute INTEGER NOT NULL,
        minute_used INTEGER NOT NULL
    );
    """,
    7: """
    -- Why a version was made, kept with it (outside its body: a new note alone is no change).
    ALTER TABLE template_versions ADD COLUMN change_note TEXT;
    -- Names such as 'production' that point at one version each; the version a label left
    -- is kept, so moving it back is one step.
    CREATE TABLE template_labels (
        template_id TEXT NOT NULL,
        label TEXT NOT NULL,
        version TEXT NOT NULL,
        previous_version TEXT,
        updated_us INTEGER NOT NULL,
        PRIMARY KEY (template_id, label)
    ) WITHOUT ROWID;
    """,
    8: """
    -- Template pages in either order walk one covering index (status included), so a deep
    -- offset on 10,000 templates skips index entries instead of table rows.
    DROP INDEX templates_by_account;
    CREATE INDEX templates_by_update ON templates(account_id, updated_us, status);
    CREATE INDEX templates_by_name ON templates(account_id, name, created_us, status);
    """,
    9: """
    -- History's filters on plain columns (out of the JSON body): the version that ran and
    -- how long it took; and a model index, for model:X newest first.
    ALTER TABLE executions ADD COLUMN template_version TEXT;
    ALTER TABLE executions ADD COLUMN execution_time REAL;
    UPDATE executions SET template_version = json_extract(body, '$.template_version'),
        execution_time = json_extract(body, '$.metadata.execution_time');
    CREATE INDEX executions_by_model ON executions(account_id, model, created_us);
    -- Full-text search lives in a second database (executions/text_index.py), filled off
    -- the request path by a low-priority thread that reads new rows by seq.
    """,
    10: """
    -- An item's earlier attempts: a retry keeps what each failed run said (a JSON array of
    -- {status, error_code, attempts, retried_at, result}), so a retried item never loses
    -- its earlier failure.
    ALTER TABLE batch_items ADD COLUMN earlier TEXT;
    """,
    11: """
    -- A batch's failures grouped by code (the Batches screen's error groups, on every
    -- progress event) and its results filtered by code read this index alone.
    CREATE INDEX batch_items_by_error ON batch_items(batch_id, status, error_code,
                                                     retry_eligible);
    """,
}


def statements(script: str) -> list[str]:
    """Splits a migration into statements the way SQLite does (comments may hold ';')."""
    found, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            found.append(current)
            current = ""
    if current.strip() and not all(
        part.strip().startswith("--") or not part.strip() for part in current.splitlines()
    ):
        raise ValueError(f"incomplete SQL statement in a migration: {current!r}")
    return found


def migrate(conn: sqlite3.Connection, path: str) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    current = int(row[0]) if row else 0
    if current > SCHEMA_VERSION:
        raise RuntimeError(
            f"database {path} has schema version {current}, newer than this "
            f"server's {SCHEMA_VERSION}; upgrade promptexecution"
        )
    for version in range(current + 1, SCHEMA_VERSION + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in statements(MIGRATIONS[version]):
                conn.execute(statement)
            conn.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)",
                (str(version),),
            )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # SQLite rolls back itself when COMMIT finds a full disk
                conn.execute("ROLLBACK")
            raise

"""Template storage: one row per template, one immutable row per version.

Every write moves the database's generation, so the caches that hold templates (the
execution service's) see an edit or an archive on the very next request.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from ..db.connection import Database


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
    # Why this version was made: kept beside the body, so a note alone makes no version.
    change_note: str | None = None

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


class TemplateStore:
    def __init__(self, database: Database) -> None:
        self.database = database
        self.conn = database.conn

    def _template_from(self, row: sqlite3.Row, body_json: str, version: str,
                       change_note: str | None) -> TemplateRecord:
        body = json.loads(body_json)
        return TemplateRecord(
            id=row["id"],
            account_id=row["account_id"],
            status=row["status"],
            version=version,
            created_us=row["created_us"],
            updated_us=row["updated_us"],
            change_note=change_note,
            **body,
        )

    def insert_template(self, record: TemplateRecord) -> None:
        self.database.changed()
        with self.database.transaction("IMMEDIATE") as db:
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

    def _insert_version(self, record: TemplateRecord, seq: int) -> None:
        self.conn.execute(
            "INSERT INTO template_versions(template_id, seq, version, body, created_us, "
            "change_note) VALUES (?,?,?,?,?,?)",
            (record.id, seq, record.version, json.dumps(record.body()), record.updated_us,
             record.change_note),
        )

    def add_template_version(self, record: TemplateRecord) -> None:
        """Stores `record` as a new immutable version and makes it current."""
        self.database.changed()
        with self.database.transaction("IMMEDIATE") as db:
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

    def find_template_row(self, account_id: str, id_or_name: str) -> sqlite3.Row | None:
        """By `tmpl_` id, else by name (an active template wins over archived ones)."""
        row = self.conn.execute(
            "SELECT * FROM templates WHERE account_id=? AND id=?", (account_id, id_or_name)
        ).fetchone()
        if row is None:
            row = self.conn.execute(
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
        found = self.conn.execute(
            "SELECT body, change_note FROM template_versions WHERE template_id=? AND version=?",
            (row["id"], wanted),
        ).fetchone()
        if found is None:
            return None
        return self._template_from(row, found[0], wanted, found[1])

    def template_version_exists(self, template_id: str, version: str) -> bool:
        return (
            self.conn.execute(
                "SELECT 1 FROM template_versions WHERE template_id=? AND version=?",
                (template_id, version),
            ).fetchone()
            is not None
        )

    def active_name_taken(self, account_id: str, name: str, except_id: str | None = None) -> bool:
        row = self.conn.execute(
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
        newest_first: bool = False,
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
        total = self.conn.execute(
            f"SELECT COUNT(*) FROM templates t WHERE {clause}", args
        ).fetchone()
        # The page is picked from templates alone (an index walk), and only its rows are
        # joined to their bodies: a deep offset then skips index entries, not joins. Ties in
        # the update time go by insertion order (rowid), which the index already holds.
        order = "t.updated_us DESC, t.rowid DESC" if newest_first else "t.name, t.created_us"
        rows = self.conn.execute(
            f"SELECT t.*, v.body AS body, v.change_note AS note FROM "
            f"(SELECT t.rowid AS rid FROM templates t WHERE {clause} ORDER BY {order} "
            f"LIMIT ? OFFSET ?) page JOIN templates t ON t.rowid = page.rid "
            f"JOIN template_versions v ON v.template_id = t.id AND v.version = t.current_version "
            f"ORDER BY {order}",
            [*args, limit, offset],
        ).fetchall()
        return [
            self._template_from(r, r["body"], r["current_version"], r["note"]) for r in rows
        ], total[0]

    def list_template_versions(
        self, template_id: str
    ) -> list[tuple[str, int, dict[str, Any], str | None]]:
        """(version, created_us, body, change_note), oldest first."""
        rows = self.conn.execute(
            "SELECT version, created_us, body, change_note FROM template_versions "
            "WHERE template_id=? ORDER BY seq",
            (template_id,),
        )
        return [(r[0], r[1], json.loads(r[2]), r[3]) for r in rows]

    # ------------------------------------------------------------------ labels

    def labels(self, template_ids: list[str]) -> dict[str, list[sqlite3.Row]]:
        """Each template's labels (label, version, previous_version, updated_us), by name."""
        found: dict[str, list[sqlite3.Row]] = {tid: [] for tid in template_ids}
        if not template_ids:
            return found
        marks = ",".join("?" * len(template_ids))
        rows = self.conn.execute(
            "SELECT template_id, label, version, previous_version, updated_us "
            f"FROM template_labels WHERE template_id IN ({marks}) ORDER BY template_id, label",
            template_ids,
        )
        for row in rows:
            found[row["template_id"]].append(row)
        return found

    def label_version(self, template_id: str, label: str) -> str | None:
        row = self.conn.execute(
            "SELECT version FROM template_labels WHERE template_id=? AND label=?",
            (template_id, label),
        ).fetchone()
        return None if row is None else str(row[0])

    def set_label(self, template_id: str, label: str, version: str, now_us: int) -> None:
        """Points `label` at `version`, remembering where it pointed before (when it moved)."""
        self.database.changed()
        with self.database.transaction("IMMEDIATE") as db:
            db.execute(
                "INSERT INTO template_labels(template_id, label, version, previous_version, "
                "updated_us) VALUES (?,?,?,NULL,?) ON CONFLICT(template_id, label) DO UPDATE "
                "SET previous_version = CASE WHEN version = excluded.version "
                "THEN previous_version ELSE version END, "
                "version = excluded.version, updated_us = excluded.updated_us",
                (template_id, label, version, now_us),
            )

    def remove_label(self, template_id: str, label: str) -> bool:
        self.database.changed()
        cursor = self.conn.execute(
            "DELETE FROM template_labels WHERE template_id=? AND label=?", (template_id, label)
        )
        return cursor.rowcount > 0

    def set_template_status(self, template_id: str, status: str, now_us: int) -> None:
        self.database.changed()
        self.conn.execute(
            "UPDATE templates SET status=?, updated_us=? WHERE id=?", (status, now_us, template_id)
        )

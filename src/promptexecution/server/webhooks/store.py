"""Webhook storage: the outbox of deliveries still to be made, and the log of every attempt
(`GET /v2/batch/{id}/webhooks`)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from ..core.clock import Clock, from_micros, iso, to_micros
from ..db.connection import Database


@dataclass
class Pending:
    """One delivery in the outbox."""

    webhook_id: str
    account_id: str
    batch_id: str
    event: str
    url: str
    body: bytes
    attempts: int
    next_us: int


class WebhookStore:
    def __init__(self, database: Database, clock: Clock) -> None:
        self.database = database
        self.conn = database.conn
        self.clock = clock

    # -------------------------------------------------------------- the outbox

    def enqueue(self, entry: Pending, now_us: int) -> None:
        self.conn.execute(
            "INSERT INTO webhook_outbox(webhook_id, account_id, batch_id, event, url, body, "
            "attempts, next_us, created_us) VALUES (?,?,?,?,?,?,?,?,?)",
            (entry.webhook_id, entry.account_id, entry.batch_id, entry.event, entry.url,
             entry.body, entry.attempts, entry.next_us, now_us),
        )

    def due(self, now_us: int, limit: int) -> list[Pending]:
        rows = self.conn.execute(
            "SELECT webhook_id, account_id, batch_id, event, url, body, attempts, next_us "
            "FROM webhook_outbox WHERE next_us <= ? ORDER BY next_us LIMIT ?",
            (now_us, limit),
        ).fetchall()
        return [Pending(*row) for row in rows]

    def next_due_us(self) -> int | None:
        row = self.conn.execute("SELECT MIN(next_us) FROM webhook_outbox").fetchone()
        return int(row[0]) if row and row[0] is not None else None

    def reschedule(self, webhook_id: str, attempts: int, next_us: int) -> None:
        self.conn.execute("UPDATE webhook_outbox SET attempts=?, next_us=? WHERE webhook_id=?",
                          (attempts, next_us, webhook_id))

    def remove(self, webhook_id: str) -> None:
        self.conn.execute("DELETE FROM webhook_outbox WHERE webhook_id=?", (webhook_id,))

    # -------------------------------------------------------------- the log

    def add_attempt(self, entry: Pending, attempt: int, status: int | None, error: str | None,
                    duration_ms: float) -> None:
        self.conn.execute(
            "INSERT INTO webhook_deliveries(batch_id, webhook_id, event, url, attempt, "
            "status_code, error, duration_ms, delivered, created_us) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (entry.batch_id, entry.webhook_id, entry.event, entry.url, attempt, status, error,
             round(duration_ms, 2), int(error is None), to_micros(self.clock())),
        )

    def deliveries(self, batch_id: str) -> list[dict[str, Any]]:
        rows: list[sqlite3.Row] = self.conn.execute(
            "SELECT webhook_id, event, url, attempt, status_code, error, duration_ms, delivered, "
            "created_us FROM webhook_deliveries WHERE batch_id=? ORDER BY seq", (batch_id,),
        ).fetchall()
        return [{"webhook_id": r["webhook_id"], "event": r["event"], "url": r["url"],
                 "attempt": r["attempt"], "status_code": r["status_code"], "error": r["error"],
                 "duration_ms": r["duration_ms"], "delivered": bool(r["delivered"]),
                 "created_at": iso(from_micros(r["created_us"]))} for r in rows]

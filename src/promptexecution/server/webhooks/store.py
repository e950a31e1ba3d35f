"""The log of every webhook delivery attempt, as `GET /v2/batch/{id}/webhooks` shows it."""

from __future__ import annotations

import logging
from typing import Any

from ..core.clock import Clock, from_micros, iso, to_micros
from ..db.connection import Database

log = logging.getLogger("promptexecution.server")


class WebhookLog:
    def __init__(self, database: Database, clock: Clock) -> None:
        self.conn = database.conn
        self.clock = clock

    def add(self, batch_id: str, webhook_id: str, event: str, url: str, attempt: int,
            status: int | None, error: str | None, duration_ms: float, delivered: bool
            ) -> None:
        self.conn.execute(
            "INSERT INTO webhook_deliveries(batch_id, webhook_id, event, url, attempt, "
            "status_code, error, duration_ms, delivered, created_us) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (batch_id, webhook_id, event, url, attempt, status, error, round(duration_ms, 2),
             int(delivered), to_micros(self.clock())),
        )
        if not delivered:
            log.warning("webhook %s for batch %s, attempt %d: %s", event, batch_id, attempt,
                        error)

    def deliveries(self, batch_id: str) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT webhook_id, event, url, attempt, status_code, error, duration_ms, delivered, "
            "created_us FROM webhook_deliveries WHERE batch_id=? ORDER BY seq", (batch_id,),
        ).fetchall()
        return [{"webhook_id": r["webhook_id"], "event": r["event"], "url": r["url"],
                 "attempt": r["attempt"], "status_code": r["status_code"], "error": r["error"],
                 "duration_ms": r["duration_ms"], "delivered": bool(r["delivered"]),
                 "created_at": iso(from_micros(r["created_us"]))} for r in rows]

"""`Idempotency-Key` for the POSTs that create work: a repeat within 24 h returns the first
response and does no new work; a different body under the same key is refused; a repeat
while the first is still running gets a 409 the SDK retries."""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import timedelta
from typing import TYPE_CHECKING

from fastapi import Request

from ..db.connection import Database
from .clock import to_micros
from .errors import conflict, validation

if TYPE_CHECKING:
    from ..context import ServerContext

WINDOW = timedelta(hours=24)
RETENTION_US = int(WINDOW.total_seconds()) * 1_000_000


class IdempotencyStore:
    def __init__(self, database: Database) -> None:
        self.conn = database.conn

    def get(
        self, account_id: str, endpoint: str, key: str, min_created_us: int
    ) -> sqlite3.Row | None:
        return self.conn.execute(
            "SELECT body_hash, status_code, response FROM idempotency "
            "WHERE account_id=? AND endpoint=? AND key=? AND created_us >= ?",
            (account_id, endpoint, key, min_created_us),
        ).fetchone()

    def put(
        self,
        account_id: str,
        endpoint: str,
        key: str,
        body_hash: str,
        status_code: int,
        response: str,
        now_us: int,
    ) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO idempotency(account_id, endpoint, key, body_hash, "
            "status_code, response, created_us) VALUES (?,?,?,?,?,?,?)",
            (account_id, endpoint, key, body_hash, status_code, response, now_us),
        )

    def prune(self, before_us: int) -> None:
        self.conn.execute("DELETE FROM idempotency WHERE created_us < ?", (before_us,))


class Idempotency:
    def __init__(self, ctx: ServerContext, request: Request, account_id: str, endpoint: str,
                 raw_body: bytes) -> None:
        self.ctx = ctx
        self.request = request
        self.account_id = account_id
        self.endpoint = endpoint
        self.key = request.headers.get("idempotency-key")
        self.body_hash = hashlib.sha256(raw_body).hexdigest() if self.key is not None else ""
        self._held = False

    def previous(self) -> tuple[int, str] | None:
        """The first response (status, body) for this key, or None; raises on misuse."""
        if self.key is None:
            return None
        if not 1 <= len(self.key) <= 255:
            raise validation(
                "INVALID_IDEMPOTENCY_KEY", "Idempotency-Key must be 1 to 255 characters"
            )
        since = to_micros(self.ctx.clock() - WINDOW)
        row = self.ctx.idempotency.get(self.account_id, self.endpoint, self.key, since)
        if row is not None:
            if row["body_hash"] != self.body_hash:
                raise validation(
                    "IDEMPOTENCY_KEY_REUSED",
                    "This Idempotency-Key was used with a different request body; "
                    "use a new key for a new request",
                )
            self.request.state.uncounted = True  # a replay does no new work
            return int(row["status_code"]), str(row["response"])
        if (self.account_id, self.endpoint, self.key) in self.ctx.inflight_keys:
            self.request.state.uncounted = True
            raise conflict(
                "IDEMPOTENCY_KEY_IN_USE",
                "A request with this Idempotency-Key is still running; retry shortly",
            )
        return None

    def hold(self) -> None:
        """Marks the key as in use until `release()`."""
        if self.key is not None:
            self.ctx.inflight_keys.add((self.account_id, self.endpoint, self.key))
            self._held = True

    def release(self) -> None:
        if self._held and self.key is not None:
            self.ctx.inflight_keys.discard((self.account_id, self.endpoint, self.key))
            self._held = False

    def remember(self, status: int, body: str) -> None:
        """Stores the response to replay; 5xx outcomes are never stored, so retries re-run."""
        if self.key is not None and status < 500:
            self.ctx.idempotency.put(self.account_id, self.endpoint, self.key,
                                          self.body_hash, status, body,
                                          to_micros(self.ctx.clock()))

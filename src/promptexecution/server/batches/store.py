"""Batch storage: batches, their items, and each item's single result.

Items are written at submit. A result is written once, in the same transaction that moves
the batch's counters (completed, failed, cost, tokens), so counters always equal the sum of
the stored results: a server killed mid-batch neither loses nor double-counts an item.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..core.clock import from_micros, iso
from ..core.jsonfast import dumps
from ..db.connection import Database
from ..executions.store import ExecutionStore

PRIORITY = {"low": 0, "normal": 1, "high": 2}
UNFINISHED = ("queued", "processing", "cancelling")


@dataclass
class BatchRow:
    id: str
    account_id: str
    status: str
    priority: int
    request: dict[str, Any]
    options: dict[str, Any]
    total: int
    completed: int
    failed: int
    cancelled: int
    total_cost: float
    total_tokens: int
    total_time: float
    created_us: int
    started_us: int | None
    finished_us: int | None

    @property
    def pending(self) -> int:
        return self.total - self.completed - self.failed - self.cancelled

    def summary(self) -> dict[str, Any]:
        """The totals a webhook reports; completed + failed + cancelled + pending = total."""
        done = self.completed + self.failed
        return {
            "total_items": self.total,
            "completed": self.completed,
            "failed": self.failed,
            "cancelled": self.cancelled,
            "total_cost": round(self.total_cost, 8),
            "total_tokens": self.total_tokens,
            "success_rate": round(100 * self.completed / done, 2) if done else None,
        }


@dataclass
class ItemResult:
    """One finished item, as the runner hands it to the store."""

    batch_id: str
    seq: int
    status: str  # completed | failed
    result: dict[str, Any]
    cost: float
    tokens: int
    seconds: float
    error_code: str | None
    retry_eligible: bool | None
    attempts: int
    # Every attempt's execution, (account_id, created_us, record, body): stored with the
    # result, so History lists each one by its batch.
    executions: list[tuple[str, int, dict[str, Any], str]] = field(default_factory=list)


class BatchStore:
    def __init__(self, database: Database, executions: ExecutionStore) -> None:
        self.database = database
        self.conn = database.conn
        self.executions = executions
        # Error groups by batch, with the counts they were read at: every watcher's progress
        # event carries them, and they only change when an item finishes or is retried.
        self._groups: dict[str, tuple[tuple[int, ...], list[tuple[str, int, int]]]] = {}

    @staticmethod
    def _row(row: sqlite3.Row) -> BatchRow:
        data = dict(row)
        data["request"] = json.loads(data["request"])
        data["options"] = json.loads(data["options"])
        return BatchRow(**data)

    def create(
        self,
        batch_id: str,
        account_id: str,
        priority: str,
        request: dict[str, Any],
        options: dict[str, Any],
        items: Sequence[tuple[str, dict[str, Any]]],
        now_us: int,
    ) -> None:
        with self.database.transaction("IMMEDIATE") as db:
            db.execute(
                "INSERT INTO batches(id, account_id, status, priority, request, options, total, "
                "created_us) VALUES (?,?,?,?,?,?,?,?)",
                (batch_id, account_id, "queued", PRIORITY[priority], dumps(request),
                 dumps(options), len(items), now_us),
            )
            db.executemany(
                "INSERT INTO batch_items(batch_id, seq, item_id, variables, status) "
                "VALUES (?,?,?,?, 'pending')",
                ((batch_id, seq, item_id, dumps(variables))
                 for seq, (item_id, variables) in enumerate(items)),
            )

    def get(self, account_id: str, batch_id: str) -> BatchRow | None:
        row = self.conn.execute(
            "SELECT * FROM batches WHERE id=? AND account_id=?", (batch_id, account_id)
        ).fetchone()
        return self._row(row) if row else None

    def get_any(self, batch_id: str) -> BatchRow | None:
        row = self.conn.execute("SELECT * FROM batches WHERE id=?", (batch_id,)).fetchone()
        return self._row(row) if row else None

    def list_batches(self, account_id: str, status: str | None, limit: int, offset: int
             ) -> tuple[list[BatchRow], int]:
        where, args = "account_id=?", [account_id]
        if status:
            where += " AND status=?"
            args.append(status)
        total = self.conn.execute(f"SELECT COUNT(*) FROM batches WHERE {where}", args).fetchone()
        rows = self.conn.execute(
            f"SELECT * FROM batches WHERE {where} ORDER BY created_us DESC, id DESC "
            "LIMIT ? OFFSET ?", [*args, limit, offset],
        ).fetchall()
        return [self._row(r) for r in rows], int(total[0])

    def watched_of(self, account_id: str, finished_since_us: int) -> list[BatchRow]:
        """An account's batches still running, and those that ended since a moment."""
        rows = self.conn.execute(
            "SELECT * FROM batches WHERE account_id=? AND (status IN "
            "('queued', 'processing', 'cancelling') OR finished_us >= ?) "
            "ORDER BY created_us", (account_id, finished_since_us)
        ).fetchall()
        return [self._row(r) for r in rows]

    def unfinished(self) -> list[BatchRow]:
        rows = self.conn.execute(
            "SELECT * FROM batches WHERE status IN ('queued', 'processing', 'cancelling') "
            "ORDER BY priority DESC, created_us"
        ).fetchall()
        return [self._row(r) for r in rows]

    def pending_items(self, batch_id: str, after_seq: int, limit: int
                      ) -> list[tuple[int, str, dict[str, Any], int]]:
        rows = self.conn.execute(
            "SELECT seq, item_id, variables, attempts FROM batch_items "
            "WHERE batch_id=? AND status='pending' AND seq>? ORDER BY seq LIMIT ?",
            (batch_id, after_seq, limit),
        ).fetchall()
        return [(r[0], r[1], json.loads(r[2]), r[3]) for r in rows]

    def set_status(self, batch_id: str, status: str, now_us: int) -> None:
        column = {"processing": "started_us"}.get(status)
        if status in ("completed", "failed", "cancelled"):
            column = "finished_us"
        if column:
            self.conn.execute(
                f"UPDATE batches SET status=?, {column}=COALESCE({column}, ?) WHERE id=?",
                (status, now_us, batch_id),
            )
        else:
            self.conn.execute("UPDATE batches SET status=? WHERE id=?", (status, batch_id))

    def record_results(self, results: Sequence[ItemResult], now_us: int) -> None:
        """Stores finished items and moves their batches' counters, in one transaction."""
        totals: dict[str, list[float]] = {}
        executions: list[tuple[str, int, dict[str, Any], str]] = []
        with self.database.transaction() as db:
            for r in results:
                cursor = db.execute(
                    "UPDATE batch_items SET status=?, result=?, error_code=?, retry_eligible=?, "
                    "attempts=?, updated_us=? WHERE batch_id=? AND seq=? AND status='pending'",
                    (r.status, dumps(r.result), r.error_code,
                     None if r.retry_eligible is None else int(r.retry_eligible),
                     r.attempts, now_us, r.batch_id, r.seq),
                )
                if cursor.rowcount != 1:
                    continue  # already finished (or cancelled): never count an item twice
                executions += r.executions
                t = totals.setdefault(r.batch_id, [0, 0, 0.0, 0, 0.0])
                t[0 if r.status == "completed" else 1] += 1
                t[2] += r.cost
                t[3] += r.tokens
                t[4] += r.seconds
            db.executemany(
                "UPDATE batches SET completed=completed+?, failed=failed+?, "
                "total_cost=total_cost+?, total_tokens=total_tokens+?, total_time=total_time+? "
                "WHERE id=?",
                [(*t, batch_id) for batch_id, t in totals.items()],
            )
            self.executions.add_rows(executions)

    def cancel_pending(self, batch_id: str, now_us: int) -> int:
        with self.database.transaction() as db:
            n = db.execute(
                "UPDATE batch_items SET status='cancelled', updated_us=? "
                "WHERE batch_id=? AND status='pending'", (now_us, batch_id),
            ).rowcount
            db.execute("UPDATE batches SET cancelled=cancelled+? WHERE id=?", (n, batch_id))
        return int(n)

    def requeue_failed(self, batch_id: str, now_us: int) -> int:
        """Failed, retry-eligible items go back to pending; each one's failed result moves
        to its `earlier` attempts."""
        # The counts may come back to what they were (the same items fail again, maybe with
        # other codes): groups read before the retry must not be served for them.
        self._groups.pop(batch_id, None)
        with self.database.transaction("IMMEDIATE") as db:
            rows = db.execute(
                "SELECT seq, result FROM batch_items WHERE batch_id=? AND status='failed' "
                "AND retry_eligible=1", (batch_id,),
            ).fetchall()
            cost = tokens = 0.0
            seconds = 0.0
            for _, result in rows:
                meta = (json.loads(result) or {}).get("metadata") or {}
                cost += meta.get("cost", 0.0)
                tokens += meta.get("tokens_used", 0)
                seconds += meta.get("execution_time", 0.0)
            db.execute(
                "UPDATE batch_items SET earlier=json_insert(COALESCE(earlier, '[]'), '$[#]', "
                "json_object('status', status, 'error_code', error_code, 'attempts', attempts, "
                "'retried_at', ?, 'result', json(result))), status='pending', result=NULL, "
                "error_code=NULL, retry_eligible=NULL, updated_us=? "
                "WHERE batch_id=? AND status='failed' AND retry_eligible=1",
                (iso(from_micros(now_us)), now_us, batch_id),
            )
            db.execute(
                "UPDATE batches SET failed=failed-?, total_cost=total_cost-?, "
                "total_tokens=total_tokens-?, total_time=total_time-?, status='queued', "
                "finished_us=NULL WHERE id=?",
                (len(rows), cost, int(tokens), seconds, batch_id),
            )
        return len(rows)

    def results(self, batch_id: str, status: str | None, limit: int, offset: int,
                error_code: str | None = None) -> tuple[list[sqlite3.Row], int]:
        where, args = "batch_id=?", [batch_id]
        if status:
            where += " AND status=?"
            args.append(status)
        if error_code:
            where += " AND status='failed' AND error_code=?"
            args.append(error_code)
        total = self.conn.execute(f"SELECT COUNT(*) FROM batch_items WHERE {where}", args)
        rows = self.conn.execute(
            f"SELECT seq, item_id, status, result, error_code, retry_eligible, attempts, earlier "
            f"FROM batch_items WHERE {where} ORDER BY seq LIMIT ? OFFSET ?",
            [*args, limit, offset],
        ).fetchall()
        return rows, int(total.fetchone()[0])

    def error_groups(self, row: BatchRow) -> list[tuple[str, int, int]]:
        """(code, failed items, of which retry-eligible), the largest group first."""
        seen = (row.failed, row.completed, row.pending)
        if row.failed == 0:
            self._groups.pop(row.id, None)
            return []
        cached = self._groups.get(row.id)
        if cached is not None and cached[0] == seen:
            return cached[1]
        batch_id = row.id
        rows = self.conn.execute(
            "SELECT COALESCE(error_code, 'UNKNOWN'), COUNT(*), SUM(retry_eligible = 1) "
            "FROM batch_items WHERE batch_id=? AND status='failed' GROUP BY error_code "
            "ORDER BY COUNT(*) DESC, error_code", (batch_id,),
        ).fetchall()
        groups = [(r[0], int(r[1]), int(r[2] or 0)) for r in rows]
        if len(self._groups) > 256:
            self._groups.clear()
        self._groups[batch_id] = (seen, groups)
        return groups

    def finished_times(self, batch_id: str, since_us: int, bucket_us: int
                       ) -> list[tuple[int, int]]:
        """(bucket, items that finished in it) from `since_us`, buckets of `bucket_us`."""
        rows = self.conn.execute(
            "SELECT (updated_us - ?) / ?, COUNT(*) FROM batch_items WHERE batch_id=? AND "
            "status IN ('completed', 'failed') AND updated_us >= ? GROUP BY 1 ORDER BY 1",
            (since_us, bucket_us, batch_id, since_us),
        ).fetchall()
        return [(int(r[0]), int(r[1])) for r in rows]

    def errors(self, batch_id: str, limit: int) -> list[sqlite3.Row]:
        return self.conn.execute(
            "SELECT item_id, error_code, retry_eligible FROM batch_items "
            "WHERE batch_id=? AND status='failed' ORDER BY seq LIMIT ?", (batch_id, limit),
        ).fetchall()

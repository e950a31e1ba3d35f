"""Execution storage: every execution's record, and exact counts for history's totals.

`execution_counts` keeps hourly counts per (template, status), so `pagination.total` stays
exact and fast on millions of rows: whole hours are summed there, only the partial hours at
a filter's edges are counted row by row.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..core.jsonfast import dumps
from ..db.connection import Database

HOUR_US = 3_600_000_000
_BUMP_COUNT = (
    "INSERT INTO execution_counts(account_id, template_id, status, hour, n) VALUES (?,?,?,?,?) "
    "ON CONFLICT DO UPDATE SET n = n + excluded.n"
)


@dataclass
class ExecutionFilter:
    account_id: str
    template_id: str | None = None
    status: str | None = None
    from_us: int | None = None
    to_us: int | None = None  # inclusive
    batch_id: str | None = None


class ExecutionStore:
    def __init__(self, database: Database) -> None:
        self.database = database
        self.conn = database.conn

    def _bump_count(
        self, account_id: str, template_id: str | None, status: str, created_us: int, delta: int
    ) -> None:
        self.conn.execute(
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
        with self.database.transaction():
            self.add_rows(items)

    def add_rows(self, items: Sequence[tuple[Any, ...]]) -> None:
        """insert_executions_of inside the caller's transaction (a batch stores its items'
        executions in the transaction that records their results)."""
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
                         metadata.get("cost", 0.0), created_us, body,
                         execution.get("batch_id"), execution.get("template_version"),
                         metadata.get("execution_time")))
            bucket = (account_id, template_id or "", status, created_us // HOUR_US)
            counts[bucket] = counts.get(bucket, 0) + 1
        self.conn.executemany(
            "INSERT INTO executions(id, account_id, template_id, status, model, tokens_used, "
            "cost, created_us, body, batch_id, template_version, execution_time) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        self.conn.executemany(_BUMP_COUNT, [(*bucket, n) for bucket, n in counts.items()])

    def update_execution(self, account_id: str, execution: dict[str, Any]) -> None:
        """Replaces a stored execution (e.g. `processing` -> `completed`), keeping counts exact."""
        row = self.conn.execute(
            "SELECT status, created_us FROM executions WHERE id=?", (execution["execution_id"],)
        ).fetchone()
        if row is None:
            raise KeyError(execution["execution_id"])
        metadata = execution.get("metadata") or {}
        with self.database.transaction() as db:
            db.execute(
                "UPDATE executions SET status=?, model=?, tokens_used=?, cost=?, body=?, "
                "execution_time=? WHERE id=?",
                (
                    execution["status"],
                    metadata.get("model"),
                    metadata.get("tokens_used", 0),
                    metadata.get("cost", 0.0),
                    dumps(execution),
                    metadata.get("execution_time"),
                    execution["execution_id"],
                ),
            )
            if row["status"] != execution["status"]:
                template_id = execution.get("template_id")
                self._bump_count(account_id, template_id, row["status"], row["created_us"], -1)
                self._bump_count(account_id, template_id, execution["status"], row["created_us"], 1)

    def get_execution(self, account_id: str, execution_id: str) -> dict[str, Any] | None:
        row = self.conn.execute(
            "SELECT body FROM executions WHERE id=? AND account_id=?", (execution_id, account_id)
        ).fetchone()
        return json.loads(row[0]) if row else None

    def stale_processing(self) -> list[tuple[str, dict[str, Any]]]:
        """Executions left `processing` by a server that died: the caller marks them failed."""
        rows = self.conn.execute(
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
        if f.batch_id is not None:
            where.append("batch_id = ?")
            args.append(f.batch_id)
        if lo is not None:
            where.append(f"{time_column} >= ?")
            args.append(lo)
        if hi is not None:
            where.append(f"{time_column} <= ?")
            args.append(hi)
        return " AND ".join(where), args

    def count_executions(self, f: ExecutionFilter) -> int:
        """Exact count: whole hours from `execution_counts`, partial edge hours from rows."""
        lo, hi = f.from_us, f.to_us
        first_full = -(-lo // HOUR_US) if lo is not None else None  # first hour fully inside
        end_full = (hi + 1) // HOUR_US if hi is not None else None  # first hour not fully inside
        # No hourly counts per batch: a batch's rows (50,000 at most) are counted on its index.
        whole_hours_counted = f.batch_id is None
        if not whole_hours_counted or (
            first_full is not None and end_full is not None and first_full >= end_full
        ):
            clause, args = self._filter_sql(f, lo, hi)
            return int(self.conn.execute(f"SELECT COUNT(*) FROM executions WHERE {clause}", args)
                       .fetchone()[0])
        clause, args = self._filter_sql(
            f, first_full, end_full - 1 if end_full is not None else None, time_column="hour"
        )
        total = self.conn.execute(
            f"SELECT COALESCE(SUM(n), 0) FROM execution_counts WHERE {clause}", args
        ).fetchone()[0]
        if first_full is not None and lo is not None and lo < first_full * HOUR_US:
            clause, edge_args = self._filter_sql(f, lo, first_full * HOUR_US - 1)
            total += self.conn.execute(
                f"SELECT COUNT(*) FROM executions WHERE {clause}", edge_args
            ).fetchone()[0]
        if end_full is not None and hi is not None and hi >= end_full * HOUR_US:
            clause, edge_args = self._filter_sql(f, end_full * HOUR_US, hi)
            total += self.conn.execute(
                f"SELECT COUNT(*) FROM executions WHERE {clause}", edge_args
            ).fetchone()[0]
        return int(total)

"""GET /v2/executions: filters, validation, newest first, exact totals on hour buckets."""

from __future__ import annotations

import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from promptexecution.server.app import DB_NAME
from promptexecution.server.core.clock import FixedClock
from promptexecution.server.db.connection import Database
from promptexecution.server.executions.store import ExecutionStore
from tests.conftest import ServerHandle, assert_error, running_server

START = datetime(2024, 1, 15, 9, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 101}, {"limit": "ten"}, {"offset": -1}, {"status": "done"},
     {"date_from": "yesterday"}, {"date_to": "2024-13-01"},
     {"date_from": "2024-01-02", "date_to": "2024-01-01"}],
)
def test_bad_query_parameters_are_400(client: httpx.Client, params: dict[str, object]) -> None:
    error = assert_error(client.get("/executions", params=params), 400, "validation_error",
                         "INVALID_PARAMETER")
    assert error["details"]["parameter"] in params


def test_execution_not_found(client: httpx.Client) -> None:
    assert_error(client.get("/executions/exec_nope"), 404, "not_found_error",
                 "EXECUTION_NOT_FOUND")


def test_filters_order_and_exact_totals_across_hours(tmp_path: Path) -> None:
    """Executions spread over three days: every filter's total equals a brute-force count."""
    clock = FixedClock(START)
    with running_server(tmp_path, clock=clock) as srv, srv.client() as c:
        rng = random.Random(7)
        made = []
        for i in range(60):
            clock.advance(rng.randint(60, 4 * 3600))
            fail = rng.random() < 0.3
            body: dict[str, object] = (
                {"template_id": "greeting_template", "variables": {"name": f"n{i}"}}
                if i % 2 else {"prompt": f"prompt {i}"}
            )
            if fail:
                body["model_config"] = {"simulate": {"fail": "content_policy"}}
            response = c.post("/execute", json=body)
            assert response.status_code == (400 if fail else 200)
            made.append(clock())
        template_id = c.get("/templates/greeting_template").json()["template_id"]

        listing = c.get("/executions", params={"limit": 100}).json()
        stamps = [e["created_at"] for e in listing["executions"]]
        assert stamps == sorted(stamps, reverse=True)
        assert listing["pagination"]["total"] == 60

        db = sqlite3.connect(srv.data_dir / DB_NAME)
        account = db.execute("SELECT account_id FROM executions LIMIT 1").fetchone()[0]

        def brute(template: str | None, status: str | None, lo: datetime | None,
                  hi: datetime | None) -> int:
            sql, args = "SELECT COUNT(*) FROM executions WHERE account_id=?", [account]
            if template:
                sql, args = sql + " AND template_id=?", [*args, template]
            if status:
                sql, args = sql + " AND status=?", [*args, status]
            if lo:
                sql, args = sql + " AND created_us>=?", [*args, int(lo.timestamp() * 1e6)]
            if hi:
                sql, args = sql + " AND created_us<=?", [*args, int(hi.timestamp() * 1e6)]
            return int(db.execute(sql, args).fetchone()[0])

        for _ in range(40):
            lo = made[rng.randrange(60)] - timedelta(seconds=rng.randint(0, 5000))
            hi = lo + timedelta(seconds=rng.randint(0, 3 * 86400))
            for template in (None, template_id):
                for status in (None, "completed", "failed"):
                    for a, b in ((lo, hi), (lo, None), (None, hi)):
                        params: dict[str, object] = {"limit": 5}
                        if template:
                            params["template_id"] = template
                        if status:
                            params["status"] = status
                        if a:
                            params["date_from"] = a.isoformat()
                        if b:
                            params["date_to"] = b.isoformat()
                        page = c.get("/executions", params=params).json()
                        want = brute(template, status, a, b)
                        assert page["pagination"]["total"] == want, params
                        assert page["pagination"]["has_more"] == (want > 5)
                        for e in page["executions"]:
                            assert status is None or e["status"] == status
                            assert template is None or e["template_id"] == template

        by_name = c.get("/executions", params={"template_id": "greeting_template"}).json()
        assert by_name["pagination"]["total"] == brute(template_id, None, None, None)
        second = c.get("/executions", params={"limit": 10, "offset": 10}).json()
        assert [e["execution_id"] for e in second["executions"]] == [
            e["execution_id"] for e in listing["executions"][10:20]
        ]
        db.close()


def test_summary_fields(server: ServerHandle) -> None:
    with server.client(server.make_key()) as c:
        done = c.post("/execute", json={"prompt": "hello"}).json()
        row = c.get("/executions").json()["executions"][0]
    cursor = row.pop("cursor")
    assert isinstance(cursor, str) and cursor
    assert row == {
        "execution_id": done["execution_id"],
        "template_id": None,
        "status": "completed",
        "model": "simulator",
        "tokens_used": done["metadata"]["tokens_used"],
        "cost": done["metadata"]["cost"],
        "created_at": done["created_at"],
        "batch_id": None,
        # beyond the spec, for history views
        "template_version": None,
        "execution_time": done["metadata"]["execution_time"],
        "output_preview": done["content"].strip().split("\n")[0],
        "error_code": None,
    }


def test_restart_marks_orphaned_processing_executions_failed(tmp_path: Path) -> None:
    with running_server(tmp_path) as srv, srv.client() as c:
        account_id = c.get("/auth/verify").json()["account_id"]
    database = Database(tmp_path / DB_NAME)
    ExecutionStore(database).insert_execution(account_id, int(START.timestamp() * 1e6), {
        "execution_id": "exec_orphan", "status": "processing", "template_id": None,
        "metadata": {"model": "simulator", "tokens_used": 0, "cost": 0.0},
        "created_at": "2024-01-15T09:00:00Z",
    })
    database.close()
    with running_server(tmp_path) as srv, srv.client() as c:
        record = c.get("/executions/exec_orphan").json()
        assert record["status"] == "failed"
        assert record["error"]["code"] == "SERVER_RESTARTED"
        assert c.get("/executions", params={"status": "processing"}).json()["pagination"][
            "total"] == 0


def test_template_filter_accepts_a_name_that_looks_like_an_id(server: ServerHandle) -> None:
    with server.client(server.make_key()) as c:
        c.post("/templates", json={"name": "tmpl_lookalike", "prompt": "hi"})
        c.post("/execute", json={"template_id": "tmpl_lookalike"})
        listed = c.get("/executions", params={"template_id": "tmpl_lookalike"}).json()
    assert listed["pagination"]["total"] == 1

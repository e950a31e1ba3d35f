"""Reading history: one filter for the list, its pages and its export.

Pages are keyset pages: a cursor names the last row a client has (its time and `seq`), and
the next page starts after it, so page 10,000 costs what page 1 costs and rows arriving
meanwhile do not shift what the client sees. `offset` stays for the spec's clients.

Order: newest first by `created_at` (then by `seq`, the order rows were stored). A text
search walks the full-text index in `seq` order instead, newest stored first: that index
hands out its matches in that order, and re-sorting every match of a common word by time
would cost what the index saves.

Totals: exact from the hourly counts when the filter is one they keep (template, status,
dates, batch); otherwise counted up to `COUNT_CAP` rows, and reported as a lower bound
(`total_is_lower_bound`) beyond that.
"""

from __future__ import annotations

import base64
import binascii
import re
import sqlite3
from dataclasses import dataclass
from typing import Any

from ..core.errors import validation

COUNT_CAP = 10_000
PREVIEW_CELLS = 200  # of the output's head (300 characters are read) in a list row
LIST_COLUMNS = (
    "e.seq, e.id, e.template_id, e.template_version, e.status, e.model, e.tokens_used, "
    "e.cost, e.created_us, e.batch_id, e.execution_time, "
    "substr(json_extract(e.body, '$.content'), 1, 300) AS head, "
    "json_extract(e.body, '$.error.code') AS error_code"
)


@dataclass(frozen=True)
class HistoryFilter:
    account_id: str
    template_id: str | None = None
    template_version: str | None = None
    status: str | None = None
    model: str | None = None
    batch_id: str | None = None
    from_us: int | None = None
    to_us: int | None = None  # inclusive
    text: str | None = None  # an FTS5 query, built by `text_query`
    min_cost: float | None = None
    max_cost: float | None = None
    min_seconds: float | None = None
    max_seconds: float | None = None

    @property
    def counted_hourly(self) -> bool:
        """Whether the hourly counts (template, status, dates) give this filter's total."""
        return all(value is None for value in (
            self.template_version, self.model, self.text, self.min_cost, self.max_cost,
            self.min_seconds, self.max_seconds))


@dataclass(frozen=True)
class Cursor:
    created_us: int
    seq: int

    def encode(self) -> str:
        raw = f"{self.created_us}.{self.seq}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str, parameter: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("ascii")
        except (ValueError, binascii.Error):
            raw = ""
        found = _CURSOR.fullmatch(raw)
        if found is None or max(int(found[1]), int(found[2])) >= 2**63:  # SQLite's integers
            raise validation("INVALID_CURSOR", f"'{parameter}' is not a cursor this server "
                             "gave out; use pagination.next_cursor or prev_cursor",
                             parameter=parameter)
        return cls(int(found[1]), int(found[2]))


_CURSOR = re.compile(r"([0-9]{1,19})\.([0-9]{1,19})")
_CONTROL = re.compile("[\x00-\x1f\x7f]")


def check_text(text: str) -> str:
    """Words to search must be printable: FTS5 cannot take a NUL, and nothing typed holds one."""
    bad = _CONTROL.search(text.replace("\t", " ").replace("\n", " "))
    if bad:
        raise validation("INVALID_PARAMETER", f"'q' holds control character "
                         f"U+{ord(bad.group()):04X}; search for printable words", parameter="q")
    return text


def text_query(text: str) -> str | None:
    """User words as a safe FTS5 query: every word must occur (porter-stemmed, so `refunds`
    finds `refund`), a "quoted phrase" must occur as written, and a word ending in `*` of at
    least 3 letters is a prefix. Nothing the user types is FTS5 syntax, so no query fails."""
    terms: list[str] = []
    pieces = text.split('"')
    for index, piece in enumerate(pieces):
        if index % 2:  # inside quotes: a phrase
            words = piece.split()
            if words:
                terms.append('"' + " ".join(w.replace('"', "") for w in words) + '"')
            continue
        for word in piece.split():
            prefix = word.endswith("*") and len(word.rstrip("*")) >= 3
            word = word.rstrip("*")
            if word:
                terms.append('"' + word.replace('"', "") + '"' + ("*" if prefix else ""))
    return " AND ".join(terms) if terms else None


def _where(f: HistoryFilter) -> tuple[list[str], list[Any]]:
    where: list[str] = ["e.account_id = ?"]
    args: list[Any] = [f.account_id]
    for column, equal in (("e.template_id", f.template_id), ("e.status", f.status),
                          ("e.model", f.model), ("e.batch_id", f.batch_id),
                          ("e.template_version", f.template_version)):
        if equal is not None:
            where.append(f"{column} = ?")
            args.append(equal)
    for column, op, value in (("e.created_us", ">=", f.from_us), ("e.created_us", "<=", f.to_us),
                              ("e.cost", ">=", f.min_cost), ("e.cost", "<=", f.max_cost),
                              ("e.execution_time", ">=", f.min_seconds),
                              ("e.execution_time", "<=", f.max_seconds)):
        if value is not None:
            where.append(f"{column} {op} ?")
            args.append(value)
    return where, args


def _source(f: HistoryFilter) -> tuple[str, list[Any]]:
    if f.text is None:
        return "executions e", []
    # The index first (a second database, attached to the reader's connection as `text`):
    # it hands out matching rowids (the rows' seq), newest stored first.
    return ("text.executions_text t JOIN executions e ON e.seq = t.rowid", [])


def page_sql(f: HistoryFilter, limit: int, *, before: Cursor | None = None,
             after: Cursor | None = None, oldest_first: bool = False, offset: int = 0,
             columns: str = LIST_COLUMNS) -> tuple[str, list[Any]]:
    """One page, newest first unless `oldest_first`; `before` (older than) and `after`
    (newer than) are keyset cursors. With `after`, rows come oldest first: the caller
    reverses them (the page just above the cursor)."""
    source, args = _source(f)
    where, where_args = _where(f)
    if f.text is not None:
        where.insert(0, "t.executions_text MATCH ?")
        where_args.insert(0, f.text)
    ascending = oldest_first != (after is not None)
    if f.text is not None:
        order = "t.rowid " + ("ASC" if ascending else "DESC")
        if before is not None:
            where.append("t.rowid < ?")
            where_args.append(before.seq)
        if after is not None:
            where.append("t.rowid > ?")
            where_args.append(after.seq)
    else:
        direction = "ASC" if ascending else "DESC"
        order = f"e.created_us {direction}, e.seq {direction}"
        for cursor, op in ((before, "<"), (after, ">")):
            if cursor is not None:
                # The bound on created_us alone lets SQLite seek in the time index; written
                # only as (a < x OR (a = x AND b < y)) it scanned from the newest row, so a
                # page a million rows deep took 80 ms and an export grew quadratic.
                where.append(f"e.created_us {op}= ? AND (e.created_us {op} ? OR e.seq {op} ?)")
                where_args += [cursor.created_us, cursor.created_us, cursor.seq]
    sql = (f"SELECT {columns} FROM {source} WHERE {' AND '.join(where)} ORDER BY {order} "
           "LIMIT ? OFFSET ?")
    return sql, [*args, *where_args, limit, offset]


def capped_count(conn: sqlite3.Connection, f: HistoryFilter) -> tuple[int, bool]:
    """(count, is a lower bound): counted row by row, at most COUNT_CAP + 1 of them."""
    sql, args = page_sql(f, COUNT_CAP + 1, columns="1")
    found = int(conn.execute(f"SELECT COUNT(*) FROM ({sql})", args).fetchone()[0])
    return (COUNT_CAP, True) if found > COUNT_CAP else (found, False)


def preview(head: str) -> str:
    """The output's first line; when that says nothing (`{`, a code fence), the head of the
    output on one line, so a JSON result shows its first keys rather than a brace."""
    text = head.strip()
    first = text.split("\n", 1)[0].strip()
    if first.strip("{[`") and not first.startswith("```"):
        return first[:PREVIEW_CELLS]
    return " ".join(text.split())[:PREVIEW_CELLS]


def summary(row: sqlite3.Row | tuple[Any, ...], iso_of: Any) -> dict[str, Any]:
    """A list row as the API shows it, with what History's table needs beyond the spec."""
    (seq, execution_id, template_id, version, status, model, tokens, cost, created_us,
     batch_id, seconds, head, error_code) = row
    first_line = preview(head or "")
    return {
        "execution_id": execution_id, "template_id": template_id,
        "template_version": version, "status": status, "model": model,
        "tokens_used": tokens, "cost": cost, "created_at": iso_of(created_us),
        "batch_id": batch_id, "execution_time": seconds, "output_preview": first_line,
        "error_code": error_code, "cursor": Cursor(created_us, seq).encode(),
    }

"""Full-text search over every run's rendered prompt and output, kept off the request path.

Indexing a run costs ~30 µs of tokenising; inline (a trigger on `executions`) it took a third
of `POST /v2/execute`'s throughput. So the index is a second SQLite file beside the main one
(`pe-text.sqlite3`), written by one thread at low priority, which reads new rows of the main
database by `seq` a batch at a time: nothing is added to a request, and under full load the
index trails by a moment, then catches up.

What it has read survives a restart: `progress.upto` says every finished row up to that
`seq` is indexed. A row still running when the thread passes it blocks `upto` there; rows
after it are indexed anyway and listed in `indexed_ahead`, so once it finishes it is indexed
and nothing is indexed twice. The index is contentless (the text stays in each execution's
body); runs are never deleted, and one is indexed once, when it has finished.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from pathlib import Path

log = logging.getLogger("promptexecution.server")

BATCH = 1000
IDLE_WAIT = 0.2  # seconds between looks when nothing new was found
SCHEMA = """
CREATE VIRTUAL TABLE IF NOT EXISTS executions_text USING fts5(
    rendered_prompt, content, content='', tokenize='porter unicode61 remove_diacritics 2');
CREATE TABLE IF NOT EXISTS progress (id INTEGER PRIMARY KEY CHECK (id = 1), upto INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS indexed_ahead (seq INTEGER PRIMARY KEY);
INSERT OR IGNORE INTO progress(id, upto) VALUES (1, 0);
"""
_READ = ("SELECT seq, status, json_extract(body, '$.rendered_prompt'), "
         "json_extract(body, '$.content') FROM executions WHERE {} ORDER BY seq")


class TextIndex:
    def __init__(self, main_path: Path, path: Path) -> None:
        self.main_path, self.path = main_path, path
        # Made here, on the caller's thread, so a search can attach it before the first run.
        conn = sqlite3.connect(path, isolation_level=None)
        with contextlib.closing(conn):
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(SCHEMA)
        with contextlib.suppress(OSError):
            os.chmod(path, 0o600)  # it holds every prompt, as the main database does
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.indexed_upto = 0  # for tests and benchmarks: every finished run up to this seq

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="pe-text-index", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def poke(self) -> None:
        """New rows may be there: look now rather than at the next idle look."""
        self._wake.set()

    def wait_until_current(self, seq: int, timeout: float = 10.0) -> bool:
        """Until every finished run up to `seq` is searchable (tests, benchmarks)."""
        deadline = time.monotonic() + timeout
        while self.indexed_upto < seq and time.monotonic() < deadline:
            self.poke()
            time.sleep(0.01)
        return self.indexed_upto >= seq

    # ------------------------------------------------------------------ the thread

    def _run(self) -> None:
        with contextlib.suppress(OSError, AttributeError):  # a background job: lowest priority
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        try:
            text = sqlite3.connect(self.path, isolation_level=None)
            main = sqlite3.connect(f"file:{self.main_path}?mode=ro", uri=True)
        except sqlite3.Error as exc:
            log.error("full-text search is off: %s cannot be opened (%s)", self.path, exc)
            return
        with contextlib.closing(text), contextlib.closing(main):
            text.execute("PRAGMA busy_timeout=5000")
            main.execute("PRAGMA busy_timeout=5000")
            upto = int(text.execute("SELECT upto FROM progress").fetchone()[0])
            ahead = {int(r[0]) for r in text.execute("SELECT seq FROM indexed_ahead")}
            state = _State(upto=upto, head=upto, ahead=ahead)  # re-read past upto, skip ahead
            self.indexed_upto = upto
            while not self._stop.is_set():
                try:
                    found = self._step(main, text, state)
                except sqlite3.Error as exc:  # a full disk, say: try again in a while
                    log.warning("full-text indexing paused: %s", exc)
                    found = False
                    self._stop.wait(5)
                self.indexed_upto = state.upto
                if not found:
                    self._wake.wait(IDLE_WAIT)
                    self._wake.clear()

    def _step(self, main: sqlite3.Connection, text: sqlite3.Connection, state: _State) -> bool:
        """Indexes what is new and what has finished; True when it read rows past `head`
        (more may follow at once). Runs still going are looked at again on the next step,
        not at once: re-reading them in a loop spun a core for as long as a stream ran."""
        fresh = main.execute(_READ.format("seq > ?") + f" LIMIT {BATCH}",
                             (state.head,)).fetchall()
        rows = list(fresh)
        waiting = sorted(state.waiting)[:BATCH]
        if waiting:
            marks = ",".join("?" * len(waiting))
            rows += main.execute(_READ.format(f"seq IN ({marks})"), waiting).fetchall()
        # Worked out on a copy, kept only once committed: a failed commit must not skip rows.
        after = _State(state.upto, state.head, set(state.ahead))
        after.waiting = set(state.waiting)
        index = []
        for seq, status, prompt, content in rows:
            after.head = max(after.head, seq)
            if status == "processing":
                after.waiting.add(seq)
                continue
            after.waiting.discard(seq)
            if seq not in after.ahead:
                index.append((seq, prompt, content))
                after.ahead.add(seq)
        after.advance()
        if index or after.upto != state.upto:
            text.execute("BEGIN")
            try:
                text.executemany("INSERT INTO executions_text(rowid, rendered_prompt, content) "
                                 "VALUES (?,?,?)", index)
                text.executemany("INSERT OR IGNORE INTO indexed_ahead(seq) VALUES (?)",
                                 [(seq,) for seq, _, _ in index if seq > after.upto])
                text.execute("DELETE FROM indexed_ahead WHERE seq <= ?", (after.upto,))
                text.execute("UPDATE progress SET upto = ?", (after.upto,))
                text.execute("COMMIT")
            except BaseException:
                text.execute("ROLLBACK")
                raise
        state.upto, state.head, state.ahead, state.waiting = (
            after.upto, after.head, after.ahead, after.waiting)
        return bool(fresh)


class _State:
    """Where the thread is: `upto` (all finished runs up to it indexed), `head` (the last seq
    read), the runs still going below `head`, and the runs indexed above `upto`."""

    def __init__(self, upto: int, head: int, ahead: set[int]) -> None:
        self.upto, self.head, self.ahead = upto, head, ahead
        self.waiting: set[int] = set()

    def advance(self) -> None:
        self.upto = min(self.waiting) - 1 if self.waiting else self.head
        self.ahead = {s for s in self.ahead if s > self.upto}

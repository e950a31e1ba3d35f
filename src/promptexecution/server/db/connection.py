"""The one SQLite connection the server's areas share, and what every area needs of it.

WAL, `synchronous=NORMAL`: every write is committed before the response that reports it is
sent, and survives a crash of the process (not necessarily a power cut). Statements are short
and run on the event loop's thread, which is faster than a thread hop.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from .migrations import migrate

log = logging.getLogger("promptexecution.server")


class Database:
    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA busy_timeout=5000")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.conn.execute("PRAGMA cache_size=-65536")  # 64 MiB: keep hot index pages in memory
        migrate(self.conn, self.path)
        self._data_version = self._read_data_version()
        self._data_version_checked = time.monotonic()
        self._generation = 0
        self._checkpointer: tuple[threading.Thread, threading.Event] | None = None

    @contextlib.contextmanager
    def transaction(self, mode: str = "") -> Iterator[sqlite3.Connection]:
        """BEGIN [mode] ... COMMIT, rolled back on any exception (mode: "" or "IMMEDIATE")."""
        conn = self.conn
        conn.execute(f"BEGIN {mode}")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def start_background_checkpoints(self, interval: float = 0.25) -> None:
        """Moves WAL checkpoints off the request path: they copy pages into the database and
        fsync it, which on a slow disk stalls whichever commit triggers them. A thread with
        its own connection runs PASSIVE checkpoints, which never block the writer."""
        if self._checkpointer is not None:
            return
        self.conn.execute("PRAGMA wal_autocheckpoint=0")
        stop = threading.Event()

        def run() -> None:
            conn = sqlite3.connect(self.path, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout=5000")
            try:
                while not stop.wait(interval):
                    try:
                        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    except sqlite3.Error:
                        log.exception("WAL checkpoint failed; will retry")
            finally:
                conn.close()

        thread = threading.Thread(target=run, name="pe-wal-checkpoint", daemon=True)
        thread.start()
        self._checkpointer = (thread, stop)

    def close(self) -> None:
        if self._checkpointer is not None:
            thread, stop = self._checkpointer
            stop.set()
            thread.join(timeout=5)
            self._checkpointer = None
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        self.conn.close()

    def _read_data_version(self) -> int:
        return int(self.conn.execute("PRAGMA data_version").fetchone()[0])

    def generation(self) -> int:
        """Changes whenever keys, accounts or templates may have changed: on this server's
        template writes at once, and within a millisecond of any commit by another
        connection (such as `pe keys revoke`, which SQLite's data_version reveals)."""
        now = time.monotonic()
        if now - self._data_version_checked >= 0.001:
            self._data_version_checked = now
            version = self._read_data_version()
            if version != self._data_version:
                self._data_version = version
                self._generation += 1
        return self._generation

    def changed(self) -> None:
        """Moves the generation on: this server changed something that caches hold."""
        self._generation += 1

    def ping(self) -> bool:
        try:
            self.conn.execute("SELECT 1").fetchone()
            return True
        except sqlite3.Error:
            return False

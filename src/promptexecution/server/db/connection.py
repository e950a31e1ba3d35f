"""The one SQLite connection the server's areas share, and what every area needs of it.

WAL, `synchronous=NORMAL`: every write is committed before the response that reports it is
sent, and survives a crash of the process (not necessarily a power cut). Statements are short
and run on the event loop's thread, which is faster than a thread hop.

The database holds every prompt and the webhook secrets, so it and its -wal and -shm files
are readable by their owner only (and made so on start, for older installs). A database
that cannot be opened is a DatabaseUnavailable with one line that says what to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from .migrations import migrate

log = logging.getLogger("promptexecution.server")
T = TypeVar("T")


OWNER_ONLY = 0o600
# What a failed write says when the disk, not the request, is at fault.
_STORAGE_FAILURES = ("disk is full", "disk i/o error", "readonly database",
                     "unable to open database file")


class DatabaseUnavailable(RuntimeError):
    """The database cannot be opened or written; the message says why and what to do."""


def is_storage_failure(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EIO):
        return True
    return isinstance(exc, sqlite3.OperationalError) and any(
        text in str(exc).lower() for text in _STORAGE_FAILURES)


def secure(path: Path) -> int | None:
    """Makes an existing file owner-only (a database written by an older version was 0644);
    returns the mode it had if it changed it."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return None
    if mode & 0o077 and path.is_file():
        os.chmod(path, OWNER_ONLY)
        return mode
    return None


def make_data_dir(path: Path) -> None:
    """The data dir holds the prompt history and keys: its owner's only, also when an older
    version made it readable by others."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        path.chmod(0o700)
        log.info("made %s accessible to its owner only (it was %o)", path, mode)


class Database:
    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self.last_write_failure: tuple[float, str] | None = None
        self._readiness: tuple[float, str | None] | None = None
        try:
            self._open()
        except (sqlite3.Error, OSError, RuntimeError) as exc:  # RuntimeError: a newer schema
            raise unavailable(Path(self.path), exc) from None
        self._data_version = self._read_data_version()
        self._data_version_checked = time.monotonic()
        self._generation = 0
        self._checkpointer: tuple[threading.Thread, threading.Event] | None = None
        self._reader: ThreadPoolExecutor | None = None
        self._reader_conn: sqlite3.Connection | None = None
        self._reader_attached: list[tuple[str, Path]] = []

    def _open(self) -> None:
        path = Path(self.path)
        if not path.exists() and path.parent.is_dir():
            # Created owner-only, so SQLite makes the -wal and -shm files owner-only too.
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, OWNER_ONLY))
        tightened = {name: secure(name) for name in
                     (path, Path(f"{path}-wal"), Path(f"{path}-shm"))}
        self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA busy_timeout=5000")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.conn.execute("PRAGMA cache_size=-65536")  # 64 MiB: keep hot index pages in memory
        migrate(self.conn, self.path)
        for name, mode in tightened.items():
            if mode is not None:
                log.info("made %s readable by its owner only (it was %o)", name, mode)

    def note_write_failure(self, exc: BaseException) -> None:
        """Remembers a write that failed for the storage's sake, for /ready to report."""
        self.last_write_failure = (time.monotonic(), str(exc))

    def readiness(self, data_dir: Path, min_free_bytes: int = 1 << 20) -> str | None:
        """None when the database can be read and written, else why not, in words. Checked
        at most once a second: /ready needs no key, so it must not be a way to make writes."""
        now = time.monotonic()
        if self._readiness is not None and now - self._readiness[0] < 1.0:
            return self._readiness[1]
        reason = self._check_readiness(data_dir, min_free_bytes)
        self._readiness = (now, reason)
        return reason

    def _check_readiness(self, data_dir: Path, min_free_bytes: int) -> str | None:
        try:
            self.conn.execute("SELECT 1").fetchone()
        except sqlite3.Error as exc:
            return f"the database cannot be read: {exc}"
        try:
            usage = os.statvfs(data_dir)
            free = usage.f_bavail * usage.f_frsize
        except OSError as exc:
            return f"the data directory cannot be checked: {exc}"
        if free < min_free_bytes:
            return f"the disk holding {data_dir} is full ({free // 1024} KiB free)"
        try:
            with self.transaction("IMMEDIATE") as conn:
                conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('ready', ?)",
                             (str(time.time()),))
        except sqlite3.Error as exc:
            self.note_write_failure(exc)
            return f"the database cannot be written: {exc}"
        failure = self.last_write_failure
        if failure is not None and time.monotonic() - failure[0] < 10:
            return f"a write failed {time.monotonic() - failure[0]:.0f} s ago: {failure[1]}"
        return None

    @contextlib.contextmanager
    def transaction(self, mode: str = "") -> Iterator[sqlite3.Connection]:
        """BEGIN [mode] ... COMMIT, rolled back on any exception (mode: "" or "IMMEDIATE")."""
        conn = self.conn
        conn.execute(f"BEGIN {mode}")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            rollback(conn)
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

    async def read(self, query: Callable[[sqlite3.Connection], T]) -> T:
        """A long read (a scan over a template's executions) on a reader thread with its own
        read-only connection: WAL lets it read while the loop's connection writes, and the
        event loop stays free (a 40,000-run scan on the loop held /health up 227 ms). Short
        reads stay on the loop's connection: a thread hop costs more than they do."""
        if self._reader is None:
            self._reader = ThreadPoolExecutor(1, thread_name_prefix="pe-db-reader")
        return await asyncio.get_running_loop().run_in_executor(
            self._reader, lambda: query(self._reader_connection()))

    def attach_to_reads(self, alias: str, path: Path) -> None:
        """Another database file the reader thread sees as `alias` (the full-text index)."""
        self._reader_attached.append((alias, path))

    def _reader_connection(self) -> sqlite3.Connection:
        if self._reader_conn is None:  # only ever used on the reader thread
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True,
                                   check_same_thread=False)
            conn.execute("PRAGMA busy_timeout=5000")
            for alias, path in self._reader_attached:
                conn.execute(f"ATTACH DATABASE ? AS {alias}", (f"file:{path}?mode=ro",))
            self._reader_conn = conn
        return self._reader_conn

    def close(self) -> None:
        if self._reader is not None:
            if self._reader_conn is not None:
                conn = self._reader_conn
                self._reader.submit(conn.close).result(timeout=5)
            self._reader.shutdown(wait=True)
            self._reader, self._reader_conn = None, None
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


def rollback(conn: sqlite3.Connection) -> None:
    """Rolls back what is still open. SQLite has already rolled back a transaction whose
    COMMIT failed for a full disk, and the error that matters is that one, not ours."""
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


def unavailable(path: Path, exc: BaseException) -> DatabaseUnavailable:
    """One line: what is wrong with the database at `path`, and what to do about it."""
    return DatabaseUnavailable(_why_not(path, exc))


def _why_not(path: Path, exc: BaseException) -> str:
    text = str(exc).lower()
    if path.is_dir():
        return f"{path} is a directory, not a database; move it away and start again"
    if "not a database" in text or "malformed" in text:
        return (f"{path} is not a pe database, or it is damaged; move it away to start "
                "afresh, or put back a backup")
    if is_storage_failure(exc) and ("full" in text or getattr(exc, "errno", None) in (
            errno.ENOSPC, errno.EDQUOT)):
        return f"the disk holding {path.parent} is full; free some space and start again"
    if isinstance(exc, PermissionError) or "readonly" in text or "permission" in text:
        return f"{path} cannot be written by this user; check its owner and permissions"
    if "newer than this server" in text:
        return str(exc)
    return f"cannot open the database {path}: {exc}"

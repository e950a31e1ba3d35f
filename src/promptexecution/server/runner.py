"""`pe serve`: one server per data directory, on a socket we bind ourselves.

A lock file keeps a second server off the same data dir; `server.json` tells the console
where a running server listens, so it can reuse it instead of starting another.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from .db.connection import make_data_dir

LOCK_FILE = "server.lock"
INFO_FILE = "server.json"

log = logging.getLogger("promptexecution.server")


class AlreadyRunning(RuntimeError):
    pass


@contextlib.contextmanager
def data_dir_lock(data_dir: Path) -> Iterator[IO[str]]:
    make_data_dir(data_dir)
    handle = open(data_dir / LOCK_FILE, "a+")  # noqa: SIM115 - held for the server's life
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        info = read_server_info(data_dir)
        where = f" at {info['url']} (pid {info['pid']})" if info else ""
        raise AlreadyRunning(
            f"another pe server is already running on {data_dir}{where}; stop it first, "
            "or start this one with a different --data-dir"
        ) from None
    try:
        yield handle
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def read_server_info(data_dir: Path) -> dict[str, object] | None:
    try:
        info = json.loads((data_dir / INFO_FILE).read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve(host: str, port: int, data_dir: Path, log_level: str = "info") -> None:
    import uvicorn

    class GracefulServer(uvicorn.Server):
        def handle_exit(self, sig: int, frame: object) -> None:
            super().handle_exit(sig, frame)  # type: ignore[arg-type]
            ctx.stop_soon()  # open streams end now rather than hold the grace period
            # uvicorn re-raises the signal after shutting down, which would kill us before
            # our own cleanup runs; a clean shutdown on SIGTERM exits 0 instead.
            self._captured_signals.clear()

    from .app import create_app
    from .bootstrap import LOCAL_KEY_FILE

    with data_dir_lock(data_dir):
        sock = bind(host, port)
        actual_port = sock.getsockname()[1]
        shown_host = f"[{host}]" if ":" in host else host
        url = f"http://{shown_host}:{actual_port}"
        app = create_app(data_dir, bind_host=host)
        ctx = app.state.ctx
        info_path = data_dir / INFO_FILE
        info_path.write_text(
            json.dumps({"pid": os.getpid(), "url": url, "base_url": f"{url}/v2"})
        )
        print(
            f"pe server listening on {url}/v2 (data: {data_dir}, local key: "
            f"{data_dir / LOCAL_KEY_FILE})",
            flush=True,
        )
        config = uvicorn.Config(
            app,
            log_level=log_level,
            access_log=False,
            timeout_graceful_shutdown=5,
            lifespan="on",
        )
        try:
            GracefulServer(config).run(sockets=[sock])
        finally:
            with contextlib.suppress(OSError):
                info_path.unlink()
            sock.close()
            ctx.database.close()  # a last checkpoint: the WAL is folded into the database

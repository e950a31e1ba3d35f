"""The benchmark server: the real app plus `GET /bench/bare`, served the way `pe serve` does.

    python -m tests.bench.bare_server --data-dir DIR [--port 0]

Same app factory (`create_app`), same middleware, same uvicorn settings as
`promptexecution.server.runner.serve` (a socket bound by `runner.bind`, uvloop/httptools
picked by uvicorn's "auto", access log off, lifespan on, graceful SIGTERM exiting 0). The
differences: the enterprise burst limit is raised so a benchmark is not answered 429, and
`/bench/bare` returns constant JSON, to measure the server stack without the API's work.
`/bench/bare` is outside `/v2/`, so the middleware gives it a request id but no auth.
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

import uvicorn
from fastapi.responses import Response

from promptexecution.server.app import create_app
from promptexecution.server.bootstrap import LOCAL_KEY_FILE
from promptexecution.server.core.config import ServerConfig
from promptexecution.server.runner import bind, data_dir_lock

BARE_PATH = "/bench/bare"
BARE_BODY = b'{"status":"ok","benchmark":"bare","items":[1,2,3]}'
BURST_PER_MINUTE = 10_000_000


class _GracefulServer(uvicorn.Server):
    """As in runner.serve: a SIGTERM shutdown exits 0 instead of re-raising the signal."""

    def handle_exit(self, sig: int, frame: object) -> None:
        super().handle_exit(sig, frame)  # type: ignore[arg-type]
        self._captured_signals.clear()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True, type=Path)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    data_dir: Path = args.data_dir

    with data_dir_lock(data_dir):
        sock = bind(args.host, args.port)
        url = f"http://{args.host}:{sock.getsockname()[1]}"
        config = ServerConfig(plans={"enterprise": {"burst_per_minute": BURST_PER_MINUTE}})
        app = create_app(data_dir, config=config)

        @app.get(BARE_PATH, include_in_schema=False)
        async def bare() -> Response:
            return Response(BARE_BODY, media_type="application/json")

        print(
            f"pe server listening on {url}/v2 (data: {data_dir}, local key: "
            f"{data_dir / LOCAL_KEY_FILE})",
            flush=True,
        )
        uvicorn_config = uvicorn.Config(
            app,
            log_level=args.log_level,
            access_log=False,
            timeout_graceful_shutdown=5,
            lifespan="on",
        )
        try:
            _GracefulServer(uvicorn_config).run(sockets=[sock])
        finally:
            with contextlib.suppress(OSError):
                sock.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

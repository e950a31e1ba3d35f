"""For the webhook tests: a receiver that records every delivery (and fails the first ones
when told to), and a wait for what it receives."""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


class Listener:
    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.fail_first = 0
        self.app = Starlette(routes=[Route("/hook", self.hook, methods=["POST"])])

    async def hook(self, request: Request) -> Response:
        self.received.append((dict(request.headers), await request.body()))
        if self.fail_first > 0:
            self.fail_first -= 1
            return Response("not now", status_code=500)
        return Response("Webhook received")

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.received]


def wait_until(predicate: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)

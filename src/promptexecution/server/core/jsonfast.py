"""JSON encoding for the server's hot paths: orjson, with the stdlib as the fallback for what
orjson refuses (integers beyond 64 bits, which a client may legitimately send)."""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps_bytes(data: Any) -> bytes:
    try:
        return orjson.dumps(data)
    except TypeError:
        return json.dumps(data, separators=(",", ":")).encode()


def dumps(data: Any) -> str:
    return dumps_bytes(data).decode()

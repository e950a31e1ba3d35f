"""The render workers' wire format: a 4-byte big-endian length, then a JSON object.

Encoded with the standard library, which writes what a request may carry and orjson would
change: integers beyond 64 bits, and the infinities a JSON number like 1e400 becomes (orjson
would send them as null, and a worker would render `None` where the server renders `inf`).
"""

from __future__ import annotations

import json
import struct
from typing import Any

import orjson

from ..core.errors import ApiError

HEADER = struct.Struct(">I")
# Far above any honest message (a render's output is at most a million characters), and low
# enough that a confused worker cannot flood the server's memory.
MAX_FRAME_BYTES = 64 * 1024 * 1024


def encode(message: dict[str, Any]) -> bytes:
    data = json.dumps(message, separators=(",", ":")).encode()
    return HEADER.pack(len(data)) + data


def decode(data: bytes) -> dict[str, Any]:
    try:
        message = orjson.loads(data)  # the fast reader, for all but the rare cases above
    except orjson.JSONDecodeError:
        message = json.loads(data)
    if not isinstance(message, dict):
        raise ValueError(f"a message must be a JSON object, not {type(message).__name__}")
    return message


def error_reply(error: ApiError) -> dict[str, Any]:
    return {"error": {"type": error.type, "code": error.code, "message": error.message,
                      "details": error.details}}

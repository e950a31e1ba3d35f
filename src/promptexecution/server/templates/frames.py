"""The render workers' wire format: a 4-byte big-endian length, then a JSON object."""

from __future__ import annotations

import json
import struct
from typing import Any

import orjson

HEADER = struct.Struct(">I")


def encode(message: dict[str, Any]) -> bytes:
    try:
        data = orjson.dumps(message)
    except TypeError:  # integers beyond 64 bits, which the stdlib writes
        data = json.dumps(message, separators=(",", ":")).encode()
    return HEADER.pack(len(data)) + data


def decode(data: bytes) -> dict[str, Any]:
    try:
        message: dict[str, Any] = orjson.loads(data)
    except orjson.JSONDecodeError:  # and reads
        message = json.loads(data)
    return message

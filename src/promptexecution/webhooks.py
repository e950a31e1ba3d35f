"""Webhook signatures, the Standard Webhooks way.

The server signs `"{webhook-id}.{webhook-timestamp}.{body}"` with HMAC-SHA256, keyed by the
account's secret (`whsec_` + base64 key, printed by `pe keys webhook-secret`), and sends
`webhook-signature: v1,<base64 digest>`. Receivers call `verify(body, headers, secret)`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

DEFAULT_TOLERANCE = 300  # seconds a delivery's timestamp may be off, against replays


class WebhookVerificationError(Exception):
    """The delivery is not authentic (or too old): do not act on it."""


def _key(secret: str) -> bytes:
    encoded = secret.removeprefix("whsec_")
    try:
        return base64.b64decode(encoded, validate=True)
    except ValueError:
        raise WebhookVerificationError("the webhook secret is not valid base64") from None


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes | str) -> str:
    """The `webhook-signature` header value for one delivery."""
    payload = body.encode() if isinstance(body, str) else body
    message = f"{webhook_id}.{timestamp}.".encode() + payload
    digest = hmac.new(_key(secret), message, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(body: bytes | str, headers: Mapping[str, str], secret: str, *,
           tolerance: float = DEFAULT_TOLERANCE, now: float | None = None) -> Any:
    """Checks a delivery's signature and age; returns the parsed JSON body."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        webhook_id = lowered["webhook-id"]
        timestamp = int(lowered["webhook-timestamp"])
        signatures = lowered["webhook-signature"]
    except (KeyError, ValueError):
        raise WebhookVerificationError(
            "missing or malformed webhook-id, webhook-timestamp or webhook-signature"
        ) from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise WebhookVerificationError("the webhook timestamp is outside the tolerance")
    expected = sign(secret, webhook_id, timestamp, body)
    # The header may carry several space-separated signatures (during a secret rotation).
    if not any(hmac.compare_digest(expected, candidate)
               for candidate in signatures.split(" ") if candidate):
        raise WebhookVerificationError("no webhook signature matches")
    return json.loads(body)


__all__ = ["WebhookVerificationError", "sign", "verify"]

"""How an error reads on screen: status, code, message and request id, plus the server's
suggestion or field errors. Used in place (output columns, dialogs, Settings) and by the app's
one notification handler for background failures."""

from __future__ import annotations

from ..exceptions import APIConnectionError, APIError, APITimeoutError, StreamInterruptedError


class NotSent(Exception):
    """Nothing was sent: the message says why and what to do, in the user's words."""


def error_code(error: APIError) -> str:
    """The API's code; errors that never reached the API get a word that says what happened."""
    if error.code:
        return error.code
    if isinstance(error, StreamInterruptedError):
        return "STREAM_INTERRUPTED"
    if isinstance(error, APITimeoutError):
        return "TIMEOUT"
    if isinstance(error, APIConnectionError):
        return "CONNECTION_ERROR"
    return "ERROR"


def describe_error(error: BaseException) -> str:
    if isinstance(error, NotSent):
        return f"✗ Not sent: {error}"
    if not isinstance(error, APIError):
        return f"✗ {type(error).__name__}: {error}"
    where = f" · request {error.request_id}" if error.request_id else ""
    status = getattr(error, "status_code", None)
    line = f"✗ {f'{status} ' if status else ''}{error_code(error)} · {error.message}{where}"
    details = error.details or {}
    if isinstance(details.get("suggestion"), str):
        line += f"\n{details['suggestion']}"
    elif isinstance(details.get("errors"), list):
        line += "".join(f"\n• {e.get('field', '')}: {e.get('message', e)}"
                        if isinstance(e, dict) else f"\n• {e}" for e in details["errors"][:5])
    return line

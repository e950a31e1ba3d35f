"""How a CLI twin reaches the API, the way the console does: `PE_BASE_URL` with `PE_API_KEY`
when both are set, else the profile (`--profile`, default the config's), where `local` reuses
or starts the embedded server (stopped again on exit only if this command started it)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..client import SyncPromptExecutionClient
    from ..exceptions import APIError


class ConnectError(RuntimeError):
    pass


def api_error_line(exc: APIError) -> str:
    """An API error in one line for a CLI twin: code, message and the request id to quote
    (a connection error has neither code nor id)."""
    said = f"{exc.code}: {exc.message}" if exc.code else exc.message
    return said + (f" (request {exc.request_id})" if exc.request_id else "")


@contextmanager
def connected(profile_name: str | None) -> Iterator[SyncPromptExecutionClient]:
    from ..client import SyncPromptExecutionClient
    from ..console.config import ConfigError, load
    from ..console.embedded import EmbeddedServer, EmbeddedServerError

    base_url, key = os.environ.get("PE_BASE_URL"), os.environ.get("PE_API_KEY")
    embedded = None
    if not (base_url and key):
        try:
            profile = load().profile(profile_name)
        except ConfigError as exc:
            raise ConnectError(str(exc)) from None
        if profile.embedded:
            embedded = EmbeddedServer()
            try:
                connection = embedded.connect()
            except EmbeddedServerError as exc:
                raise ConnectError(f"the local server: {exc}") from None
            base_url, key = connection.base_url, connection.api_key
        else:
            base_url, key = profile.base_url, profile.resolve_key()
            if not key:
                raise ConnectError(f"profile {profile.name!r} has no API key: set api_key or "
                                   "api_key_env in the config, or PE_API_KEY")
    try:
        with SyncPromptExecutionClient(api_key=key, base_url=base_url) as client:
            yield client
    finally:
        if embedded is not None:
            embedded.stop()

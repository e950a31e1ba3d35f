"""Whether the account's templates changed since a screen loaded them: one cheap read (the
newest change and the count), which screens that list templates poll while they are shown."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..exceptions import APIError

if TYPE_CHECKING:
    from ..client import AsyncPromptExecutionClient

Change = tuple[object, ...]


def newest_change(page: Any) -> Change:
    """What says the templates changed: how many there are, and the newest change."""
    first = page.templates[0] if page.templates else None
    return (page.pagination.total, first and (first.template_id, first.version, first.status,
                                              first.updated_at))


async def templates_change(client: AsyncPromptExecutionClient) -> Change | None:
    """The newest change, or None when the server cannot say now (the heartbeat reports
    the server's state, so a failed look is not reported again here)."""
    try:
        return newest_change(await client.templates.list(limit=1, sort="updated",
                                                         status="all"))
    except APIError:
        return None

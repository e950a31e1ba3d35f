"""Executions are written through one group commit: rows stored in the same turn of the
event loop share a transaction, and each caller still waits for its own row."""

from __future__ import annotations

from typing import Any

from ..core.jsonfast import dumps
from ..db.group_commit import GroupCommit
from .store import ExecutionStore


class ExecutionWriter:
    """Executions, group-committed; a record may come already serialised."""

    def __init__(self, store: ExecutionStore) -> None:
        self._commit: GroupCommit[tuple[str, int, dict[str, Any], str]] = GroupCommit(
            store.insert_executions_of
        )

    async def insert(self, account_id: str, created_us: int, record: dict[str, Any],
                     body: str | None = None) -> None:
        await self._commit.write((account_id, created_us, record, body or dumps(record)))

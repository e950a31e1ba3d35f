"""The SDK's history: filters, keyset iteration and the streaming export, async and sync."""

from __future__ import annotations

import json

import pytest

from promptexecution import PromptExecutionClient
from promptexecution.client import AsyncPromptExecutionClient
from tests.conftest import ServerHandle


async def test_async_list_iterate_and_export(server: ServerHandle) -> None:
    key = server.make_key("professional")
    async with AsyncPromptExecutionClient(api_key=key, base_url=server.base_url) as client:
        made = [(await client.execute(prompt=f"harbour log {i}")).execution_id for i in range(7)]
        await client.execute(prompt="unrelated")
        server.searchable()
        page = await client.executions.list(q="harbour", limit=3)
        assert [e.execution_id for e in page.executions] == made[::-1][:3]
        assert page.pagination.next_cursor and not page.pagination.total_is_lower_bound
        following = await client.executions.list(q="harbour", limit=3,
                                                 before=page.pagination.next_cursor)
        assert [e.execution_id for e in following.executions] == made[::-1][3:6]
        every = [e.execution_id async for e in client.executions.iterate(page_size=2,
                                                                         q="harbour")]
        assert every == made[::-1]
        chunks = [c async for c in client.executions.export(q="harbour")]
        lines = b"".join(chunks).decode().splitlines()
        assert [json.loads(line)["execution_id"] for line in lines] == made[::-1]
        table = b"".join([c async for c in client.executions.export(format="csv",
                                                                    model="simulator")])
        assert table.decode().splitlines()[0].startswith("execution_id,created_at,status")
        with pytest.raises(TypeError):
            await client.executions.list(colour="red")  # type: ignore[call-arg]


def test_sync_list_iterate_and_export(server: ServerHandle) -> None:
    key = server.make_key("professional")
    with PromptExecutionClient(api_key=key, base_url=server.base_url) as client:
        made = [client.execute(prompt=f"lantern note {i}").execution_id for i in range(5)]
        server.searchable()
        assert [e.execution_id for e in client.executions.iterate(page_size=2, q="lantern")
                ] == made[::-1]
        oldest = client.executions.list(order="oldest", limit=2)
        assert [e.execution_id for e in oldest.executions] == made[:2]
        lines = b"".join(client.executions.export(q="lantern")).decode().splitlines()
        assert len(lines) == 5

"""Batches through the SDK: the resource methods, BatchProcessor (the spec's use case 3, as
written), and the JSONL/CSV helpers."""

from __future__ import annotations

import ast
import json
import time
from pathlib import Path

import pytest

from promptexecution import AsyncPromptExecutionClient, PromptExecutionClient
from promptexecution.batch import RESULT_FIELDS, BatchProcessor, read_inputs, write_results
from promptexecution.exceptions import ConflictError, PermissionDeniedError
from tests.conftest import ServerHandle

# Section 3, use case 3, Python SDK example, verbatim.
USE_CASE_3 = r'''from promptexecution import PromptExecutionClient
from promptexecution.batch import BatchProcessor
import asyncio

# Initialize client with batch processing capabilities
client = PromptExecutionClient(api_key='pe_sk_live_abc123def456ghi789')
batch_processor = BatchProcessor(client)

async def process_customer_feedback(reviews_data):
    """Process large volume of customer reviews with sentiment analysis"""
    
    # Prepare batch inputs
    batch_inputs = [
        {
            "id": f"review_{review['id']}",
            "variables": {
                "review_text": review["text"],
                "product_category": review["category"]
            }
        }
        for review in reviews_data
    ]
    
    # Execute batch processing with progress tracking
    batch_result = await batch_processor.execute_batch(
        template_id="sentiment_analysis_detailed_v1",
        inputs=batch_inputs,
        model_config={
            "temperature": 0.3,
            "response_format": "structured"
        },
        options={
            "callback_url": "https://your-app.com/webhooks/batch-complete",
            "max_concurrent": 50,
            "retry_failed": True
        }
    )
    
    print(f"Batch submitted: {batch_result.batch_id}")
    print(f"Estimated completion: {batch_result.estimated_completion}")
    
    # Monitor progress
    async for progress in batch_processor.track_progress(batch_result.batch_id):
        print(f"Progress: {progress.completed}/{progress.total} completed")
        if progress.status == "completed":
            break
    
    # Retrieve results
    results = await batch_processor.get_results(batch_result.batch_id)
    return results

# Usage example
reviews = [
    {"id": 1, "text": "Great product, fast shipping!", "category": "electronics"},
    {"id": 2, "text": "Poor quality, disappointed", "category": "electronics"},
    # ... more reviews
]

results = await process_customer_feedback(reviews)
print(f"Processed {len(results.successful)} reviews successfully")
'''

async def test_use_case_3_as_written(server: ServerHandle, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PE_BASE_URL", server.base_url)
    source = USE_CASE_3.replace("pe_sk_live_abc123def456ghi789", server.local_key)
    namespace: dict[str, object] = {"__name__": "spec_example"}
    code = compile(source, "spec-example", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    await eval(code, namespace)  # noqa: S307 - the spec's own example
    out = capsys.readouterr().out
    assert "Batch submitted: batch_" in out
    assert "Progress: 2/2 completed" in out
    assert "Processed 2 reviews successfully" in out
    results = namespace["results"]
    assert [r.item_id for r in results.successful] == ["review_1", "review_2"]  # type: ignore[attr-defined]
    assert all(json.loads(r.content) for r in results.successful)  # type: ignore[attr-defined]


async def test_processor_tracks_until_done_and_splits_results(server: ServerHandle) -> None:
    async with AsyncPromptExecutionClient(api_key=server.make_key("professional"),
                                          base_url=server.base_url) as client:
        processor = BatchProcessor(client, min_interval=0.05)
        inputs = [{"id": f"q{i}", "variables": {"n": i}} for i in range(12)]
        submitted = await processor.execute_batch(
            prompt="Question {n}", inputs=inputs,
            model_config={"simulate": {"latency_ms": 20}}, options={"max_concurrent": 4})
        seen = [p async for p in processor.track_progress(submitted.batch_id)]
        assert seen[-1].status == "completed" and seen[-1].completed == 12
        assert [p.completed for p in seen] == sorted(p.completed for p in seen)
        outcome = await processor.get_results(submitted.batch_id)
        assert [r.item_id for r in outcome.successful] == [f"q{i}" for i in range(12)]
        assert outcome.failed == [] and outcome.summary["success_rate"] == 100

        failing = await processor.execute_batch(
            prompt="x", inputs=[{"variables": {}}] * 2,
            model_config={"simulate": {"fail": "content_policy"}})
        async for _ in processor.track_progress(failing.batch_id):
            pass
        outcome = await processor.get_results(failing.batch_id)
        assert len(outcome.failed) == 2 and outcome.failed[0].error is not None
        assert outcome.failed[0].error["code"] == "CONTENT_POLICY_VIOLATION"


def test_sync_batch_methods(server: ServerHandle) -> None:
    with PromptExecutionClient(api_key=server.make_key("professional"),
                               base_url=server.base_url) as client:
        submitted = client.batches.submit([{"variables": {"n": i}} for i in range(30)],
                                          prompt="slow {n}",
                                          model_config={"simulate": {"latency_ms": 50}},
                                          options={"max_concurrent": 2})
        assert client.batches.get(submitted.batch_id).total_items == 30
        time.sleep(0.2)
        assert client.batches.cancel(submitted.batch_id).status in ("cancelling", "cancelled")
        while not client.batches.progress(submitted.batch_id).finished:
            time.sleep(0.05)
        with pytest.raises(ConflictError):
            client.batches.cancel(submitted.batch_id)
        items = list(client.batches.iterate_results(submitted.batch_id, page_size=7))
        assert [i.item_id for i in items] == [f"item_{n}" for n in range(1, 31)]
        assert {i.status for i in items} <= {"completed", "cancelled"}
        assert client.batches.list().pagination.total == 1
        with pytest.raises(ConflictError):  # a cancelled batch is not retried
            client.batches.retry(submitted.batch_id)
    with PromptExecutionClient(api_key=server.make_key("basic"),
                               base_url=server.base_url) as basic, \
            pytest.raises(PermissionDeniedError):
        basic.batches.submit([{"variables": {}}], prompt="x")


def test_inputs_and_results_files(tmp_path: Path, server: ServerHandle) -> None:
    (tmp_path / "in.csv").write_text("id,text,category\nr1,Great!,shoes\nr2,Bad,hats\n")
    (tmp_path / "in.jsonl").write_text(
        '{"id": "a", "variables": {"text": "x"}}\n\n{"id": "b", "text": "y"}\n')
    assert read_inputs(tmp_path / "in.csv") == [
        {"id": "r1", "variables": {"text": "Great!", "category": "shoes"}},
        {"id": "r2", "variables": {"text": "Bad", "category": "hats"}},
    ]
    assert read_inputs(tmp_path / "in.jsonl") == [
        {"id": "a", "variables": {"text": "x"}}, {"id": "b", "variables": {"text": "y"}}]
    (tmp_path / "bad.jsonl").write_text("{oops\n")
    with pytest.raises(ValueError, match="bad.jsonl:1"):
        read_inputs(tmp_path / "bad.jsonl")

    with PromptExecutionClient(api_key=server.make_key("professional"),
                               base_url=server.base_url) as client:
        submitted = client.batches.submit(read_inputs(tmp_path / "in.csv"),
                                          prompt="{text} ({category})")
        while not client.batches.progress(submitted.batch_id).finished:
            time.sleep(0.05)
        items = list(client.batches.iterate_results(submitted.batch_id))
    assert write_results(tmp_path / "out.jsonl", items) == 2
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [line["item_id"] for line in lines] == ["r1", "r2"]
    assert write_results(tmp_path / "out.csv", items) == 2
    rows = (tmp_path / "out.csv").read_text().splitlines()
    assert rows[0] == ",".join(RESULT_FIELDS)
    assert rows[1].startswith("r1,completed,")

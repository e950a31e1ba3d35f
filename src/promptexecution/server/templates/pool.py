"""The render workers, seen from the server: a few processes (templates/worker.py), one job
each at a time, shared fairly between accounts.

Jobs wait in one queue per account, and free workers take them round-robin across accounts,
so an account that floods the renderer with slow templates delays mostly its own renders:
another account's render waits only for the first workers to come free. A render that runs
past its time limit gets its worker killed (and replaced); one that waits past the queue
limit for a worker is answered 503, so nothing waits forever. A worker is not trusted: one
that answers nonsense, or dies, is replaced and its job answered with the process limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections import deque
from dataclasses import dataclass
from typing import Any

from ..core.errors import ApiError
from .frames import HEADER, MAX_FRAME_BYTES, decode, error_reply
from .limits import RenderLimits, limit_error

log = logging.getLogger("promptexecution.server")

WORKER_MODULE = "promptexecution.server.templates.worker"
SPAWN_TIMEOUT = 20.0
SPAWN_BACKOFF = (0.5, 1.0, 2.0, 5.0, 10.0)  # seconds before another try, after failures
# What a worker's environment keeps of the server's: enough to find Python and the package,
# not the server's secrets (provider keys). (The worker runs as the server's user, so the
# sandbox, not this, is what keeps a template from the rest.)
_ENV_KEPT = ("PATH", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "LANG", "LC_ALL", "TMPDIR")


class _WorkerGone(Exception):
    pass


class _Worker:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        assert process.stdin is not None and process.stdout is not None
        self.stdin = process.stdin
        self.stdout = process.stdout

    async def read(self) -> dict[str, Any]:
        try:
            header = await self.stdout.readexactly(HEADER.size)
            (size,) = HEADER.unpack(header)
            if size > MAX_FRAME_BYTES:
                raise _WorkerGone(f"a {size:,}-byte answer")
            return decode(await self.stdout.readexactly(size))
        except (asyncio.IncompleteReadError, ConnectionError, ValueError) as exc:
            raise _WorkerGone(str(exc)) from exc

    async def ask(self, payload: bytes) -> dict[str, Any]:
        try:
            self.stdin.write(payload)
            await self.stdin.drain()
        except (ConnectionError, RuntimeError) as exc:
            raise _WorkerGone from exc
        return await self.read()

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()


@dataclass
class _Job:
    account: str
    payload: bytes
    future: asyncio.Future[dict[str, Any]]
    stage: str
    expiry: asyncio.TimerHandle | None = None
    started: bool = False


@dataclass
class PoolStats:
    """Counters for tests and the benchmarks."""

    spawned: int = 0
    killed: int = 0
    retired: int = 0
    rejected: int = 0
    jobs: int = 0


class RenderPool:
    def __init__(self, limits: RenderLimits, command: list[str] | None = None) -> None:
        """`command` starts a worker (the limits are appended as its arguments)."""
        self.limits = limits
        self.command = command or [sys.executable, "-m", WORKER_MODULE]
        self.stats = PoolStats()
        self._queues: dict[str, deque[_Job]] = {}  # insertion order is the round-robin
        self._idle: list[_Worker] = []
        self._workers: set[_Worker] = set()
        self._spawning = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False
        self._spawn_failures = 0
        self._retry_spawn: asyncio.TimerHandle | None = None

    # -------------------------------------------------------------- public

    async def call(self, account: str, payload: bytes, stage: str) -> dict[str, Any]:
        """Sends one encoded job (frames.encode) and returns the worker's answer
        (`{"ok": ...}` or `{"error": ...}`); `stage` (compile or render) names it in errors."""
        if self._closed:
            raise _unavailable("the server is shutting down")
        loop = asyncio.get_running_loop()
        job = _Job(account, payload, loop.create_future(), stage)
        job.expiry = loop.call_later(self.limits.queue_timeout, self._expire, job)
        self._queues.setdefault(account, deque()).append(job)
        self._dispatch()
        try:
            return await asyncio.shield(job.future)
        except asyncio.CancelledError:
            self._forget(job)  # the caller left: a job still queued need not run
            raise

    def warm_up(self) -> None:
        """Starts the workers ahead of the first render."""
        self._top_up()

    async def close(self) -> None:
        self._closed = True
        for queue in self._queues.values():
            for job in queue:
                if not job.future.done():
                    job.future.set_exception(_unavailable("the server is shutting down"))
        self._queues.clear()
        if self._retry_spawn is not None:
            self._retry_spawn.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for worker in list(self._workers):
            worker.kill()
            with contextlib.suppress(Exception):
                await worker.process.wait()
        self._workers.clear()
        self._idle.clear()

    @property
    def workers(self) -> int:
        return len(self._workers)

    # -------------------------------------------------------------- scheduling

    def _dispatch(self) -> None:
        while self._idle and self._queues:
            account = next(iter(self._queues))
            queue = self._queues.pop(account)
            job = queue.popleft()
            if queue:
                self._queues[account] = queue  # to the back of the round
            worker = self._idle.pop()
            job.started = True
            if job.expiry is not None:
                job.expiry.cancel()
            self._start(self._run(worker, job))
        self._top_up()

    def _top_up(self) -> None:
        missing = self.limits.workers - len(self._workers) - self._spawning
        if self._closed or missing <= 0 or self._retry_spawn is not None:
            return
        if self._spawn_failures:  # start failed: try again later, not in a tight loop
            delay = SPAWN_BACKOFF[min(self._spawn_failures, len(SPAWN_BACKOFF)) - 1]
            self._retry_spawn = asyncio.get_running_loop().call_later(delay, self._retry)
            return
        for _ in range(missing):
            self._spawning += 1
            self._start(self._spawn())

    def _retry(self) -> None:
        self._retry_spawn = None
        if self._closed:
            return
        missing = self.limits.workers - len(self._workers) - self._spawning
        for _ in range(max(missing, 0)):
            self._spawning += 1
            self._start(self._spawn())

    def _start(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _expire(self, job: _Job) -> None:
        if job.started or job.future.done():
            return
        self._forget(job)
        self.stats.rejected += 1
        job.future.set_exception(
            _unavailable(f"every render worker stayed busy for {self.limits.queue_timeout:g} s")
        )

    def _forget(self, job: _Job) -> None:
        if job.expiry is not None:
            job.expiry.cancel()
        queue = self._queues.get(job.account)
        if queue is not None and job in queue:
            queue.remove(job)
            if not queue:
                del self._queues[job.account]

    async def _run(self, worker: _Worker, job: _Job) -> None:
        self.stats.jobs += 1
        keep = False
        try:
            reply = await asyncio.wait_for(worker.ask(job.payload), self.limits.timeout)
            keep = not reply.pop("retire", False)
            if not keep:
                self.stats.retired += 1
        except TimeoutError:
            self.stats.killed += 1
            reply = error_reply(limit_error("time", job.stage, seconds=self.limits.timeout))
        except _WorkerGone as exc:
            worker.kill()
            code = await _exit_code(worker)
            log.warning("a render worker stopped (exit code %s, %s) during a render", code,
                        exc or "its output ended")
            reply = error_reply(limit_error("process", job.stage, exit_code=code))
        except asyncio.CancelledError:
            worker.kill()
            self._workers.discard(worker)
            if not job.future.done():
                job.future.set_exception(_unavailable("the server is shutting down"))
            raise
        except Exception:  # whatever went wrong, the job gets an answer and the worker goes
            log.exception("a render worker failed unexpectedly; replacing it")
            reply = error_reply(limit_error("process", job.stage))
        if keep:
            self._idle.append(worker)
        else:
            worker.kill()
            self._workers.discard(worker)
            self._start(worker.process.wait())  # reap it
        if not job.future.done():
            job.future.set_result(reply)
        self._dispatch()

    async def _spawn(self) -> None:
        try:
            env = {k: os.environ[k] for k in _ENV_KEPT if k in os.environ}
            process = await asyncio.create_subprocess_exec(
                *self.command, str(self.limits.memory_mib), str(self.limits.timeout),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                env=env, cwd="/",
            )
            worker = _Worker(process)
            try:
                await asyncio.wait_for(worker.read(), SPAWN_TIMEOUT)  # its "ready"
            except (TimeoutError, _WorkerGone):
                worker.kill()
                await process.wait()
                raise
        except asyncio.CancelledError:
            self._spawning -= 1
            raise
        except Exception:
            self._spawning -= 1
            self._spawn_failures += 1
            log.exception("could not start a render worker (%s); trying again soon",
                          " ".join(self.command))
            self._top_up()
            return
        self._spawning -= 1
        self._spawn_failures = 0
        self.stats.spawned += 1
        if self._closed:
            worker.kill()
            await process.wait()
            return
        self._workers.add(worker)
        self._idle.append(worker)
        self._dispatch()


async def _exit_code(worker: _Worker) -> int | None:
    try:
        return await asyncio.wait_for(worker.process.wait(), 1.0)
    except TimeoutError:
        worker.kill()
        return None


def _unavailable(why: str) -> ApiError:
    return ApiError(
        "service_unavailable",
        "RENDERER_BUSY",
        f"The template could not be rendered now: {why}; retry shortly",
        headers={"Retry-After": "1"},
        details={"retry_after": 1},
    )

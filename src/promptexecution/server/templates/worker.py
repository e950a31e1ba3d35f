"""A render worker: a process of its own that compiles and renders untrusted templates.

    python -m promptexecution.server.templates.worker MEMORY_MIB TIMEOUT_SECONDS

The server (templates/pool.py) starts a few of these and sends them one job at a time over
stdin, answered on stdout; each message is a 4-byte big-endian length and a JSON object.
A template can then exhaust only its worker: the address space is capped (a render that
allocates past it gets MemoryError, a 400), the server kills a worker whose render runs past
its time limit, and the worker runs at a lower priority than the server, so the server keeps
answering while a render burns a core. A worker exits when its stdin closes.
"""

from __future__ import annotations

import os
import resource
import sys
from typing import Any, BinaryIO

from ..core.errors import ApiError
from . import sandbox
from .frames import HEADER, decode, encode, error_reply
from .limits import limit_error
from .placeholders import with_single_braces


def read_message(stream: BinaryIO) -> dict[str, Any] | None:
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    (size,) = HEADER.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        return None
    return decode(data)


def _memory() -> tuple[int, int]:
    """(address space, resident set) of this process, in bytes."""
    with open("/proc/self/statm") as statm:
        size, resident = statm.read().split()[:2]
    page = resource.getpagesize()
    return int(size) * page, int(resident) * page


def _limit(memory_mib: int) -> None:
    """Caps this process: address space (start-up size + memory_mib), no files written, no
    core dumps, and a lower CPU priority than the server."""
    limit = _memory()[0] + memory_mib * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.nice(10)


def _cpu_backstop(timeout: float) -> None:
    """The server kills a render at its time limit; should the server itself be gone, the
    kernel stops this process a little later (SIGXCPU) instead of letting it spin."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = usage.ru_utime + usage.ru_stime
    soft = int(used + 2 * timeout + 2)
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def handle(message: dict[str, Any], memory_mib: int) -> dict[str, Any]:
    try:
        if message["op"] == "analyze":
            return {"ok": sandbox.analyze(message["source"])}
        variables = message["variables"]
        source = with_single_braces(message["source"], variables)
        return {"ok": sandbox.render(source, variables)}
    except ApiError as error:
        if error.code == "TEMPLATE_RENDER_LIMIT" and (error.details or {}).get("limit") == "memory":
            error.details = {**(error.details or {}), "memory_mib": memory_mib}
        return error_reply(error)


def main(argv: list[str]) -> int:
    memory_mib, timeout = int(argv[0]), float(argv[1])
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    _limit(memory_mib)
    baseline = _memory()[1]
    sink.write(encode({"ready": os.getpid()}))
    sink.flush()
    while True:
        message = read_message(source)
        if message is None:
            return 0
        _cpu_backstop(timeout)
        try:
            reply = handle(message, memory_mib)
        except MemoryError:  # in the bookkeeping around a render
            reply = error_reply(limit_error("memory", memory_mib=memory_mib))
        # Memory a render left fragmented is given back by starting afresh.
        if _memory()[1] - baseline > memory_mib * 1024 * 1024 // 2:
            reply["retire"] = True
        try:
            sink.write(encode(reply))
            sink.flush()
        except MemoryError:
            return 3  # the server sees the worker stop and answers with the process limit
        if reply.get("retire"):
            return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

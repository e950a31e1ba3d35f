"""Rendering a template, as the server does it: typed variables, then a fast in-process path
for plain substitution, and the render workers (templates/pool.py) for everything else.

The server never parses an untrusted template with Jinja itself. A template of up to 64 K
characters that only substitutes names (`Hi {{ name }}!`, most prompts) is recognised by a
regular expression and filled by joining strings (templates/placeholders.py), an order of
magnitude cheaper than a render; anything else is compiled and rendered in a worker process,
under its time and memory limits.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from typing import Any, cast

from ...models import is_variable_type
from ..core.errors import ApiError, validation
from .frames import encode
from .placeholders import Parts, fill, plain_parts, with_single_braces
from .pool import RenderPool

# What an optional variable without a default renders as when it is not provided.
_EMPTY_BY_TYPE: dict[str, Any] = {
    "string": "",
    "number": None,
    "integer": None,
    "boolean": False,
    "array": [],
    "object": {},
}

def json_type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def check_text(prompt: str) -> None:
    """A prompt must be text a model can be sent: JSON's `\ud800` escapes (in a raw prompt,
    a variable or a template's output) can make an unpaired surrogate, which is not."""
    try:
        prompt.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise validation(
            "INVALID_TEXT",
            f"The prompt contains an unpaired surrogate (U+{ord(prompt[exc.start]):04X}) at "
            f"character {exc.start}, which is not text; send UTF-8 text",
            position=exc.start,
        ) from None


def resolve_variables(
    declared: list[dict[str, Any]], provided: dict[str, Any], referenced: frozenset[str]
) -> dict[str, Any]:
    """Type-checks `provided`, applies defaults, and reports every missing variable at once.
    `referenced`: the names the template reads (Renderer.referenced)."""
    values = dict(provided)
    type_errors = []
    for spec in declared:
        name, kind = spec["name"], spec.get("type", "string")
        if name in values:
            if values[name] is not None and not is_variable_type(values[name], kind):
                type_errors.append(
                    {"variable": name, "expected_type": kind,
                     "provided_type": json_type_name(values[name])}
                )
        elif spec.get("default") is not None:
            values[name] = spec["default"]
    if type_errors:
        first = type_errors[0]
        raise validation(
            "INVALID_VARIABLE_TYPE",
            f"Template variable '{first['variable']}' must be of type {first['expected_type']}, "
            f"got {first['provided_type']}",
            invalid_variables=type_errors,
        )
    required = {s["name"] for s in declared if s.get("required") and s.get("default") is None}
    optional = {s["name"]: s.get("type", "string") for s in declared if s["name"] not in required}
    needed = required | (referenced - set(optional))
    missing = sorted(n for n in needed if values.get(n) is None)
    if missing:
        quoted = ", ".join(f"'{n}'" for n in missing)
        noun = "variable" if len(missing) == 1 else "variables"
        raise validation(
            "TEMPLATE_VARIABLE_MISSING",
            f"Required template {noun} {quoted} not provided",
            missing_variables=missing,
            provided_variables=sorted(provided),
        )
    for name, kind in optional.items():
        if values.get(name) is None:
            values[name] = _EMPTY_BY_TYPE[kind]
    return values


class _Bounded(OrderedDict[Any, Any]):
    """An LRU mapping bounded in entries and in the characters of its keys and values."""

    def __init__(self, entries: int, chars: int = 1 << 62) -> None:
        super().__init__()
        self.entries = entries
        self.chars = chars
        self._sizes: dict[Any, int] = {}
        self._total = 0

    def remember(self, key: Any, value: Any, size: int = 0) -> None:
        if key in self:
            self._total -= self._sizes.pop(key)
        self[key] = value
        self.move_to_end(key)
        self._sizes[key] = size
        self._total += size
        while len(self) > self.entries or self._total > self.chars:
            old, _ = self.popitem(last=False)
            self._total -= self._sizes.pop(old)


_JINJA = object()  # in the parts cache: Jinja's to render, not plain


class Renderer:
    """What the server calls: `referenced`, `check` and `render`, each answered in process
    for plain templates and by a worker for the rest."""

    # Only sources up to this size are read in process (the regular expressions over a
    # megabyte of placeholders take longer than the event loop may be held); longer ones go
    # to a worker whole.
    IN_PROCESS_CHARS = 65_536
    # The caches of what sources are (keys and values counted), ~30 MiB at most.
    CACHE_CHARS = 8_000_000
    # A render that ran out of time or memory is answered from memory for the same input a
    # while: a template that never finishes costs a worker one time limit, not one per
    # request. (A worker that died is not remembered: that may not be the input's doing.)
    FAILURE_TTL = 60.0
    REMEMBERED_LIMITS = ("time", "memory")

    def __init__(self, pool: RenderPool) -> None:
        self.pool = pool
        self._parts = _Bounded(4096, self.CACHE_CHARS)  # source -> Parts | _JINJA
        self._names = _Bounded(4096, self.CACHE_CHARS)  # source -> frozenset (Jinja's)
        self._failures = _Bounded(1024)  # digest -> (expires, error reply)

    async def referenced(self, source: str, account: str) -> frozenset[str]:
        """The root names `source` reads (`{{a.b}}` gives `a`); a 400 if it cannot compile."""
        parts = self._plain(source)
        if parts is not None:
            return frozenset(text for is_name, text in parts if is_name)
        names: frozenset[str] | None = self._names.get(source)
        if names is None:
            reply = await self._ask(account, {"op": "analyze", "source": source}, "compile")
            names = frozenset(reply["ok"])
            if len(source) <= self.IN_PROCESS_CHARS:
                self._names.remember(source, names, len(source))
        return names

    async def check(self, source: str, account: str) -> None:
        """Raises a 400 `template_error` when `source` cannot compile (templates are checked
        when saved, so one that can never render is never stored)."""
        await self.referenced(source, account)

    async def render(self, source: str, variables: dict[str, Any], account: str) -> str:
        """Renders a template whose variables `resolve_variables` has already checked."""
        if len(source) <= self.IN_PROCESS_CHARS:
            parts = self._plain(with_single_braces(source, variables))
            if parts is not None:
                return fill(parts, variables)
        # The worker fills the single braces itself: the source goes as it is.
        reply = await self._ask(account, {"op": "render", "source": source,
                                          "variables": variables}, "render")
        text: str = reply["ok"]
        return text

    def _plain(self, source: str) -> Parts | None:
        if len(source) > self.IN_PROCESS_CHARS:
            return None
        found = self._parts.get(source)
        if found is None:
            parts = plain_parts(source)
            found = _JINJA if parts is None else parts
            size = len(source) * (1 if parts is None else 2)
            self._parts.remember(source, found, size)
        return None if found is _JINJA else cast(Parts, found)

    async def _ask(self, account: str, message: dict[str, Any], stage: str) -> dict[str, Any]:
        payload = encode(message)
        digest = hashlib.sha256(payload).digest()
        known = self._failures.get(digest)
        if known is not None:
            expires, reply = known
            if time.monotonic() < expires:
                self._raise(reply, digest)
            del self._failures[digest]
        reply = await self.pool.call(account, payload, stage)
        if "error" in reply:
            self._raise(reply, digest)
        return reply

    def _raise(self, reply: dict[str, Any], digest: bytes) -> None:
        e = reply["error"]
        if (e["code"] == "TEMPLATE_RENDER_LIMIT" and digest not in self._failures
                and (e.get("details") or {}).get("limit") in self.REMEMBERED_LIMITS):
            self._failures.remember(digest, (time.monotonic() + self.FAILURE_TTL, reply))
        raise ApiError(e["type"], e["code"], e["message"], details=e.get("details"))

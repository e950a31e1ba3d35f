"""Rendering a template, as the server does it: typed variables, the spec's single-brace
`{name}` placeholders, a fast in-process path for plain substitution, and the render workers
(templates/pool.py) for everything else.

The server never parses an untrusted template with Jinja itself. A template that only
substitutes names (`Hi {{ name }}!`, most prompts) is recognised by a regular expression and
filled by joining strings, which is an order of magnitude cheaper than a render; anything
else is compiled and rendered in a worker process, under its time and memory limits.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from ..core.errors import ApiError, validation
from .frames import encode
from .limits import MAX_OUTPUT_CHARS, too_large
from .pool import RenderPool

_SINGLE_BRACE = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)\}(?!\})")
_PLAIN_NAME = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
# Where Jinja would see more than text (a block, a comment or a richer expression).
_JINJA_OPENERS = ("{{", "{%", "{#")
# Names Jinja reads as literals or operators, not as variables.
_JINJA_WORDS = frozenset(
    "true false none True False None and or not in is if else for recursive".split()
)
_NEWLINES = re.compile(r"\r\n|\r")

_TYPE_CHECKS: dict[str, Any] = {
    "string": lambda v: isinstance(v, str),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}
# What an optional variable without a default renders as when it is not provided.
_EMPTY_BY_TYPE: dict[str, Any] = {
    "string": "",
    "number": None,
    "integer": None,
    "boolean": False,
    "array": [],
    "object": {},
}

Parts = tuple[tuple[bool, str], ...]


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


def plain_parts(source: str) -> Parts | None:
    """`Hi {{ name }}!` as (is_name, text) parts, exactly as Jinja would read it (text with
    its newlines normalised, as Jinja's lexer does), or None when Jinja would see more."""
    pieces = _PLAIN_NAME.split(source)
    parts: list[tuple[bool, str]] = []
    for index, piece in enumerate(pieces):
        if index % 2:
            # `{{{ x }}`: Jinja opens at the first `{{`, which is not this one.
            if piece in _JINJA_WORDS or pieces[index - 1].endswith("{"):
                return None
            parts.append((True, piece))
        elif piece:
            if any(opener in piece for opener in _JINJA_OPENERS):
                return None
            parts.append((False, _NEWLINES.sub("\n", piece)))
    return tuple(parts)


def with_single_braces(source: str, provided: Iterable[str]) -> str:
    """The spec writes `{content}`: fill it like `{{content}}` when `content` was provided."""
    names = set(provided)
    if "{" not in source or not names:
        return source
    return _SINGLE_BRACE.sub(
        lambda m: "{{ " + m.group(1) + " }}" if m.group(1) in names else m.group(0), source
    )


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
            if values[name] is not None and not _TYPE_CHECKS[kind](values[name]):
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
    """An LRU mapping bounded in entries."""

    def __init__(self, entries: int) -> None:
        super().__init__()
        self.entries = entries

    def remember(self, key: Any, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.entries:
            self.popitem(last=False)


class Renderer:
    """What the server calls: `referenced`, `check` and `render`, each answered in process
    for plain templates and by a worker for the rest."""

    # Sources longer than this are analysed again rather than kept (they are rare, and the
    # cache must not hold gigabytes of prompt text).
    CACHED_SOURCE_CHARS = 65_536
    # A render that ran out of time or memory is answered from memory for the same input a
    # while: a template that never finishes costs a worker one time limit, not one per
    # request. (A worker that died is not remembered: that may not be the input's doing.)
    FAILURE_TTL = 60.0
    REMEMBERED_LIMITS = ("time", "memory")

    def __init__(self, pool: RenderPool) -> None:
        self.pool = pool
        self._analysis: _Bounded = _Bounded(4096)  # source -> Parts | frozenset[str]
        self._failures: _Bounded = _Bounded(1024)  # digest -> (expires, error reply)

    async def referenced(self, source: str, account: str) -> frozenset[str]:
        """The root names `source` reads (`{{a.b}}` gives `a`); a 400 if it cannot compile."""
        analysis = await self._analyze(source, account)
        if isinstance(analysis, frozenset):
            return analysis
        return frozenset(text for is_name, text in analysis if is_name)

    async def check(self, source: str, account: str) -> None:
        """Raises a 400 `template_error` when `source` cannot compile (templates are checked
        when saved, so one that can never render is never stored)."""
        await self._analyze(source, account)

    async def render(self, source: str, variables: dict[str, Any], account: str) -> str:
        """Renders a template whose variables `resolve_variables` has already checked."""
        source = with_single_braces(source, variables)
        analysis = await self._analyze(source, account)
        if not isinstance(analysis, frozenset):
            joined = "".join(str(variables[text]) if is_name else text
                             for is_name, text in analysis)
            if len(joined) > MAX_OUTPUT_CHARS:
                raise too_large()
            return joined
        message = {"op": "render", "source": source, "variables": variables}
        digest = hashlib.sha256(encode(message)).digest()
        self._raise_known_failure(digest)
        reply = await self.pool.call(account, message)
        if "error" in reply:
            self._raise(reply, digest)
        text: str = reply["ok"]
        return text

    async def _analyze(self, source: str, account: str) -> Parts | frozenset[str]:
        found: Parts | frozenset[str] | None = self._analysis.get(source)
        if found is not None:
            return found
        found = plain_parts(source)
        if found is None:
            digest = hashlib.sha256(source.encode("utf-8", "surrogatepass")).digest()
            self._raise_known_failure(digest)
            reply = await self.pool.call(account, {"op": "analyze", "source": source})
            if "error" in reply:
                self._raise(reply, digest)
            found = frozenset(reply["ok"])
        if len(source) <= self.CACHED_SOURCE_CHARS:
            self._analysis.remember(source, found)
        return found

    def _raise_known_failure(self, digest: bytes) -> None:
        known = self._failures.get(digest)
        if known is not None:
            expires, reply = known
            if time.monotonic() < expires:
                self._raise(reply, digest)
            del self._failures[digest]

    def _raise(self, reply: dict[str, Any], digest: bytes) -> None:
        e = reply["error"]
        if (e["code"] == "TEMPLATE_RENDER_LIMIT" and digest not in self._failures
                and (e.get("details") or {}).get("limit") in self.REMEMBERED_LIMITS):
            self._failures.remember(digest, (time.monotonic() + self.FAILURE_TTL, reply))
        raise ApiError(e["type"], e["code"], e["message"], details=e.get("details"))

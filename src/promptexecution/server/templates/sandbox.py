"""Jinja2's sandbox, as the render workers run it (templates/worker.py): StrictUndefined,
loops that share one iteration budget per render, capped repetition, sizes and powers, and
output generated in chunks and stopped past a size limit.

These checks give a precise error for the common tricks; the worker process's own limits
(time, memory) stop everything else. Only worker processes import this module, so the server
never parses an untrusted template itself. Every failure is an ApiError (a 400), never a 500.
"""

from __future__ import annotations

import functools
import re
import traceback
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from ..core.errors import ApiError, template_error
from .limits import MAX_OUTPUT_CHARS, limit_error, too_large

MAX_RANGE_ITERATIONS = 100_000
MAX_POWER_EXPONENT = 10_000

_EXPRESSION_ROOT = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)")
_range_budget: ContextVar[list[int]] = ContextVar("range_budget")
# Compiled templates kept by a worker, bounded in number and in source size, so the cache can
# never crowd a render out of the worker's memory limit.
_CACHE_ENTRIES = 256
_CACHE_CHARS = 4_000_000


def _spend(n: int) -> None:
    budget = _range_budget.get(None)
    if budget is not None:
        budget[0] -= n
        if budget[0] < 0:
            raise SecurityError(
                f"a template may loop at most {MAX_RANGE_ITERATIONS:,} times in all"
            )


def _budgeted_range(*args: int) -> range:
    result = range(*args)
    _spend(len(result))
    return result


def _budgeted_iter(iterable: Any) -> Iterator[Any]:
    """Every `{% for %}` iterates through this: nested loops share one budget."""
    for item in iterable:
        _spend(1)
        yield item


def _check_size(args: Iterable[Any]) -> None:
    for arg in args:
        if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) > MAX_OUTPUT_CHARS:
            raise SecurityError(f"numbers above {MAX_OUTPUT_CHARS:,} are not allowed here")


def _guarded_filter(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)  # keeps jinja's pass_context / pass_environment markers
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _check_size(args)
        _check_size(kwargs.values())
        for arg in args:
            if isinstance(arg, str) and fn.__name__ == "do_format":
                _check_format(arg)
        return fn(*args, **kwargs)

    return guarded


_BIG_FORMAT_WIDTH = re.compile(r"\d{7,}")


def _check_format(template: str) -> None:
    """'{:>999999999}'.format(1) and '%999999999s' % 1 build gigabyte strings."""
    if _BIG_FORMAT_WIDTH.search(template):
        raise SecurityError("format widths above 999,999 are not allowed")


class _Sandbox(SandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "%"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "%" and isinstance(left, str):
            _check_format(left)
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(n, int):
                    if len(seq) * n > MAX_OUTPUT_CHARS:
                        raise SecurityError("repetition would exceed the template output limit")
        if operator == "**" and isinstance(right, int | float):
            if abs(right) > MAX_POWER_EXPONENT:
                raise SecurityError(f"exponents above {MAX_POWER_EXPONENT} are not allowed")
            if isinstance(left, int) and left.bit_length() * abs(right) > 1_000_000:
                raise SecurityError("that power would be a number too large to print")
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        # 'a'.ljust(10**9), '{:>999999999}'.format(1): sizes that build huge strings.
        _check_size(args)
        _check_size(kwargs.values())
        return super().call(__context, __obj, *args, **kwargs)

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, str) and attribute in ("format", "format_map"):
            _check_format(obj)
        return super().getattr(obj, attribute)


_env = _Sandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
_env.globals["range"] = _budgeted_range
_env.globals["_budgeted_iter"] = _budgeted_iter
_lipsum: Callable[..., Any] = _env.globals["lipsum"]  # type: ignore[assignment]


def _bounded_lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> Any:
    if n > 100 or max > 1000:  # lipsum(999999) alone is about 2 GB of text
        raise SecurityError("lipsum is limited to 100 paragraphs of up to 1,000 words")
    return _lipsum(n, html, min, max)


_env.globals["lipsum"] = _bounded_lipsum
_env.filters = {name: _guarded_filter(fn) for name, fn in _env.filters.items()}


class _CompiledCache:
    def __init__(self) -> None:
        self._entries: OrderedDict[str, tuple[Any, frozenset[str]]] = OrderedDict()
        self._chars = 0

    def get(self, source: str) -> tuple[Any, frozenset[str]]:
        found = self._entries.get(source)
        if found is not None:
            self._entries.move_to_end(source)
            return found
        found = _compile(source)
        self._entries[source] = found
        self._chars += len(source)
        while len(self._entries) > _CACHE_ENTRIES or self._chars > _CACHE_CHARS:
            old, _ = self._entries.popitem(last=False)
            self._chars -= len(old)
        return found


_cache = _CompiledCache()


def _compile(source: str) -> tuple[Any, frozenset[str]]:
    """The compiled template and the root names it reads from its context (`{{a.b}}` gives
    `a`). Python's own compiler refuses what Jinja accepts but nests too deeply (21 nested
    `for`s, 99 nested `if`s), and deep expressions exhaust the parser's recursion: both are
    the template's fault, so a 400."""
    try:
        ast = _parse(source)
        names = frozenset(set(meta.find_undeclared_variables(ast)) - set(_env.globals))
        return _env.from_string(ast), names
    except ApiError:
        raise
    except TemplateSyntaxError as exc:
        raise _syntax_error(exc, source) from None
    except (RecursionError, SyntaxError) as exc:  # SyntaxError: Python's nesting limits
        raise template_error(
            "TEMPLATE_TOO_COMPLEX",
            "The template is nested too deeply to compile "
            f"({type(exc).__name__}: {exc}); flatten its blocks or expressions",
        ) from None
    except MemoryError:
        raise limit_error("memory", "compile") from None


def analyze(source: str) -> list[str]:
    """Compiles `source` (raising a 400 if it cannot be), and returns the names it reads."""
    return sorted(_cache.get(source)[1])


def _syntax_error(exc: TemplateSyntaxError, source: str) -> ApiError:
    details: dict[str, Any] = {"line": exc.lineno}
    column = _column(exc, source)
    if column is not None:
        details["column"] = column
    details["template_section"] = _line(source, exc.lineno)
    return template_error(
        "TEMPLATE_SYNTAX_ERROR",
        f"Template syntax error on line {exc.lineno}: {exc.message}", **details
    )


# The token Jinja names in its message: "unexpected '}'", "got 'b'", "unknown tag 'x'".
_NAMED_TOKEN = re.compile(r"(?:unexpected|got|tag) '([^']{1,80})'")


def _column(exc: TemplateSyntaxError, source: str) -> int | None:
    """Where on its line the error is, 1-based. Jinja reports only the line: this finds the
    token its message names, else the last block opened on that line."""
    lines = source.splitlines()
    if exc.lineno is None or not 1 <= exc.lineno <= len(lines):
        return None
    text = lines[exc.lineno - 1]
    opened = max(text.rfind("{{"), text.rfind("{%"))
    named = _NAMED_TOKEN.search(exc.message or "")
    if named:
        at = text.find(named.group(1), max(opened, 0))
        if at < 0:
            at = text.find(named.group(1))
        if at >= 0:
            return at + 1
    return opened + 1 if opened >= 0 else 1


def _parse(source: str) -> nodes.Template:
    try:
        ast = _env.parse(source)
    except TemplateSyntaxError as exc:
        raise _syntax_error(exc, source) from None
    for loop in ast.find_all(nodes.For):  # count every iteration against the budget
        loop.iter = nodes.Call(nodes.Name("_budgeted_iter", "load"), [loop.iter], [], None,
                               None, lineno=loop.lineno)
    return ast


def _line(source: str, lineno: int | None) -> str:
    lines = source.splitlines()
    if lineno is None or not 1 <= lineno <= len(lines):
        return ""
    return f"line {lineno}: {lines[lineno - 1].strip()[:200]}"


def render(source: str, variables: dict[str, Any]) -> str:
    """Renders a template (its variables already resolved) in the sandbox."""
    template = _cache.get(source)[0]
    token = _range_budget.set([MAX_RANGE_ITERATIONS])
    try:
        out: list[str] = []
        size = 0
        for chunk in template.generate(variables):  # a dict: a variable may be `self`
            size += len(chunk)
            if size > MAX_OUTPUT_CHARS:
                raise too_large()
            out.append(chunk)
        return "".join(out)
    except ApiError:
        raise
    except SecurityError as exc:
        raise template_error(
            "TEMPLATE_SECURITY_VIOLATION",
            f"The template tried something the sandbox forbids: {exc}",
            **_where(exc, source),
        ) from None
    except UndefinedError as exc:
        raise _substitution_failed(exc, source, str(exc.message)) from None
    except RecursionError:
        raise limit_error("recursion") from None
    except MemoryError:
        raise limit_error("memory") from None
    except Exception as exc:  # any other runtime error in a user's template is the user's 400
        raise _substitution_failed(exc, source, f"{type(exc).__name__}: {exc}") from None
    finally:
        _range_budget.reset(token)


def _template_line(exc: BaseException) -> int | None:
    lineno = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == "<template>":
            lineno = frame.lineno
    return lineno


def _where(exc: BaseException, source: str) -> dict[str, Any]:
    lineno = _template_line(exc)
    return {"template_section": _line(source, lineno)} if lineno else {}


_MISSING_NAME = re.compile(r"(?:attribute|key) '([^']+)'|'([A-Za-z_][A-Za-z0-9_]*)' is undefined")
_EXPRESSION = re.compile(r"\{\{.*?\}\}")


def _substitution_failed(exc: BaseException, source: str, why: str) -> ApiError:
    """The spec's VARIABLE_SUBSTITUTION_FAILED: which variables, and the expression at fault
    (`line 15: {{date_range.start}}`) when it can be told from the error."""
    lineno = _template_line(exc)
    details: dict[str, Any] = {}
    if lineno is not None:
        text = source.splitlines()[lineno - 1] if lineno <= len(source.splitlines()) else ""
        expressions = _EXPRESSION.findall(text)
        match = _MISSING_NAME.search(why)
        name = (match.group(1) or match.group(2)) if match else None
        if name:
            word = re.compile(rf"\b{re.escape(name)}\b")
            expressions = [e for e in expressions if word.search(e)] or expressions
        roots = sorted({r for e in expressions for r in _EXPRESSION_ROOT.findall(e)})
        details["problematic_variables"] = roots
        shown = " ".join(expressions) if expressions else text.strip()[:200]
        details["template_section"] = f"line {lineno}: {shown}"
    return template_error(
        "VARIABLE_SUBSTITUTION_FAILED", f"Template variable substitution failed: {why}",
        **details,
    )

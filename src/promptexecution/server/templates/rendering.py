"""Template rendering: Jinja2's sandbox with StrictUndefined, typed variables, and the spec's
single-brace `{name}` placeholders.

Untrusted templates can neither run code (the sandbox) nor exhaust the server: `range` shares
one iteration budget per render, repetition of strings and lists is capped, and output is
generated in chunks and stopped past a size limit. Every failure is a 400, never a 500.
"""

from __future__ import annotations

import functools
import re
import traceback
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from ..core.errors import ApiError, template_error, validation

MAX_OUTPUT_CHARS = 1_000_000
MAX_RANGE_ITERATIONS = 100_000
MAX_POWER_EXPONENT = 10_000

_SINGLE_BRACE = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)\}(?!\})")
_EXPRESSION_ROOT = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)")
_range_budget: ContextVar[list[int]] = ContextVar("range_budget")

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


@lru_cache(maxsize=2048)
def _compile(source: str) -> Any:
    return _env.from_string(_parse(source))


@lru_cache(maxsize=2048)
def _plain_parts(source: str) -> tuple[tuple[bool, str], ...] | None:
    """A template that only substitutes plain names (`Hi {{ name }}!`) as (is_name, text)
    parts, or None. Most prompt templates are like this, and joining strings is an order of
    magnitude cheaper than a Jinja render; anything else takes the full sandboxed path."""
    parts: list[tuple[bool, str]] = []
    for node in _parse(source).body:
        if not isinstance(node, nodes.Output):
            return None
        for child in node.nodes:
            if isinstance(child, nodes.TemplateData):
                parts.append((False, child.data))
            elif isinstance(child, nodes.Name) and child.ctx == "load":
                parts.append((True, child.name))
            else:
                return None
    return tuple(parts)


@lru_cache(maxsize=2048)
def referenced_variables(source: str) -> frozenset[str]:
    """Root names a template reads from its context (`{{a.b}}` gives `a`)."""
    ast = _parse(source)
    names = set(meta.find_undeclared_variables(ast))
    return frozenset(names - set(_env.globals))


def _parse(source: str) -> nodes.Template:
    try:
        ast = _env.parse(source)
    except TemplateSyntaxError as exc:
        raise template_error(
            "TEMPLATE_SYNTAX_ERROR",
            f"Template syntax error on line {exc.lineno}: {exc.message}",
            line=exc.lineno,
            template_section=_line(source, exc.lineno),
        ) from None
    for loop in ast.find_all(nodes.For):  # count every iteration against the budget
        loop.iter = nodes.Call(nodes.Name("_budgeted_iter", "load"), [loop.iter], [], None,
                               None, lineno=loop.lineno)
    return ast


def check_syntax(prompt: str) -> None:
    """Raises a 400 `template_error` when `prompt` is not a valid template."""
    _parse(prompt)


def _line(source: str, lineno: int | None) -> str:
    lines = source.splitlines()
    if lineno is None or not 1 <= lineno <= len(lines):
        return ""
    return f"line {lineno}: {lines[lineno - 1].strip()[:200]}"


def with_single_braces(source: str, provided: Iterable[str]) -> str:
    """The spec writes `{content}`: fill it like `{{content}}` when `content` was provided."""
    names = set(provided)
    if "{" not in source or not names:
        return source
    return _SINGLE_BRACE.sub(
        lambda m: "{{ " + m.group(1) + " }}" if m.group(1) in names else m.group(0), source
    )


def resolve_variables(
    declared: list[dict[str, Any]], provided: dict[str, Any], source: str
) -> dict[str, Any]:
    """Type-checks `provided`, applies defaults, and reports every missing variable at once."""
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
    needed = required | (referenced_variables(source) - set(optional))
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


def render(source: str, variables: dict[str, Any]) -> str:
    """Renders a template (already checked by `resolve_variables`) in the sandbox."""
    source = with_single_braces(source, variables)
    parts = _plain_parts(source)
    if parts is not None and all(variables.get(text) is not None for is_name, text in parts
                                 if is_name):
        joined = "".join(str(variables[text]) if is_name else text for is_name, text in parts)
        if len(joined) > MAX_OUTPUT_CHARS:
            raise template_error(
                "RENDERED_PROMPT_TOO_LARGE",
                f"The rendered prompt exceeds {MAX_OUTPUT_CHARS:,} characters",
                limit=MAX_OUTPUT_CHARS,
            )
        return joined
    template = _compile(source)
    token = _range_budget.set([MAX_RANGE_ITERATIONS])
    try:
        out: list[str] = []
        size = 0
        for chunk in template.generate(**variables):
            size += len(chunk)
            if size > MAX_OUTPUT_CHARS:
                raise template_error(
                    "RENDERED_PROMPT_TOO_LARGE",
                    f"The rendered prompt exceeds {MAX_OUTPUT_CHARS:,} characters",
                    limit=MAX_OUTPUT_CHARS,
                )
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

"""The history filter language: `status:failed template:blog_post since:7d "refund"`.

Parses the text typed in the console's filter bar and after `pe history` into the history
API's query parameters, with errors that carry their span. Stdlib only and pure (relative
dates resolve against a `now` the caller passes), since the SDK, the CLI and the console use it.

Decisions: a key is an ASCII identifier before a colon (`12:30` is text, `http://x` an unknown
filter: quote it); a `"` only opens a term or follows `key:`. A repeated key: the later wins, but
range bounds merge (`cost:>0.01 cost:<0.5`). `>`/`<` are inclusive (the API's bounds are). An end
of day is 23:59:59.999999, as `date_to` is inclusive; naive times are UTC. `-word`/`-key:v` are
errors (the API cannot exclude; searching `-word` finds the word), as are control characters.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

KEYS: tuple[str, ...] = (
    "status", "template", "version", "model", "batch", "since", "until", "cost", "latency")
STATUSES: tuple[str, ...] = ("processing", "completed", "failed", "cancelled")

_PLAIN = {"template": "template_id", "version": "template_version", "model": "model",
          "batch": "batch_id"}
_RANGES = {"cost": ("min_cost", "max_cost"),
           "latency": ("min_execution_time", "max_execution_time")}
_WHEN = ("1h", "today", "7d", "30d")
_DEFAULT_VALUES: dict[str, Sequence[str]] = {"status": STATUSES, "since": _WHEN, "until": _WHEN}

_KEY_RE = re.compile(r"(-?)([A-Za-z_]+):")
_SPACE_RE, _WORD_RE = re.compile(r"\s"), re.compile(r"\S")  # as str.isspace() and split()
# control characters but whitespace (which separates terms), and lone surrogates
_FORBIDDEN_RE = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\ud800-\udfff]")
_EXCLUDE_RE = re.compile(r'-[A-Za-z_"]')
# ASCII digits only: float() and int() would take "١"; durations capped as int() is quadratic
_DURATION_RE = re.compile(r"(\d{1,9})([mhdw])", re.ASCII)
_UNITS = {"m": ("minute", timedelta(minutes=1)), "h": ("hour", timedelta(hours=1)),
          "d": ("day", timedelta(days=1)), "w": ("week", timedelta(weeks=1))}
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_DATETIME_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?", re.ASCII)
_NUMBER = r"(\d+(?:\.\d*)?|\.\d+)"
_COST_RE = re.compile(r"\$?" + _NUMBER, re.ASCII)
_LATENCY_RE = re.compile(_NUMBER + r"(ms|s|m)?", re.ASCII)
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0}
_OPS = {">=": "at least", "<=": "at most", ">": "over", "<": "under"}  # two-char ops first


class FilterError(ValueError):
    """A problem in the filter text, with the span (`start`, `end`) to underline."""

    def __init__(self, message: str, start: int, end: int) -> None:
        super().__init__(message)
        self.message, self.start, self.end = message, start, end

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Term:
    key: str | None  # None for free text
    value: str  # unquoted
    text: str  # exactly as written
    start: int
    end: int
    quoted: bool = False


@dataclass(frozen=True)
class HistoryQuery:
    terms: tuple[Term, ...]

    def params(self, now: datetime) -> dict[str, Any]:
        """The history API's query parameters, only those given; FilterError if unresolvable."""
        return _resolve(self.terms, now)

    def text(self) -> str:
        """Canonical text: the terms as written, joined by single spaces."""
        return " ".join(term.text for term in self.terms)

    def without(self, index: int) -> HistoryQuery:
        """The query without term `index`; spans are re-laid to match the new `text()`."""
        terms = list(self.terms)
        del terms[index]
        laid, at = [], 0
        for term in terms:
            laid.append(replace(term, start=at, end=at + len(term.text)))
            at += len(term.text) + 1
        return HistoryQuery(tuple(laid))

    def describe(self) -> str:
        """Plain words, e.g. 'status failed, since 7 days ago, text "refund"'."""
        last = {term.key: i for i, term in enumerate(self.terms)}
        parts = [_describe(term) for i, term in enumerate(self.terms) if term.key is not None
                 and (term.key in _RANGES or last[term.key] == i)]  # ranges merge: say each
        words = [f'"{term.value}"' for term in self.terms if term.key is None]
        if words:
            parts.append("text " + " ".join(words))
        return ", ".join(parts) or "no filter"

    @property
    def is_empty(self) -> bool:
        return not self.terms


def parse(text: str, now: datetime | None = None) -> HistoryQuery:
    """Parses and validates `text`; raises FilterError at the first problem with its span."""
    now = _utc(now or datetime.now(UTC))
    bad = _FORBIDDEN_RE.search(text)
    terms: list[Term] = []
    try:
        for term in _tokenize(text):  # each checked as it comes, so the first problem is raised
            _term_params(term, now)
            terms.append(term)
    except FilterError as problem:
        if not bad or problem.start < bad.start():
            raise
    if bad:
        raise FilterError(f"character U+{ord(bad.group()):04X} is not allowed in a filter",
                          bad.start(), bad.end())
    query = HistoryQuery(tuple(terms))
    query.params(now)  # the checks across terms: version, since/until, ranges
    return query


def completion_context(text: str, cursor: int) -> tuple[str | None, str, int]:
    """(key or None, the partial value or word at `cursor`, where that partial starts)."""
    cursor = max(0, min(cursor, len(text)))
    start, quoted = 0, False
    for i in range(cursor):  # quote-aware: `template:"blog po` is still one term
        if text[i] == '"':
            quoted = not quoted
        elif text[i].isspace() and not quoted:
            start = i + 1
    match = _KEY_RE.match(text, start, cursor)
    if match is None or match.group(1):  # an exclusion has nothing to complete
        return None, text[start:cursor], start
    value_start = match.end()
    if value_start < cursor and text[value_start] == '"':
        value_start += 1
    value = text[value_start:cursor]
    if value.endswith('"') and text[value_start - 1] == '"':  # cursor just past the close
        value = value[:-1]
    return match.group(2).lower(), value, value_start


def complete(text: str, cursor: int, values: Mapping[str, Sequence[str]]) -> list[str]:
    """Whole-text candidates for the term at `cursor` (a key name, or one of its values).

    The partial and the rest of its term after the cursor are replaced (up to the colon when
    a key is typed), so completing mid-word does not leave a stale tail."""
    cursor = max(0, min(cursor, len(text)))
    key, partial, start = completion_context(text, cursor)
    lower = partial.lower()
    word_end = _space_at(text, cursor)
    if key is None:
        colon = text.find(":", cursor, word_end)
        end = colon + 1 if colon >= 0 else word_end
        return [text[:start] + k + ":" + text[end:] for k in KEYS if k.startswith(lower)]
    options = values[key] if key in values else _DEFAULT_VALUES.get(key, ())
    quoted = text[start - 1] == '"'
    begin, end = (start - 1 if quoted else start), word_end
    close = text.find('"', cursor) if quoted else -1
    if close >= 0 and (close + 1 == len(text) or text[close + 1].isspace()):
        end = close + 1  # the value's closing quote, past any spaces inside it
    out: list[str] = []
    for option in dict.fromkeys(options):
        if option.strip() and '"' not in option and option.lower().startswith(lower):
            shown = f'"{option}"' if any(c.isspace() for c in option) else option
            out.append(text[:begin] + shown + text[end:])
    return out


def _show(text: str) -> str:
    """Keeps messages short whatever was pasted."""
    return text if len(text) <= 40 else text[:39] + "…"


def _space_at(text: str, at: int) -> int:
    """Where the whitespace after `at` starts (or the end): where an unquoted word ends."""
    space = _SPACE_RE.search(text, at)
    return space.start() if space else len(text)


def _tokenize(text: str) -> Iterator[Term]:
    at = 0
    while start := _WORD_RE.search(text, at):
        term = _term(text, start.start())
        yield term
        at = term.end


def _term(text: str, start: int) -> Term:
    match = _KEY_RE.match(text, start)
    if (match and match.group(1)) or _EXCLUDE_RE.match(text, start):
        end = _space_at(text, start)
        shown = f"-{match.group(2)}:…" if match else _show(text[start:end])
        raise FilterError(f"exclusions ({shown}) are not supported", start, end)
    if match:
        key = match.group(2).lower()
        if key not in KEYS:
            close = difflib.get_close_matches(key, KEYS, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else (
                f"; filters are {', '.join(KEYS)} (put \"…\" around text to search for it)")
            raise FilterError(f"unknown filter '{_show(match.group(2))}'{hint}", start,
                              start + len(key))
        quoted = text.startswith('"', match.end())
        value, end = (_quoted if quoted else _word)(text, match.end())
        if not value.strip():
            raise FilterError(f"'{key}:' needs a value", start, end)
        return Term(key, value, text[start:end], start, end, quoted)
    if text[start] == '"':
        value, end = _quoted(text, start)
        if not value.strip():
            raise FilterError("empty quotes: put the words to search for between them", start, end)
        return Term(None, value, text[start:end], start, end, True)
    value, end = _word(text, start)
    return Term(None, value, value, start, end)


def _quoted(text: str, opening: int) -> tuple[str, int]:
    close = text.find('"', opening + 1)
    if close < 0:
        raise FilterError("unclosed quote", opening, opening + 1)
    if close + 1 < len(text) and not text[close + 1].isspace():
        raise FilterError("put a space after the closing quote", close + 1, close + 2)
    return text[opening + 1:close], close + 1


def _word(text: str, at: int) -> tuple[str, int]:
    end = _space_at(text, at)
    quote = text.find('"', at, end)
    if quote >= 0:  # the API reads quotes as phrase marks; a stray one would flip them
        raise FilterError('a quote must start a term or follow "key:"', quote, quote + 1)
    return text[at:end], end


def _utc(now: datetime) -> datetime:
    return (now if now.tzinfo else now.replace(tzinfo=UTC)).astimezone(UTC)


def _term_params(term: Term, now: datetime) -> dict[str, Any]:
    """The parameters one key term gives (dates as datetimes, to compare them)."""
    at = term.start + len(term.key or "") + (2 if term.quoted else 1)
    span = (at, at + len(term.value))  # the value's, which most errors are about
    if term.key == "status":
        if term.value.lower() not in STATUSES:
            raise FilterError(f"unknown status '{_show(term.value)}'; use one of "
                              f"{', '.join(STATUSES)}", *span)
        return {"status": term.value.lower()}
    if term.key in _PLAIN:
        return {_PLAIN[term.key]: term.value}
    if term.key in ("since", "until"):
        name = "date_from" if term.key == "since" else "date_to"
        return {name: _moment(term.value, now, term.key == "until", span)}
    if term.key in _RANGES:
        bounds = zip(_RANGES[term.key], _bounds(term, span), strict=True)
        return {name: value for name, value in bounds if value is not None}
    if term.key is None:
        return {}
    raise FilterError(f"unknown filter '{_show(term.key)}'", term.start, term.end)


def _resolve(terms: Sequence[Term], now: datetime) -> dict[str, Any]:
    now = _utc(now)
    params: dict[str, Any] = {}
    source: dict[str, Term] = {}  # the term that set each parameter, for cross-term errors
    for term in terms:
        found = _term_params(term, now)
        params.update(found)
        source.update(dict.fromkeys(found, term))
    if "template_version" in params and "template_id" not in params:
        version = source["template_version"]
        raise FilterError("version: needs a template: too, like template:blog_post version:1.2",
                          version.start, version.end)
    pairs = [("date_from", "date_to"), *_RANGES.values()]
    for low_name, high_name in pairs:
        if low_name in params and high_name in params and params[low_name] > params[high_name]:
            later = max(source[low_name], source[high_name], key=lambda t: t.start)
            what = "since: is after until:" if low_name == "date_from" else \
                f"the {later.key} range is empty: its lower bound is above its upper bound"
            raise FilterError(what, later.start, later.end)
    for name in ("date_from", "date_to"):
        if name in params:  # microseconds only when there are some, as the API writes them
            params[name] = params[name].replace(tzinfo=None).isoformat() + "Z"
    words = [term.text for term in terms if term.key is None]
    if words:
        params["q"] = " ".join(words)
    return params


def _moment(value: str, now: datetime, end_of_day: bool, span: tuple[int, int]) -> datetime:
    lower, day = value.lower(), None
    try:
        if lower in ("today", "yesterday"):
            day = now.date() - timedelta(days=1 if lower == "yesterday" else 0)
        elif duration := _DURATION_RE.fullmatch(lower):
            return now - int(duration.group(1)) * _UNITS[duration.group(2)][1]
        elif _DATE_RE.fullmatch(value):
            day = date.fromisoformat(value)
        elif _DATETIME_RE.fullmatch(value.upper()):
            return _utc(datetime.fromisoformat(value.upper()))
    except ValueError:
        raise FilterError(f"'{_show(value)}' is not a valid date", *span) from None
    except OverflowError:
        raise FilterError(f"'{_show(value)}' is out of range", *span) from None
    if day is None:
        raise FilterError(f"'{_show(value)}' is not a date: use 30m, 1h, 7d, 2w, today, "
                          "yesterday, 2026-01-15 or 2026-01-15T09:30Z", *span)
    return datetime.combine(day, time.max if end_of_day else time.min, tzinfo=UTC)


def _split_range(value: str) -> tuple[str, str, str] | None:
    """(operator, low side, high side): `>` gives ('>', x, ''), `a..b` gives ('..', a, b)."""
    if ".." in value:
        low, _, high = value.partition("..")
        return "..", low, high
    for op in _OPS:
        if value.startswith(op):
            side = value[len(op):]
            return (op, side, "") if op[0] == ">" else (op, "", side)
    return None


def _bounds(term: Term, span: tuple[int, int]) -> tuple[float | None, float | None]:
    split = _split_range(term.value)
    if split is None:
        raise FilterError(f"{term.key}:{_show(term.value)} is not a range: use >, <, or a..b, "
                          f"like {term.key}:{'>0.01' if term.key == 'cost' else '>2s'}", *span)
    op, low, high = split
    cost = term.key == "cost"

    def number(side: str) -> float:
        match = (_COST_RE if cost else _LATENCY_RE).fullmatch(side)
        found = float(match.group(1)) if match else math.nan
        found *= 1.0 if cost or not match else _SECONDS[match.group(2) or "s"]
        if not math.isfinite(found):  # no match, or digits past float's range
            like = "a cost in USD, like 0.05" if cost else "a duration, like 2s or 500ms"
            raise FilterError(f"'{_show(side)}' is not {like}" if side else f"missing {like}",
                              *span)
        return found

    if op == "..":
        return number(low), number(high)
    return (number(low), None) if op[0] == ">" else (None, number(high))


def _describe(term: Term) -> str:
    key, value = term.key or "", term.value
    if key == "status":
        return f"status {value.lower()}"
    duration = _DURATION_RE.fullmatch(value.lower())
    if key in ("since", "until") and duration:
        count, unit = int(duration.group(1)), _UNITS[duration.group(2)][0]
        return f"{key} {count} {unit}{'' if count == 1 else 's'} ago"
    split = _split_range(value) if key in _RANGES else None
    if split is None:
        return f"{key} {value}"
    op, low, high = split

    def show(side: str) -> str:
        if key == "cost":
            return "$" + side.removeprefix("$")
        return side + "s" if side[-1:].isdigit() or side.endswith(".") else side

    if op == "..":
        return f"{key} {show(low)} to {show(high)}"
    return f"{key} {_OPS[op]} {show(low or high)}"

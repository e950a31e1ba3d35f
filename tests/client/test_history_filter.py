"""The history filter language: parsing to API parameters, errors with spans, chips, completion."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from promptexecution.history_filter import (
    KEYS,
    STATUSES,
    FilterError,
    HistoryQuery,
    Term,
    complete,
    completion_context,
    parse,
)

NOW = datetime(2026, 12, 4, 18, 30, tzinfo=UTC)


def params(text: str) -> dict[str, object]:
    return parse(text, NOW).params(NOW)


def error(text: str) -> FilterError:
    with pytest.raises(FilterError) as caught:
        parse(text, NOW)
    return caught.value


def test_constants() -> None:
    assert KEYS == ("status", "template", "version", "model", "batch", "since", "until", "cost",
                    "latency")
    assert STATUSES == ("processing", "completed", "failed", "cancelled")


def test_every_key_with_a_good_value() -> None:
    text = ("status:failed template:blog_post version:1.2 model:gpt-4o batch:b_123 since:7d "
            "until:today cost:0.01..0.5 latency:>2s refund")
    assert params(text) == {
        "status": "failed", "template_id": "blog_post", "template_version": "1.2",
        "model": "gpt-4o", "batch_id": "b_123", "date_from": "2026-11-27T18:30:00Z",
        "date_to": "2026-12-04T23:59:59.999999Z", "min_cost": 0.01, "max_cost": 0.5,
        "min_execution_time": 2.0, "q": "refund"}


def test_keys_are_case_insensitive_values_keep_their_case() -> None:
    assert params("Status:FAILED TEMPLATE:Blog_Post Model:GPT") == {
        "status": "failed", "template_id": "Blog_Post", "model": "GPT"}
    assert parse("Status:FAILED", NOW).terms[0] == Term("status", "FAILED", "Status:FAILED", 0, 13)


@pytest.mark.parametrize("status", STATUSES)
def test_every_status(status: str) -> None:
    assert params(f"status:{status}") == {"status": status}


def test_empty_query() -> None:
    query = parse("   ", NOW)
    assert query.is_empty and query.terms == () and query.params(NOW) == {}
    assert query.text() == "" and query.describe() == "no filter"
    assert not parse("x", NOW).is_empty


@pytest.mark.parametrize(("text", "expected"), [
    ("since:30m", "2026-12-04T18:00:00Z"),
    ("since:1h", "2026-12-04T17:30:00Z"),
    ("since:7d", "2026-11-27T18:30:00Z"),
    ("since:2w", "2026-11-20T18:30:00Z"),
    ("since:0d", "2026-12-04T18:30:00Z"),
    ("since:today", "2026-12-04T00:00:00Z"),
    ("since:Yesterday", "2026-12-03T00:00:00Z"),
    ("since:2026-01-15", "2026-01-15T00:00:00Z"),
    ("since:2026-01-15T09:30", "2026-01-15T09:30:00Z"),
    ("since:2026-01-15T09:30:00Z", "2026-01-15T09:30:00Z"),
    ("since:2026-01-15t09:30:00z", "2026-01-15T09:30:00Z"),
    ("since:2026-01-15T09:30+01:00", "2026-01-15T08:30:00Z"),
    ("since:2026-01-15T23:30-0130", "2026-01-16T01:00:00Z"),
    ("since:2026-01-15T09:30:00.250Z", "2026-01-15T09:30:00.250000Z"),
    ('since:"2026-01-15 09:30"', "2026-01-15T09:30:00Z"),
])
def test_since(text: str, expected: str) -> None:
    assert params(text) == {"date_from": expected}


@pytest.mark.parametrize(("text", "expected"), [
    ("until:1h", "2026-12-04T17:30:00Z"),
    ("until:today", "2026-12-04T23:59:59.999999Z"),
    ("until:yesterday", "2026-12-03T23:59:59.999999Z"),
    ("until:2026-01-15", "2026-01-15T23:59:59.999999Z"),
    ("until:2026-01-15T09:30:00+05:30", "2026-01-15T04:00:00Z"),
])
def test_until(text: str, expected: str) -> None:
    assert params(text) == {"date_to": expected}


def test_dates_resolve_against_the_now_given_to_params() -> None:
    query = parse("since:1h until:today", NOW)
    later = NOW + timedelta(days=1, minutes=5)
    assert query.params(later) == {"date_from": "2026-12-05T17:35:00Z",
                                   "date_to": "2026-12-05T23:59:59.999999Z"}
    # a naive now is UTC, an aware one is converted to UTC first
    assert query.params(datetime(2026, 12, 4, 18, 30)) == query.params(NOW)
    tokyo = NOW.astimezone(timezone(timedelta(hours=9)))  # already 5 December there
    assert query.params(tokyo)["date_to"] == "2026-12-04T23:59:59.999999Z"
    assert query.params(NOW.replace(microsecond=5))["date_from"] == "2026-12-04T17:30:00.000005Z"


def test_parse_defaults_now_to_the_current_time() -> None:
    before = datetime.now(UTC)
    query = parse("since:1h")
    date_from = query.params(datetime.now(UTC))["date_from"]
    moment = datetime.fromisoformat(date_from)
    assert before - timedelta(hours=1, seconds=5) <= moment <= datetime.now(UTC)


@pytest.mark.parametrize(("text", "expected"), [
    ("cost:>0.01", {"min_cost": 0.01}),
    ("cost:>=0.01", {"min_cost": 0.01}),
    ("cost:<0.5", {"max_cost": 0.5}),
    ("cost:<=.5", {"max_cost": 0.5}),
    ("cost:0.01..0.5", {"min_cost": 0.01, "max_cost": 0.5}),
    ("cost:$1..$2", {"min_cost": 1.0, "max_cost": 2.0}),
    ("cost:0.1..0.1", {"min_cost": 0.1, "max_cost": 0.1}),
    ("cost:>0.01 cost:<0.5", {"min_cost": 0.01, "max_cost": 0.5}),  # bounds merge
    ("cost:>0.01 cost:>0.02", {"min_cost": 0.02}),  # the later bound wins
    ("latency:>2s", {"min_execution_time": 2.0}),
    ("latency:<500ms", {"max_execution_time": 0.5}),
    ("latency:1s..3s", {"min_execution_time": 1.0, "max_execution_time": 3.0}),
    ("latency:>=1.5", {"min_execution_time": 1.5}),
    ("latency:<=2m", {"max_execution_time": 120.0}),
    ("latency:250ms..1", {"min_execution_time": 0.25, "max_execution_time": 1.0}),
])
def test_ranges(text: str, expected: dict[str, float]) -> None:
    got = params(text)
    assert got == expected and all(type(value) is float for value in got.values())


@pytest.mark.parametrize(("text", "q"), [
    ("refund", "refund"),
    ('refund "late parcel"', 'refund "late parcel"'),
    ('status:failed  refund   "late  parcel" again', 'refund "late  parcel" again'),
    ("12:30 ::", "12:30 ::"),
    ("ｓtatus:failed", "ｓtatus:failed"),  # a fullwidth letter is not a key
    ("café 🧾 👩‍👩‍👧", "café 🧾 👩‍👩‍👧"),
])
def test_free_text_becomes_q(text: str, q: str) -> None:
    assert params(text)["q"] == q


def test_quoted_key_values() -> None:
    query = parse('template:"blog post" model:"my model" "late parcel"', NOW)
    assert query.params(NOW) == {"template_id": "blog post", "model": "my model",
                                 "q": '"late parcel"'}
    assert query.terms == (
        Term("template", "blog post", 'template:"blog post"', 0, 20, quoted=True),
        Term("model", "my model", 'model:"my model"', 21, 37, quoted=True),
        Term(None, "late parcel", '"late parcel"', 38, 51, quoted=True))


def test_a_key_given_twice_the_later_wins() -> None:
    assert params("status:failed status:completed since:1d since:2h") == {
        "status": "completed", "date_from": "2026-12-04T16:30:00Z"}


def test_emoji_spans_count_code_points() -> None:
    query = parse('🧾 status:failed "👩‍👩‍👧 x"', NOW)
    # a ZWJ family emoji is 5 code points
    assert [(t.start, t.end) for t in query.terms] == [(0, 1), (2, 15), (16, 25)]
    assert error("🧾 status:nope").start == 9


@pytest.mark.parametrize("text", [
    "status:failed template:blog_post since:7d refund",
    'template:"blog post" version:1.2 "late parcel" cost:0.01..0.5 latency:<500ms',
    "Status:FAILED until:2026-01-15T09:30+01:00 café 🧾",
    "",
])
def test_canonical_text_round_trip(text: str) -> None:
    query = parse(text, NOW)
    assert query.text() == text
    assert parse(query.text(), NOW).terms == query.terms


def test_canonical_text_normalizes_whitespace() -> None:
    query = parse('  status:failed \t\n "a  b"   c ', NOW)
    assert query.text() == 'status:failed "a  b" c'
    again = parse(query.text(), NOW)
    assert [(t.key, t.value, t.text) for t in again.terms] == [
        (t.key, t.value, t.text) for t in query.terms]
    assert again.params(NOW) == query.params(NOW)


def test_without_removes_a_chip_and_relays_spans() -> None:
    query = parse('status:failed  template:"blog post"   refund', NOW)
    rest = query.without(0)
    assert rest.text() == 'template:"blog post" refund'
    assert rest.terms == parse(rest.text(), NOW).terms
    assert query.without(-1).text() == 'status:failed template:"blog post"'
    assert query.without(1).params(NOW) == {"status": "failed", "q": "refund"}
    assert query.without(0).without(0).without(0).is_empty
    assert len(query.terms) == 3  # the original is untouched
    with pytest.raises(IndexError):
        query.without(3)


@pytest.mark.parametrize(("text", "words"), [
    ('status:failed template:blog_post since:7d "refund"',
     'status failed, template blog_post, since 7 days ago, text "refund"'),
    ("refund late", 'text "refund" "late"'),
    ('Status:FAILED "late parcel" version:1.2 template:x', 'status failed, version 1.2, '
     'template x, text "late parcel"'),
    ("since:1d until:1h", "since 1 day ago, until 1 hour ago"),
    ("since:2w until:30m", "since 2 weeks ago, until 30 minutes ago"),
    ("since:yesterday until:today", "since yesterday, until today"),
    ("since:2026-01-15", "since 2026-01-15"),
    ("status:failed status:completed", "status completed"),
    ("cost:>0.01 cost:<=$0.5", "cost over $0.01, cost at most $0.5"),
    ("cost:0.01..0.5 latency:>=2", "cost $0.01 to $0.5, latency at least 2s"),
    ("latency:<500ms model:m batch:b", "latency under 500ms, model m, batch b"),
    ("", "no filter"),
])
def test_describe(text: str, words: str) -> None:
    assert HistoryQuery(parse(text, NOW).terms).describe() == words


@pytest.mark.parametrize(("text", "message", "span"), [
    ("stauts:failed", "unknown filter 'stauts' (did you mean 'status'?)", (0, 6)),
    ("a" * 50 + ":x", f"unknown filter '{'a' * 39}…'; filters are status, template, version, "
     'model, batch, since, until, cost, latency (put "…" around text to search for it)', (0, 50)),
    ("x Templte:a", "unknown filter 'Templte' (did you mean 'template'?)", (2, 9)),
    ("http://x", "unknown filter 'http'; filters are status, template, version, model, batch, "
     'since, until, cost, latency (put "…" around text to search for it)', (0, 4)),
    ("status:done", "unknown status 'done'; use one of processing, completed, failed, cancelled",
     (7, 11)),
    ('status:"so done"', "unknown status 'so done'; use one of processing, completed, failed, "
     "cancelled", (8, 15)),
    ("a version:1.2", "version: needs a template: too, like template:blog_post version:1.2",
     (2, 13)),
    ("since:2026-13-01", "'2026-13-01' is not a valid date", (6, 16)),
    ("until:2026-02-30T10:00", "'2026-02-30T10:00' is not a valid date", (6, 22)),
    ("since:last_week", "'last_week' is not a date: use 30m, 1h, 7d, 2w, today, yesterday, "
     "2026-01-15 or 2026-01-15T09:30Z", (6, 15)),
    ("since:7y", "'7y' is not a date: use 30m, 1h, 7d, 2w, today, yesterday, "
     "2026-01-15 or 2026-01-15T09:30Z", (6, 8)),
    ("since:999999999w", "'999999999w' is out of range", (6, 16)),
    ("until:9999-12-31T23:00-05:00", "'9999-12-31T23:00-05:00' is out of range", (6, 28)),
    ("since:٢٠٢٦-01-15", "'٢٠٢٦-01-15' is not a date: use 30m, 1h, 7d, 2w, today, yesterday, "
     "2026-01-15 or 2026-01-15T09:30Z", (6, 16)),
    ("cost:>١", "'١' is not a cost in USD, like 0.05", (5, 7)),
    ("cost:0.02", "cost:0.02 is not a range: use >, <, or a..b, like cost:>0.01", (5, 9)),
    ("latency:2s", "latency:2s is not a range: use >, <, or a..b, like latency:>2s", (8, 10)),
    ("cost:>abc", "'abc' is not a cost in USD, like 0.05", (5, 9)),
    ("cost:>-1", "'-1' is not a cost in USD, like 0.05", (5, 8)),
    ("cost:>1e5", "'1e5' is not a cost in USD, like 0.05", (5, 9)),
    ("cost:>", "missing a cost in USD, like 0.05", (5, 6)),
    ("cost:0.1..", "missing a cost in USD, like 0.05", (5, 10)),
    ("latency:>2h", "'2h' is not a duration, like 2s or 500ms", (8, 11)),
    ("cost:0.5..0.1", "the cost range is empty: its lower bound is above its upper bound",
     (0, 13)),
    ("latency:>2s latency:<1s",
     "the latency range is empty: its lower bound is above its upper bound", (12, 23)),
    ("since:today until:yesterday", "since: is after until:", (12, 27)),
    ("until:1d since:1h", "since: is after until:", (9, 17)),
    ('a "late parcel', "unclosed quote", (2, 3)),
    ('template:"blog post', "unclosed quote", (9, 10)),
    ('"a"b', "put a space after the closing quote", (3, 4)),
    ('ab"c d"', 'a quote must start a term or follow "key:"', (2, 3)),
    ("-status:failed", "exclusions (-status:…) are not supported", (0, 14)),
    ("x -refund", "exclusions (-refund) are not supported", (2, 9)),
    ("status:", "'status:' needs a value", (0, 7)),
    ('model:"  " x', "'model:' needs a value", (0, 10)),
    ('x ""', "empty quotes: put the words to search for between them", (2, 4)),
    ("a\x00b", "character U+0000 is not allowed in a filter", (1, 2)),
    ("status:failed \x1b[31m", "character U+001B is not allowed in a filter", (14, 15)),
    ("x \ud800", "character U+D800 is not allowed in a filter", (2, 3)),
])
def test_errors_and_their_spans(text: str, message: str, span: tuple[int, int]) -> None:
    caught = error(text)
    assert (caught.message, (caught.start, caught.end)) == (message, span)
    assert str(caught) == message and isinstance(caught, ValueError)


def test_params_reports_errors_in_terms_it_is_given() -> None:
    query = HistoryQuery((Term("since", "someday", "since:someday", 0, 13),))
    with pytest.raises(FilterError, match="not a date") as caught:
        query.params(NOW)
    assert (caught.value.start, caught.value.end) == (6, 13)


@pytest.mark.parametrize(("text", "start"), [
    ("stauts:x status:done", 0),
    ("status:done stauts:x", 7),
    ('status:done "open', 7),
    ('"open status:done', 0),
    ("status:done \x00", 7),
    ("\x00 status:done", 0),
    ("since:1h until:1d status:done", 25),  # checks across terms come after every term's
])
def test_the_first_problem_is_reported(text: str, start: int) -> None:
    assert error(text).start == start


def test_whitespace_control_characters_separate_terms() -> None:
    assert params("status:failed\tsince:1h\r\nrefund\x0bx") == {
        "status": "failed", "date_from": "2026-12-04T17:30:00Z", "q": "refund x"}


@pytest.mark.parametrize("text", [
    "a" * 10_000,
    "a" * 9_999 + ":",
    "a" * 9_998 + ":x",
    "refund " * 1_428,
    '"' + "x " * 5_000,
    "status:" + '"' * 9_993,
    "cost:>" + "9" * 9_994,
    "since:" + "9" * 9_994 + "d",
    "-" * 10_000,
    ":" * 10_000,
    "🧾" * 10_000,
    ('"' + "a" * 9_998) + '"',
    "x:" * 5_000,
])
def test_hostile_input_is_quick(text: str) -> None:
    started = time.perf_counter()
    try:
        query = parse(text, NOW)
        query.params(NOW)
        query.describe()
    except FilterError as caught:
        assert len(caught.message) < 300  # pasted junk is not echoed back whole
        assert 0 <= caught.start < caught.end <= len(text)
    completion_context(text, len(text))
    complete(text, len(text), {})
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(("text", "cursor", "expected"), [
    ("status:fa", 9, ("status", "fa", 7)),
    ("templ", 5, (None, "templ", 0)),
    ("", 0, (None, "", 0)),
    ("refund ", 7, (None, "", 7)),
    ("status:failed mod", 17, (None, "mod", 14)),
    ("status:failed mod", 3, (None, "sta", 0)),
    ("Status:", 7, ("status", "", 7)),
    ('template:"blog po', 17, ("template", "blog po", 10)),
    ('template:"blog post"', 20, ("template", "blog post", 10)),
    ('x "late par', 11, (None, '"late par', 2)),
    ("-status:fa", 10, (None, "-status:fa", 0)),
    ("status:fa", 99, ("status", "fa", 7)),
    ("status:fa", -3, (None, "", 0)),
])
def test_completion_context(text: str, cursor: int,
                            expected: tuple[str | None, str, int]) -> None:
    assert completion_context(text, cursor) == expected


@pytest.mark.parametrize(("text", "cursor", "values", "expected"), [
    ("sta", 3, {}, ["status:"]),
    ("STA", 3, {}, ["status:"]),
    ("", 0, {}, [k + ":" for k in KEYS]),
    ("refund s", 8, {}, ["refund status:", "refund since:"]),
    ("refund s x", 8, {}, ["refund status: x", "refund since: x"]),
    ("sta status:failed", 2, {}, ["status: status:failed"]),
    ("sta|tus:failed".replace("|", ""), 3, {}, ["status:failed"]),
    ("zz", 2, {}, []),
    ('"sta', 4, {}, []),
    ("status:fa", 9, {}, ["status:failed"]),
    ("status:", 7, {}, [f"status:{s}" for s in STATUSES]),
    ("status:C", 8, {}, ["status:completed", "status:cancelled"]),
    ("status:fa", 9, {"status": ["failed", "fabulous"]}, ["status:failed", "status:fabulous"]),
    ("status:fa", 9, {"status": []}, []),
    ("since:", 6, {}, ["since:1h", "since:today", "since:7d", "since:30d"]),
    ("until:t x", 7, {}, ["until:today x"]),
    ("until:t", 7, {"until": ["tomorrow"]}, ["until:tomorrow"]),
    ("model:", 6, {}, []),
    ("template:bl", 11, {"template": ["blog post", "Blog_x", "other", 'bad"one', "blog_x"]},
     ['template:"blog post"', "template:Blog_x", "template:blog_x"]),
    ('template:"blog p', 16, {"template": ["blog post"]}, ['template:"blog post"']),
    ('template:"bl" x', 12, {"template": ["blog post", "blob"]},
     ['template:"blog post" x', "template:blob x"]),
    ('template:"bl og" x', 12, {"template": ["blog post"]}, ['template:"blog post" x']),
    ("template:bl x", 11, {"template": ["blog", "blog"]}, ["template:blog x"]),
    ("status:fai x", 9, {}, ["status:failed x"]),  # the rest of the word is replaced
    ("-status:fa", 10, {}, []),
])
def test_complete(text: str, cursor: int, values: dict[str, list[str]],
                  expected: list[str]) -> None:
    assert complete(text, cursor, values) == expected


def test_completions_parse() -> None:
    for text in ("sta", "status:f", "since:", 'template:"blog p'):
        for candidate in complete(text, len(text), {"template": ["blog post"]}):
            if not candidate.endswith(":"):
                assert not parse(candidate, NOW).is_empty

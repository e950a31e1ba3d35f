"""A batch from a file, checked before anything is sent: JSON lines or CSV rows, their columns
mapped to a template's variables (same names match by themselves), every value checked
against the variable's type, ids unique, and no more rows than a batch takes. Used by
`pe batch submit` (and, next, the Batches screen). Stdlib only.

A JSON line is either `{"id": ..., "variables": {...}}` (the API's input) or a flat object
whose keys are columns. CSV values are text, read as the variable's type: `42` for an
integer, `0.5` for a number, `true`/`false`/`yes`/`no`/`1`/`0` for a boolean, JSON for an
array or object; an empty cell is a value not given.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .models import MAX_BATCH_BODY_BYTES, MAX_BATCH_ITEMS, is_variable_type

ID_COLUMN = "id"
_INTEGER = re.compile(r"[+-]?[0-9]+")
_BOOLEANS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


@dataclass(frozen=True)
class RowProblem:
    row: int  # 1-based: the line of a JSONL file, the record of a CSV file (header not counted)
    item_id: str | None
    message: str
    whole_file: bool = False  # dropping bad rows cannot fix it (too many rows, too large)

    def __str__(self) -> str:
        if self.row == 0:
            return f"the file: {self.message}"
        named = f" ({self.item_id})" if self.item_id else ""
        return f"row {self.row}{named}: {self.message}"


@dataclass
class BatchFile:
    inputs: list[dict[str, Any]] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    rows: int = 0
    size: int = 0  # bytes
    unmapped: list[str] = field(default_factory=list)  # columns no variable takes

    @property
    def can_drop_bad_rows(self) -> bool:
        """Sending only the good rows would be a valid batch."""
        return bool(self.inputs) and not any(p.whole_file for p in self.problems)


def load(path: Path, variables: Sequence[Mapping[str, Any]],
         mapping: Mapping[str, str] | None = None) -> BatchFile:
    """Reads and checks `path` (`.csv` is CSV, anything else JSON lines). `variables` are the
    template's declared ones (name, type, required, default); `mapping` is column -> variable
    for the columns whose names differ."""
    declared = {spec["name"]: spec for spec in variables}
    mapping = dict(mapping or {})
    for column, name in mapping.items():
        if name not in declared:
            raise ValueError(f"--map {column}={name}: the template has no variable {name!r} "
                             f"(it has {', '.join(sorted(declared)) or 'none'})")
    found = BatchFile(size=path.stat().st_size)
    seen_ids: dict[str, int] = {}
    columns_seen: set[str] = set()
    for row, columns, problem in _rows(path):
        found.rows = row
        if problem:
            found.problems.append(RowProblem(row, None, problem,
                                             whole_file=isinstance(problem, WholeFile)))
            continue
        item_id = columns.pop(ID_COLUMN, None)
        item_id = None if item_id in (None, "") else str(item_id)
        columns_seen.update(columns)
        values, problems = _values(columns, declared, mapping, from_text=is_csv(path))
        if item_id is not None:
            if item_id in seen_ids:
                problems.append(f"id {item_id!r} is also on row {seen_ids[item_id]}")
            else:
                seen_ids[item_id] = row
        if problems:
            found.problems += [RowProblem(row, item_id, message) for message in problems]
        else:
            found.inputs.append({"id": item_id, "variables": values} if item_id
                                else {"variables": values})
    if found.rows > MAX_BATCH_ITEMS:
        found.problems.insert(0, RowProblem(0, None, f"the file has {found.rows:,} "
                                            f"rows; a batch takes at most {MAX_BATCH_ITEMS:,}",
                                            whole_file=True))
    if found.rows == 0:
        found.problems.append(RowProblem(0, None, "the file has no rows", whole_file=True))
    body = request_bytes(found.inputs)
    if body > MAX_BATCH_BODY_BYTES:
        found.problems.insert(0, RowProblem(
            0, None, f"the request would be {body / 2**20:,.1f} MiB; the server takes at most "
            f"{MAX_BATCH_BODY_BYTES / 2**20:,.0f} MiB: split the file", whole_file=True))
    taken = set(declared) | set(mapping)
    found.unmapped = sorted(columns_seen - taken)
    return found


def size_words(size: int) -> str:
    return f"{size / 2**20:,.1f} MiB" if size >= 2**20 else f"{size / 1024:,.1f} KiB"


def request_bytes(inputs: Sequence[Mapping[str, Any]]) -> int:
    """About how large the batch request's body is: its inputs as the SDK's httpx sends
    them (compact, UTF-8), and room for the rest of the body."""
    return len(json.dumps(inputs, ensure_ascii=False, separators=(",", ":")).encode()) + 2048


def columns(path: Path, sample: int = 200) -> list[str]:
    """The columns a file has (a CSV header; the keys of the first JSON lines), in order,
    for mapping them to variables before the whole file is read."""
    found: dict[str, None] = {}
    for row, values, _ in _rows(path):
        for name in values:
            if name != ID_COLUMN:
                found.setdefault(name, None)
        if row >= sample:
            break
    return list(found)


def is_csv(path: Path) -> bool:
    return path.suffix.lower() == ".csv"


class WholeFile(str):
    """A problem that stops the reading: dropping bad rows would drop the rest unseen."""


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any], str | None]]:
    """(row number, columns, problem) per row. A CSV the csv module cannot read on (a cell
    over its size limit, say) ends with a problem on the row where it stopped."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        if is_csv(path):
            row = 0
            try:
                for row, record in enumerate(csv.DictReader(handle), start=1):
                    if None in record:  # more cells than the header has names
                        yield row, {}, "more cells than the header has columns"
                    else:
                        yield row, {k: v for k, v in record.items() if v is not None}, None
            except csv.Error as exc:
                yield row + 1, {}, WholeFile(f"CSV that cannot be read on from here: {exc}")
            return
        row = 0
        for line in handle:
            if not line.strip():
                continue
            row += 1
            try:
                value = json.loads(line, parse_constant=_no_constant)
            except json.JSONDecodeError as exc:
                reason = exc.msg.removesuffix(" at")
                yield row, {}, f"not valid JSON: {reason} (column {exc.colno})"
                continue
            except ValueError as exc:  # NaN, Infinity: the server takes no such number
                yield row, {}, f"not valid JSON: {exc}"
                continue
            except RecursionError:
                yield row, {}, "JSON nested too deeply to read"
                continue
            if not isinstance(value, dict):
                yield row, {}, "a line must be a JSON object"
            elif isinstance(value.get("variables"), dict):
                yield row, {ID_COLUMN: value.get("id"), **value["variables"]}, None
            else:
                yield row, value, None


def _values(columns: Mapping[str, Any], declared: Mapping[str, Mapping[str, Any]],
            mapping: Mapping[str, str], from_text: bool) -> tuple[dict[str, Any], list[str]]:
    values: dict[str, Any] = {}
    problems: list[str] = []
    wrong: set[str] = set()
    for column, raw in columns.items():
        name = mapping.get(column, column)
        spec = declared.get(name)
        if spec is None or raw is None or (from_text and raw == ""):
            continue  # a column no variable takes, or a value not given
        kind = spec.get("type", "string")
        value, problem = _typed(raw, kind) if from_text else _checked(raw, kind)
        if problem:
            problems.append(f"{name}: {problem}")
            wrong.add(name)
        else:
            values[name] = value
    for name, spec in declared.items():
        if (spec.get("required") and spec.get("default") is None and name not in values
                and name not in wrong):
            problems.append(f"{name}: required, and not given")
    return values, problems


def _typed(text: str, kind: str) -> tuple[Any, str | None]:
    """A CSV cell as the variable's type."""
    if kind == "string":
        return text, None
    if kind == "integer":
        return (int(text), None) if _INTEGER.fullmatch(text.strip()) else (
            None, f"{text!r} is not a whole number")
    if kind == "number":
        try:
            number = float(text)
        except ValueError:
            return None, f"{text!r} is not a number"
        return (number, None) if number == number and abs(number) != float("inf") else (
            None, f"{text!r} is not a finite number")
    if kind == "boolean":
        flag = _BOOLEANS.get(text.strip().lower())
        return (flag, None) if flag is not None else (
            None, f"{text!r} is not true or false")
    try:
        parsed = json.loads(text)
    except ValueError:
        return None, f"not valid JSON for an {kind}"
    return _checked(parsed, kind)


def _checked(value: Any, kind: str) -> tuple[Any, str | None]:
    """A JSON value against the variable's type, as the server checks it."""
    if is_variable_type(value, kind):
        return value, None
    return None, f"must be {'an' if kind[0] in 'aeiou' else 'a'} {kind}, not {type(value).__name__}"


OUTPUT_GUESS = 500  # tokens per row when neither the request nor the template caps them


@dataclass(frozen=True)
class CostEstimate:
    dollars: float
    input_tokens: int  # per row, on average
    output_tokens: int  # per row: the max_tokens cap, else OUTPUT_GUESS
    capped: bool  # output_tokens is a cap (the cost is at most this), not a guess

    def words(self, rows: int, model: str) -> str:
        kind = "at most" if self.capped else "about"
        return (f"{kind} ${self.dollars:,.4f}: {rows:,} rows x ~{self.input_tokens:,} input + "
                f"{'≤' if self.capped else '~'}{self.output_tokens:,} output tokens at "
                f"{model}'s prices")


def estimate(inputs: Sequence[Mapping[str, Any]], prompt: str, max_tokens: int | None,
             input_price_per_million: float, output_price_per_million: float) -> CostEstimate:
    """What the batch may cost before it is sent: input tokens from the prompt and each row's
    values at ~4 characters a token; output tokens from the max_tokens cap when there is one."""
    characters = sum(len(prompt) + sum(len(v if isinstance(v, str) else json.dumps(v))
                                       for v in item.get("variables", {}).values())
                     for item in inputs)
    rows = max(len(inputs), 1)
    input_tokens = characters // 4 // rows + 1
    output_tokens = max_tokens or OUTPUT_GUESS
    dollars = (characters / 4 * input_price_per_million
               + output_tokens * len(inputs) * output_price_per_million) / 1_000_000
    return CostEstimate(dollars, input_tokens, output_tokens, capped=max_tokens is not None)

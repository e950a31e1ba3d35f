"""Simon Willison's `llm` CLI as the other side of the history benchmark: `llm logs -q WORD`.

    python -m tests.bench._llm_logs [--rows 20000] [--word refund] [--runs 5]
        [--layout turns|responses] [--llm-venv DIR]

`pe history "WORD" -n 20` is compared with `llm logs -q WORD -n 20` over the same responses
held in llm's own logs database. This module provides that side:

* `ensure_llm`: an `llm` executable in a venv of its own outside the repository (default
  ~/.cache/pe-bench/llm-venv, `python3 -m venv` + `pip install llm` on first use, reused).
* `build_logs_db`: a logs.db whose schema llm creates and migrates itself (`llm fragments
  list`, which opens logs.db and runs its migrations), then filled with the stdlib sqlite3
  module in large transactions with the rows llm itself writes when it logs a prompt.
  Since llm 0.32 that is the content-addressed store (layout "turns", the default): a thread
  per prompt (what `llm "prompt"` does), a turn, a user and an assistant message keyed by
  llm's blake2b hash (identical texts share a row, as in llm), a text part each, and a
  `turn_search` row whose FTS5 index `turn_search_fts` llm searches. Layout "responses" is
  the table llm <= 0.31 wrote (`responses` + `conversations`, index `responses_fts`), which
  newer versions still read and search as legacy history. Both indexes are external-content
  FTS5 tables kept by triggers; the load drops the insert trigger, runs the FTS 'rebuild'
  once at the end and restores the trigger exactly as llm created it.
* `time_llm_logs` / `time_command`: whole commands timed as a user feels them (interpreter
  start-up included), after an untimed warm-up.

`llm logs -q` runs, on each side of its store, a MATCH on the FTS index ordered by bm25 with
the prompt column weighted 10x, `limit N`, then merges the two lists by rank
(llm/logs.py: `log_rows` and `legacy_log_rows`, joined by `merged_log_rows`).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from json.encoder import encode_basestring as _json_string  # json.dumps(str, ensure_ascii=False)
from pathlib import Path
from typing import Literal

from ._common import DIE_WITH_PARENT, median

DEFAULT_VENV = Path.home() / ".cache" / "pe-bench" / "llm-venv"
LLM_PACKAGE = "llm"
INSTALL_TIMEOUT = 900  # the first pip install took ~10 s here
COMMAND_TIMEOUT = 300
BATCH_ROWS = 100_000  # records per transaction
SAMPLE_CHECKS = 200  # stored messages re-hashed by llm's own code after a build

Layout = Literal["turns", "responses"]
LAYOUTS: tuple[Layout, ...] = ("turns", "responses")
# The tables each layout fills and the FTS5 index llm searches on it.
_LAYOUT_TABLES: dict[Layout, tuple[str, ...]] = {
    "turns": ("threads", "turns", "messages", "parts", "turn_search"),
    "responses": ("conversations", "responses"),
}
_FTS_CONTENT: dict[Layout, str] = {"turns": "turn_search", "responses": "responses"}
_Row = tuple[str | int | None, ...]

# Never handed to llm: another venv or import path, llm settings of the user's own.
_DROPPED_ENV = re.compile(r"^(PYTHONPATH|PYTHONHOME|VIRTUAL_ENV|LLM_.*)$")


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One logged prompt and its response, as both stores get it."""

    prompt: str
    response: str
    model: str
    created: datetime  # UTC; a naive value is taken as UTC
    duration_ms: int
    input_tokens: int
    output_tokens: int


# ---------------------------------------------------------------------- llm's venv


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def llm_version(exe: Path) -> str:
    """The version `llm --version` reports (e.g. "0.36"), to put beside the timings."""
    done = subprocess.run(  # noqa: S603 - fixed argv
        [str(exe), "--version"], capture_output=True, text=True, timeout=60, check=False,
        env=llm_env(None),
    )  # fmt: skip
    match = re.search(r"version\s+(\S+)", done.stdout)
    if done.returncode != 0 or match is None:
        raise RuntimeError(f"{exe} --version failed ({done.returncode}): {done.stderr[-500:]}")
    return match.group(1)


def ensure_llm(venv: Path | None = None) -> Path:
    """The `llm` script of a venv that has llm, so the repo's own venv is never touched."""
    venv = venv or DEFAULT_VENV
    exe = venv / "bin" / "llm"
    if exe.exists():
        try:
            llm_version(exe)
            return exe
        except (RuntimeError, OSError, subprocess.TimeoutExpired):
            pass  # a broken install: pip below repairs it
    started = time.perf_counter()
    if not _venv_python(venv).exists():
        base = shutil.which("python3") or sys.executable
        print(f"  llm venv: creating {venv} ({base} -m venv)", flush=True)
        venv.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([base, "-m", "venv", str(venv)], check=True, timeout=300,  # noqa: S603
                       preexec_fn=DIE_WITH_PARENT)
    print(f"  llm venv: pip install {LLM_PACKAGE} into {venv} (first run only)", flush=True)
    done = subprocess.run(  # noqa: S603
        [str(_venv_python(venv)), "-m", "pip", "install", "-q", "--disable-pip-version-check",
         LLM_PACKAGE],
        capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False,
        preexec_fn=DIE_WITH_PARENT,
    )  # fmt: skip
    if done.returncode != 0 or not exe.exists():
        raise SystemExit(f"pip install {LLM_PACKAGE} failed ({done.returncode}):\n"
                         + (done.stdout + done.stderr).strip()[-2000:])
    version = llm_version(exe)
    print(f"  llm venv: installed llm {version} in {time.perf_counter() - started:.0f} s")
    return exe


def llm_env(user_path: Path | None) -> dict[str, str]:
    """This environment for an llm subprocess, pointed at `user_path` (its logs.db's dir)."""
    env = {k: v for k, v in os.environ.items() if not _DROPPED_ENV.match(k)}
    if user_path is not None:
        env["LLM_USER_PATH"] = str(user_path)
    return env


# ---------------------------------------------------------------------- ids and hashes

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
# Two base32 characters per 10 bits: a ULID is 26 characters of 5 bits, the leading 10 for
# the 48-bit time (2 zero bits on top), the other 16 for the 80 random bits.
_PAIRS = [a + b for a in _CROCKFORD for b in _CROCKFORD]


def _base32_time(ms: int) -> str:
    p = _PAIRS
    return p[ms >> 40] + p[(ms >> 30) & 1023] + p[(ms >> 20) & 1023] + p[(ms >> 10) & 1023] \
        + p[ms & 1023]


def _base32_random(r: int) -> str:
    p = _PAIRS
    return (p[r >> 70] + p[(r >> 60) & 1023] + p[(r >> 50) & 1023] + p[(r >> 40) & 1023]
            + p[(r >> 30) & 1023] + p[(r >> 20) & 1023] + p[(r >> 10) & 1023] + p[r & 1023])


class _UlidMaker:
    """Lower-case ULIDs as llm's `monotonic_ulid()` makes them, dated by the record.

    48-bit milliseconds then 80 random bits, Crockford base32; within one millisecond the
    random part counts up by one, so ids sort in the order they were made, as in llm.
    """

    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(seed)
        self._last_ms = -1
        self._last_rand = 0
        self._ms_text = ""

    def __call__(self, ms: int) -> str:
        if ms <= self._last_ms:
            rand = self._last_rand + 1
        else:
            rand = self._rng.getrandbits(80)
            self._ms_text = _base32_time(ms)
            self._last_ms = ms
        self._last_rand = rand
        return self._ms_text + _base32_random(rand)


def _message_hash(role: str, text: str, parent: str | None) -> str:
    """llm's `message_hash` of a one-text-part message: blake2b-128 of its canonical JSON.

    The canonical form (sorted keys, no spaces, non-ASCII kept) is written out directly;
    `build_logs_db` has llm's own code re-check a sample of the stored hashes.
    """
    canonical = (
        '{"message":{"parts":[{"text":' + _json_string(text) + ',"type":"text"}],"role":"'
        + role + '"},"parent":' + ("null" if parent is None else '"' + parent + '"') + "}"
    )  # fmt: skip
    digest = hashlib.blake2b(canonical.encode("utf-8"), digest_size=16).hexdigest()
    return "b2:" + digest


_WHITESPACE = re.compile(r"\s+")
_CONVERSATION_NAME_LENGTH = 32  # llm.models.CONVERSATION_NAME_LENGTH


def _conversation_name(text: str) -> str:
    """llm's `_conversation_name`: the prompt on one line, cut at 32 characters."""
    # Collapsing a prefix gives a prefix of the collapsed whole: past 32 it is enough.
    head = _WHITESPACE.sub(" ", text[:256])
    text = head if len(head) > _CONVERSATION_NAME_LENGTH else _WHITESPACE.sub(" ", text)
    if len(text) <= _CONVERSATION_NAME_LENGTH:
        return text
    return text[: _CONVERSATION_NAME_LENGTH - 1] + "…"


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# ---------------------------------------------------------------------- the logs database

_INSERTS: dict[str, str] = {
    "threads": "INSERT INTO threads (id, name, tip_message_hash, forked_from, datetime_utc)"
               " VALUES (?, ?, ?, NULL, ?)",
    # Content-addressed: a text seen before is already stored (llm checks, then inserts).
    "messages": "INSERT OR IGNORE INTO messages (hash, parent_hash, role, provider_metadata)"
                " VALUES (?, ?, ?, NULL)",
    "parts": "INSERT OR IGNORE INTO parts (message_hash, position, type, tool_name, text,"
             " payload) VALUES (?, 0, 'text', NULL, ?, NULL)",
    "turns": "INSERT INTO turns (id, thread_id, parent_message_hash, tip_message_hash, model,"
             " resolved_model, options_json, schema_id, input_tokens, output_tokens,"
             " token_details, duration_ms, datetime_utc, response_json)"
             " VALUES (?, ?, ?, ?, ?, NULL, NULL, NULL, ?, ?, NULL, ?, ?, NULL)",
    "turn_search": "INSERT INTO turn_search (turn_id, prompt, response) VALUES (?, ?, ?)",
    "conversations": "INSERT INTO conversations (id, name, model) VALUES (?, ?, ?)",
    "responses": "INSERT INTO responses (id, model, prompt, system, prompt_json, options_json,"
                 " response, response_json, conversation_id, duration_ms, datetime_utc,"
                 " input_tokens, output_tokens, token_details, schema_id, resolved_model,"
                 " reasoning) VALUES (?, ?, ?, NULL, NULL, '{}', ?, NULL, ?, ?, ?, ?, ?,"
                 " NULL, NULL, NULL, NULL)",
}  # fmt: skip


def _turn_rows(record: LogRecord, ulid: _UlidMaker, batch: dict[str, list[_Row]]) -> None:
    """What `LogStore.log` writes for `llm "prompt"` (no system prompt, tools or options).

    The thread is made just before the turn (its ULID one lower) and dated when the response
    is logged, i.e. after it finished; the turn is dated when the response started.
    """
    created = _utc(record.created)
    ms = int(created.timestamp() * 1000)
    thread_id = ulid(ms)
    turn_id = ulid(ms)
    user = _message_hash("user", record.prompt, None)
    assistant = _message_hash("assistant", record.response, user)
    logged = created + timedelta(milliseconds=record.duration_ms)
    batch["threads"].append((thread_id, _conversation_name(record.prompt), assistant,
                             str(logged)))  # fmt: skip
    batch["messages"] += ((user, None, "user"), (assistant, user, "assistant"))
    batch["parts"] += ((user, record.prompt), (assistant, record.response))
    batch["turns"].append((turn_id, thread_id, user, assistant, record.model,
                           record.input_tokens, record.output_tokens, record.duration_ms,
                           created.isoformat()))  # fmt: skip
    if record.prompt or record.response:
        batch["turn_search"].append((turn_id, record.prompt, record.response))


def _response_rows(record: LogRecord, ulid: _UlidMaker, batch: dict[str, list[_Row]]) -> None:
    """What `Response.log_to_db` wrote up to llm 0.31: a conversation and a response row."""
    created = _utc(record.created)
    ms = int(created.timestamp() * 1000)
    conversation_id = ulid(ms)
    response_id = ulid(ms)
    batch["conversations"].append((conversation_id, _conversation_name(record.prompt),
                                   record.model))  # fmt: skip
    batch["responses"].append((response_id, record.model, record.prompt, record.response,
                               conversation_id, record.duration_ms, created.isoformat(),
                               record.input_tokens, record.output_tokens))  # fmt: skip


def _run_llm(exe: Path, user_path: Path, *args: str) -> str:
    done = subprocess.run(  # noqa: S603 - argv built here, no shell
        [str(exe), *args], capture_output=True, text=True, timeout=COMMAND_TIMEOUT,
        check=False, env=llm_env(user_path), preexec_fn=DIE_WITH_PARENT,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"llm {' '.join(args)} exited with {done.returncode}:\n"
                           + (done.stdout + done.stderr).strip()[-2000:])
    return done.stdout


def create_logs_db(exe: Path, user_path: Path) -> Path:
    """An empty logs.db with llm's current schema, created and migrated by llm itself.

    `llm fragments list` opens logs.db (creating the file) and runs every migration
    (`llm.migrations.migrate`); `llm logs` would refuse a missing file.
    """
    user_path.mkdir(parents=True, exist_ok=True)
    db_path = user_path / "logs.db"
    if db_path.exists():
        raise FileExistsError(f"{db_path} exists; build_logs_db wants a fresh user path")
    _run_llm(exe, user_path, "fragments", "list")
    if not db_path.exists():
        raise RuntimeError(f"llm fragments list did not create {db_path}")
    return db_path


def _check_hashes(exe: Path, db_path: Path, sample: int) -> None:
    """llm's own code re-derives the hashes of a sample of stored messages (as `verify`)."""
    script = (
        "import sys, sqlite_utils\n"
        "from llm.logs import LogStore, message_hash\n"
        "db = sqlite_utils.Database(sys.argv[1])\n"
        "store = LogStore(db)\n"
        "rows = list(db.query('select hash, parent_hash from messages order by random()'\n"
        "                     ' limit ' + sys.argv[2]))\n"
        "bad = [r['hash'] for r in rows\n"
        "       if message_hash(store.load_chain(r['hash'])[-1], r['parent_hash']) != r['hash']]\n"
        "print(len(rows), len(bad))\n"
    )
    done = subprocess.run(  # noqa: S603 - argv built here, no shell
        [str(exe.parent / "python"), "-c", script, str(db_path), str(sample)],
        capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False,
        env=llm_env(db_path.parent), preexec_fn=DIE_WITH_PARENT,
    )  # fmt: skip
    counts = done.stdout.split()
    if done.returncode != 0 or len(counts) != 2:
        raise RuntimeError(f"hash check with llm's code failed:\n{done.stderr[-2000:]}")
    if counts[1] != "0":
        raise RuntimeError(f"{counts[1]} of {counts[0]} sampled messages do not hash as llm's")


def build_logs_db(
    exe: Path,
    user_path: Path,
    records: Iterable[LogRecord],
    *,
    layout: Layout = "turns",
    batch_rows: int = BATCH_ROWS,
) -> int:
    """Fills a fresh logs.db in `user_path` with `records` as llm logs them; the row count.

    Records come oldest first, the order llm would have logged them in (ids are ULIDs of
    their times). llm makes the schema; the rows go in by executemany, one transaction per
    `batch_rows` records, journal and fsync off (a half-built benchmark db is thrown away,
    not recovered). The FTS index is built once at the end ('rebuild': ~4x faster than
    llm's insert trigger row by row), then the trigger is put back as llm made it. Secondary
    indexes stay: INSERT OR IGNORE on the content-addressed messages needs them. The file
    is fsynced at the end, so no writeback is left to disturb what is timed next.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, not {layout!r}")
    db_path = create_logs_db(exe, user_path)
    make_rows = _turn_rows if layout == "turns" else _response_rows
    tables = _LAYOUT_TABLES[layout]
    content = _FTS_CONTENT[layout]
    fts = f"{content}_fts"
    trigger = f"{content}_ai"
    ulid = _UlidMaker()
    count = 0
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        have = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        missing = [name for name in (*tables, fts, trigger) if name not in have]
        if missing:
            raise RuntimeError(f"llm's schema has no {', '.join(missing)} (layout {layout!r}; "
                               "the turns layout needs llm >= 0.32)")
        for pragma in ("journal_mode = OFF", "synchronous = OFF", "locking_mode = EXCLUSIVE",
                       "temp_store = MEMORY", "cache_size = -1000000"):  # 1 GB of page cache
            conn.execute(f"PRAGMA {pragma}")
        (trigger_sql,) = conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?", (trigger,)
        ).fetchone()
        conn.execute(f'DROP TRIGGER "{trigger}"')
        batch: dict[str, list[_Row]] = {name: [] for name in tables}
        pending = 0
        for record in records:
            make_rows(record, ulid, batch)
            pending += 1
            if pending == batch_rows:
                _write_batch(conn, batch)
                count += pending
                pending = 0
        if pending:
            _write_batch(conn, batch)
            count += pending
        conn.execute(f"INSERT INTO \"{fts}\" (\"{fts}\") VALUES ('rebuild')")
        conn.execute(trigger_sql)
    finally:
        conn.close()
    # On disk before anything is timed: writeback of gigabytes would slow the runs that follow.
    fd = os.open(db_path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    if layout == "turns" and count:
        _check_hashes(exe, db_path, SAMPLE_CHECKS)
    return count


def _write_batch(conn: sqlite3.Connection, batch: dict[str, list[_Row]]) -> None:
    conn.execute("BEGIN")
    for table, rows in batch.items():
        conn.executemany(_INSERTS[table], rows)
        rows.clear()
    conn.execute("COMMIT")


# ---------------------------------------------------------------------- timing


def _timed_runs(
    argv: Sequence[str], env: Mapping[str, str], runs: int, warmup: int
) -> tuple[list[float], list[str]]:
    """Wall-clock ms of each of `runs` runs after `warmup` untimed ones, and their stdout."""
    timings: list[float] = []
    outputs: list[str] = []
    for index in range(warmup + runs):
        started = time.perf_counter()
        done = subprocess.run(  # noqa: S603 - argv from the caller, no shell
            list(argv), capture_output=True, text=True, timeout=COMMAND_TIMEOUT,
            check=False, env=dict(env), stdin=subprocess.DEVNULL, preexec_fn=DIE_WITH_PARENT,
        )  # fmt: skip
        elapsed = (time.perf_counter() - started) * 1000
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited with {done.returncode}:\n"
                               + (done.stdout + done.stderr).strip()[-2000:])
        if index >= warmup:
            timings.append(elapsed)
            outputs.append(done.stdout)
    return timings, outputs


def time_command(
    argv: Sequence[str], env: Mapping[str, str], runs: int, *, warmup: int = 1
) -> list[float]:
    """Wall-clock ms per run of a whole command (start-up included), after a warm-up."""
    return _timed_runs(argv, env, runs, warmup)[0]


# The heading `llm logs` prints at the top of each response in its Markdown output
# (`# 2026-01-05T10:11:12    conversation: <id> id: <id>`).
_SECTION = re.compile(r"^# \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\S*    conversation: \S+ id: \S+$",
                      re.MULTILINE)  # fmt: skip


def count_sections(output: str, word: str) -> tuple[int, int]:
    """Responses in one `llm logs` Markdown output, and how many of them mention `word`."""
    starts = [match.start() for match in _SECTION.finditer(output)]
    ends = [*starts[1:], len(output)] if starts else []
    mention = re.compile(rf"\b{re.escape(word)}\b", re.IGNORECASE)
    hits = sum(1 for start, end in zip(starts, ends, strict=True)
               if mention.search(output, start, end))  # fmt: skip
    return len(starts), hits


def time_llm_logs(
    exe: Path, user_path: Path, word: str, n: int = 20, runs: int = 5
) -> tuple[list[float], str]:
    """Times `llm logs -q WORD -n N` in its default Markdown output, as a user reads it.

    The default output (not --json) because that is what `pe history` is compared with: what
    a user gets at the prompt. Each run must exit 0 and print at least one response, every
    one of them mentioning `word`, and all runs the same number.
    """
    argv = [str(exe), "logs", "-q", word, "-n", str(n)]
    timings, outputs = _timed_runs(argv, llm_env(user_path), runs, warmup=1)
    counts = {count_sections(output, word) for output in outputs}
    if len(counts) != 1:
        raise RuntimeError(f"llm logs printed different results across runs: {counts}")
    ((shown, hits),) = counts
    if shown == 0:
        raise RuntimeError(f"llm logs -q {word} printed no responses:\n{outputs[0][:1000]}")
    if hits != shown:
        raise RuntimeError(f"llm logs -q {word}: only {hits} of {shown} responses mention it")
    return timings, f"{shown} responses" + ("" if shown == n else f" (asked for {n})")


# ---------------------------------------------------------------------- standalone check

_WORDS = (
    "the of and to in is you that it he was for on are as with his they at be this have "
    "from or one had by word but not what all were we when your can said there use an each "
    "which she do how their if will up other about out many then them these so some her "
    "would make like him into time has look two more write go see number no way could "
    "people my than first water been call who oil its now find long down day did get come "
    "made may part order account payment shipping invoice delivery customer support team "
    "product price plan update issue help thanks please email service billing package date "
    "report review quality feature release access login password setting change request "
    "question answer problem solution week month today tomorrow store return item size"
).split()


def synthetic_records(
    rows: int, word: str, *, share: float = 0.05, days: int = 30, seed: int = 7
) -> Iterator[LogRecord]:
    """Prompts (10-25 words) and responses (80-200 words) of common English words, over
    `days` days; about `share` of them mention `word` once, in the prompt or the response."""
    rng = random.Random(seed)
    words = [w for w in _WORDS if w.lower() != word.lower()]
    models = ("gpt-4o-mini", "gpt-4o", "claude-3.5-sonnet", "gemini-1.5-flash")
    start = datetime.now(UTC) - timedelta(days=days)
    step = timedelta(days=days) / max(rows, 1)
    for index in range(rows):
        prompt = rng.choices(words, k=rng.randint(10, 25))
        response = rng.choices(words, k=rng.randint(80, 200))
        if rng.random() < share:
            target = prompt if rng.random() < 0.5 else response
            target[rng.randrange(len(target))] = word
        yield LogRecord(
            prompt=" ".join(prompt).capitalize() + "?",
            response=" ".join(response).capitalize() + ".",
            model=rng.choice(models),
            created=start + step * index,
            duration_ms=rng.randint(300, 9000),
            input_tokens=len(prompt) + 8,
            output_tokens=len(response),
        )


def _clocked(records: Iterator[LogRecord], spent: list[float]) -> Iterator[LogRecord]:
    """`records`, adding to `spent` the seconds taken to make them (not the load's)."""
    while True:
        started = time.perf_counter()
        record = next(records, None)
        spent.append(time.perf_counter() - started)
        if record is None:
            return
        yield record


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--word", default="refund")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("-n", type=int, default=20, help="responses asked of llm logs")
    parser.add_argument("--layout", choices=LAYOUTS, default="turns")
    parser.add_argument("--llm-venv", type=Path, default=DEFAULT_VENV)
    args = parser.parse_args(argv)

    exe = ensure_llm(args.llm_venv)
    version = llm_version(exe)
    print(f"llm {version} ({exe}); layout {args.layout}; {args.rows:,} synthetic records")
    with tempfile.TemporaryDirectory(prefix="pe-bench-llm-") as tmp:
        user_path = Path(tmp) / "llm-user"
        generating: list[float] = []
        records = _clocked(synthetic_records(args.rows, args.word), generating)
        started = time.perf_counter()
        rows = build_logs_db(exe, user_path, records, layout=args.layout)
        seconds = time.perf_counter() - started
        size = (user_path / "logs.db").stat().st_size
        print(f"  built logs.db: {rows:,} rows in {seconds:.1f} s ({rows / seconds:,.0f} rows/s)"
              f", {sum(generating):.1f} s of it making the synthetic records; {size / 1e6:,.1f} MB")
        timings, shown = time_llm_logs(exe, user_path, args.word, args.n, args.runs)
        print(f"  llm logs -q {args.word} -n {args.n}: median {median(timings):.0f} ms "
              f"over {len(timings)} runs {[round(t) for t in timings]}; printed {shown}")
        head = _run_llm(exe, user_path, "logs", "-q", args.word, "-n", "1")
        print(f"  head of `llm logs -q {args.word} -n 1`:\n    "
              + "\n    ".join(head.splitlines()[:12]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

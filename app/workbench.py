"""The SQL workbench's guard and runner: one read statement, on a read-only connection, with row, byte,
memory and time limits.

Two lines of defence. First `check()` refuses, before anything runs, whatever is not a single SELECT
(parsed with DuckDB's own parser, `duckdb.extract_statements` and `json_serialize_sql`, and tokenizer,
`duckdb.tokenize`), any file, URL or path DuckDB would scan (in FROM, a join, DESCRIBE, SUMMARIZE or
SHOW), any table function but a few harmless ones, and the functions and views that show the server's
settings, files, secrets or environment. Then the engine enforces it: DuckDB opens the snapshot
`read_only=True` with `enable_external_access=false`, a `memory_limit` and `lock_configuration=true`;
PostgreSQL runs the statement in a read-only transaction with a `statement_timeout`.

The result is fetched a batch at a time and kept to `ROW_LIMIT` rows and `RESULT_BYTE_LIMIT` bytes
(polars' estimated size), so a huge result is cut off before it is built. On DuckDB the statement is
also wrapped so the engine itself drops the rows past the byte limit (a running total of each row's
size as text): one DuckDB vector of a repeated value would otherwise be expanded in full, outside the
memory limit, when it is converted to Arrow.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any, cast

import duckdb
import polars as pl

from ledgerlake.warehouse import Warehouse

ROW_LIMIT = 10_000
TIME_LIMIT_SECONDS = 10.0
# DuckDB's own limits for a workbench connection, set at connect time and locked.
MEMORY_LIMIT = "512MB"
THREADS = 1
SPILL_LIMIT = "1GB"  # max_temp_directory_size: what a query may spill to disk beyond MEMORY_LIMIT
# At most this much result (polars' estimated size) is fetched and shown: 20 MB.
RESULT_BYTE_LIMIT = 20_000_000
FETCH_ROWS = 2048  # rows per fetched batch, at most

DUCKDB_CONFIG: dict[str, Any] = {
    "enable_external_access": False,
    "memory_limit": MEMORY_LIMIT,
    "threads": THREADS,
    "max_temp_directory_size": SPILL_LIMIT,
    "python_enable_replacements": False,  # no scanning the app's Python variables by name
    "lock_configuration": True,  # last: a query cannot SET any of the above
}

# Keywords that have no business in a read query (checked on keyword tokens, so a quoted column named
# "delete" is fine).
FORBIDDEN_KEYWORDS = frozenset(
    "copy attach detach install load create insert update delete drop alter set reset pragma export "
    "import call checkpoint vacuum use begin commit rollback grant revoke truncate".split()
)
# Functions that read files, URLs or other databases, run SQL text, or change settings.
FORBIDDEN_FUNCTIONS = frozenset(
    "read_csv read_csv_auto csv_scan sniff_csv read_parquet parquet_scan parquet_metadata parquet_schema "
    "parquet_file_metadata parquet_kv_metadata parquet_full_metadata parquet_bloom_probe read_json "
    "read_json_auto read_json_objects read_json_objects_auto read_ndjson read_ndjson_auto "
    "read_ndjson_objects read_ndjson_objects_auto json_scan read_text read_blob read_duckdb glob "
    "delta_scan iceberg_scan iceberg_metadata read_xlsx st_read sqlite_scan sqlite_attach postgres_scan "
    "postgres_attach mysql_scan query query_table json_execute_serialized_sql json_serialize_sql "
    "json_deserialize_sql json_serialize_plan set_config pg_read_file pg_read_binary_file pg_ls_dir "
    "pg_stat_file lo_import lo_export dblink dblink_exec".split()
)
# Functions, table functions and views that show the server: its files (the warehouse's path), settings,
# extensions, secrets, temporary files, logs or environment. Refused as a call or as a table name.
SERVER_REVEALING = frozenset(
    "duckdb_databases duckdb_settings duckdb_extensions duckdb_extension_repositories duckdb_secrets "
    "duckdb_temporary_files duckdb_external_file_cache duckdb_logs duckdb_log_contexts "
    "duckdb_profiling_settings pragma_database_list pragma_user_agent pg_settings current_setting "
    "which_secret getenv".split()
)
# The only table functions allowed in FROM: they generate rows or describe the warehouse's own tables,
# and none takes a path.
TABLE_FUNCTIONS = frozenset(
    "range generate_series unnest repeat repeat_row json_each json_tree duckdb_tables duckdb_columns "
    "duckdb_views duckdb_schemas duckdb_types duckdb_functions duckdb_constraints duckdb_indexes "
    "duckdb_keywords duckdb_sequences duckdb_dependencies pragma_table_info pragma_show pragma_version "
    "pragma_collations pg_timezone_names icu_calendar_names".split()
)
# A string constant right after these names the file DuckDB would read (`summarize 'x.csv'`).
SHOW_KEYWORDS = frozenset({"describe", "summarize", "show", "table"})
PATH_CHARACTERS = frozenset("./\\:*?~")  # never in a warehouse table's name, always in a file's or URL's

CALLABLE = (duckdb.token_type.identifier, duckdb.token_type.keyword)  # `glob(` is a keyword token
_NO_LOCATION = 2**64 - 1  # the parser's query_location when it has none


class Refused(Exception):
    """The workbench will not run the statement, or stopped it; the message says why a user can act on."""


class LimitExceeded(Refused):
    """The statement ran but needed more memory, or returned a bigger row, than the workbench allows."""


@dataclass
class Result:
    frame: pl.DataFrame
    truncated: bool
    seconds: float
    note: str = ""  # why the result was cut short, when it was


def check(sql: str) -> str:
    """The one statement to run, stripped; raises Refused with a reason a user can act on."""
    text = sql.strip()
    if not text:
        raise Refused("Type a query first.")
    try:
        statements = duckdb.extract_statements(text)
    except duckdb.Error as exc:
        raise Refused(f"The query does not parse: {exc}") from exc
    if len(statements) != 1:
        raise Refused(f"Run one statement at a time (found {len(statements)}).")
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        raise Refused(f"Only read queries (SELECT) run here, not {kind.name}.")
    words = _words(text)
    _check_tokens(words)
    _check_tree(text, words)
    return text.rstrip().rstrip(";").rstrip()


def _check_tokens(words: list[tuple[str, Any, int]]) -> None:
    for i, (word, kind, _) in enumerate(words):
        low = word.lower()
        if kind == duckdb.token_type.keyword and low in FORBIDDEN_KEYWORDS:
            raise Refused(f"`{word.upper()}` is not allowed in the workbench: it only runs read queries.")
        nxt = words[i + 1][0] if i + 1 < len(words) else ""
        if kind in CALLABLE and nxt == "(":
            _check_function(_bare(word))
        prev = words[i - 1] if i else ("", None, 0)
        if (
            kind == duckdb.token_type.string_const
            and prev[1] == duckdb.token_type.keyword
            and prev[0].lower() in SHOW_KEYWORDS
        ):
            raise _path_refusal(word)


def _check_tree(text: str, words: list[tuple[str, Any, int]]) -> None:
    """Walk DuckDB's parse tree: every table, table function and function call, wherever it is."""
    tree = _parse_tree(text)
    strings = {start for _, kind, start in words if kind == duckdb.token_type.string_const}
    stack: list[Any] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        stack.extend(node.values())
        kind = node.get("type")
        if kind == "BASE_TABLE":
            name = str(node.get("table_name") or "")
            if name.lower() in SERVER_REVEALING:
                raise _revealing_refusal(name)
            if node.get("query_location") in strings or PATH_CHARACTERS & set(name):
                raise _path_refusal(f"'{name}'")
        elif kind == "SHOW_REF" and node.get("show_type") != "SHOW_SPECIAL":
            name = str(node.get("table_name") or "")
            if name.lower() in SERVER_REVEALING:
                raise _revealing_refusal(name)
            if PATH_CHARACTERS & set(name):
                raise _path_refusal(f"'{name}'")
        elif kind == "TABLE_FUNCTION":
            name = str((node.get("function") or {}).get("function_name") or "").lower()
            _check_function(name)
            if name not in TABLE_FUNCTIONS:
                raise Refused(
                    f"`{name}()` is not a table function the workbench runs: query the warehouse's tables "
                    f"(allowed: {', '.join(sorted(TABLE_FUNCTIONS))})."
                )
        elif node.get("class") == "FUNCTION":
            _check_function(str(node.get("function_name") or "").lower())


def _check_function(name: str) -> None:
    if name in SERVER_REVEALING:
        raise _revealing_refusal(name)
    if name in FORBIDDEN_FUNCTIONS:
        raise Refused(f"`{name}()` reads outside the warehouse (files, URLs, settings): not allowed.")


def _revealing_refusal(name: str) -> Refused:
    return Refused(
        f"`{name.lower()}` shows the server's files, settings, secrets or environment: "
        "not allowed in the workbench."
    )


def _path_refusal(literal: str) -> Refused:
    return Refused(
        f"A file path or URL in place of a table ({literal}) is not allowed: query the warehouse's tables."
    )


_parser_lock = threading.Lock()
_parser: duckdb.DuckDBPyConnection | None = None


def _parse_tree(text: str) -> dict[str, Any]:
    """DuckDB's parse tree of `text` as JSON, from an empty in-memory database that only parses."""
    global _parser
    with _parser_lock:
        if _parser is None:
            config = {"enable_external_access": False, "threads": 1, "lock_configuration": True}
            _parser = duckdb.connect(":memory:", config=config)
        try:
            row = _parser.execute("select json_serialize_sql(?::varchar)", [text]).fetchone()
        except duckdb.Error as exc:
            raise Refused(f"The query could not be checked: {exc}") from exc
    tree = json.loads(row[0]) if row else {"error": True}
    if tree.get("error"):
        raise Refused(f"The query could not be checked: {tree.get('error_message', 'no parse tree')}.")
    return tree


def _words(text: str) -> list[tuple[str, Any, int]]:
    """The tokens' texts, kinds and start offsets, comments dropped."""
    tokens = duckdb.tokenize(text)
    out = []
    for i, (start, kind) in enumerate(tokens):
        end = tokens[i + 1][0] if i + 1 < len(tokens) else len(text)
        if kind != duckdb.token_type.comment:
            out.append((text[start:end].strip(), kind, start))
    return out


def _bare(word: str) -> str:
    return word.rsplit(".", 1)[-1].strip('"').lower()


def run(
    wh: Warehouse,
    sql: str,
    row_limit: int = ROW_LIMIT,
    time_limit: float = TIME_LIMIT_SECONDS,
    byte_limit: int = RESULT_BYTE_LIMIT,
) -> Result:
    """Check `sql`, then run it read-only: at most `row_limit` rows and `byte_limit` bytes of result,
    interrupted after `time_limit` s; DuckDB stops it past `MEMORY_LIMIT` (raises LimitExceeded)."""
    statement = check(sql)
    started = time.perf_counter()
    if wh.kind == "duckdb":
        frame, note = _run_duckdb(wh, statement, row_limit, time_limit, byte_limit)
    else:
        frame, note = _run_postgres(wh, statement, row_limit, time_limit, byte_limit)
    return Result(frame, bool(note), time.perf_counter() - started, note)


def _connect_duckdb(wh: Warehouse) -> duckdb.DuckDBPyConnection:
    """The workbench's connection to the snapshot: read-only, no external access, limits locked."""
    return duckdb.connect(str(wh.duckdb_path), read_only=True, config=DUCKDB_CONFIG)


_SIZE, _TOTAL, _OVER = "__workbench_row_bytes", "__workbench_bytes_so_far", "__workbench_over_limit"


def _bounded(statement: str, row_limit: int, byte_limit: int) -> str:
    """`statement` wrapped so DuckDB streams at most `row_limit + 1` rows and drops the rows past
    `byte_limit` (a running total of each row's size as text); the first row over it comes back empty,
    flagged, so the cut is known without fetching that row."""
    return (
        f"select case when {_TOTAL} > {byte_limit} then null "
        f"else columns(* exclude ({_SIZE}, {_TOTAL})) end, {_TOTAL} > {byte_limit} as {_OVER}\n"
        f"from (select *, sum({_SIZE}) over (rows between unbounded preceding and current row) as {_TOTAL}\n"
        f"  from (select *, strlen(__workbench_row::varchar) as {_SIZE}\n"
        f"    from (\n{statement}\n) as __workbench_row limit {row_limit + 1}))\n"
        f"where {_TOTAL} - {_SIZE} <= {byte_limit}"
    )


def _run_duckdb(
    wh: Warehouse, statement: str, row_limit: int, time_limit: float, byte_limit: int = RESULT_BYTE_LIMIT
) -> tuple[pl.DataFrame, str]:
    """The rows that fit the limits, and why the result was cut ("" when it is whole)."""
    con = _connect_duckdb(wh)
    timer = threading.Timer(time_limit, con.interrupt)
    timer.start()
    reader = None
    try:
        reader = con.sql(_bounded(statement, row_limit, byte_limit)).to_arrow_reader(FETCH_ROWS)
        kept = _Kept(row_limit, byte_limit)
        for batch in reader:
            chunk = cast(pl.DataFrame, pl.from_arrow(batch))
            over = chunk[_OVER].fill_null(False)
            crossed = bool(over.any())
            if crossed:  # the engine stopped at the byte limit; only the rows before it came back
                chunk = chunk.head(int(over.arg_true()[0]))
            if not kept.add(chunk.drop(_OVER)):
                break
            if crossed:
                kept.cut_at_bytes()
                break
        empty = cast(pl.DataFrame, pl.from_arrow(reader.schema.empty_table()))
        return kept.result(empty.drop(_OVER))
    except duckdb.OutOfMemoryException as exc:
        raise LimitExceeded(
            f"The query needed more memory than the workbench allows ({MEMORY_LIMIT}) and was stopped: "
            "filter or aggregate to fewer, smaller rows."
        ) from exc
    except duckdb.InterruptException as exc:
        raise TimeoutError(f"The query ran longer than {time_limit:g} s and was stopped.") from exc
    finally:
        timer.cancel()
        if reader is not None:
            reader.close()
        con.close()


class _Kept:
    """The fetched chunks kept so far, up to the row and the byte limit."""

    def __init__(self, row_limit: int, byte_limit: int) -> None:
        self.row_limit, self.byte_limit = row_limit, byte_limit
        self.frames: list[pl.DataFrame] = []
        self.rows = self.bytes = 0
        self.note = ""

    def add(self, chunk: pl.DataFrame) -> bool:
        """Keep what fits of `chunk`; False once a limit is reached (fetch no more)."""
        if self.rows + chunk.height > self.row_limit:
            chunk = chunk.head(self.row_limit - self.rows)
            self.note = f"the query returns more than {self.row_limit:,} rows"
        size = chunk.estimated_size()
        if self.bytes + size > self.byte_limit:
            chunk = chunk.head(_rows_within(chunk, self.byte_limit - self.bytes))
            size = chunk.estimated_size()
            self.cut_at_bytes()
        self.frames.append(chunk)
        self.rows += chunk.height
        self.bytes += size
        return not self.note

    def cut_at_bytes(self) -> None:
        self.note = f"the result is larger than the {_megabytes(self.byte_limit)} the workbench shows"

    def result(self, empty: pl.DataFrame) -> tuple[pl.DataFrame, str]:
        if self.note and not self.rows and self.note.startswith("the result is larger"):
            raise LimitExceeded(
                f"The result's first row is larger than the {_megabytes(self.byte_limit)} the workbench "
                "shows: select fewer or smaller columns."
            )
        frames = [f for f in self.frames if f.height] or [empty]
        return pl.concat(frames, how="vertical_relaxed"), self.note


def _rows_within(chunk: pl.DataFrame, budget: int) -> int:
    """How many of `chunk`'s first rows fit in `budget` bytes."""
    lo, hi = 0, chunk.height
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if chunk.head(mid).estimated_size() <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _megabytes(n: int) -> str:
    return f"{n / 1_000_000:g} MB"


def _run_postgres(
    wh: Warehouse, statement: str, row_limit: int, time_limit: float, byte_limit: int = RESULT_BYTE_LIMIT
) -> tuple[pl.DataFrame, str]:
    """Fetch from a server-side cursor a chunk at a time, the chunks sized to the bytes still allowed."""
    import psycopg2
    import psycopg2.errors

    con = psycopg2.connect(wh.pg_dsn)
    deadline = time.monotonic() + time_limit
    timeout = f"The query ran longer than {time_limit:g} s and was stopped."
    try:
        con.set_session(readonly=True)
        with con.cursor() as cur:
            cur.execute("set local statement_timeout = %s", (int(time_limit * 1000),))
        cur = con.cursor(name="workbench")  # rows stay on the server until fetched
        rows: list[Any] = []
        cols: list[str] = []
        used, widest, size, note = 0, 1.0, 1, ""
        try:
            cur.execute(statement)
            while not note:
                chunk_rows = cur.fetchmany(min(size, row_limit + 1 - len(rows)))
                cols = [d[0] for d in cur.description or []]
                if not chunk_rows:
                    break
                if len(rows) + len(chunk_rows) > row_limit:
                    chunk_rows = chunk_rows[: row_limit - len(rows)]
                    note = f"the query returns more than {row_limit:,} rows"
                chunk = _pg_frame(chunk_rows, cols)
                chunk_bytes = chunk.estimated_size()
                if used + chunk_bytes > byte_limit:
                    fit = _rows_within(chunk, byte_limit - used)
                    chunk_rows, chunk_bytes = chunk_rows[:fit], chunk.head(fit).estimated_size()
                    note = f"the result is larger than the {_megabytes(byte_limit)} the workbench shows"
                rows.extend(chunk_rows)
                used += chunk_bytes
                widest = max(widest, chunk_bytes / max(len(chunk_rows), 1))
                size = max(1, min(2 * size, FETCH_ROWS, int((byte_limit - used) // widest)))
                if time.monotonic() > deadline:
                    raise TimeoutError(timeout)
        except psycopg2.errors.QueryCanceled as exc:
            raise TimeoutError(timeout) from exc
        if note.startswith("the result is larger") and not rows:
            raise LimitExceeded(
                f"The result's first row is larger than the {_megabytes(byte_limit)} the workbench "
                "shows: select fewer or smaller columns."
            )
        return _pg_frame(rows, cols), note
    finally:
        con.rollback()
        con.close()


def _pg_frame(rows: list[Any], cols: list[str]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=cols, orient="row", infer_schema_length=None)

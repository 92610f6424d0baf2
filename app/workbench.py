"""The SQL workbench's guard and runner: one read statement, on a read-only connection, with a row and a
time limit.

Two lines of defence. First `check()` refuses, before anything runs, whatever is not a single SELECT
(parsed with DuckDB's own parser, `duckdb.extract_statements`, and tokenizer, `duckdb.tokenize`), and
any file or table function that reads outside the warehouse. Then the engine enforces it: DuckDB opens
the snapshot `read_only=True` with `enable_external_access=false` and `lock_configuration=true`;
PostgreSQL runs the statement in a read-only transaction with a `statement_timeout`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import duckdb
import polars as pl

from ledgerlake.warehouse import Warehouse

ROW_LIMIT = 10_000
TIME_LIMIT_SECONDS = 10.0

# Keywords that have no business in a read query (checked on keyword tokens, so a quoted column named
# "delete" is fine).
FORBIDDEN_KEYWORDS = frozenset(
    "copy attach detach install load create insert update delete drop alter set reset pragma export "
    "import call checkpoint vacuum use begin commit rollback grant revoke truncate".split()
)
# Functions that read files, URLs or other databases, run SQL text, or change settings.
FORBIDDEN_FUNCTIONS = frozenset(
    "read_csv read_csv_auto csv_scan sniff_csv read_parquet parquet_scan parquet_metadata parquet_schema "
    "parquet_file_metadata parquet_kv_metadata read_json read_json_auto read_json_objects "
    "read_json_objects_auto read_ndjson read_ndjson_auto read_ndjson_objects json_scan read_text read_blob "
    "glob delta_scan iceberg_scan iceberg_metadata read_xlsx sqlite_scan sqlite_attach postgres_scan "
    "postgres_attach mysql_scan query query_table getenv set_config current_setting pg_read_file "
    "pg_read_binary_file pg_ls_dir pg_stat_file lo_import lo_export dblink dblink_exec".split()
)
# A string constant right after FROM/JOIN (or a comma in a FROM list) is a file DuckDB would scan.
TABLE_POSITION = frozenset({"from", "join", ","})
CLAUSE_ENDS = frozenset(
    "where group order having limit qualify window union except intersect select on using".split()
)


CALLABLE = (duckdb.token_type.identifier, duckdb.token_type.keyword)  # `glob(` is a keyword token


class Refused(Exception):
    """The statement was refused before it ran; the message says why."""


@dataclass
class Result:
    frame: pl.DataFrame
    truncated: bool
    seconds: float


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
    _check_tokens(text)
    return text.rstrip().rstrip(";").rstrip()


def _check_tokens(text: str) -> None:
    words = _words(text)
    in_from = False
    for i, (word, kind) in enumerate(words):
        low = word.lower()
        if kind == duckdb.token_type.keyword and low in FORBIDDEN_KEYWORDS:
            raise Refused(f"`{word.upper()}` is not allowed in the workbench: it only runs read queries.")
        nxt = words[i + 1][0] if i + 1 < len(words) else ""
        if kind in CALLABLE and nxt == "(" and _bare(word) in FORBIDDEN_FUNCTIONS:
            raise Refused(
                f"`{_bare(word)}()` reads outside the warehouse (files, URLs, settings): not allowed."
            )
        prev = words[i - 1][0].lower() if i else ""
        if kind == duckdb.token_type.string_const and in_from and prev in TABLE_POSITION:
            raise Refused(
                f"A file path or URL in FROM ({word}) is not allowed: query the warehouse's tables."
            )
        if kind == duckdb.token_type.keyword:
            in_from = low in ("from", "join") or (in_from and low not in CLAUSE_ENDS)


def _words(text: str) -> list[tuple[str, Any]]:
    """The tokens' texts and kinds, comments dropped."""
    tokens = duckdb.tokenize(text)
    out = []
    for i, (start, kind) in enumerate(tokens):
        end = tokens[i + 1][0] if i + 1 < len(tokens) else len(text)
        if kind != duckdb.token_type.comment:
            out.append((text[start:end].strip(), kind))
    return out


def _bare(word: str) -> str:
    return word.rsplit(".", 1)[-1].strip('"').lower()


def run(
    wh: Warehouse, sql: str, row_limit: int = ROW_LIMIT, time_limit: float = TIME_LIMIT_SECONDS
) -> Result:
    """Check `sql`, then run it read-only; at most `row_limit` rows, interrupted after `time_limit` s."""
    statement = check(sql)
    started = time.perf_counter()
    if wh.kind == "duckdb":
        frame = _run_duckdb(wh, statement, row_limit, time_limit)
    else:
        frame = _run_postgres(wh, statement, row_limit, time_limit)
    truncated = frame.height > row_limit
    return Result(frame.head(row_limit), truncated, time.perf_counter() - started)


def _run_duckdb(wh: Warehouse, statement: str, row_limit: int, time_limit: float) -> pl.DataFrame:
    config = {"enable_external_access": False, "lock_configuration": True, "threads": 1}
    con = duckdb.connect(str(wh.duckdb_path), read_only=True, config=config)
    timer = threading.Timer(time_limit, con.interrupt)
    timer.start()
    try:
        return con.sql(statement).limit(row_limit + 1).pl()
    except duckdb.InterruptException as exc:
        raise TimeoutError(f"The query ran longer than {time_limit:g} s and was stopped.") from exc
    finally:
        timer.cancel()
        con.close()


def _run_postgres(wh: Warehouse, statement: str, row_limit: int, time_limit: float) -> pl.DataFrame:
    import psycopg2
    import psycopg2.errors

    con = psycopg2.connect(wh.pg_dsn)
    try:
        con.set_session(readonly=True)
        with con.cursor() as cur:
            cur.execute("set local statement_timeout = %s", (int(time_limit * 1000),))
            try:
                cur.execute(statement)
            except psycopg2.errors.QueryCanceled as exc:
                raise TimeoutError(f"The query ran longer than {time_limit:g} s and was stopped.") from exc
            cols = [d[0] for d in cur.description or []]
            rows: list[Any] = cur.fetchmany(row_limit + 1)
        return pl.DataFrame(rows, schema=cols, orient="row", infer_schema_length=None)
    finally:
        con.rollback()
        con.close()

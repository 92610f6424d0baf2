"""The SQL workbench's guard (refuses before running) and runner (read-only; row, byte, memory and time
limits), including the engine's own enforcement when a statement gets past the guard."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest

from ledgerlake.warehouse import Warehouse
from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "app"))  # as `streamlit run app/app.py` does
import workbench  # noqa: E402

ALLOWED = [
    "select 1",
    "select 1;",
    "from marts.t",
    "with a as (select 1 as x) select * from a",
    "describe marts.t",
    'select "delete", "update" from marts.t',
    "select * from marts.t where note like '%INV/2025/01%'",
    "select /* drop table */ 1 -- delete",
    # string literals, keywords as quoted names, CTEs, subqueries, joins and describing a table all pass
    "select * from marts.t where name = 'from'",
    "select 'join' as j, 'x.csv' as f from marts.t where name in ('/etc/passwd', 'a.parquet')",
    'select "from", "join", "select" from marts."select"',
    "describe marts.fct_payments",
    "summarize marts.fct_payments",
    "show marts.t",
    "show tables",
    "describe select a from marts.t",
    "with a as (select 1 as x) select * from a join marts.t on true",
    "select * from (select a from marts.t) s, (select 1 as b) u where s.a = u.b",
    "select * from marts.t t1 natural join marts.t t2 cross join marts.t t3",
    "select * from marts.t t1 join marts.t t2 using (a), marts.t t3",
    "from marts.t select a order by a desc limit 3",
    "from range(3) r, unnest([1, 2]) u",
    "select * from json_each('{\"a\": 1}', '$.a')",
    "select * from pragma_table_info('marts.t')",
    "select table_name from duckdb_tables() where schema_name = 'marts'",
    "select catalog_name, schema_name from information_schema.schemata",
    "select 'é€' as s, a from marts.t",
    "select upper('home'), list_transform([1, 2], x -> x + 1)",
]
REFUSED = [
    ("select 1; select 2", "one statement"),
    ("copy marts.t to 'out.csv'", "COPY"),
    ("attach 'other.duckdb' as o", "ATTACH"),
    ("detach o", "DETACH"),
    ("install httpfs", "LOAD"),
    ("load httpfs", "LOAD"),
    ("create table x as select 1", "CREATE"),
    ("insert into marts.t values (1)", "INSERT"),
    ("update marts.t set a = 1", "UPDATE"),
    ("delete from marts.t", "DELETE"),
    ("drop table marts.t", "DROP"),
    ("alter table marts.t add column b int", "ALTER"),
    ("set threads = 4", "SET"),
    ("reset threads", "SET"),
    ("pragma database_list", "PRAGMA"),
    ("export database 'dump'", "EXPORT"),
    ("import database 'dump'", "PRAGMA"),  # DuckDB parses IMPORT DATABASE as a pragma
    ("call pragma_version()", "CALL"),
    ("select * from read_csv('/etc/passwd')", "read_csv"),
    ("select * from read_parquet('x.parquet')", "read_parquet"),
    ("select * from read_json_auto('x.json')", "read_json_auto"),
    ("select * from glob('/etc/*')", "glob"),
    ("select * from '/etc/passwd'", "file path"),
    ("select * from marts.t, 'data.parquet'", "file path"),
    ("select * from marts.t join 'https://example.com/x.csv' on true", "file path"),
    ("select getenv('HOME')", "getenv"),
    ("select * from query('select 1')", "query"),
    # SQL text run from a string, or the parser's serializers
    (
        "select * from json_execute_serialized_sql(json_serialize_sql('select 1'))",
        "json_execute_serialized_sql",
    ),
    ("select json_serialize_sql('select 1')", "json_serialize_sql"),
    ("select json_deserialize_sql('{}')", "json_deserialize_sql"),
    # a path given to DESCRIBE, SUMMARIZE, SHOW or TABLE, or anywhere a table goes
    ("summarize '/etc/passwd'", "file path"),
    ("summarize 'file.csv'", "file path"),
    ("summarize table 'file.csv'", "file path"),
    ("describe '/etc/passwd'", "file path"),
    ("describe 'passwd'", "file path"),
    ("show '/etc/passwd'", "file path"),
    ('show "x.csv"', "file path"),
    ("table 'passwd'", "file path"),
    ("describe select * from 'x.csv'", "file path"),
    ("from marts.t join 'x.csv' on true", "file path"),
    ("from marts.t, 'x.parquet'", "file path"),
    ("from marts.t natural join 'x.csv'", "file path"),
    ("from marts.t cross join '/etc/passwd'", "file path"),
    ("from marts.t positional join 'x.csv'", "file path"),
    ("from marts.t asof join 'x.csv' on true", "file path"),
    ("select * from (select 1), 'x.csv'", "file path"),
    ("select * from marts.t a join marts.t b on true, 'x.csv'", "file path"),
    ("select * from marts.t a join marts.t b using (a), 'x.csv'", "file path"),
    ("select * from marts.t, lateral (select 1), 'x.csv'", "file path"),
    ("select * from ('x.csv')", "file path"),
    ('select * from "x.csv"', "file path"),
    ("select * from marts.t where a in (select a from 'x.csv')", "file path"),
    ("select (from 'passwd')", "file path"),
    ("with c as (select * from 'x.csv') select * from c", "file path"),
    # table functions other than the few harmless ones, and those that take a path
    ("from sniff_csv('x.csv')", "sniff_csv"),
    ("from st_read('x.shp')", "st_read"),
    ("from marts.t, lateral read_csv('x.csv')", "read_csv"),
    ("select * from duckdb_memory()", "not a table function"),
    ("select * from checkpoint()", "CHECKPOINT"),
    # what shows the server: the warehouse's path, settings, extensions, secrets, environment
    ("select * from duckdb_databases()", "duckdb_databases"),
    ("select path from duckdb_databases", "duckdb_databases"),
    ("from system.main.duckdb_databases()", "duckdb_databases"),
    ("select * from duckdb_settings()", "duckdb_settings"),
    ("select * from duckdb_settings", "duckdb_settings"),
    ('select * from "duckdb_settings"', "duckdb_settings"),
    ("select * from duckdb_extensions()", "duckdb_extensions"),
    ("select * from duckdb_secrets()", "duckdb_secrets"),
    ("select * from duckdb_temporary_files()", "duckdb_temporary_files"),
    ("select * from pragma_database_list", "pragma_database_list"),
    ("select * from pragma_database_list()", "pragma_database_list"),
    ("select * from pg_catalog.pg_settings", "pg_settings"),
    ("select current_setting('temp_directory')", "current_setting"),
    ("select 'temp_directory'.current_setting()", "current_setting"),
    ("select * from which_secret('s3://bucket/x', 's3')", "which_secret"),
    ("select list_transform(['HOME'], x -> getenv(x))", "getenv"),
    ("", "Type a query"),
    ("selec 1", "does not parse"),
]


@pytest.mark.parametrize("sql", ALLOWED)
def test_read_statements_pass_the_guard(sql: str) -> None:
    assert workbench.check(sql)


@pytest.mark.parametrize(("sql", "reason"), REFUSED)
def test_everything_else_is_refused_with_a_reason(sql: str, reason: str) -> None:
    with pytest.raises(workbench.Refused, match=reason):
        workbench.check(sql)


@pytest.fixture(scope="module")
def small_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    path = tmp_path_factory.mktemp("wb") / "w.duckdb"
    con = duckdb.connect(str(path))
    con.execute(
        "create schema marts; create table marts.t as select range as a from range(50);"
        "create table marts.names as select * from (values (1, 'from'), (2, 'join'), (3, 'x.csv')) v(id, name);"
        "create sequence marts.s"
    )
    con.close()
    return Warehouse("duckdb", duckdb_path=path, read_only=True)


def test_rows_are_limited_and_truncation_is_reported(small_warehouse: Warehouse) -> None:
    res = workbench.run(small_warehouse, "select a from marts.t order by a", row_limit=20)
    assert res.frame.height == 20 and res.truncated
    assert res.frame["a"].to_list() == list(range(20))
    full = workbench.run(small_warehouse, "select a from marts.t", row_limit=50)
    assert full.frame.height == 50 and not full.truncated


def test_a_long_query_is_interrupted(small_warehouse: Warehouse) -> None:
    slow = "select sum(x.range * y.range) from range(200000) x, range(200000) y"
    with pytest.raises(TimeoutError, match="longer than 0.3 s"):
        workbench.run(small_warehouse, slow, time_limit=0.3)


def test_the_engine_refuses_what_gets_past_the_guard(small_warehouse: Warehouse, tmp_path: Path) -> None:
    """Second line of defence: the connection itself is read-only, without file access, settings locked."""
    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n")
    with pytest.raises(duckdb.PermissionException):
        workbench._run_duckdb(small_warehouse, f"select * from read_csv('{secret}')", 10, 5.0)
    with pytest.raises(duckdb.Error, match="read-only|read only"):  # a SELECT that writes
        workbench._run_duckdb(small_warehouse, "select nextval('marts.s')", 10, 5.0)
    con = workbench._connect_duckdb(small_warehouse)  # the runner only runs a SELECT; the connection:
    try:
        with pytest.raises(duckdb.Error, match="read-only|read only"):
            con.execute("create table marts.u as select 1")
        for setting in ("enable_external_access = true", "memory_limit = '10GB'", "threads = 8"):
            with pytest.raises(duckdb.Error, match="lock|configuration"):
                con.execute(f"set {setting}")
    finally:
        con.close()
    assert workbench.run(small_warehouse, "select count(*) as n from marts.t").frame["n"][0] == 50


def test_postgres_runs_read_only_with_a_statement_timeout(pg_dsn: str) -> None:
    import psycopg2

    con = psycopg2.connect(pg_dsn)
    with con, con.cursor() as cur:
        cur.execute(
            "create schema marts; create table marts.t as select generate_series(1, 30) as a;"
            "create sequence marts.s"
        )
    con.close()
    wh = Warehouse("postgres", pg_dsn=pg_dsn, read_only=True)
    res = workbench.run(wh, "select a from marts.t order by a", row_limit=10)
    assert res.frame["a"].to_list() == list(range(1, 11)) and res.truncated
    with pytest.raises(TimeoutError):
        workbench.run(wh, "select pg_sleep(5)", time_limit=0.3)
    with pytest.raises(psycopg2.errors.ReadOnlySqlTransaction):  # past the guard, the engine says no
        workbench._run_postgres(wh, "select nextval('marts.s')", 10, 5.0)
    assert workbench.run(wh, "select count(*) as n from marts.t").frame["n"][0] == 30


def test_the_postgres_result_is_capped_in_bytes_a_chunk_at_a_time(pg_dsn: str) -> None:
    wh = Warehouse("postgres", pg_dsn=pg_dsn, read_only=True)
    wide = "select i, repeat('x', 10000) as s from generate_series(1, 5000) i order by i"
    res = workbench.run(wh, wide, byte_limit=1_000_000)
    assert res.truncated and "larger than the 1 MB" in res.note
    assert 50 < res.frame.height < 100 and res.frame.estimated_size() <= 1_000_000
    assert res.frame["i"].to_list() == list(range(1, res.frame.height + 1))
    with pytest.raises(workbench.LimitExceeded, match="first row"):
        workbench.run(wh, "select repeat('x', 2000000) as s", byte_limit=1_000_000)
    small = workbench.run(wh, "select i from generate_series(1, 5) i", byte_limit=1_000_000)
    assert small.frame["i"].to_list() == [1, 2, 3, 4, 5] and not small.truncated
    empty = workbench.run(wh, "select i, 'x' as b from generate_series(1, 5) i where false")
    assert empty.frame.height == 0 and empty.frame.columns == ["i", "b"] and not empty.truncated


MEMORY_HOG = "select length(string_agg(repeat('x', 10000000), '')) from range(100)"  # 1 GB of text


def test_duckdb_runs_with_a_locked_memory_limit_and_threads(small_warehouse: Warehouse) -> None:
    con = workbench._connect_duckdb(small_warehouse)
    try:
        limit, threads = con.execute(
            "select current_setting('memory_limit'), current_setting('threads')"
        ).fetchone()
    finally:
        con.close()
    assert limit == "488.2 MiB" and threads == workbench.THREADS  # 512MB, as DuckDB prints it


def test_a_query_that_needs_too_much_memory_is_stopped_with_a_message(small_warehouse: Warehouse) -> None:
    assert issubclass(workbench.LimitExceeded, workbench.Refused)  # the view shows it as a refusal
    with pytest.raises(workbench.LimitExceeded, match=r"more memory than the workbench allows \(512MB\)"):
        workbench.run(small_warehouse, MEMORY_HOG)
    assert workbench.run(small_warehouse, "select count(*) as n from marts.t").frame["n"][0] == 50


RSS_PROBE = """
import resource, sys
from pathlib import Path
import duckdb
sys.path.insert(0, "app")
import workbench
from ledgerlake.warehouse import Warehouse

path = Path(sys.argv[1])
con = duckdb.connect(str(path))
con.execute("create schema marts; create table marts.t as select 1 as a")
con.close()
wh = Warehouse("duckdb", duckdb_path=path, read_only=True)
try:
    workbench.run(wh, sys.argv[2])
    print("ran")
except workbench.LimitExceeded:
    print("stopped")
res = workbench.run(wh, "select repeat('x', 1000000) as s from range(3000)")  # 3 GB if all fetched
print(res.frame.height, res.truncated)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # KiB on Linux
"""


def test_the_memory_hog_and_a_huge_result_leave_the_process_small(tmp_path: Path) -> None:
    """In a fresh process, so its peak memory is this test's alone: it stays well under 1.5 GB."""
    proc = subprocess.run(
        [sys.executable, "-c", RSS_PROBE, str(tmp_path / "w.duckdb"), MEMORY_HOG],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    outcome, fetched, peak_kib = proc.stdout.split("\n")[:3]
    assert outcome == "stopped"
    rows, truncated = fetched.split()
    assert int(rows) <= workbench.RESULT_BYTE_LIMIT // 1_000_000 and truncated == "True"
    assert int(peak_kib) < 1_500_000, f"peak RSS {int(peak_kib) / 1024:.0f} MiB"


def test_the_result_is_capped_in_bytes_as_well_as_rows(small_warehouse: Warehouse) -> None:
    wide = "select range as i, repeat('x', 10000) as s from range(5000) order by i"
    res = workbench.run(small_warehouse, wide, byte_limit=1_000_000)
    assert res.truncated and "larger than the 1 MB" in res.note
    assert 50 < res.frame.height < 100 and res.frame.estimated_size() <= 1_000_000
    assert res.frame["i"].to_list() == list(range(res.frame.height))  # the first rows, in order
    assert res.frame.schema == pl.Schema({"i": pl.Int64, "s": pl.String})
    rows = workbench.run(
        small_warehouse, "select a from marts.t order by a", row_limit=20, byte_limit=1_000_000
    )
    assert rows.truncated and "more than 20 rows" in rows.note and rows.frame.height == 20
    with pytest.raises(workbench.LimitExceeded, match="first row"):
        workbench.run(small_warehouse, "select repeat('x', 2000000) as s", byte_limit=1_000_000)


def test_a_huge_result_is_cut_at_the_default_byte_cap_without_being_built(small_warehouse: Warehouse) -> None:
    """100 GB of rows (one repeated value, which DuckDB keeps once and Arrow would copy per row)."""
    res = workbench.run(small_warehouse, "select repeat('x', 1000000) as s from range(100000)")
    assert res.truncated and 0 < res.frame.estimated_size() <= workbench.RESULT_BYTE_LIMIT
    assert res.seconds < 5


def test_legitimate_queries_run_and_keep_their_columns(small_warehouse: Warehouse) -> None:
    def rows(sql: str) -> list[dict]:
        return workbench.run(small_warehouse, sql).frame.to_dicts()

    assert rows("select id from marts.names where name = 'from'") == [{"id": 1}]
    assert rows("select name from marts.names where name in ('x.csv', 'join') order by id") == [
        {"name": "join"},
        {"name": "x.csv"},
    ]
    assert [r["column_name"] for r in rows("describe marts.names")] == ["id", "name"]
    assert [r["column_name"] for r in rows("summarize marts.t")] == ["a"]
    assert rows("with c as (select a from marts.t where a < 2) select * from c order by a") == [
        {"a": 0},
        {"a": 1},
    ]
    assert rows('select "from" from (select 1 as "from")') == [{"from": 1}]
    assert rows("from (select a from marts.t) s, marts.names n where s.a = n.id order by id limit 1") == [
        {"a": 1, "id": 1, "name": "from"}
    ]
    assert rows("select count(*) as n from range(3) r, unnest([1, 2]) u") == [{"n": 6}]
    assert rows("select 1 as one -- a comment at the end") == [{"one": 1}]
    empty = workbench.run(small_warehouse, "select a, 'x' as b from marts.t where false")
    assert empty.frame.height == 0 and empty.frame.columns == ["a", "b"] and not empty.truncated

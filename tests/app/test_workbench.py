"""The SQL workbench's guard (refuses before running) and runner (read-only, row and time limits),
including the engine's own enforcement when a statement gets past the guard."""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
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
    con.execute("create schema marts; create table marts.t as select range as a from range(50)")
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
    with pytest.raises(duckdb.Error, match="read-only|read only"):
        workbench._run_duckdb(small_warehouse, "create table marts.u as select 1", 10, 5.0)
    with pytest.raises(duckdb.Error, match="lock|configuration"):
        workbench._run_duckdb(small_warehouse, "set enable_external_access = true", 10, 5.0)
    assert workbench.run(small_warehouse, "select count(*) as n from marts.t").frame["n"][0] == 50


def test_postgres_runs_read_only_with_a_statement_timeout(pg_dsn: str) -> None:
    import psycopg2

    con = psycopg2.connect(pg_dsn)
    with con, con.cursor() as cur:
        cur.execute("create schema marts; create table marts.t as select generate_series(1, 30) as a")
    con.close()
    wh = Warehouse("postgres", pg_dsn=pg_dsn, read_only=True)
    res = workbench.run(wh, "select a from marts.t order by a", row_limit=10)
    assert res.frame["a"].to_list() == list(range(1, 11)) and res.truncated
    with pytest.raises(TimeoutError):
        workbench.run(wh, "select pg_sleep(5)", time_limit=0.3)
    with pytest.raises(psycopg2.errors.ReadOnlySqlTransaction):  # past the guard, the engine says no
        workbench._run_postgres(wh, "create table marts.u as select 1", 10, 5.0)
    assert workbench.run(wh, "select count(*) as n from marts.t").frame["n"][0] == 30

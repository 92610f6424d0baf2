"""load_files end to end into a temporary DuckDB file: tables, counts, idempotent re-run."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from ingestion.common import Target
from ingestion.files import load_files
from ledgerlake.errors import LedgerlakeError

REAL = Path(__file__).resolve().parents[2] / "fixtures" / "real"
TABLES = ("transactions", "statements", "quarantine")


def _counts(warehouse: Path) -> dict[str, int]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return {t: con.execute(f"select count(*) from raw_bank_files.{t}").fetchone()[0] for t in TABLES}
    finally:
        con.close()


@pytest.fixture
def target(tmp_path: Path) -> Target:
    return Target(kind="duckdb", duckdb_path=tmp_path / "w.duckdb", pipelines_dir=tmp_path / "w.dlt")


def test_load_all_real_files_then_rerun_changes_nothing(target: Target) -> None:
    assert target.duckdb_path is not None
    first = load_files([REAL], target)
    after_first = _counts(target.duckdb_path)
    tx = first.objects["transactions"]
    assert tx.seen == tx.loaded + tx.quarantined + tx.duplicates
    assert after_first == {
        "transactions": tx.loaded,
        "statements": first.objects["statements"].loaded,
        "quarantine": tx.quarantined
        + first.objects["statements"].quarantined
        + first.objects["file"].quarantined,
    }

    second = load_files([REAL], target)
    assert _counts(target.duckdb_path) == after_first
    assert second.objects["transactions"].loaded == 0
    assert second.objects["transactions"].duplicates == tx.loaded + tx.duplicates
    assert second.objects["statements"].loaded == 0


def test_loaded_rows_keep_the_contract_columns(target: Target) -> None:
    assert target.duckdb_path is not None
    load_files([REAL / "bank_camt" / "genkgo_camt053.v2.multi.statement.xml"], target)
    con = duckdb.connect(str(target.duckdb_path), read_only=True)
    try:
        rows = con.execute(
            "select account_id, booking_date::varchar, amount::varchar, currency, counterparty_name,"
            " end_to_end_ref, source_file, position from raw_bank_files.transactions order by position"
        ).fetchall()
        statements = con.execute(
            "select opening_balance::varchar, closing_balance::varchar, line_count"
            " from raw_bank_files.statements order by opening_balance"
        ).fetchall()
    finally:
        con.close()
    name = "genkgo_camt053.v2.multi.statement.xml"
    assert rows == [
        ("NL26VAYB8060476890", "2014-12-31", "8.8500", "EUR", None, "000000001", name, 0),
        ("NL26VAYB8060476890", "2014-12-31", "-7.0000", "EUR", "Company Name 2", "000000002", name, 1),
    ]
    assert statements == [("18.1500", "27.0000", 1), ("27.0000", "20.0000", 1)]


def test_missing_path_is_a_user_error(target: Target, tmp_path: Path) -> None:
    with pytest.raises(LedgerlakeError, match="no-such-folder"):
        load_files([tmp_path / "no-such-folder"], target)


@pytest.mark.postgres
def test_load_into_postgres_is_idempotent(
    pg_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg2

    # dlt insists on a password even where the server trusts local connections (the throwaway cluster).
    if "@" in pg_dsn and ":" not in pg_dsn.split("@")[0].split("//")[1]:
        monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS__PASSWORD", "unused-trust-auth")

    target = Target(kind="postgres", pg_dsn=pg_dsn, pipelines_dir=tmp_path / "pg.dlt")
    folders = [REAL / "bank_camt", REAL / "bank_mt940"]
    first = load_files(folders, target)
    second = load_files(folders, target)
    con = psycopg2.connect(pg_dsn)
    try:
        with con.cursor() as cur:
            cur.execute("select count(*), sum(amount) from raw_bank_files.transactions")
            count, total = cur.fetchone()
    finally:
        con.close()
    assert count == first.objects["transactions"].loaded > 0
    assert second.objects["transactions"].loaded == 0
    assert total is not None


def test_unreachable_warehouse_is_a_user_error(tmp_path: Path) -> None:
    target = Target(kind="postgres", pg_dsn="postgresql://u:p@127.0.0.1:1/db", pipelines_dir=tmp_path / "d")
    with pytest.raises(LedgerlakeError, match="cannot read raw_bank_files.transactions .*refused"):
        load_files([REAL / "bank_camt"], target)

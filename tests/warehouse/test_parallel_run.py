"""Parallel run: `marts.parallel_run_differences` against the planted legacy differences.

Reuses the session's `demo_run` (`ledgerlake run`, seed 7, scale 0.1), which loads the sandbox's
`exports/legacy` export; measured with `ledgerlake.parallel_eval.parallel_run_metrics`. The PostgreSQL
build runs the same sandbox into a fresh database and must find the same cells.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest

from ledgerlake.parallel_eval import found_differences, parallel_run_metrics
from ledgerlake.warehouse import Warehouse
from tests.conftest import PostgresRun, Run


@pytest.fixture(scope="module")
def run(demo_run: Run) -> Run:
    assert demo_run.returncode in (0, 1), demo_run.stderr[-2000:]
    return demo_run


def test_the_legacy_export_is_loaded_in_full(run: Run) -> None:
    con = duckdb.connect(str(run.warehouse), read_only=True)
    try:
        loaded = con.execute("select count(*) from raw_legacy.trial_balance").fetchone()[0]
        # every run (the e2e tests run the demo warehouse twice) sees the whole export
        per_run = con.execute(
            "select seen, loaded, quarantined from raw_ledgerlake.load_runs where source = 'legacy'"
        ).fetchall()
    finally:
        con.close()
    lines = (run.sandbox / "exports/legacy/legacy_trial_balance.csv").read_bytes().splitlines()
    assert loaded == len(lines) - 1
    assert per_run and set(per_run) == {(loaded, loaded, 0)}


def test_parallel_run_differences_equal_the_planted_ones(run: Run) -> None:
    m = parallel_run_metrics(run.warehouse, run.truth)
    print(f"\nparallel run metrics: {m}")
    assert m["planted_cells"] > 0
    assert m["missed"] == [] and m["extra"] == []
    assert m["amount_mismatches"] == 0
    assert m["recall"] == m["precision"] == 1.0
    assert m["type_accuracy"] == 1.0
    assert set(m["planted_by_type"]) == {"missing_posting", "amount", "timing", "account_mapping"}


def test_parallel_run_metrics_is_empty_without_the_mart(tmp_path: Path) -> None:
    db = tmp_path / "empty.duckdb"
    duckdb.connect(str(db)).close()
    (tmp_path / "truth").mkdir()
    assert parallel_run_metrics(db, tmp_path / "truth") == {}


@pytest.mark.postgres
def test_the_same_differences_on_postgres(run: Run, demo_run_postgres: PostgresRun) -> None:
    res = demo_run_postgres
    assert res.returncode in (0, 1), res.stdout[-3000:] + res.stderr[-3000:]
    pg = Warehouse(kind="postgres", pg_dsn=res.dsn)
    m = parallel_run_metrics(pg, run.truth)
    assert m["missed"] == [] and m["extra"] == [] and m["amount_mismatches"] == 0
    assert m["type_accuracy"] == 1.0
    duck = found_differences(Warehouse(kind="duckdb", duckdb_path=run.warehouse, read_only=True))
    ours = found_differences(pg)
    key = ["date", "account_id"]
    assert ours.sort(key).equals(duck.sort(key).cast(ours.schema))
    assert pl.read_parquet(run.truth / "parallel_run_differences.parquet").height == ours.height

"""End to end: `ledgerlake run` on a fresh sandbox, then the marts against the sandbox's truth."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import polars as pl
import pytest

from tests.conftest import E2E_SCALE, E2E_SEED, PostgresRun, Run, ledgerlake_cli

MARTS_OF_THE_RUN = {
    "fct_payments",
    "fct_orders",
    "fx_rates_daily",
    "kpi_monthly",
    "kpi_daily",
    "fx_revaluation",
    "rollout_scorecard",
    "fct_bank_transactions",
    "bank_balances_daily",
    "reconciliation_matches",
    "reconciliation_exceptions",
    "quarantine",
    "load_runs",
    "fct_cash_forecast",
    "forecast_backtest",
}


def mart_counts(path: Path) -> dict[str, int]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = [
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = 'marts'"
            ).fetchall()
        ]
        return {t: con.execute(f"select count(*) from marts.{t}").fetchone()[0] for t in tables}
    finally:
        con.close()


def query(path: Path, sql: str) -> pl.DataFrame:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.sql(sql).pl()
    finally:
        con.close()


def test_run_exits_ok_and_prints_the_summary(demo_run: Run) -> None:
    assert demo_run.returncode == 0, demo_run.stdout[-3000:] + demo_run.stderr[-3000:]
    assert "loads" in demo_run.stdout and "marts" in demo_run.stdout
    assert "fct_payments" in demo_run.stdout
    assert "steps: sandbox" in demo_run.stdout


def test_every_mart_of_the_run_has_rows(demo_run: Run) -> None:
    counts = mart_counts(demo_run.warehouse)
    missing = MARTS_OF_THE_RUN - set(counts)
    assert not missing, f"marts not built: {missing}"
    empty = {t for t in MARTS_OF_THE_RUN - {"quarantine", "reconciliation_exceptions"} if counts[t] == 0}
    assert not empty, f"empty marts: {empty}"


def test_loaded_records_equal_the_truth(demo_run: Run) -> None:
    truth = json.loads((demo_run.truth / "summary.json").read_text())["records"]
    counts = mart_counts(demo_run.warehouse)
    assert counts["fct_payments"] == truth["stripe.charges"]
    statement_lines = pl.read_parquet(demo_run.truth / "statement_lines.parquet")
    # bank feed accounts + the accounts that only send statement files (overlaps loaded once)
    assert counts["fct_bank_transactions"] == truth["bank_feed.transactions"] + statement_lines.height
    by_source = query(
        demo_run.warehouse,
        "select source_system, count(*) as n from marts.fct_bank_transactions group by 1 order by 1",
    )
    assert dict(by_source.iter_rows()) == {
        "bank_feed": truth["bank_feed.transactions"],
        "bank_file": statement_lines.height,
    }
    records = pl.read_parquet(demo_run.truth / "records.parquet")
    true_ids = set(records.filter(pl.col("object") == "charges")["record_id"].to_list())
    ours = set(query(demo_run.warehouse, "select payment_id from marts.fct_payments")["payment_id"].to_list())
    assert ours == true_ids


def test_daily_bank_balances_equal_the_truth_to_the_cent(demo_run: Run) -> None:
    truth = pl.concat(
        [
            pl.read_parquet(demo_run.truth / "daily_balances.parquet").select(
                "date", "account_id", "balance"
            ),
            pl.read_parquet(demo_run.truth / "statement_balances.parquet").select(
                "date", "account_id", "balance"
            ),
        ]
    ).rename({"date": "balance_date"})
    ours = query(
        demo_run.warehouse,
        "select account_id, balance_date, cast(balance as double) as ours from marts.bank_balances_daily",
    )
    joined = truth.join(ours, on=["account_id", "balance_date"], how="inner")
    assert joined.height >= ours.height - 2  # every account-day we have is in the truth
    assert (joined["balance"] - joined["ours"]).abs().max() < 0.005


def test_reconciliation_and_kpis_against_the_truth(demo_run: Run) -> None:
    res = ledgerlake_cli(
        "eval", "--truth", str(demo_run.truth), "--warehouse", str(demo_run.warehouse), "--json"
    )
    assert res.returncode == 0, res.stderr
    metrics = json.loads(res.stdout)
    assert metrics["ingestion"]["records_missing"] == 0
    assert metrics["ingestion"]["records_extra"] == 0
    rec = metrics["reconciliation"]
    assert rec["match_types_not_built"] == []
    assert rec["precision"] >= 0.995  # the bar: precision >= 99.5 %, recall >= 99 %
    assert rec["recall"] >= 0.99
    assert rec["bank_to_ledger"]["precision"] >= 0.995
    assert metrics["kpis"]["max_abs_diff_count"] == 0.0
    assert metrics["kpis"]["max_abs_diff_rate"] <= 0.001


def test_forecast_covers_30_days_for_every_account_and_total(demo_run: Run) -> None:
    fc = query(
        demo_run.warehouse,
        "select account_id, forecast_date, as_of_date, p10, p50, p90 from marts.fct_cash_forecast",
    )
    last_day = query(demo_run.warehouse, "select max(booking_date) as d from marts.fct_bank_transactions")[
        "d"
    ][0]
    assert fc["as_of_date"].unique().to_list() == [last_day]
    per_series = fc.group_by("account_id").len()
    assert set(per_series["len"].to_list()) == {30}
    assert "total" in per_series["account_id"].to_list()
    assert (fc["p10"] <= fc["p50"]).all() and (fc["p50"] <= fc["p90"]).all()


def test_snapshot_is_published_with_the_same_marts(demo_run: Run) -> None:
    assert demo_run.snapshot.exists()
    assert mart_counts(demo_run.snapshot) == mart_counts(demo_run.warehouse)


def test_a_second_run_leaves_the_same_mart_counts(demo_run: Run, tmp_path: Path) -> None:
    before = mart_counts(demo_run.warehouse)
    res = ledgerlake_cli(
        "run", "--warehouse", str(demo_run.warehouse), "--sandbox", str(demo_run.sandbox),
        "--seed", str(E2E_SEED), "--scale", str(E2E_SCALE),
    )  # fmt: skip
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    after = mart_counts(demo_run.warehouse)
    before.pop("load_runs"), after.pop("load_runs")
    assert after == before


@pytest.mark.postgres
def test_the_same_marts_build_on_postgres(demo_run: Run, demo_run_postgres: PostgresRun) -> None:
    import psycopg2

    res = demo_run_postgres
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    duck = mart_counts(demo_run.warehouse)
    con = psycopg2.connect(res.dsn)
    with con.cursor() as cur:
        cur.execute("select table_name from information_schema.tables where table_schema = 'marts'")
        tables = [r[0] for r in cur.fetchall()]
        pg = {}
        for t in tables:
            cur.execute(f"select count(*) from marts.{t}")
            pg[t] = cur.fetchone()[0]
    con.close()
    for t in MARTS_OF_THE_RUN - {"load_runs"}:
        assert pg.get(t) == duck[t], t


def test_orders_and_their_refunds_equal_the_truth(demo_run: Run) -> None:
    truth = pl.read_parquet(demo_run.truth / "shopify_orders.parquet").with_columns(
        pl.col("order_id").cast(pl.Utf8)
    )
    ours = query(
        demo_run.warehouse,
        "select order_id, cast(total_price as double) as total, cast(amount_refunded as double) as refunded, "
        "cast(total_tax as double) as tax from marts.fct_orders",
    )
    assert ours.height == truth.height
    joined = truth.join(ours, on="order_id", how="inner")
    assert joined.height == truth.height
    assert (joined["total_price"] - joined["total"]).abs().max() < 0.005
    assert (joined["total_tax"] - joined["tax"]).abs().max() < 0.005
    # refunds come in the customer's currency and are converted at the order's own rate
    assert (joined["refunded_amount"] - joined["refunded"]).abs().max() < 0.005


def test_ledger_statements_equal_the_sandbox_books_to_the_cent(demo_run: Run) -> None:
    res = ledgerlake_cli(
        "eval", "--truth", str(demo_run.truth), "--warehouse", str(demo_run.warehouse), "--json"
    )
    statements = json.loads(res.stdout)["statements"]
    assert statements["pl_max_abs_diff"] == 0.0
    assert statements["bs_max_abs_diff"] == 0.0
    assert statements["trial_balance_max_abs_total"] == 0.0


def test_ledger_kpis_equal_the_truth_month_by_month(demo_run: Run) -> None:
    truth = pl.read_parquet(demo_run.truth / "kpi_monthly.parquet")
    ours = query(demo_run.warehouse, "select month, kpi, value as ours from marts.kpi_monthly")
    joined = truth.join(ours, on=["month", "kpi"], how="left")
    exact = [
        "invoice_error_rate",
        "close_duration_days",
        "duplicate_payments_count",
        "duplicate_payments_value",
    ]
    checked = joined.filter(pl.col("kpi").is_in(exact))
    assert checked["ours"].null_count() == 0
    assert (checked["value"] - checked["ours"]).abs().max() < 0.001


def test_kpi_daily_counts_the_bank_lines_of_each_day_and_adds_up_to_kpi_monthly(demo_run: Run) -> None:
    # recomputed from the marts, not from the KPI models: per booking day, the bank lines and those
    # that some reconciliation match explains (on either side)
    lines = query(
        demo_run.warehouse,
        """
        select booking_date as day, count(*) as lines,
               sum(case when bank_transaction_id in (
                   select bank_transaction_id from marts.reconciliation_matches where bank_transaction_id is not null
                   union select counterpart_id from marts.reconciliation_matches where counterpart_id is not null
               ) then 1 else 0 end) as matched
        from marts.fct_bank_transactions group by booking_date
        """,
    )
    daily = query(demo_run.warehouse, "select day, kpi, value, numerator, denominator from marts.kpi_daily")
    rate = daily.filter(pl.col("kpi") == "auto_match_rate").join(lines, on="day", how="full", coalesce=True)
    assert rate.height == lines.height > 200
    assert rate["numerator"].to_list() == pytest.approx(rate["matched"].cast(pl.Float64).to_list())
    assert rate["denominator"].to_list() == pytest.approx(rate["lines"].cast(pl.Float64).to_list())
    unmatched = daily.filter(pl.col("kpi") == "unreconciled_items_count").join(lines, on="day")
    assert (unmatched["value"] == (unmatched["lines"] - unmatched["matched"])).all()

    # and a month of days is the month
    rolled = daily.group_by(pl.col("day").dt.month_start().alias("month"), "kpi").agg(
        pl.col("numerator").sum(), pl.col("denominator").sum()
    )
    monthly = query(demo_run.warehouse, "select month, kpi, numerator, denominator from marts.kpi_monthly")
    joined = rolled.join(monthly, on=["month", "kpi"], how="inner", suffix="_monthly")
    assert joined.height == rolled.height
    assert joined["numerator"].to_list() == pytest.approx(joined["numerator_monthly"].to_list(), abs=1e-6)


def test_the_run_records_its_outcome_and_the_sandbox_warns_about_nothing(demo_run: Run) -> None:
    status = json.loads(demo_run.warehouse.with_name("ledgerlake.status.json").read_text())
    last = status["last"]
    assert last["ok"] and last["command"] == "run" and last["failed_step"] is None
    assert last["published_at"] and status["published_at"] == last["published_at"]
    # tests that real data may break only warn; on the sandbox, whose data is consistent, none may
    assert last["tests"] == [], last["tests"]
    assert "WARNING" not in demo_run.stderr, demo_run.stderr[-2000:]

"""Forecasts written back to the warehouse: the 30-day cash forecast and its backtest.

`run(warehouse)` reads `marts.fct_bank_transactions` (and, when they exist, `marts.bank_balances_daily`,
`marts.fx_rates_daily`, `marts.fct_invoices`, `marts.fct_bills`), and writes `marts.fct_cash_forecast`
and `marts.forecast_backtest`. Both keep every run, keyed by `as_of_date`; a re-run for the same
as_of_date replaces that date's rows.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl

from forecasts import backtest, cash, inputs
from ledgerlake.warehouse import Warehouse

log = logging.getLogger(__name__)

FORECAST_TABLE = "fct_cash_forecast"
BACKTEST_TABLE = "forecast_backtest"


@dataclass
class ForecastResult:
    """Everything one forecast computes, before it is written."""

    as_of: date
    forecast: pl.DataFrame
    backtest: pl.DataFrame
    summary: dict[str, Any]


def forecast_series(
    series: pl.DataFrame,
    as_of: date,
    horizon: int,
    last_balances: dict[str, float],
    known: pl.DataFrame,
    total_rates: dict[str, float],
    currencies: dict[str, str],
    basis: str,
) -> ForecastResult:
    """Backtest, select, forecast and assemble, on a long `unique_id, ds, y` frame (no warehouse)."""
    plan = backtest.plan_windows(series["ds"].n_unique(), horizon)  # every series spans the same days
    cv = backtest.cross_validate(series, plan)
    metrics = backtest.backtest_metrics(cv, series)
    selected = backtest.select_models(metrics)
    chosen = pl.DataFrame({"unique_id": list(selected), "model": list(selected.values())})
    cv_selected = cv.join(chosen, on=["unique_id", "model"], how="inner")
    widths = cash.interval_widths(cv_selected, horizon)
    baseline = cash.baseline_forecast(series, selected, horizon)
    assembled = cash.assemble(baseline, widths, last_balances, known, total_rates)
    rows = cash.forecast_rows(assembled, as_of, currencies, basis)
    bt = backtest_rows(metrics, selected, as_of)
    summary = summarize(metrics, selected, plan)
    return ForecastResult(as_of=as_of, forecast=rows, backtest=bt, summary=summary)


def backtest_rows(metrics: pl.DataFrame, selected: dict[str, str], as_of: date) -> pl.DataFrame:
    """The `marts.forecast_backtest` shape: every model's scores, the selected one flagged."""
    chosen = pl.DataFrame(
        {"unique_id": list(selected), "model": list(selected.values()), "is_selected": True}
    )
    return (
        metrics.join(chosen, on=["unique_id", "model"], how="left", maintain_order="left")
        .with_columns(pl.col("is_selected").fill_null(False), as_of_date=pl.lit(as_of))
        .select(
            "as_of_date",
            "unique_id",
            "model",
            "horizon_bucket",
            "mase",
            "coverage_80",
            "n_points",
            "is_selected",
        )
    )


def _metric(metrics: pl.DataFrame, uid: str, model: str, col: str, bucket: str = "all") -> float | None:
    row = metrics.filter(
        (pl.col("unique_id") == uid) & (pl.col("model") == model) & (pl.col("horizon_bucket") == bucket)
    )
    return None if row.is_empty() else cash.finite(row[col][0])


def summarize(metrics: pl.DataFrame, selected: dict[str, str], plan: backtest.BacktestPlan) -> dict[str, Any]:
    """Headline metrics on 'total' plus per-series detail and the buckets that don't beat a naive baseline."""
    per_series = {}
    for uid, model in sorted(selected.items()):
        mase = _metric(metrics, uid, model, "mase")
        snaive = _metric(metrics, uid, "SeasonalNaive", "mase")
        per_series[uid] = {
            "model": model,
            "mase": mase,
            "mase_vs_seasonal_naive": None if mase is None or not snaive else mase / snaive,
            "coverage_80": _metric(metrics, uid, model, "coverage_80"),
            "balance_coverage_80": _metric(metrics, uid, model, "balance_coverage_80"),
        }
    total = per_series.get(cash.TOTAL, {})
    losing = backtest.not_beating_baseline(metrics, selected)
    return {
        "mase_vs_seasonal_naive": total.get("mase_vs_seasonal_naive"),
        "coverage_80": total.get("coverage_80"),
        "balance_coverage_80": total.get("balance_coverage_80"),
        "not_beating_baseline": losing,
        "beats_baseline": not losing,
        "series": per_series,
        "backtest_windows": plan.n_windows,
        "backtest_step_days": plan.step,
    }


def run(warehouse: Warehouse, horizon: int = 30, functional_currency: str | None = None) -> dict[str, Any]:
    """Forecast cash `horizon` days ahead from the marts and write the forecast and backtest tables.

    `functional_currency` defaults to the most frequent currency of the bank transactions (reported in
    the summary). Raises LedgerlakeError when the transactions mart is missing or holds < 60 days.
    """
    started = time.perf_counter()
    tx = inputs.load_transactions(warehouse)
    start, as_of = inputs.check_history(tx)
    functional = functional_currency or inputs.infer_functional_currency(tx)
    currencies = inputs.account_currencies(tx)
    flows = cash.daily_flows(tx.select("account_id", "ds", "y"), start, as_of)
    days = flows.select("ds").unique().sort("ds")
    rates, total_rates, notes = inputs.load_rates(warehouse, currencies, functional, days)
    series = cash.build_series(flows, rates)
    balances = inputs.load_balances(warehouse, flows, as_of, total_rates)
    known, known_notes = inputs.load_known_flows(warehouse, as_of, horizon, functional)
    result = forecast_series(
        series,
        as_of,
        horizon,
        balances.last,
        known,
        total_rates,
        {**currencies, cash.TOTAL: functional},
        balances.basis,
    )
    written = {
        FORECAST_TABLE: write_for_as_of(warehouse, FORECAST_TABLE, result.forecast, as_of),
        BACKTEST_TABLE: write_for_as_of(warehouse, BACKTEST_TABLE, result.backtest, as_of),
    }
    summary = {
        "as_of_date": as_of.isoformat(),
        "horizon_days": horizon,
        "functional_currency": functional,
        "functional_currency_source": "argument" if functional_currency else "inferred",
        "balance_basis": balances.basis,
        "known_flow_rows": known.height,
        "rows_written": written,
        **result.summary,
        "notes": notes + balances.notes + known_notes,
        "seconds": round(time.perf_counter() - started, 2),
    }
    for entry in summary["not_beating_baseline"]:
        log.warning("cash forecast does not beat %s: %s", entry["baseline"], entry)
    return summary


def write_for_as_of(warehouse: Warehouse, table: str, df: pl.DataFrame, as_of: date) -> int:
    """Append `df` to marts.`table`, first deleting the rows of the same as_of_date.

    When the stored table lacks some of `df`'s columns (written by an older version), the table is
    rewritten with the union of the columns, older rows getting nulls.
    """
    if not warehouse.table_exists("marts", table):
        return warehouse.write_table("marts", table, df, mode="replace")
    same_day = f"as_of_date = date '{as_of.isoformat()}'"
    stored = warehouse.query(f"select * from marts.{table} limit 0").columns
    if set(df.columns) <= set(stored):
        warehouse.execute(f"delete from marts.{table} where {same_day}")
        return warehouse.write_table("marts", table, df, mode="append")
    older = warehouse.query(f"select * from marts.{table} where not ({same_day})")
    merged = pl.concat([older, df], how="diagonal_relaxed") if not older.is_empty() else df
    warehouse.write_table("marts", table, merged, mode="replace")
    return df.height

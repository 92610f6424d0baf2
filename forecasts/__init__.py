"""Forecasts written back to the warehouse: the 30-day cash forecast and its backtest.

`run(warehouse)` reads `marts.fct_bank_transactions` (and, when they exist, `marts.bank_balances_daily`,
`marts.fx_rates_daily`, `marts.fct_invoices`, `marts.fct_bills`, `marts.fct_deals`,
`marts.reconciliation_matches`, `marts.fct_gl_entries`), and writes `marts.fct_cash_forecast` and
`marts.forecast_backtest`. Both keep every run, keyed by `as_of_date`; a re-run for the same as_of_date
replaces that date's rows.

The forecast is a statistical baseline fitted on the *residual* bank flows (bank lines that settle
invoices and bills taken out) plus the known flows of open receivables, open payables and the CRM
pipeline (`forecasts.known_flows`); see `forecasts.cash` for the arithmetic. The backtest and its
MASE/coverage therefore score the baseline on the residual series, not the known flows.

The backtest is honest per origin: at each cutoff the residual series (the history the baseline is
fitted on and the actuals it is scored on) takes out only what a forecaster standing at that cutoff
could have known (`inputs.explained_as_of`): the recurring series detected with `as_of = cutoff` on
the lines up to it (their hit lines, and in the window the lines on the schedule dates that detection
projects), and the lines settling documents — those booked by the cutoff, and those booked in the
window only when their documents were issued by the cutoff. The known flows of the `after` variant
come from the very same detection. Remaining assumptions: a settlement line booked by the cutoff
counts as matched by then (the reconciliation's matching date is not kept), and a settlement the
marts link to no document (an unapplied payment) is taken as known. Bills are dated through
`marts.fct_bill_payments`, invoices through `marts.fct_customer_payments`. The forecast for the real as_of is fitted on the residual of
`inputs.load_explained`: the same rule applied at the last day.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import polars as pl

from forecasts import backtest, cash, inputs, recurring
from forecasts import known_flows as kf
from ledgerlake.warehouse import Warehouse

log = logging.getLogger(__name__)

FORECAST_TABLE = "fct_cash_forecast"
BACKTEST_TABLE = "forecast_backtest"
# forecast_backtest rows scoring the whole forecast against all bank flows of 'total' (see known_backtest)
ALL_FLOWS = "total_all_flows"
WHOLE_FORECAST = "baseline+known"
RESIDUAL_ONLY = "residual_baseline"


@dataclass
class ForecastResult:
    """Everything one forecast computes, before it is written."""

    as_of: date
    forecast: pl.DataFrame
    backtest: pl.DataFrame
    summary: dict[str, Any]
    cv_selected: pl.DataFrame | None = None
    plan: backtest.BacktestPlan | None = None


def forecast_series(
    series: pl.DataFrame,
    as_of: date,
    horizon: int,
    last_balances: dict[str, float],
    known: pl.DataFrame,
    total_rates: dict[str, float],
    currencies: dict[str, str],
    basis: str,
    known_var: pl.DataFrame | None = None,
    series_at: Callable[[date], pl.DataFrame] | None = None,
) -> ForecastResult:
    """Backtest, select, forecast and assemble, on a long `unique_id, ds, y` frame (no warehouse).

    `series_at(cutoff)`: the series as it stood at a backtest origin (the residual a forecaster could
    have built then, see `run`); without it every origin uses `series`. The forecast itself is always
    fitted on `series`."""
    plan = backtest.plan_windows(series["ds"].n_unique(), horizon)  # every series spans the same days
    if series_at is None:
        cv = backtest.cross_validate(series, plan)
        metrics = backtest.backtest_metrics(cv, series)
    else:
        last_day = series["ds"].max()
        assert isinstance(last_day, date)
        cv, scales = backtest.cross_validate_per_origin(series_at, last_day, plan)
        metrics = backtest.backtest_metrics(cv, None, scales=scales)
    selected = backtest.select_models(metrics)
    chosen = pl.DataFrame({"unique_id": list(selected), "model": list(selected.values())})
    cv_selected = cv.join(chosen, on=["unique_id", "model"], how="inner")
    widths = cash.interval_widths(cv_selected, horizon)
    baseline = cash.baseline_forecast(series, selected, horizon)
    assembled = cash.assemble(baseline, widths, last_balances, known, total_rates, known_var)
    rows = cash.forecast_rows(assembled, as_of, currencies, basis)
    bt = backtest_rows(metrics, selected, as_of)
    summary = summarize(metrics, selected, plan)
    return ForecastResult(
        as_of=as_of, forecast=rows, backtest=bt, summary=summary, cv_selected=cv_selected, plan=plan
    )


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


def _explained_lines(info: dict) -> int:
    """Bank lines the known flows explain (settling invoices/bills, or a detected recurring series):
    the residual baseline leaves them out."""
    return int(info.get("explained_bank_lines") or 0) + int(info.get("recurring_bank_lines") or 0)


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
    sources = inputs.read_known_sources(warehouse, as_of, functional, tx)
    explained, explained_info = inputs.load_explained(warehouse, sources.bank_lines)
    residual = kf.residual_flows(flows, explained)
    series = cash.build_series(residual, rates)
    balances = inputs.load_balances(warehouse, flows, as_of, total_rates)  # from all flows
    known_in = inputs.known_from_sources(sources, as_of, horizon, functional)
    detect_at = _recurring_detections(sources.bank_lines)

    def series_at(cutoff: date) -> pl.DataFrame:
        """The residual series as a forecaster at `cutoff` could have built it (`inputs.explained_as_of`)."""
        assert sources.bank_lines is not None
        upto = flows.filter(pl.col("ds") <= cutoff + timedelta(days=horizon))
        exp = inputs.explained_as_of(sources.bank_lines, cutoff, horizon, detect_at(cutoff))
        return cash.build_series(kf.residual_flows(upto, exp), rates)

    known = kf.expected_flows(known_in.items)
    known_var = kf.known_variance(known_in.items, as_of, horizon, total_rates)
    result = forecast_series(
        series,
        as_of,
        horizon,
        balances.last,
        known,
        total_rates,
        {**currencies, cash.TOTAL: functional},
        balances.basis,
        known_var,
        series_at=series_at if _explained_lines(explained_info) and sources.bank_lines is not None else None,
    )
    comparison, comparison_rows = None, None
    if result.cv_selected is not None and result.plan is not None and _explained_lines(explained_info):

        def known_at(cutoff: date) -> pl.DataFrame:
            return known_total_as_of(sources, cutoff, horizon, functional, total_rates, detect_at(cutoff))

        comparison, comparison_metrics = known_backtest(
            cash.build_series(flows, rates), result.cv_selected, known_at, result.plan
        )
        comparison_rows = backtest_rows(comparison_metrics, {ALL_FLOWS: WHOLE_FORECAST}, as_of)
    bt = result.backtest if comparison_rows is None else pl.concat([result.backtest, comparison_rows])
    written = {
        FORECAST_TABLE: write_for_as_of(warehouse, FORECAST_TABLE, result.forecast, as_of),
        BACKTEST_TABLE: write_for_as_of(warehouse, BACKTEST_TABLE, bt, as_of),
    }
    baseline_basis = "residual" if _explained_lines(explained_info) else "all_bank_flows"
    basis_notes = (
        []
        if baseline_basis == "residual" or known.is_empty()
        else ["no bank line is matched to an invoice/bill payment: known flows may double count the baseline"]
    )
    summary = {
        "as_of_date": as_of.isoformat(),
        "horizon_days": horizon,
        "functional_currency": functional,
        "functional_currency_source": "argument" if functional_currency else "inferred",
        "balance_basis": balances.basis,
        "baseline_basis": baseline_basis,
        "known_flow_rows": known.height,
        "known_flows_total": component_totals(result.forecast),
        "known_flows_method": (
            "baseline fitted on bank flows minus the lines matched to ledger Payment/BillPayment; plus "
            "expected open receivables/payables (due date + historical days late, never-paid share) and "
            "open deals x calibrated stage probability (close + invoice lag + terms + days late)"
        ),
        **explained_info,
        "known_flows_detail": known_in.info,
        "backtest_all_flows": comparison,
        "rows_written": written,
        **result.summary,
        "notes": notes + balances.notes + known_in.notes + basis_notes,
        "seconds": round(time.perf_counter() - started, 2),
    }
    for entry in summary["not_beating_baseline"]:
        log.info("cash forecast does not beat %s: %s", entry["baseline"], entry)  # the CLI tabulates them
    return summary


def known_total_as_of(
    sources: inputs.KnownSources,
    cutoff: date,
    horizon: int,
    functional: str,
    total_rates: dict[str, float],
    recurring_found: list[recurring.RecurringSeries] | None = None,
) -> pl.DataFrame:
    """`ds, known`: the expected receivables and payables on 'total' as they could be known at `cutoff`
    (documents issued by then, delays from what was paid by then; no pipeline: the marts hold no stage
    history to know a deal's stage at the cutoff), plus the recurring flows detected at the cutoff
    (`recurring_found` when the caller has that detection already)."""
    from dataclasses import replace

    src = replace(
        sources,
        invoices=None if sources.invoices is None else inputs.documents_as_of(sources.invoices, cutoff),
        bills=None if sources.bills is None else inputs.documents_as_of(sources.bills, cutoff),
    )
    k = inputs.known_from_sources(
        src, cutoff, horizon, functional, with_pipeline=False, recurring_found=recurring_found
    )
    per = cash.known_flows_per_series(kf.expected_flows(k.items), total_rates)
    return per.filter(pl.col("unique_id") == cash.TOTAL).select(ds="forecast_date", known="known_flow")


def _recurring_detections(
    bank_lines: pl.DataFrame | None,
) -> Callable[[date], list[recurring.RecurringSeries] | None]:
    """`recurring.detect` of the bank lines' candidates at a cutoff, computed once per cutoff: the
    backtest's residual (`inputs.explained_as_of`) and its known flows (`known_total_as_of`) share it,
    so both take the same series as explained at each origin."""
    cache: dict[date, list[recurring.RecurringSeries] | None] = {}
    candidates = None if bank_lines is None else inputs.recurring_candidates(bank_lines)

    def detect_at(cutoff: date) -> list[recurring.RecurringSeries] | None:
        if cutoff not in cache:
            cache[cutoff] = None if candidates is None else recurring.detect(candidates, cutoff)
        return cache[cutoff]

    return detect_at


def known_backtest(
    series_all: pl.DataFrame,
    cv_selected: pl.DataFrame,
    known_at: Callable[[date], pl.DataFrame],
    plan: backtest.BacktestPlan,
) -> tuple[dict[str, Any], pl.DataFrame]:
    """The whole forecast against the bank's *all* flows on 'total', on the same rolling origins.

    * `before`: the models fitted on all flows (what the forecast was before known flows), the one with
      the lowest MASE;
    * `residual_only`: the selected residual baseline alone (what the known flows must make up for);
    * `after`: the residual baseline plus the known flows as they stood at each cutoff.
    MASE is scaled by the in-sample seasonal naive on all flows; `mase_vs_seasonal_naive` divides by
    SeasonalNaive(7) fitted on all flows. coverage_80 is the leave-one-window-out conformal coverage of
    each variant's own errors (as in the backtest table). `balance_mae` is the mean absolute error of
    the balance (cumulative flow error over the window's days), `balance_mean_error` its mean (bias:
    positive = the forecast is too low); these two are what known flows should improve.
    """
    total = series_all.filter(pl.col("unique_id") == cash.TOTAL)
    cv_all = backtest.cross_validate(total, plan)
    m_all = backtest.backtest_metrics(cv_all, total)
    before_model = backtest.select_models(m_all)[cash.TOTAL]
    res = cv_selected.filter(pl.col("unique_id") == cash.TOTAL)
    cutoffs = sorted(set(res["cutoff"].to_list()))
    known = pl.concat(
        [known_at(c if isinstance(c, date) else c.date()).with_columns(cutoff=pl.lit(c)) for c in cutoffs]
    )
    known = known.with_columns(
        pl.col("cutoff").cast(res.schema["cutoff"]), pl.col("ds").cast(res.schema["ds"])
    )
    on_all = res.drop("y").join(total.select("ds", "y"), on="ds", how="left")
    variants = {
        "residual_only": on_all.with_columns(model=pl.lit("residual_only")),
        "after": on_all.join(known, on=["cutoff", "ds"], how="left").with_columns(
            y_hat=pl.col("y_hat") + pl.col("known").fill_null(0.0), model=pl.lit("after")
        ),
    }
    cols = ["unique_id", "cutoff", "ds", "horizon", "model", "y", "y_hat", "error"]
    combined = pl.concat(
        [v.with_columns(error=pl.col("y") - pl.col("y_hat")).select(cols) for v in variants.values()]
    )
    m_comb = backtest.backtest_metrics(combined, total)
    snaive = _metric(m_all, cash.TOTAL, "SeasonalNaive", "mase")

    errors = pl.concat([cv_all, combined.select(cv_all.columns)])

    def scores(metrics: pl.DataFrame, model: str) -> dict[str, Any]:
        mase = _metric(metrics, cash.TOTAL, model, "mase")
        cum = backtest.cumulative_errors(errors.filter(pl.col("model") == model))
        return {
            "balance_mae": float(np.mean(np.abs(cum))),
            "balance_mean_error": float(np.mean(cum)),
            "model": model,
            "mase": mase,
            "mase_vs_seasonal_naive": None if mase is None or not snaive else mase / snaive,
            "coverage_80": _metric(metrics, cash.TOTAL, model, "coverage_80"),
            "balance_coverage_80": _metric(metrics, cash.TOTAL, model, "balance_coverage_80"),
        }

    summary = {
        "before": scores(m_all, before_model),
        "residual_only": scores(m_comb, "residual_only"),
        "after": scores(m_comb, "after"),
        "seasonal_naive_mase": snaive,
        "pipeline_in_backtest": False,
    }
    names = {"after": WHOLE_FORECAST, "residual_only": RESIDUAL_ONLY}
    rows = pl.concat([m_all, m_comb]).with_columns(
        unique_id=pl.lit(ALL_FLOWS), model=pl.col("model").replace(names)
    )
    return summary, rows


def component_totals(forecast: pl.DataFrame) -> dict[str, float]:
    """Sum over the horizon of each known-flow component on 'total' (functional currency)."""
    tot = forecast.filter(pl.col("account_id") == cash.TOTAL)
    cols = ["known_flow", *cash.COMPONENT_COLUMNS.values()]
    return {c: round(float(tot[c].sum()), 2) if c in tot.columns else 0.0 for c in cols}


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

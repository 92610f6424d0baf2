"""The 30-day cash forecast: a statistical baseline of daily net flows, plus known flows, cumulated into balances.

Method
------
1. **Series.** Daily net flow per bank account (`unique_id` = account_id, days without a booking are 0),
   and `'total'`: the sum over the accounts in the functional currency, plus other-currency accounts
   converted with `marts.fx_rates_daily` when that table exists (otherwise they stay their own series only).
2. **Baseline.** AutoETS, AutoTheta, SeasonalNaive(7) and Naive (weekly season) are backtested on
   rolling origins (`forecasts.backtest`); each series uses the one of the first three with the lowest
   MASE (Naive is only a yardstick, see `backtest.select_models`). Its point forecast is the baseline
   flow, taken as the p50 of the daily flow.
3. **Known flows** (`forecasts.known_flows`: open receivables, open payables, the CRM pipeline;
   `forecasts.recurring`: payroll, rent and other recurring bank flows detected from history; `account_id,
   flow_date, amount, component`, expected values) are added on top: `flow = baseline + known`. A flow
   booked to an account that is part of `'total'` counts in `'total'` too (converted at that account's
   rate); the per-component sums are kept as `known_receivables`, `known_payables`, `known_pipeline`,
   `known_recurring`.
   **No double counting:** the baseline is fitted on the *residual* bank flows — all bank lines minus
   those that settle an invoice or a bill (matched in `marts.reconciliation_matches` to a ledger Payment
   or BillPayment, `inputs.load_explained`) and those of the recurring series detected on the whole
   history — because those receipts and payments are what the known flows forecast. The balance still
   starts from all flows. Customer receipts the reconciliation did not
   match stay in the residual (and are thus counted by both when the document is open). A settlement
   line booked on or before the issue date of its documents (a bill entered the day it is paid) stays
   in the residual too: it was an open document at no origin, so no known flow ever forecasts it. The
   backtest applies the same rule per origin (`forecasts.run`, `inputs.explained_as_of`).
4. **Balance.** `p50[h] = last_balance + sum_{k<=h} (baseline[k] + known[k])`.
5. **Intervals** are split-conformal, from the backtest errors of the selected model, symmetric around p50:
   * daily flow: `flow_p50 ± q`, q = conformal 80% quantile of |error| over the backtest points in the same
     horizon bucket (1-7, 8-14, 15-30 days).
   * balance: the error of a balance h days out is the *cumulative* flow error `C[w,h] = sum_{k<=h} e[w,k]`
     of backtest window w. Its spread grows like `h**b`: b is the slope of log RMS(C[., h]) on log h,
     clipped to [0.5, 1] (0.5 = independent daily errors, 1 = a persistent level error). The scores
     `|C[w,h]| / h**b` of all windows and horizons are pooled and their conformal 80% quantile Q gives
     `p50 ± Q * h**b`. The half-width therefore grows strictly with the horizon whenever Q > 0.
   Known flows add their own spread (`known_flows.known_variance`, independent items):
   `halfwidth = sqrt(baseline_halfwidth**2 + (Z80 * sd_known)**2)`, Z80 = 1.2816 (normal 80%), for the
   balance and the daily flow alike. Without that frame the known flows are taken as certain.
"""

from __future__ import annotations

import math
import os
from datetime import date
from typing import Any

import numpy as np
import polars as pl

from forecasts.backtest import (
    LEVEL,
    balance_halfwidth_params,
    bucket_expr,
    candidate_models,
    conformal_quantile,
)

os.environ.setdefault("NIXTLA_ID_AS_COL", "1")

TOTAL = "total"
Z80 = 1.2815515655446004
COMPONENT_COLUMNS = {
    "receivables": "known_receivables",
    "payables": "known_payables",
    "pipeline": "known_pipeline",
    "recurring": "known_recurring",
}
KNOWN_FLOW_SCHEMA = {"account_id": pl.Utf8, "flow_date": pl.Date, "amount": pl.Float64, "component": pl.Utf8}


def empty_known_flows() -> pl.DataFrame:
    return pl.DataFrame(schema=KNOWN_FLOW_SCHEMA)


def daily_flows(tx: pl.DataFrame, start: date, end: date) -> pl.DataFrame:
    """Net flow per account and day from `account_id, ds, y` (any number of rows a day), zeros filled."""
    days = pl.DataFrame({"ds": pl.date_range(start, end, "1d", eager=True)})
    accounts = tx.select(pl.col("account_id").cast(pl.Utf8)).unique().sort("account_id")
    sums = tx.group_by("account_id", "ds").agg(y=pl.col("y").sum())
    return (
        accounts.join(days, how="cross")
        .join(sums, on=["account_id", "ds"], how="left")
        .with_columns(pl.col("y").fill_null(0.0))
        .sort("account_id", "ds")
    )


def build_series(flows: pl.DataFrame, rates: pl.DataFrame) -> pl.DataFrame:
    """Long `unique_id, ds, y`: one series per account plus 'total'.

    `rates` has `account_id, ds, rate` (to the functional currency) for the accounts that belong to
    'total'; an account without rates is left out of 'total'.
    """
    accounts = flows.rename({"account_id": "unique_id"})
    total = (
        flows.join(rates, on=["account_id", "ds"], how="inner")
        .group_by("ds")
        .agg(y=(pl.col("y") * pl.col("rate")).sum())
        .with_columns(unique_id=pl.lit(TOTAL))
    )
    days = flows.select("ds").unique()
    total = (
        days.join(total, on="ds", how="left")
        .with_columns(pl.col("y").fill_null(0.0), pl.lit(TOTAL).alias("unique_id"))
        .select("unique_id", "ds", "y")
    )
    return pl.concat([accounts.select("unique_id", "ds", "y"), total]).sort("unique_id", "ds")


def baseline_forecast(series: pl.DataFrame, selected: dict[str, str], horizon: int) -> pl.DataFrame:
    """Point forecast of each series by its selected model: `unique_id, forecast_date, horizon_days,
    model, baseline_flow`."""
    from statsforecast import StatsForecast

    from forecasts.backtest import fallback_model

    models = [m for m in candidate_models() if str(m) in set(selected.values())]
    sf = StatsForecast(models=models, freq="1d", n_jobs=1, fallback_model=fallback_model())
    wide = sf.forecast(h=horizon, df=series.select("unique_id", "ds", "y"))
    names = [c for c in wide.columns if c not in ("unique_id", "ds")]
    long = wide.unpivot(
        index=["unique_id", "ds"], on=names, variable_name="model", value_name="baseline_flow"
    )
    chosen = pl.DataFrame({"unique_id": list(selected), "model": list(selected.values())})
    return (
        long.join(chosen, on=["unique_id", "model"], how="inner")
        .rename({"ds": "forecast_date"})
        .with_columns(horizon_days=pl.col("forecast_date").rank("ordinal").over("unique_id").cast(pl.Int64))
        .select("unique_id", "forecast_date", "horizon_days", "model", "baseline_flow")
        .sort("unique_id", "horizon_days")
    )


def flow_halfwidths(cv_selected: pl.DataFrame, level: float = LEVEL) -> pl.DataFrame:
    """Conformal half-width of the daily flow per series and horizon bucket: `unique_id, horizon_bucket,
    flow_halfwidth`."""
    rows = []
    scored = cv_selected.with_columns(horizon_bucket=bucket_expr())
    for (uid, bucket), grp in scored.group_by("unique_id", "horizon_bucket", maintain_order=True):
        width = conformal_quantile(grp["error"].abs().to_numpy(), level)
        rows.append({"unique_id": uid, "horizon_bucket": bucket, "flow_halfwidth": width})
    return pl.DataFrame(
        rows, schema={"unique_id": pl.Utf8, "horizon_bucket": pl.Utf8, "flow_halfwidth": pl.Float64}
    )


def interval_widths(cv_selected: pl.DataFrame, horizon: int, level: float = LEVEL) -> pl.DataFrame:
    """`unique_id, horizon_days, flow_halfwidth, balance_halfwidth` for h = 1..horizon."""
    flow = flow_halfwidths(cv_selected, level)
    frames = []
    for (uid,), grp in cv_selected.group_by("unique_id", maintain_order=True):
        q, b = balance_halfwidth_params(grp, level)
        h = np.arange(1, horizon + 1)
        frames.append(
            pl.DataFrame({"unique_id": uid, "horizon_days": h, "balance_halfwidth": q * h.astype(float) ** b})
        )
    widths = pl.concat(frames).with_columns(
        pl.col("horizon_days").cast(pl.Int64), horizon_bucket=bucket_expr("horizon_days")
    )
    return widths.join(flow, on=["unique_id", "horizon_bucket"], how="left").drop("horizon_bucket")


def known_flows_per_series(known: pl.DataFrame, total_rates: dict[str, float]) -> pl.DataFrame:
    """Known flows summed per series and day: the account's own series, and 'total' for its members.

    Flows booked directly to 'total' count only there. `total_rates` maps member accounts to their rate.
    Columns `unique_id, forecast_date, known_flow` and one `known_<component>` per COMPONENT_COLUMNS.
    """
    own = known.select(pl.col("account_id").alias("unique_id"), "flow_date", "amount", "component")
    rates = pl.DataFrame(
        {"account_id": list(total_rates), "rate": list(total_rates.values())},
        schema={"account_id": pl.Utf8, "rate": pl.Float64},
    )
    to_total = known.filter(pl.col("account_id") != TOTAL).join(rates, on="account_id", how="inner")
    to_total = to_total.select(
        pl.lit(TOTAL).alias("unique_id"),
        "flow_date",
        (pl.col("amount") * pl.col("rate")).alias("amount"),
        "component",
    )
    return (
        pl.concat([own, to_total])
        .group_by("unique_id", "flow_date")
        .agg(
            pl.col("amount").sum().alias("known_flow"),
            *[
                pl.col("amount").filter(pl.col("component") == comp).sum().alias(col)
                for comp, col in COMPONENT_COLUMNS.items()
            ],
        )
        .rename({"flow_date": "forecast_date"})
    )


def assemble(
    baseline: pl.DataFrame,
    widths: pl.DataFrame,
    last_balances: dict[str, float],
    known: pl.DataFrame,
    total_rates: dict[str, float],
    known_var: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Flows and balances with their intervals; see the module docstring for the arithmetic.

    `known_var` (`unique_id, horizon_days, known_flow_var, known_balance_var`) widens the intervals.
    """
    per_series = known_flows_per_series(known, total_rates)
    balances = pl.DataFrame(
        {"unique_id": list(last_balances), "last_balance": list(last_balances.values())},
        schema={"unique_id": pl.Utf8, "last_balance": pl.Float64},
    )
    if known_var is None:
        known_var = pl.DataFrame(
            schema={
                "unique_id": pl.Utf8,
                "horizon_days": pl.Int64,
                "known_flow_var": pl.Float64,
                "known_balance_var": pl.Float64,
            }
        )
    known_cols = ["known_flow", *COMPONENT_COLUMNS.values()]
    frame = (
        baseline.join(widths, on=["unique_id", "horizon_days"], how="left")
        .join(per_series, on=["unique_id", "forecast_date"], how="left")
        .join(balances, on="unique_id", how="left")
        .join(known_var, on=["unique_id", "horizon_days"], how="left")
        .with_columns(
            *[pl.col(c).fill_null(0.0) for c in known_cols],
            pl.col("last_balance").fill_null(0.0),
            pl.col("known_flow_var").fill_null(0.0),
            pl.col("known_balance_var").fill_null(0.0),
        )
        .sort("unique_id", "horizon_days")
        .with_columns(flow_p50=pl.col("baseline_flow") + pl.col("known_flow"))
        .with_columns(p50=pl.col("last_balance") + pl.col("flow_p50").cum_sum().over("unique_id"))
        .with_columns(
            flow_halfwidth=(pl.col("flow_halfwidth") ** 2 + Z80**2 * pl.col("known_flow_var")).sqrt(),
            balance_halfwidth=(
                pl.col("balance_halfwidth") ** 2 + Z80**2 * pl.col("known_balance_var")
            ).sqrt(),
        )
    )
    return frame.with_columns(
        flow_p10=pl.col("flow_p50") - pl.col("flow_halfwidth"),
        flow_p90=pl.col("flow_p50") + pl.col("flow_halfwidth"),
        p10=pl.col("p50") - pl.col("balance_halfwidth"),
        p90=pl.col("p50") + pl.col("balance_halfwidth"),
    )


def forecast_rows(
    assembled: pl.DataFrame, as_of: date, currencies: dict[str, str], basis: str
) -> pl.DataFrame:
    """The `marts.fct_cash_forecast` shape."""
    cur = pl.DataFrame(
        {"unique_id": list(currencies), "currency": list(currencies.values())},
        schema={"unique_id": pl.Utf8, "currency": pl.Utf8},
    )
    return (
        assembled.join(cur, on="unique_id", how="left")
        .select(
            pl.lit(as_of).alias("as_of_date"),
            "forecast_date",
            pl.col("unique_id").alias("account_id"),
            "horizon_days",
            "p10",
            "p50",
            "p90",
            "flow_p10",
            "flow_p50",
            "flow_p90",
            "baseline_flow",
            "known_flow",
            *COMPONENT_COLUMNS.values(),
            "model",
            "currency",
            pl.lit(basis).alias("balance_basis"),
        )
        .sort("account_id", "horizon_days")
    )


def finite(x: Any) -> float | None:
    return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else float(x)

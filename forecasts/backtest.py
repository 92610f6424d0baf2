"""Rolling-origin backtest of the daily net-flow models, and the error scores the intervals are built from.

Everything here works on the long format `unique_id, ds, y` (one row per series and day). When the
series itself depends on the origin (the residual cash flows: what is "explained" is decided at each
cutoff), `cross_validate_per_origin` fits and scores every origin on its own version of the series,
and the MASE of each origin is scaled by that version's in-sample seasonal naive.

Metrics
-------
* **MASE**: mean absolute forecast error over the points of a horizon bucket, each point divided by the
  in-sample MAE of the seasonal naive(7) forecast on the training data of its own window (the days up to
  and including the window's cutoff). A MASE below 1 beats a one-week-ago forecast made in sample.
* **coverage_80**: share of backtest points inside the 80% conformal interval (see `conformal_quantile`).
  The interval for window *w* is calibrated on the errors of the *other* windows (leave-one-window-out),
  so the coverage is measured out of sample and is not 80% by construction.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import polars as pl

os.environ.setdefault("NIXTLA_ID_AS_COL", "1")

SEASON = 7
BASELINES = ("SeasonalNaive", "Naive")
SELECTABLE = ("AutoETS", "AutoTheta", "SeasonalNaive")
LEVEL = 0.8
BUCKET_ORDER = {"1-7": 0, "8-14": 1, "15-30": 2, "all": 3}


@dataclass(frozen=True)
class BacktestPlan:
    """How many rolling origins fit into the history, `step` days apart, each forecasting `horizon` days."""

    horizon: int
    n_windows: int
    step: int


def candidate_models() -> list[Any]:
    """The models tried on every series; statsforecast names their forecast columns by alias."""
    from statsforecast.models import AutoETS, AutoTheta, Naive, SeasonalNaive

    # Additive decomposition: net flows are signed, a multiplicative season is undefined at zero.
    return [
        AutoETS(season_length=SEASON),
        AutoTheta(season_length=SEASON, decomposition_type="additive"),
        SeasonalNaive(season_length=SEASON),
        Naive(),
    ]


def plan_windows(
    n_days: int, horizon: int, max_windows: int = 6, step: int = 15, min_train: int = 28
) -> BacktestPlan:
    """Fit up to `max_windows` origins so that the first one still has `min_train` days of training."""
    room = n_days - min_train - horizon
    if room < 0:
        raise ValueError(f"{n_days} days cannot hold {min_train} training days and a {horizon}-day horizon")
    return BacktestPlan(horizon=horizon, n_windows=min(max_windows, room // step + 1), step=step)


def horizon_bucket(h: int) -> str:
    """'1-7', '8-14' or '15-30' (the last bucket runs to the horizon, whatever it is)."""
    if h <= 7:
        return "1-7"
    if h <= 14:
        return "8-14"
    return "15-30"


def bucket_expr(col: str = "horizon") -> pl.Expr:
    return (
        pl.when(pl.col(col) <= 7)
        .then(pl.lit("1-7"))
        .when(pl.col(col) <= 14)
        .then(pl.lit("8-14"))
        .otherwise(pl.lit("15-30"))
    )


def cross_validate(series: pl.DataFrame, plan: BacktestPlan, models: list[Any] | None = None) -> pl.DataFrame:
    """Rolling-origin forecasts of every model, long: `unique_id, cutoff, ds, horizon, model, y, y_hat, error`."""
    from statsforecast import StatsForecast

    models = models if models is not None else candidate_models()
    # freq "1d" is the polars spelling of the pandas "D" (statsforecast follows the frame's library).
    sf = StatsForecast(models=models, freq="1d", n_jobs=1, fallback_model=fallback_model())
    cv = sf.cross_validation(
        h=plan.horizon,
        df=series.select("unique_id", "ds", "y"),
        n_windows=plan.n_windows,
        step_size=plan.step,
    )
    names = [c for c in cv.columns if c not in ("unique_id", "ds", "cutoff", "y")]
    return to_long(cv, names)


def origin_cutoffs(last_day: date, plan: BacktestPlan) -> list[date]:
    """The cutoffs `cross_validate` uses on a history ending on `last_day`, oldest first: the last one
    leaves a whole horizon after it, each earlier one `step` days before."""
    last = last_day - timedelta(days=plan.horizon)
    return [last - timedelta(days=plan.step * k) for k in range(plan.n_windows - 1, -1, -1)]


def cross_validate_per_origin(
    series_at: Callable[[date], pl.DataFrame],
    last_day: date,
    plan: BacktestPlan,
    models: list[Any] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """`cross_validate` on a series that depends on the origin: at each cutoff, `series_at(cutoff)`
    (`unique_id, ds, y`, at least up to cutoff + horizon) is fitted on its days up to the cutoff and
    scored on the horizon after it. Returns the long backtest frame and the MASE scales
    (`unique_id, cutoff, scale`, `insample_scales` of each origin's own series)."""
    frames, scales = [], []
    one = BacktestPlan(horizon=plan.horizon, n_windows=1, step=plan.step)
    for cutoff in origin_cutoffs(last_day, plan):
        end = cutoff + timedelta(days=plan.horizon)
        s = series_at(cutoff).filter(pl.col("ds") <= end)
        cv = cross_validate(s, one, models)
        got = set(cv["cutoff"].cast(pl.Date).to_list())
        if got != {cutoff}:
            raise ValueError(f"origin {cutoff}: the series' days do not end on {end} (cutoffs {got})")
        frames.append(cv)
        scales.append(insample_scales(s, cv))
    cv_all = pl.concat(frames).sort("unique_id", "model", "cutoff", "horizon")
    return cv_all, pl.concat(scales).sort("unique_id", "cutoff")


def fallback_model() -> Any:
    from statsforecast.models import SeasonalNaive

    return SeasonalNaive(season_length=SEASON)


def to_long(cv: pl.DataFrame, model_names: list[str]) -> pl.DataFrame:
    """statsforecast's wide cross-validation frame -> one row per series, cutoff, day and model."""
    return (
        cv.unpivot(
            index=["unique_id", "ds", "cutoff", "y"],
            on=model_names,
            variable_name="model",
            value_name="y_hat",
        )
        .with_columns(
            horizon=(pl.col("ds") - pl.col("cutoff")).dt.total_days().cast(pl.Int64),
            error=pl.col("y") - pl.col("y_hat"),
        )
        .select("unique_id", "cutoff", "ds", "horizon", "model", "y", "y_hat", "error")
        .sort("unique_id", "model", "cutoff", "horizon")
    )


def insample_scales(series: pl.DataFrame, cutoffs: pl.DataFrame) -> pl.DataFrame:
    """MAE of the seasonal naive(7) in sample, on the days up to each cutoff: `unique_id, cutoff, scale`."""
    diffs = series.sort("unique_id", "ds").with_columns(
        sdiff=(pl.col("y") - pl.col("y").shift(SEASON).over("unique_id")).abs()
    )
    joined = cutoffs.select("unique_id", "cutoff").unique().join(diffs, on="unique_id")
    return (
        joined.filter(pl.col("ds") <= pl.col("cutoff"))
        .group_by("unique_id", "cutoff")
        .agg(scale=pl.col("sdiff").mean())
        .sort("unique_id", "cutoff")
    )


def conformal_quantile(scores: np.ndarray, level: float = LEVEL) -> float:
    """Split-conformal quantile of non-negative scores: the ceil((n+1)·level)-th smallest.

    With too few scores for that rank the largest one is used (the strict answer would be infinite).
    """
    s = np.sort(np.asarray(scores, dtype=float))
    n = s.size
    if n == 0:
        return math.nan
    k = math.ceil((n + 1) * level)
    return float(s[min(k, n) - 1])


def _coverage_lowo(abs_err: np.ndarray, window: np.ndarray, level: float) -> float | None:
    """Share of points whose |error| is within the conformal width fitted on the other windows."""
    windows = np.unique(window)
    if windows.size < 2:
        return None
    hits = 0
    for w in windows:
        width = conformal_quantile(abs_err[window != w], level)
        hits += int(np.sum(abs_err[window == w] <= width))
    return hits / abs_err.size


def cumulative_errors(cv_one: pl.DataFrame) -> np.ndarray:
    """Windows x horizons matrix of cumulative flow errors of one series (rows ordered by cutoff)."""
    wide = cv_one.sort("cutoff", "horizon").pivot(on="horizon", index="cutoff", values="error").sort("cutoff")
    errors = wide.drop("cutoff").to_numpy().astype(float)
    return np.cumsum(errors, axis=1)


def growth_exponent(cum: np.ndarray) -> float:
    """Slope b of log RMS(cumulative error) on log horizon, clipped to [0.5, 1]."""
    rms = np.sqrt(np.mean(cum**2, axis=0))
    h = np.arange(1, cum.shape[1] + 1, dtype=float)
    ok = rms > 0
    if ok.sum() < 2:
        return 0.5
    slope = float(np.polyfit(np.log(h[ok]), np.log(rms[ok]), 1)[0])
    return min(1.0, max(0.5, slope))


def balance_halfwidth_params(cv_one: pl.DataFrame, level: float = LEVEL) -> tuple[float, float]:
    """(Q, b) such that the balance half-width at horizon h is Q * h**b."""
    cum = cumulative_errors(cv_one)
    b = growth_exponent(cum)
    h = np.arange(1, cum.shape[1] + 1, dtype=float)
    scores = np.abs(cum) / h**b
    return conformal_quantile(scores[np.isfinite(scores)], level), b


def _score_group(df: pl.DataFrame, level: float) -> dict[str, Any]:
    scaled = (df["error"].abs() / df["scale"]).to_numpy()
    mase = float(np.mean(scaled)) if np.all(np.isfinite(scaled)) else None
    abs_err = df["error"].abs().to_numpy()
    window = df["cutoff"].cast(pl.Int64).to_numpy()
    return {"mase": mase, "coverage_80": _coverage_lowo(abs_err, window, level), "n_points": df.height}


def balance_coverage(cv_one: pl.DataFrame, level: float = LEVEL) -> dict[str, float]:
    """Leave-one-window-out coverage of the balance interval `± Q * h**b` (see `forecasts.cash`).

    For each window, Q and b are fitted on the cumulative errors of the other windows. Per horizon
    bucket and 'all'; empty with fewer than two windows.
    """
    cum = cumulative_errors(cv_one)
    n_windows, n_h = cum.shape
    if n_windows < 2:
        return {}
    h = np.arange(1, n_h + 1, dtype=float)
    inside = np.zeros(cum.shape, dtype=bool)
    for w in range(n_windows):
        others = np.delete(cum, w, axis=0)
        b = growth_exponent(others)
        q = conformal_quantile((np.abs(others) / h**b).ravel(), level)
        inside[w] = np.abs(cum[w]) <= q * h**b
    buckets = np.array([horizon_bucket(int(x)) for x in h])
    out = {"all": float(inside.mean())}
    for bucket in np.unique(buckets):
        out[str(bucket)] = float(inside[:, buckets == bucket].mean())
    return out


def backtest_metrics(
    cv_long: pl.DataFrame,
    series: pl.DataFrame | None,
    level: float = LEVEL,
    scales: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """`unique_id, model, horizon_bucket, mase, coverage_80, balance_coverage_80, n_points` per bucket
    and for 'all'. coverage_80 is for the daily flow, balance_coverage_80 for the cumulative flow.
    The MASE scales are `insample_scales(series, cv_long)` unless given (`unique_id, cutoff, scale`)."""
    if scales is None:
        assert series is not None
        scales = insample_scales(series, cv_long)
    scored = cv_long.join(scales, on=["unique_id", "cutoff"]).with_columns(horizon_bucket=bucket_expr())
    rows: list[dict[str, Any]] = []
    for (uid, model), grp in scored.group_by("unique_id", "model", maintain_order=True):
        bal = balance_coverage(grp, level)
        for bucket, part in [("all", grp), *grp.group_by("horizon_bucket", maintain_order=True)]:
            name = bucket if isinstance(bucket, str) else bucket[0]
            scores = _score_group(part, level)
            rows.append(
                {
                    "unique_id": uid,
                    "model": model,
                    "horizon_bucket": name,
                    **scores,
                    "balance_coverage_80": bal.get(name),
                }
            )
    schema = {
        "unique_id": pl.Utf8,
        "model": pl.Utf8,
        "horizon_bucket": pl.Utf8,
        "mase": pl.Float64,
        "coverage_80": pl.Float64,
        "n_points": pl.Int64,
        "balance_coverage_80": pl.Float64,
    }
    order = pl.col("horizon_bucket").replace_strict(
        BUCKET_ORDER, default=len(BUCKET_ORDER), return_dtype=pl.Int64
    )
    return pl.DataFrame(rows, schema=schema).sort(pl.col("unique_id"), pl.col("model"), order)


def select_models(metrics: pl.DataFrame) -> dict[str, str]:
    """Per series, the selectable model with the lowest MASE over all horizons (ties: first in SELECTABLE).

    Naive is scored as a baseline but never used for the forecast: on a daily *flow* series it repeats
    the last day's bookings for the whole horizon, which turns one large receipt into a 30-fold balance
    drift. It can still win the backtest (e.g. on a sparse account whose cutoffs all fell on empty days);
    `not_beating_baseline` then says so.
    """
    order = {m: i for i, m in enumerate(SELECTABLE)}
    overall = metrics.filter(
        (pl.col("horizon_bucket") == "all") & pl.col("model").is_in(list(SELECTABLE))
    ).with_columns(
        rank=pl.col("model").replace_strict(order, default=len(order), return_dtype=pl.Int64),
        mase_key=pl.col("mase").fill_null(math.inf),
    )
    best = overall.sort("unique_id", "mase_key", "rank").group_by("unique_id", maintain_order=True).first()
    return dict(zip(best["unique_id"].to_list(), best["model"].to_list(), strict=True))


def not_beating_baseline(metrics: pl.DataFrame, selected: dict[str, str]) -> list[dict[str, Any]]:
    """Buckets where the selected model's MASE is not below a naive baseline's (other than itself)."""
    out: list[dict[str, Any]] = []
    buckets = metrics.filter(pl.col("horizon_bucket") != "all")
    for uid, model in sorted(selected.items()):
        mine = buckets.filter((pl.col("unique_id") == uid) & (pl.col("model") == model))
        for base in BASELINES:
            if base == model:
                continue
            theirs = buckets.filter((pl.col("unique_id") == uid) & (pl.col("model") == base))
            pairs = mine.join(theirs, on="horizon_bucket", suffix="_base").sort("horizon_bucket")
            for r in pairs.iter_rows(named=True):
                if r["mase"] is None or r["mase_base"] is None or r["mase"] >= r["mase_base"]:
                    out.append(
                        {
                            "unique_id": uid,
                            "horizon_bucket": r["horizon_bucket"],
                            "model": model,
                            "baseline": base,
                            "mase": r["mase"],
                            "mase_baseline": r["mase_base"],
                        }
                    )
    return out

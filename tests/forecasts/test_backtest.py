from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from forecasts import backtest

D0 = date(2025, 1, 1)


def _series(values: list[float], uid: str = "s") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "unique_id": [uid] * len(values),
            "ds": [D0 + timedelta(days=i) for i in range(len(values))],
            "y": values,
        }
    )


def test_mase_and_coverage_by_hand() -> None:
    # Days 0..11. In-sample seasonal diffs |y_t - y_{t-7}|: t=7 -> 1, t=8 -> 3, t=9 -> 2, t=10 -> 6.
    y = [0.0] * 7 + [1.0, 3.0, 2.0, 6.0, 0.0]
    series = _series(y)
    cutoff_a, cutoff_b = D0 + timedelta(days=9), D0 + timedelta(days=10)  # scales: 6/3 = 2 and 12/4 = 3
    cv = pl.DataFrame(
        {
            "unique_id": ["s"] * 4,
            "cutoff": [cutoff_a, cutoff_a, cutoff_b, cutoff_b],
            "ds": [
                cutoff_a + timedelta(days=1),
                cutoff_a + timedelta(days=2),
                cutoff_b + timedelta(days=1),
                cutoff_b + timedelta(days=2),
            ],
            "horizon": [1, 2, 1, 2],
            "model": ["M"] * 4,
            "y": [0.0] * 4,
            "y_hat": [0.0] * 4,
            "error": [1.0, -2.0, 3.0, -12.0],
        }
    )
    metrics = backtest.backtest_metrics(cv, series)
    row = metrics.filter(pl.col("horizon_bucket") == "all").to_dicts()[0]
    # (1/2 + 2/2 + 3/3 + 12/3) / 4
    assert row["mase"] == pytest.approx((0.5 + 1.0 + 1.0 + 4.0) / 4)
    # Window a is judged by b's errors {3, 12}: width 12 -> both in. b by a's {1, 2}: width 2 -> both out.
    assert row["coverage_80"] == pytest.approx(0.5)
    assert row["n_points"] == 4
    assert metrics["horizon_bucket"].to_list() == ["1-7", "all"]


def test_seasonal_naive_mase_on_trend_plus_season_through_statsforecast() -> None:
    # y = s[t % 7] + 0.5 t: every in-sample seasonal diff is 3.5; seasonal naive's error at horizon h is
    # 3.5 * ceil(h / 7), so its scaled error is ceil(h / 7).
    pattern = np.array([5.0, 9.0, -3.0, 4.0, 0.0, 12.0, -8.0])
    t = np.arange(160)
    series = _series((pattern[t % 7] + 0.5 * t).tolist())
    from statsforecast.models import Naive, SeasonalNaive

    plan = backtest.BacktestPlan(horizon=30, n_windows=3, step=15)
    cv = backtest.cross_validate(series, plan, models=[SeasonalNaive(season_length=7), Naive()])
    metrics = backtest.backtest_metrics(cv, series).filter(pl.col("model") == "SeasonalNaive")
    by_bucket = dict(zip(metrics["horizon_bucket"], metrics["mase"], strict=True))
    assert by_bucket["1-7"] == pytest.approx(1.0)
    assert by_bucket["8-14"] == pytest.approx(2.0)
    assert by_bucket["15-30"] == pytest.approx((7 * 3 + 7 * 4 + 2 * 5) / 16)
    assert metrics.filter(pl.col("horizon_bucket") == "all")["n_points"].item() == 90


def test_selection_and_not_beating_baseline() -> None:
    rows = []
    for model, mases in {
        "AutoETS": [0.8, 1.2, 0.9],
        "SeasonalNaive": [1.0, 1.0, 1.0],
        "Naive": [2.0, 2.0, 2.0],
    }.items():
        for bucket, m in zip(["1-7", "8-14", "15-30"], mases, strict=True):
            rows.append({"unique_id": "total", "model": model, "horizon_bucket": bucket, "mase": m})
        rows.append(
            {"unique_id": "total", "model": model, "horizon_bucket": "all", "mase": float(np.mean(mases))}
        )
    metrics = pl.DataFrame(rows)
    selected = backtest.select_models(metrics)
    assert selected == {"total": "AutoETS"}  # 0.967 < 1.0 < 2.0
    losing = backtest.not_beating_baseline(metrics, selected)
    assert [(e["horizon_bucket"], e["baseline"]) for e in losing] == [("8-14", "SeasonalNaive")]


def test_naive_is_scored_but_never_selected() -> None:
    rows = [
        {"unique_id": "acc", "model": m, "horizon_bucket": b, "mase": v}
        for m, v in {"AutoETS": 1.5, "AutoTheta": 1.4, "SeasonalNaive": 1.3, "Naive": 0.2}.items()
        for b in ["1-7", "all"]
    ]
    metrics = pl.DataFrame(rows)
    selected = backtest.select_models(metrics)
    assert selected == {"acc": "SeasonalNaive"}
    losing = backtest.not_beating_baseline(metrics, selected)
    assert [(e["horizon_bucket"], e["baseline"]) for e in losing] == [("1-7", "Naive")]


def test_plan_windows_fits_the_history() -> None:
    assert backtest.plan_windows(365, 30).n_windows == 6
    assert backtest.plan_windows(60, 30).n_windows == 1  # 60 - 28 - 30 = 2 days of room
    with pytest.raises(ValueError):
        backtest.plan_windows(50, 30)


def test_balance_coverage_leave_one_window_out_by_hand() -> None:
    # Cumulative errors: window a [1, 2], window b [3, 6]. Each alone grows linearly (b = 1).
    # a is judged by b: Q = 3, widths [3, 6] -> both in; b by a: Q = 1, widths [1, 2] -> both out.
    cv = pl.DataFrame(
        {
            "cutoff": [D0, D0, D0 + timedelta(days=15), D0 + timedelta(days=15)],
            "horizon": [1, 2, 1, 2],
            "error": [1.0, 1.0, 3.0, 3.0],
        }
    )
    assert backtest.balance_coverage(cv) == {"all": 0.5, "1-7": 0.5}
    assert backtest.balance_coverage(cv.filter(pl.col("cutoff") == D0)) == {}

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from forecasts import backtest, cash

AS_OF = date(2025, 3, 31)


def _baseline(uid: str, flows: list[float]) -> pl.DataFrame:
    n = len(flows)
    return pl.DataFrame(
        {
            "unique_id": [uid] * n,
            "forecast_date": [AS_OF + timedelta(days=h) for h in range(1, n + 1)],
            "horizon_days": list(range(1, n + 1)),
            "model": ["AutoETS"] * n,
            "baseline_flow": flows,
        }
    )


def _widths(uid: str, n: int, flow: float, balance: list[float]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "unique_id": [uid] * n,
            "horizon_days": list(range(1, n + 1)),
            "balance_halfwidth": balance,
            "flow_halfwidth": [flow] * n,
        }
    )


def test_known_flows_add_to_baseline_and_cumulate_into_the_balance() -> None:
    baseline = pl.concat([_baseline("acc-1", [10.0, -5.0, 20.0]), _baseline("total", [100.0, 50.0, -30.0])])
    widths = pl.concat([_widths("acc-1", 3, 4.0, [1.0, 2.0, 3.0]), _widths("total", 3, 8.0, [5.0, 6.0, 7.0])])
    known = pl.DataFrame(
        {
            "account_id": ["acc-1", "total", "acc-1", "acc-1"],
            "flow_date": [
                AS_OF + timedelta(days=2),
                AS_OF + timedelta(days=3),
                AS_OF + timedelta(days=2),
                AS_OF,
            ],
            "amount": [7.0, -40.0, 1.0, 999.0],  # the last one is not in the horizon
            "component": ["receivables", "payables", "receivables", "receivables"],
        },
        schema=cash.KNOWN_FLOW_SCHEMA,
    )
    # acc-1 is in 'total' at rate 2: its known flows count twice as much there.
    out = cash.assemble(baseline, widths, {"acc-1": 1000.0, "total": 5000.0}, known, {"acc-1": 2.0})
    acc = out.filter(pl.col("unique_id") == "acc-1").sort("horizon_days")
    tot = out.filter(pl.col("unique_id") == "total").sort("horizon_days")

    assert acc["known_flow"].to_list() == [0.0, 8.0, 0.0]
    assert acc["flow_p50"].to_list() == [10.0, 3.0, 20.0]
    assert acc["p50"].to_list() == [1010.0, 1013.0, 1033.0]
    assert acc["p10"].to_list() == [1009.0, 1011.0, 1030.0]
    assert acc["p90"].to_list() == [1011.0, 1015.0, 1036.0]
    assert acc["flow_p10"].to_list() == [6.0, -1.0, 16.0]
    assert acc["flow_p90"].to_list() == [14.0, 7.0, 24.0]

    assert tot["known_flow"].to_list() == [0.0, 16.0, -40.0]
    assert tot["p50"].to_list() == [5100.0, 5166.0, 5096.0]


def test_known_flows_of_an_account_outside_total_stay_on_the_account() -> None:
    known = pl.DataFrame(
        {
            "account_id": ["usd-1"],
            "flow_date": [AS_OF + timedelta(days=1)],
            "amount": [50.0],
            "component": ["x"],
        },
        schema=cash.KNOWN_FLOW_SCHEMA,
    )
    per = cash.known_flows_per_series(known, {"eur-1": 1.0}).select(
        "unique_id", "forecast_date", "known_flow"
    )
    assert per.to_dicts() == [
        {"unique_id": "usd-1", "forecast_date": AS_OF + timedelta(days=1), "known_flow": 50.0}
    ]


def test_no_known_flows_gives_baseline_only() -> None:
    out = cash.assemble(
        _baseline("total", [1.0, 2.0]),
        _widths("total", 2, 0.5, [1.0, 1.5]),
        {"total": 0.0},
        cash.empty_known_flows(),
        {},
    )
    assert out["known_flow"].to_list() == [0.0, 0.0]
    assert out["p50"].to_list() == [1.0, 3.0]


def _cv(errors: np.ndarray, uid: str = "total") -> pl.DataFrame:
    """A backtest frame of one model with the given windows x horizons error matrix."""
    rows = []
    for w, row in enumerate(errors):
        cutoff = date(2025, 1, 1) + timedelta(days=15 * w)
        for h, e in enumerate(row, start=1):
            rows.append({"unique_id": uid, "cutoff": cutoff, "horizon": h, "error": float(e)})
    return pl.DataFrame(rows)


def test_conformal_quantile_rank() -> None:
    scores = np.array([9.0, 1, 8, 2, 7, 3, 6, 4, 5])
    assert backtest.conformal_quantile(scores, 0.8) == 8.0  # ceil(10 * 0.8) = 8th smallest
    assert backtest.conformal_quantile(np.array([3.0, 1.0]), 0.8) == 3.0  # rank 3 > n: the largest


def test_persistent_level_error_grows_linearly_and_iid_error_like_sqrt() -> None:
    level = np.full((6, 30), 2.0) * np.array([[1], [-1], [1], [-1], [1], [-1]])
    assert backtest.growth_exponent(np.cumsum(level, axis=1)) == pytest.approx(1.0)
    iid = np.random.default_rng(3).normal(size=(400, 30))
    assert backtest.growth_exponent(np.cumsum(iid, axis=1)) == pytest.approx(0.5, abs=0.06)


def test_balance_intervals_widen_with_horizon_and_stay_ordered() -> None:
    errors = np.random.default_rng(7).normal(0, 100, size=(6, 30))
    widths = cash.interval_widths(_cv(errors), horizon=30)
    bal = widths.sort("horizon_days")["balance_halfwidth"].to_numpy()
    assert np.all(np.diff(bal) > 0)
    flows = np.random.default_rng(8).normal(0, 50, 30).tolist()
    out = cash.assemble(_baseline("total", flows), widths, {"total": 1000.0}, cash.empty_known_flows(), {})
    assert (out["p10"] <= out["p50"]).all() and (out["p50"] <= out["p90"]).all()
    assert (out["flow_p10"] <= out["flow_p50"]).all() and (out["flow_p50"] <= out["flow_p90"]).all()
    spread = (out["p90"] - out["p10"]).to_numpy()
    assert np.all(np.diff(spread) > 0)


def test_balance_halfwidth_is_the_conformal_quantile_of_scaled_cumulative_errors() -> None:
    # Every window has the same constant error 1 per day: C[w,h] = h, b = 1, scores all 1 -> Q = 1.
    widths = cash.interval_widths(_cv(np.ones((4, 10))), horizon=10)
    assert widths.sort("horizon_days")["balance_halfwidth"].to_list() == pytest.approx(list(range(1, 11)))
    assert widths["flow_halfwidth"].to_list() == pytest.approx([1.0] * 10)


def test_daily_flows_fill_missing_days_with_zero() -> None:
    tx = pl.DataFrame(
        {
            "account_id": ["a", "a", "b"],
            "ds": [date(2025, 1, 1), date(2025, 1, 1), date(2025, 1, 3)],
            "y": [5.0, -2.0, 7.0],
        }
    )
    flows = cash.daily_flows(tx, date(2025, 1, 1), date(2025, 1, 3))
    assert flows.filter(pl.col("account_id") == "a")["y"].to_list() == [3.0, 0.0, 0.0]
    assert flows.filter(pl.col("account_id") == "b")["y"].to_list() == [0.0, 0.0, 7.0]


def test_total_series_converts_members_and_skips_accounts_without_rate() -> None:
    flows = pl.DataFrame(
        {
            "account_id": ["eur", "eur", "usd", "usd", "gbp", "gbp"],
            "ds": [date(2025, 1, 1), date(2025, 1, 2)] * 3,
            "y": [10.0, 20.0, 100.0, 200.0, 1e6, 1e6],
        }
    )
    rates = pl.DataFrame(
        {
            "account_id": ["eur", "eur", "usd", "usd"],
            "ds": [date(2025, 1, 1), date(2025, 1, 2)] * 2,
            "rate": [1.0, 1.0, 0.5, 0.25],
        }
    )
    series = cash.build_series(flows, rates)
    assert series.filter(pl.col("unique_id") == "total")["y"].to_list() == [60.0, 70.0]
    assert set(series["unique_id"].unique()) == {"eur", "usd", "gbp", "total"}

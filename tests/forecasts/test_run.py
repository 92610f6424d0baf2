from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import forecasts
from forecasts import cash, inputs, known_flows
from ledgerlake.errors import LedgerlakeError
from ledgerlake.warehouse import Warehouse

START = date(2025, 1, 6)
DAYS = 300
WEEKLY = {
    "acc-1": [900.0, 1200.0, 1000.0, 1100.0, 1500.0, -600.0, -300.0],
    "acc-2": [-400.0, 200.0, 300.0, -100.0, 800.0, 0.0, -50.0],
}


def synthetic_transactions(days: int = DAYS, seed: int = 11) -> pl.DataFrame:
    """Two EUR accounts, two bookings a day: a weekly pattern plus noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for account, pattern in WEEKLY.items():
        for i in range(days):
            day = START + timedelta(days=i)
            for k in range(2):
                amount = round(pattern[i % 7] / 2 + rng.normal(0, 120), 2)
                rows.append(
                    (f"{account}-{i}-{k}", account, day, amount, "EUR", "cp", "ri", "bank_feed", None)
                )
    cols = [
        "bank_transaction_id",
        "account_id",
        "booking_date",
        "amount",
        "currency",
        "counterparty_name",
        "remittance_info",
        "source_system",
        "source_file",
    ]
    return pl.DataFrame(rows, schema=cols, orient="row").with_columns(
        pl.col("amount").cast(pl.Decimal(18, 2)), pl.col("source_file").cast(pl.Utf8)
    )


def _warehouse(path: Path, tx: pl.DataFrame) -> Warehouse:
    wh = Warehouse("duckdb", duckdb_path=path)
    wh.write_table("marts", "fct_bank_transactions", tx)
    return wh


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> tuple[Warehouse, dict, dict]:
    tx = synthetic_transactions()
    wh = _warehouse(tmp_path_factory.mktemp("wh") / "w.duckdb", tx)
    first = forecasts.run(wh, functional_currency="EUR")
    second = forecasts.run(wh, functional_currency="EUR")
    return wh, first, second


def test_run_writes_both_tables(ran: tuple[Warehouse, dict, dict]) -> None:
    wh, first, _ = ran
    assert first["rows_written"] == {"fct_cash_forecast": 90, "forecast_backtest": 48}
    fc = wh.query("select * from marts.fct_cash_forecast")
    assert set(fc["account_id"]) == {"acc-1", "acc-2", "total"}
    assert fc["as_of_date"].unique().to_list() == [START + timedelta(days=DAYS - 1)]
    assert fc["forecast_date"].min() == START + timedelta(days=DAYS)
    assert fc["horizon_days"].max() == 30
    assert first["balance_basis"] == "cumulative_transactions"
    bt = wh.query("select * from marts.forecast_backtest")
    assert bt.filter(pl.col("is_selected"))["unique_id"].n_unique() == 3


def test_rerun_same_as_of_keeps_row_counts(ran: tuple[Warehouse, dict, dict]) -> None:
    wh, first, second = ran
    assert second["rows_written"] == first["rows_written"]
    assert wh.scalar("select count(*) from marts.fct_cash_forecast") == 90
    assert wh.scalar("select count(*) from marts.forecast_backtest") == 48


def test_total_starts_from_the_summed_balances_and_intervals_widen(ran: tuple[Warehouse, dict, dict]) -> None:
    wh, _, _ = ran
    fc = wh.query("select * from marts.fct_cash_forecast order by account_id, horizon_days")
    tx_sum = float(wh.scalar("select sum(amount) from marts.fct_bank_transactions"))
    total = fc.filter(pl.col("account_id") == "total")
    assert total["p50"][0] == pytest.approx(tx_sum + total["flow_p50"][0], abs=1e-6)
    for _, grp in fc.group_by("account_id"):
        assert (grp["p10"] <= grp["p50"]).all() and (grp["p50"] <= grp["p90"]).all()
        assert np.all(np.diff((grp["p90"] - grp["p10"]).to_numpy()) > 0)


def test_forecast_beats_naive_on_the_seasonal_series(ran: tuple[Warehouse, dict, dict]) -> None:
    wh, first, _ = ran
    assert first["mase_vs_seasonal_naive"] < 1.0
    assert not [e for e in first["not_beating_baseline"] if e["baseline"] == "Naive"]
    bt = wh.query("select * from marts.forecast_backtest where unique_id = 'total'")
    chosen = bt.filter(pl.col("is_selected") & (pl.col("horizon_bucket") == "all"))["mase"].item()
    naive = bt.filter((pl.col("model") == "Naive") & (pl.col("horizon_bucket") == "all"))["mase"].item()
    assert chosen < 0.6 * naive
    assert 0.6 <= first["coverage_80"] <= 0.95


def test_new_as_of_appends_and_keeps_older_runs(tmp_path: Path) -> None:
    tx = synthetic_transactions(days=120)
    wh = _warehouse(tmp_path / "w.duckdb", tx.filter(pl.col("booking_date") < START + timedelta(days=100)))
    forecasts.run(wh, horizon=14)
    wh.write_table("marts", "fct_bank_transactions", tx)
    forecasts.run(wh, horizon=14)
    counts = wh.query("select as_of_date, count(*) as n from marts.fct_cash_forecast group by as_of_date")
    assert sorted(counts["n"].to_list()) == [42, 42]


def test_missing_transactions_table_is_a_user_error(tmp_path: Path) -> None:
    wh = Warehouse("duckdb", duckdb_path=tmp_path / "w.duckdb")
    wh.execute("create schema marts")
    with pytest.raises(LedgerlakeError, match="marts.fct_bank_transactions does not exist"):
        forecasts.run(wh)


def test_short_history_is_a_user_error(tmp_path: Path) -> None:
    wh = _warehouse(tmp_path / "w.duckdb", synthetic_transactions(days=59))
    with pytest.raises(LedgerlakeError, match="spans 59 days"):
        forecasts.run(wh)


def test_balances_from_bank_balances_daily_plus_later_flows(tmp_path: Path) -> None:
    tx = synthetic_transactions(days=70)
    wh = _warehouse(tmp_path / "w.duckdb", tx)
    as_of = START + timedelta(days=69)
    stated = pl.DataFrame(
        {
            "account_id": ["acc-1", "acc-1"],
            "balance_date": [as_of - timedelta(days=5), as_of - timedelta(days=2)],
            "balance": [1.0, 50_000.0],
        }
    )
    wh.write_table("marts", "bank_balances_daily", stated)
    flows = cash.daily_flows(inputs.load_transactions(wh).select("account_id", "ds", "y"), START, as_of)
    later = flows.filter((pl.col("account_id") == "acc-1") & (pl.col("ds") > as_of - timedelta(days=2)))[
        "y"
    ].sum()
    acc2 = flows.filter(pl.col("account_id") == "acc-2")["y"].sum()
    bal = inputs.load_balances(wh, flows, as_of, {"acc-1": 1.0, "acc-2": 1.0})
    assert bal.last["acc-1"] == pytest.approx(50_000.0 + later)
    assert bal.last["acc-2"] == pytest.approx(acc2)
    assert bal.last["total"] == pytest.approx(50_000.0 + later + acc2)
    assert bal.basis == "mixed"


def test_known_flows_from_invoices_and_bills(tmp_path: Path) -> None:
    wh = _warehouse(tmp_path / "w.duckdb", synthetic_transactions(days=70))
    as_of = date(2025, 3, 31)
    wh.write_table(
        "marts",
        "fct_invoices",
        pl.DataFrame(
            {
                "invoice_id": ["i1", "i2", "i3", "i4"],
                "due_date": [
                    as_of + timedelta(days=3),
                    as_of,
                    as_of + timedelta(days=3),
                    as_of + timedelta(days=40),
                ],
                "amount_open": [100.0, 7.0, 25.0, 9.0],
                "currency": ["EUR", "EUR", "EUR", "EUR"],
            }
        ),
    )
    wh.write_table(
        "marts",
        "fct_bills",
        pl.DataFrame(
            {
                "bill_id": ["b1"],
                "due_date": [as_of + timedelta(days=1)],
                "amount_open": [60.0],
                "currency": ["USD"],
            }
        ),
    )
    loaded = inputs.load_known_flows(wh, as_of, 30, "EUR", inputs.load_transactions(wh))
    known = known_flows.expected_flows(loaded.items)
    # no paid history: paid on the due date; i2 is due (unpaid) already, i4 after the horizon.
    # EUR goes to the EUR account with the most booking days (a tie: the first id); no USD account
    # and no FX rate: the bill is dropped, and said so.
    assert known.to_dicts() == [
        {
            "account_id": "acc-1",
            "flow_date": as_of + timedelta(days=3),
            "amount": 125.0,
            "component": "receivables",
        }
    ]
    assert loaded.notes == ["known flows in USD dropped: no bank account and no FX rate for that currency"]


def test_without_invoice_tables_known_flows_are_empty(tmp_path: Path) -> None:
    wh = _warehouse(tmp_path / "w.duckdb", synthetic_transactions(days=70))
    loaded = inputs.load_known_flows(wh, date(2025, 3, 31), 30, "EUR")
    assert loaded.items.is_empty() and loaded.notes == []


def test_foreign_account_joins_total_only_with_fx_rates(tmp_path: Path) -> None:
    tx = synthetic_transactions(days=70).with_columns(
        currency=pl.when(pl.col("account_id") == "acc-2").then(pl.lit("USD")).otherwise(pl.lit("EUR"))
    )
    wh = _warehouse(tmp_path / "w.duckdb", tx)
    currencies = inputs.account_currencies(inputs.load_transactions(wh))
    days = pl.DataFrame({"ds": pl.date_range(START, START + timedelta(days=69), "1d", eager=True)})
    _, total_rates, notes = inputs.load_rates(wh, currencies, "EUR", days)
    assert total_rates == {"acc-1": 1.0} and "acc-2 (USD)" in notes[0]
    rates = pl.DataFrame(
        {
            "rate_date": [START + timedelta(days=10), START + timedelta(days=30)],
            "currency": ["USD"] * 2,
            "rate_to_functional": [0.9, 0.8],
        }
    )
    wh.write_table("marts", "fx_rates_daily", rates)
    daily, total_rates, notes = inputs.load_rates(wh, currencies, "EUR", days)
    assert total_rates == {"acc-1": 1.0, "acc-2": 0.8} and notes == []
    usd = daily.filter(pl.col("account_id") == "acc-2").sort("ds")["rate"].to_list()
    assert usd[0] == 0.9 and usd[10] == 0.9 and usd[29] == 0.9 and usd[30] == 0.8


def test_write_for_as_of_widens_a_table_written_by_an_older_version(tmp_path: Path) -> None:
    wh = Warehouse("duckdb", duckdb_path=tmp_path / "w.duckdb")
    old = pl.DataFrame({"as_of_date": [date(2025, 1, 1), date(2025, 2, 1)], "p50": [1.0, 2.0]})
    wh.write_table("marts", "fct_cash_forecast", old)
    new = pl.DataFrame({"as_of_date": [date(2025, 2, 1)], "p50": [3.0], "model": ["AutoETS"]})
    assert forecasts.write_for_as_of(wh, "fct_cash_forecast", new, date(2025, 2, 1)) == 1
    rows = wh.query("select * from marts.fct_cash_forecast order by as_of_date").to_dicts()
    assert rows == [
        {"as_of_date": date(2025, 1, 1), "p50": 1.0, "model": None},
        {"as_of_date": date(2025, 2, 1), "p50": 3.0, "model": "AutoETS"},
    ]

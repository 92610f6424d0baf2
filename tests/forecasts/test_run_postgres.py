from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest

import forecasts
from forecasts import inputs, known_flows
from ledgerlake.warehouse import Warehouse
from tests.forecasts.test_run import START, synthetic_transactions

pytestmark = pytest.mark.postgres


def test_run_on_postgres_writes_and_reruns_without_duplicates(pg_dsn: str) -> None:
    wh = Warehouse("postgres", pg_dsn=pg_dsn)
    wh.write_table("marts", "fct_bank_transactions", synthetic_transactions(days=90))
    as_of = START + timedelta(days=89)
    wh.write_table(
        "marts",
        "bank_balances_daily",
        pl.DataFrame({"account_id": ["acc-1"], "balance_date": [as_of], "balance": [1000.0]}),
    )
    wh.write_table(
        "marts",
        "fct_invoices",
        pl.DataFrame({"due_date": [as_of + timedelta(days=2)], "amount_open": [300.0], "currency": ["EUR"]}),
    )
    first = forecasts.run(wh, horizon=14, functional_currency="EUR")
    second = forecasts.run(wh, horizon=14, functional_currency="EUR")
    assert (
        first["rows_written"]
        == second["rows_written"]
        == {"fct_cash_forecast": 42, "forecast_backtest": 36}  # buckets 1-7, 8-14, all
    )
    assert wh.scalar("select count(*) from marts.fct_cash_forecast") == 42
    assert wh.scalar("select count(*) from marts.forecast_backtest") == 36
    assert first["balance_basis"] == "mixed" and first["known_flow_rows"] == 1
    acc1 = wh.query(
        "select p50, flow_p50 from marts.fct_cash_forecast where account_id = 'acc-1' order by horizon_days"
    )
    assert acc1["p50"][0] == pytest.approx(1000.0 + acc1["flow_p50"][0])
    known = wh.query(
        "select known_flow from marts.fct_cash_forecast where account_id = 'total' order by horizon_days"
    )
    assert known["known_flow"].to_list()[:3] == [0.0, 300.0, 0.0]


def test_known_flows_query_on_postgres(pg_dsn: str) -> None:
    wh = Warehouse("postgres", pg_dsn=pg_dsn)
    wh.write_table(
        "marts",
        "fct_bills",
        pl.DataFrame({"due_date": [date(2025, 4, 2), date(2025, 6, 1)], "amount_due": [60.0, 5.0]}),
    )
    loaded = inputs.load_known_flows(wh, date(2025, 3, 31), 30, "EUR")
    known, notes = known_flows.expected_flows(loaded.items), loaded.notes
    assert known.to_dicts() == [
        {"account_id": "total", "flow_date": date(2025, 4, 2), "amount": -60.0, "component": "payables"}
    ]
    assert notes == []

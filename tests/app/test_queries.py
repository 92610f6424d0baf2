"""The app's query layer on a tiny hand-made snapshot whose right answers are worked out by hand."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "app"))  # as `streamlit run app/app.py` does
import queries  # noqa: E402

SETUP = """
create schema marts; create schema raw_bank_feed;
create table marts.fct_bank_transactions (
    bank_transaction_id varchar, account_id varchar, booking_date date, amount decimal(18,2), currency varchar,
    counterparty_name varchar, remittance_info varchar, source_system varchar, source_file varchar);
insert into marts.fct_bank_transactions values
    ('t1', 'A', date '2025-03-01', 100.00, 'USD', 'x', 'r1', 'bank_feed', null),
    ('t2', 'A', date '2025-03-02', -30.00, 'USD', 'x', 'r2', 'bank_feed', null),
    ('t3', 'A', date '2025-03-04', 50.00, 'USD', 'x', 'r3', 'bank_feed', null),
    ('t4', 'A', date '2025-03-05', -10.00, 'USD', 'x', 'r4', 'bank_feed', null),
    ('e1', 'B', date '2025-03-01', 200.00, 'EUR', 'y', 'r5', 'bank_files', 'camt.xml');
create table marts.fct_cash_forecast as
select date '2025-03-02' as as_of_date, date '2025-03-02' + cast(h as integer) as forecast_date, 'A' as account_id,
       1000.0 + 5 * h - 100 as p10, 1000.0 + 5 * h as p50, 1000.0 + 5 * h + 100 as p90,
       5.0 as flow_p50, 'USD' as currency
from range(1, 8) r(h);
create table raw_bank_feed.transactions as
select 'plaid_9' as transaction_id, 'A' as account_id, date '2025-03-04' as date, -50.00 as amount;
"""


@pytest.fixture
def snapshot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    warehouse = tmp_path / "w.duckdb"
    snap = tmp_path / "w.snapshot.duckdb"
    con = duckdb.connect(str(snap))
    con.execute(SETUP)
    con.close()
    monkeypatch.setenv("LEDGERLAKE_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("LEDGERLAKE_TARGET", "duckdb")
    yield snap


def test_forecast_vs_actual_starts_from_the_forecasts_balance(snapshot: Path) -> None:
    fc = queries.forecast("A", date(2025, 3, 2))
    assert queries.start_balance(fc) == 1000.0  # p50 of day 1 (1005) minus day 1's flow (5)
    vs = queries.forecast_vs_actual("A", fc)
    actual = dict(zip(vs["forecast_date"].to_list(), vs["actual"].to_list(), strict=True))
    # after 2 March: nothing on the 3rd, +50 on the 4th, -10 on the 5th, then no bookings yet
    assert actual[date(2025, 3, 3)] == 1000.0
    assert actual[date(2025, 3, 4)] == 1050.0
    assert actual[date(2025, 3, 5)] == 1040.0
    assert actual[date(2025, 3, 6)] is None


def test_history_meets_the_fan(snapshot: Path) -> None:
    fc = queries.forecast("A", date(2025, 3, 2))
    hist = queries.history("A", fc)
    assert hist["booking_date"].to_list() == [date(2025, 3, 1), date(2025, 3, 2)]
    assert hist["balance"].to_list() == [1030.0, 1000.0]  # the as_of balance is the forecast's start


def test_cash_per_account_and_total_with_and_without_fx(snapshot: Path) -> None:
    cash = queries.cash_by_account()
    assert dict(zip(cash["account_id"], cash["balance"], strict=True)) == {"A": 110.0, "B": 200.0}
    assert queries.total_cash(cash) == (110.0, ["B (EUR)"])
    con = duckdb.connect(str(snapshot))
    con.execute(
        "create table marts.fx_rates_daily as select date '2025-03-01' as rate_date, 'EUR' as currency, "
        "1.5 as rate_to_functional union all select date '2025-03-05', 'EUR', 1.1"
    )
    con.close()
    assert queries.total_cash(queries.cash_by_account()) == (pytest.approx(110.0 + 200.0 * 1.1), [])


def test_stated_balances_win_over_the_sum_of_lines(snapshot: Path) -> None:
    con = duckdb.connect(str(snapshot))
    con.execute(
        "create table marts.bank_balances_daily as select 'A' as account_id, date '2025-03-03' as balance_date, "
        "500.00 as balance"
    )
    con.close()
    cash = queries.cash_by_account()
    a = cash.filter(cash["account_id"] == "A").row(0, named=True)
    assert a["balance"] == 540.0 and a["basis"] == "stated balance"  # 500 + 50 - 10 booked after the 3rd


def test_raw_payload_by_id_then_by_content(snapshot: Path) -> None:
    line = queries.bank_line("t3")
    raw = queries.raw_source(line)
    assert raw["matched_by"] == "account, date and amount"  # t3 has no id in the raw table; Plaid's sign
    assert raw["payload"]["transaction_id"] == "plaid_9"
    files = queries.raw_source(queries.bank_line("e1"))
    assert files.get("missing_table") and files["payload"] is None


def test_bank_filters(snapshot: Path) -> None:
    rows = queries.bank_transactions(date(2025, 3, 2), date(2025, 3, 4), ["A"], [])
    assert rows["bank_transaction_id"].to_list() == ["t3", "t2"]
    totals = queries.bank_totals(date(2025, 3, 1), date(2025, 3, 31), [], ["EUR"])
    assert totals.rows() == [("EUR", 1, 200.0, 0.0, 200.0)]


def test_accounts_are_named_by_the_bank_where_it_names_them(snapshot: Path) -> None:
    assert "account_name" not in queries.cash_by_account().columns  # no dim_bank_accounts yet
    con = duckdb.connect(str(snapshot))
    con.execute(
        "create table marts.dim_bank_accounts as select 'A' as account_id, 'Operating Checking' as account_name"
    )
    con.close()
    cash = queries.cash_by_account()
    assert dict(zip(cash["account_id"], cash["account_name"], strict=True)) == {
        "A": "Operating Checking",
        "B": "B",
    }
    assert dict(zip(cash["account_id"], cash["balance"], strict=True)) == {"A": 110.0, "B": 200.0}

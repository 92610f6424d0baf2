"""Month-end FX revaluation (`marts.fx_revaluation`) recomputed by hand from the sandbox.

Reuses the session's `demo_run` (`ledgerlake run`, seed 7, scale 0.1). Every revaluation row of the
EUR bank account and of the open EUR invoices is recomputed here without the warehouse's ledger or
bank models: the original-currency balances and carrying amounts come from the sandbox's own books
(`truth/gl_lines.parquet`, the ledger as QuickBooks posts it; `truth/daily_balances.parquet`, the
bank's balance; `truth/receivables.parquet` and `payment_invoice_matches.parquet`), the closing rate
from `marts.fx_rates_daily` by the documented rule (the last rate on or before the month end); then
revalued = round(original × rate, 2) and gain/loss = revalued − carrying must equal the mart to the
cent. The PostgreSQL build of the same sandbox must give the same rows.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import polars as pl
import pytest

from ledgerlake.warehouse import Warehouse
from tests.conftest import PostgresRun, Run

CENT = Decimal("0.01")
AR_ACCOUNT = "Accounts Receivable (A/R)"
FX_ACCOUNT = "Exchange Gain or Loss"


@pytest.fixture(scope="module")
def run(demo_run: Run) -> Run:
    assert demo_run.returncode in (0, 1), demo_run.stderr[-2000:]
    return demo_run


@pytest.fixture(scope="module")
def warehouse(run: Run) -> Warehouse:
    return Warehouse(kind="duckdb", duckdb_path=run.warehouse, read_only=True)


@pytest.fixture(scope="module")
def revaluation(warehouse: Warehouse) -> pl.DataFrame:
    return warehouse.query("select * from marts.fx_revaluation order by item_type, item_id, month_end")


@pytest.fixture(scope="module")
def gl(run: Run) -> pl.DataFrame:
    """The sandbox's ledger, each line signed debit − credit (USD) and in the document's currency."""
    lines = pl.read_parquet(run.truth / "gl_lines.parquet")
    return lines.with_columns(
        signed_usd=pl.col("debit") - pl.col("credit"),
        signed_txn=pl.when(pl.col("debit") > 0).then(pl.col("amount_txn")).otherwise(-pl.col("amount_txn")),
    )


@pytest.fixture(scope="module")
def eur_rates(warehouse: Warehouse) -> pl.DataFrame:
    return warehouse.query(
        "select rate_date, rate_to_functional from marts.fx_rates_daily where currency = 'EUR' order by rate_date"
    )


def money(x: float) -> Decimal:
    return Decimal(repr(x)).quantize(CENT, ROUND_HALF_UP)


def month_ends(first: date, last: date) -> list[date]:
    out, y, m = [], first.year, first.month
    while True:
        end = date(y, m, calendar.monthrange(y, m)[1])
        if end > last:
            return out
        out.append(end)
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)


def closing_rate(rates: pl.DataFrame, day: date) -> tuple[date, float]:
    """The last rate on or before the day."""
    row = rates.filter(pl.col("rate_date") <= day).tail(1)
    assert row.height == 1, f"no EUR rate on or before {day}"
    return row["rate_date"][0], row["rate_to_functional"][0]


def by_hand(original: Decimal, carrying: Decimal, rate: float) -> tuple[Decimal, Decimal]:
    revalued = (original * Decimal(rate)).quantize(CENT, ROUND_HALF_UP)
    return revalued, revalued - carrying


def test_the_eur_bank_account_is_revalued_every_month_end(
    run: Run, revaluation: pl.DataFrame, gl: pl.DataFrame, eur_rates: pl.DataFrame
) -> None:
    bank = revaluation.filter(pl.col("item_type") == "bank_account")
    assert set(bank["currency"].to_list()) == {"EUR"}
    balances = pl.read_parquet(run.truth / "daily_balances.parquet").filter(pl.col("currency") == "EUR")
    ledger = gl.filter(pl.col("account_name") == "EUR Business Account")
    ends = month_ends(ledger["posted_date"].min(), gl["posted_date"].max())
    assert len(ends) >= 11
    assert bank["month_end"].to_list() == ends
    previous = Decimal(0)
    for row in bank.iter_rows(named=True):
        day = row["month_end"]
        original = money(balances.filter(pl.col("date") == day)["balance"].item())
        carrying = money(ledger.filter(pl.col("posted_date") <= day)["signed_usd"].sum())
        rate_date, rate = closing_rate(eur_rates, day)
        revalued, gain = by_hand(original, carrying, rate)
        assert row["balance_original"] == original, day
        assert row["carrying_amount_functional"] == carrying, day
        assert (row["rate_date"], row["closing_rate"]) == (rate_date, rate), day
        assert row["revalued_amount_functional"] == revalued, day
        assert row["unrealised_gain_loss"] == gain, day
        assert row["unrealised_gain_loss_change"] == gain - previous, day
        assert row["proposed_amount"] == abs(gain), day
        debit_item = gain > 0
        assert (row["proposed_debit_account_id"] == row["account_id"]) == debit_item, day
        previous = gain
    # the rate moved over the year, so some month ends show a revaluation
    assert (bank["unrealised_gain_loss"] != 0).any()


def test_open_eur_invoices_are_revalued_per_document(
    run: Run, revaluation: pl.DataFrame, gl: pl.DataFrame, eur_rates: pl.DataFrame
) -> None:
    start = date.fromisoformat("2025-01-01")
    receivables = pl.read_parquet(run.truth / "receivables.parquet").filter(pl.col("currency") == "EUR")
    matches = pl.read_parquet(run.truth / "payment_invoice_matches.parquet")
    ar = gl.filter(pl.col("account_name") == AR_ACCOUNT)
    invoices = ar.filter((pl.col("entity") == "Invoice") & (pl.col("currency") == "EUR"))
    ends = month_ends(gl["posted_date"].min(), gl["posted_date"].max())

    expected: dict[tuple[date, str], tuple[Decimal, Decimal]] = {}
    for inv in invoices.iter_rows(named=True):
        paid = ar.filter(
            pl.col("entry_id").is_in(
                ["Payment:" + p for p in matches.filter(pl.col("invoice_id") == inv["txn_id"])["payment_id"]]
            )
        )
        for day in ends:
            if inv["posted_date"] > day:
                continue
            settled = paid.filter(pl.col("posted_date") <= day)
            original = money(inv["signed_txn"] + settled["signed_txn"].sum())
            if original != 0:
                carrying = money(inv["signed_usd"] + settled["signed_usd"].sum())
                expected[(day, inv["txn_id"])] = (original, carrying)

    # the same open items as the sandbox's receivables say (issued on or before, paid after the day)
    truth_open = {
        (day, r["invoice_number"])
        for r in receivables.iter_rows(named=True)
        for day in ends
        if start + timedelta(days=r["issue_day"]) <= day
        and (r["paid_day"] is None or start + timedelta(days=r["paid_day"]) > day)
    }
    rows = revaluation.filter(pl.col("item_type") == "receivable")
    assert {(r["month_end"], r["item_name"]) for r in rows.iter_rows(named=True)} == truth_open
    assert {(r["month_end"], r["item_id"]) for r in rows.iter_rows(named=True)} == set(expected)
    assert rows.height >= 1, "the sandbox should hold an EUR invoice open over a month end"

    for row in rows.iter_rows(named=True):
        original, carrying = expected[(row["month_end"], row["item_id"])]
        rate_date, rate = closing_rate(eur_rates, row["month_end"])
        revalued, gain = by_hand(original, carrying, rate)
        assert row["account_name"] == AR_ACCOUNT
        assert row["balance_original"] == original
        assert row["carrying_amount_functional"] == carrying
        assert row["rate_date"] == rate_date
        assert row["revalued_amount_functional"] == revalued
        assert row["unrealised_gain_loss"] == gain


def test_the_proposed_entry_is_against_exchange_gain_or_loss(
    revaluation: pl.DataFrame, warehouse: Warehouse
) -> None:
    fx = warehouse.scalar(f"select account_id from marts.dim_accounts where account_name = '{FX_ACCOUNT}'")
    for row in revaluation.iter_rows(named=True):
        sides = {row["proposed_debit_account_id"], row["proposed_credit_account_id"]}
        assert sides == {fx, row["account_id"]}
        assert row["proposed_reversal_date"] == row["month_end"] + timedelta(days=1)


def test_revaluation_is_not_posted_to_the_books(run: Run, warehouse: Warehouse) -> None:
    # the ledger still equals QuickBooks' balance sheet for the EUR account at every month end
    truth = pl.read_parquet(run.truth / "bs_monthly.parquet").filter(
        pl.col("account_name") == "EUR Business Account"
    )
    ours = warehouse.query(
        "select month, balance from marts.balance_sheet where account_name = 'EUR Business Account'"
    )
    joined = truth.join(ours, on="month", suffix="_ours")
    assert joined.height == truth.height >= 11
    assert ((joined["balance"] - joined["balance_ours"].cast(pl.Float64)).abs() < 0.005).all()
    assert (
        warehouse.scalar("select count(*) from marts.fct_gl_entries where description like '%evaluation%'")
        == 0
    )


@pytest.mark.postgres
def test_the_same_revaluation_on_postgres(revaluation: pl.DataFrame, demo_run_postgres: PostgresRun) -> None:
    res = demo_run_postgres
    assert res.returncode in (0, 1), res.stdout[-3000:] + res.stderr[-3000:]
    pg = Warehouse(kind="postgres", pg_dsn=res.dsn).query("select * from marts.fx_revaluation")
    columns = [c for c in revaluation.columns if c != "closing_rate"]
    key = ["revaluation_id"]
    ours = pg.select(columns).sort(key)
    duck = revaluation.select(columns).sort(key)
    assert ours.height == duck.height > 0
    assert ours.cast(duck.schema).equals(duck)
    rates = pg.sort(key)["closing_rate"].cast(pl.Float64) - revaluation.sort(key)["closing_rate"]
    assert (rates.abs() < 1e-12).all()

"""Reads what the cash forecast needs from the marts. SQL here is portable between DuckDB and PostgreSQL."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, timedelta

import polars as pl

from forecasts.cash import KNOWN_FLOW_SCHEMA, TOTAL, empty_known_flows
from ledgerlake.errors import LedgerlakeError
from ledgerlake.warehouse import Warehouse

log = logging.getLogger(__name__)

MIN_HISTORY_DAYS = 60
TX_TABLE = "marts.fct_bank_transactions"


@dataclass
class Balances:
    """Last known balance per series and where it came from."""

    last: dict[str, float]
    basis: str  # 'bank_balances_daily', 'cumulative_transactions' or 'mixed'
    notes: list[str] = field(default_factory=list)


def load_transactions(wh: Warehouse) -> pl.DataFrame:
    """Net amount per account, day and currency: `account_id, ds, currency, y`."""
    if not wh.table_exists("marts", "fct_bank_transactions"):
        raise LedgerlakeError(f"{TX_TABLE} does not exist in the warehouse: run `ledgerlake build` first")
    sql = (
        "select cast(account_id as varchar) as account_id, cast(booking_date as date) as ds, currency, "
        "sum(cast(amount as double precision)) as y "
        f"from {TX_TABLE} where booking_date is not null and amount is not null and account_id is not null "
        "group by account_id, cast(booking_date as date), currency"
    )
    tx = wh.query(sql)
    if tx.is_empty():
        raise LedgerlakeError(f"{TX_TABLE} has no rows with account_id, booking_date and amount")
    return tx.with_columns(pl.col("ds").cast(pl.Date), pl.col("y").cast(pl.Float64))


def check_history(tx: pl.DataFrame) -> tuple[date, date]:
    """First and last booking date; at least MIN_HISTORY_DAYS days between them (inclusive)."""
    start, end = tx["ds"].min(), tx["ds"].max()
    assert isinstance(start, date) and isinstance(end, date)
    days = (end - start).days + 1
    if days < MIN_HISTORY_DAYS:
        raise LedgerlakeError(
            f"{TX_TABLE}.booking_date spans {days} days ({start} to {end}); "
            f"the cash forecast needs at least {MIN_HISTORY_DAYS} days of history"
        )
    return start, end


def account_currencies(tx: pl.DataFrame) -> dict[str, str]:
    """The currency of each account (its most frequent one, should there be several)."""
    counts = (
        tx.group_by("account_id", "currency")
        .len()
        .sort("account_id", "len", "currency", descending=[False, True, False])
    )
    first = counts.group_by("account_id", maintain_order=True).first()
    return dict(zip(first["account_id"].to_list(), first["currency"].to_list(), strict=True))


def infer_functional_currency(tx: pl.DataFrame) -> str:
    """The currency with the most booking days; used when the caller gives no functional currency."""
    counts = tx.group_by("currency").len().sort("len", "currency", descending=[True, False])
    return str(counts["currency"][0])


def load_rates(
    wh: Warehouse, currencies: dict[str, str], functional: str, days: pl.DataFrame
) -> tuple[pl.DataFrame, dict[str, float], list[str]]:
    """Daily rate to the functional currency for the accounts that belong to 'total'.

    Returns `account_id, ds, rate`, the rate on the last day per member account, and notes. Functional
    accounts have rate 1; others need `marts.fx_rates_daily` (last known rate carried forward, the first
    known one carried back) and are left out of 'total' without it.
    """
    notes: list[str] = []
    frames = [
        days.select(pl.lit(a).alias("account_id"), "ds", pl.lit(1.0).alias("rate"))
        for a, c in currencies.items()
        if c == functional
    ]
    foreign = {a: c for a, c in currencies.items() if c != functional}
    fx = _fx_table(wh) if foreign else None
    for account, cur in sorted(foreign.items()):
        table = None if fx is None else fx.filter(pl.col("currency") == cur).sort("ds")
        if table is None or table.is_empty():
            notes.append(
                f"account {account} ({cur}) is forecast on its own but left out of 'total': no FX rate"
            )
            continue
        daily = days.sort("ds").join_asof(table.select("ds", "rate"), on="ds", strategy="backward")
        daily = daily.with_columns(pl.col("rate").fill_null(table["rate"][0]))
        frames.append(daily.select(pl.lit(account).alias("account_id"), "ds", "rate"))
    if not frames:
        return pl.DataFrame(schema={"account_id": pl.Utf8, "ds": pl.Date, "rate": pl.Float64}), {}, notes
    rates = pl.concat(frames)
    last_day = rates["ds"].max()
    last = rates.filter(pl.col("ds") == last_day)
    return rates, dict(zip(last["account_id"].to_list(), last["rate"].to_list(), strict=True)), notes


def _fx_table(wh: Warehouse) -> pl.DataFrame | None:
    if not wh.table_exists("marts", "fx_rates_daily"):
        return None
    sql = (
        "select cast(rate_date as date) as ds, currency, cast(rate_to_functional as double precision) as rate "
        "from marts.fx_rates_daily where rate_to_functional is not null"
    )
    return wh.query(sql).with_columns(pl.col("ds").cast(pl.Date), pl.col("rate").cast(pl.Float64))


def load_balances(wh: Warehouse, flows: pl.DataFrame, as_of: date, total_rates: dict[str, float]) -> Balances:
    """Balance at the end of `as_of` per account, and of 'total'.

    From `marts.bank_balances_daily` when it has the account (its latest balance on or before as_of, plus
    the flows booked after that day); otherwise the cumulative sum of the account's flows from 0.
    """
    cumulative = flows.group_by("account_id").agg(pl.col("y").sum())
    last = dict(zip(cumulative["account_id"].to_list(), cumulative["y"].to_list(), strict=True))
    from_table: set[str] = set()
    if wh.table_exists("marts", "bank_balances_daily"):
        stated = _stated_balances(wh, as_of)
        for account, bal_date, balance in stated.iter_rows():
            if account not in last:
                continue
            later = flows.filter((pl.col("account_id") == account) & (pl.col("ds") > bal_date))["y"].sum()
            last[account] = float(balance) + float(later)
            from_table.add(account)
    last[TOTAL] = sum(last[a] * r for a, r in total_rates.items() if a in last)
    basis = _basis(from_table, set(last) - {TOTAL})
    notes = (
        []
        if basis == "bank_balances_daily"
        else [f"balances: {basis} (accounts without a stated balance start at 0)"]
    )
    return Balances(last=last, basis=basis, notes=notes)


def _stated_balances(wh: Warehouse, as_of: date) -> pl.DataFrame:
    p = wh.param
    sql = (
        "select cast(account_id as varchar) as account_id, cast(balance_date as date) as balance_date, "
        "cast(balance as double precision) as balance from marts.bank_balances_daily "
        f"where balance_date <= {p} and balance is not null"
    )
    df = wh.query(sql, [as_of])
    if df.is_empty():
        return df
    return df.sort("account_id", "balance_date").group_by("account_id", maintain_order=True).last()


def _basis(from_table: set[str], accounts: set[str]) -> str:
    if from_table and from_table >= accounts:
        return "bank_balances_daily"
    return "mixed" if from_table else "cumulative_transactions"


# Known flows: open documents due inside the horizon. Column names are matched from these candidates.
_KNOWN_SOURCES = {"fct_invoices": ("receivables", 1.0), "fct_bills": ("payables", -1.0)}
_DUE_COLS = ("due_date",)
_OPEN_COLS = ("amount_open", "open_amount", "amount_due", "balance_due", "balance")


def load_known_flows(
    wh: Warehouse, as_of: date, horizon: int, functional: str
) -> tuple[pl.DataFrame, list[str]]:
    """Open receivables (+) and payables (-) due in (as_of, as_of + horizon], booked to 'total'.

    Empty when `marts.fct_invoices`/`marts.fct_bills` don't exist. Overdue items are not included: when
    they will be paid is not known. Only documents in the functional currency are taken (when the table
    has a `currency` column).
    """
    frames = [empty_known_flows()]
    notes: list[str] = []
    for table, (component, sign) in _KNOWN_SOURCES.items():
        if not wh.table_exists("marts", table):
            continue
        cols = set(wh.query(f"select * from marts.{table} limit 0").columns)
        due = next((c for c in _DUE_COLS if c in cols), None)
        amount = next((c for c in _OPEN_COLS if c in cols), None)
        if due is None or amount is None:
            notes.append(f"marts.{table} has no due date / open amount column: not used as known flows")
            continue
        frames.append(
            _known_from(
                wh, table, due, amount, "currency" in cols, functional, component, sign, as_of, horizon
            )
        )
    known = pl.concat(frames)
    return known, notes


def _known_from(
    wh: Warehouse,
    table: str,
    due: str,
    amount: str,
    has_currency: bool,
    functional: str,
    component: str,
    sign: float,
    as_of: date,
    horizon: int,
) -> pl.DataFrame:
    p = wh.param
    where = f"{due} > {p} and {due} <= {p} and {amount} is not null and {amount} <> 0"
    params: list[object] = [as_of, as_of + timedelta(days=horizon)]
    if has_currency:
        where += f" and currency = {p}"
        params.append(functional)
    sql = (
        f"select cast({due} as date) as flow_date, sum(cast({amount} as double precision)) as amount "
        f"from marts.{table} where {where} group by cast({due} as date)"
    )
    df = wh.query(sql, params)
    if df.is_empty():
        return empty_known_flows()
    return df.select(
        pl.lit(TOTAL).alias("account_id"),
        pl.col("flow_date").cast(pl.Date),
        (pl.col("amount").cast(pl.Float64) * sign).alias("amount"),
        pl.lit(component).alias("component"),
    ).cast(KNOWN_FLOW_SCHEMA)

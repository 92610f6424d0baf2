"""All SQL of the app, in one place. Every function returns a polars DataFrame (or a value) read from the marts.

The app reads the published snapshot of the DuckDB warehouse (read-only, one short-lived connection
per query, see docs/architecture.md), or PostgreSQL directly; it never recomputes a KPI. SQL here is
portable between DuckDB and PostgreSQL; parameters use the warehouse's own marker (`_p()`).
"""

from __future__ import annotations

import json
import os
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import streamlit as st

from ledgerlake.config import Settings, load_settings
from ledgerlake.warehouse import Warehouse

TTL = 60
BANK_ROW_LIMIT = 5_000

# Which command builds each mart, for the "not built yet" messages.
BUILT_BY = {
    "fct_cash_forecast": "ledgerlake forecast",
    "forecast_backtest": "ledgerlake forecast",
    "anomaly_flags": "ledgerlake forecast",
    "expense_categories": "ledgerlake forecast",
}
DEFAULT_BUILDER = "ledgerlake build"


def settings() -> Settings:
    return load_settings()


def warehouse() -> Warehouse:
    s = settings()
    if s.target == "duckdb":
        return Warehouse("duckdb", duckdb_path=s.snapshot_path, read_only=True)
    return s.warehouse(read_only=True)


def functional_currency() -> str:
    return settings().company.functional_currency


def built_by(mart: str) -> str:
    return BUILT_BY.get(mart, DEFAULT_BUILDER)


def snapshot_missing() -> str | None:
    """The snapshot path when the app has nothing to read yet (DuckDB only), else None."""
    wh = warehouse()
    if wh.kind == "duckdb" and wh.duckdb_path is not None and not Path(wh.duckdb_path).exists():
        return str(wh.duckdb_path)
    return None


def data_version() -> str:
    """Changes whenever a run publishes a new snapshot, so cached results refresh."""
    wh = warehouse()
    if wh.kind == "duckdb" and wh.duckdb_path is not None:
        p = Path(wh.duckdb_path)
        return f"{p}:{p.stat().st_mtime_ns}" if p.exists() else "missing"
    return os.environ.get("LEDGERLAKE_PG_DSN", "")


def last_run() -> dict[str, Any]:
    """The status file of the warehouse's runs (ledgerlake/status.py): {} before the first run."""
    from ledgerlake.status import read_status

    return read_status(settings().status_path)


def snapshot_time() -> str | None:
    """When the snapshot the app reads was published (its file's time, UTC), DuckDB only."""
    wh = warehouse()
    if wh.kind != "duckdb" or wh.duckdb_path is None or not Path(wh.duckdb_path).exists():
        return None
    from datetime import UTC, datetime

    return datetime.fromtimestamp(Path(wh.duckdb_path).stat().st_mtime, UTC).isoformat(timespec="seconds")


@st.cache_data(ttl=TTL, show_spinner=False)
def _query(sql: str, params: tuple[Any, ...], version: str) -> pl.DataFrame:
    return warehouse().query(sql, list(params) or None)


def query(sql: str, params: tuple[Any, ...] = ()) -> pl.DataFrame:
    return _query(sql, params, data_version())


def _p() -> str:
    return warehouse().param


def _in(values: list[Any]) -> str:
    return "(" + ", ".join(_p() for _ in values) + ")"


def has_table(schema: str, table: str) -> bool:
    if snapshot_missing():
        return False
    sql = f"select 1 from information_schema.tables where table_schema = {_p()} and table_name = {_p()}"
    return not query(sql, (schema, table)).is_empty()


def columns(schema: str, table: str) -> list[str]:
    sql = (
        "select column_name from information_schema.columns "
        f"where table_schema = {_p()} and table_name = {_p()} order by ordinal_position"
    )
    return query(sql, (schema, table))["column_name"].to_list()


def _first(cols: list[str], candidates: tuple[str, ...]) -> str | None:
    return next((c for c in candidates if c in cols), None)


# --- overview ------------------------------------------------------------------------------------

_CUMULATIVE_BALANCES = """
    select cast(account_id as varchar) as account_id, max(currency) as currency,
           cast(sum(amount) as double precision) as balance, max(booking_date) as as_of,
           'sum of transactions' as basis
    from marts.fct_bank_transactions
    group by account_id
    order by account_id
"""

_STATED_BALANCES = """
    with stated as (
        select cast(account_id as varchar) as account_id, cast(balance_date as date) as balance_date,
               cast(balance as double precision) as balance,
               row_number() over (partition by account_id order by balance_date desc) as rn
        from marts.bank_balances_daily where balance is not null
    ),
    tx as (
        select cast(account_id as varchar) as account_id, max(currency) as currency,
               cast(sum(amount) as double precision) as total, max(booking_date) as last_booking
        from marts.fct_bank_transactions group by account_id
    ),
    later as (
        select cast(t.account_id as varchar) as account_id, cast(sum(t.amount) as double precision) as flow
        from marts.fct_bank_transactions t
        join stated s on s.account_id = cast(t.account_id as varchar) and s.rn = 1
        where t.booking_date > s.balance_date
        group by t.account_id
    )
    select tx.account_id, tx.currency,
           case when s.balance is null then tx.total else s.balance + coalesce(l.flow, 0) end as balance,
           greatest(tx.last_booking, s.balance_date) as as_of,
           case when s.balance is null then 'sum of transactions' else 'stated balance' end as basis
    from tx
    left join stated s on s.account_id = tx.account_id and s.rn = 1
    left join later l on l.account_id = tx.account_id
    order by tx.account_id
"""


def cash_by_account() -> pl.DataFrame:
    """`account_id, currency, balance, as_of, basis` (and `account_name` when `marts.dim_bank_accounts`
    names the accounts): the bank's stated balance when the warehouse has one
    (`marts.bank_balances_daily`), otherwise the sum of the account's transactions."""
    stated = has_table("marts", "bank_balances_daily")
    cash = query(_STATED_BALANCES if stated else _CUMULATIVE_BALANCES)
    if has_table("marts", "dim_bank_accounts") and not cash.is_empty():
        names = query(
            "select cast(account_id as varchar) as account_id, account_name from marts.dim_bank_accounts"
        )
        cash = cash.join(names, on="account_id", how="left").select(
            "account_id", pl.col("account_name").fill_null(pl.col("account_id")), *cash.columns[1:]
        )
    return cash


def fx_to_functional() -> dict[str, float]:
    """Latest rate to the functional currency per currency, from `marts.fx_rates_daily` when it exists."""
    rates = {functional_currency(): 1.0}
    if not has_table("marts", "fx_rates_daily"):
        return rates
    df = query(
        """
        with ranked as (
            select currency, cast(rate_to_functional as double precision) as rate,
                   row_number() over (partition by currency order by rate_date desc) as rn
            from marts.fx_rates_daily where rate_to_functional is not null
        )
        select currency, rate from ranked where rn = 1
        """
    )
    rates.update(dict(zip(df["currency"].to_list(), df["rate"].to_list(), strict=True)))
    return rates


def total_cash(cash: pl.DataFrame) -> tuple[float, list[str]]:
    """Total cash in the functional currency, and the accounts left out for want of an FX rate."""
    rates = fx_to_functional()
    total, left_out = 0.0, []
    for row in cash.iter_rows(named=True):
        rate = rates.get(str(row["currency"]).upper())
        if rate is None:
            left_out.append(f"{row['account_id']} ({row['currency']})")
        else:
            total += float(row["balance"]) * rate
    return total, left_out


def forecast_as_of_dates() -> list[date]:
    df = query("select distinct as_of_date from marts.fct_cash_forecast order by as_of_date desc")
    return df["as_of_date"].to_list()


def forecast_accounts(as_of: date) -> list[str]:
    """Accounts forecast on `as_of`, 'total' first."""
    df = query(
        f"select distinct cast(account_id as varchar) as account_id from marts.fct_cash_forecast "
        f"where as_of_date = {_p()} order by account_id",
        (as_of,),
    )
    accounts = df["account_id"].to_list()
    return (["total"] if "total" in accounts else []) + [a for a in accounts if a != "total"]


# the known flows of the forecast by kind (forecasts.cash.COMPONENT_COLUMNS), with their labels
KNOWN_COMPONENTS = {
    "known_receivables": "open invoices (receivables)",
    "known_payables": "open bills (payables)",
    "known_pipeline": "CRM pipeline (weighted)",
    "known_recurring": "recurring (payroll, rent, ...)",
}


def forecast(account_id: str, as_of: date) -> pl.DataFrame:
    """The forecast rows of one account (or 'total') made on `as_of`, by horizon."""
    cols = columns("marts", "fct_cash_forecast")
    extra = [
        c
        for c in (
            "flow_p10",
            "flow_p50",
            "flow_p90",
            "baseline_flow",
            "known_flow",
            *KNOWN_COMPONENTS,
            "model",
            "currency",
        )
        if c in cols
    ]
    select = ", ".join(["as_of_date", "forecast_date", "p10", "p50", "p90", *extra])
    return query(
        f"select {select} from marts.fct_cash_forecast "
        f"where account_id = {_p()} and as_of_date = {_p()} order by forecast_date",
        (account_id, as_of),
    )


def _daily_flows(account_id: str, currency: str | None) -> pl.DataFrame:
    """`booking_date, net_flow` of one account, or for 'total' of the accounts in `currency`."""
    if account_id == "total":
        where, params = f"where upper(currency) = upper({_p()})", (currency or functional_currency(),)
    else:
        where, params = f"where cast(account_id as varchar) = {_p()}", (account_id,)
    return query(
        f"""
        select booking_date, cast(sum(amount) as double precision) as net_flow
        from marts.fct_bank_transactions {where}
        group by booking_date order by booking_date
        """,
        params,
    )


def start_balance(fc: pl.DataFrame) -> float:
    """The balance the forecast started from: p50 of day 1 minus day 1's forecast flow."""
    first = fc.row(0, named=True)
    flow = first.get("flow_p50")
    if flow is None:
        flow = (first.get("baseline_flow") or 0.0) + (first.get("known_flow") or 0.0)
    return float(first["p50"]) - float(flow)


def history(account_id: str, fc: pl.DataFrame, days: int = 120) -> pl.DataFrame:
    """Actual `booking_date, net_flow, balance` for the `days` before the forecast, the balance anchored on
    the forecast's starting balance so the history meets the fan."""
    as_of = fc["as_of_date"][0]
    currency = fc["currency"][0] if "currency" in fc.columns else None
    flows = _daily_flows(account_id, currency).filter(pl.col("booking_date") <= as_of)
    if flows.is_empty():
        return flows.with_columns(balance=pl.lit(None, pl.Float64))
    after = pl.col("net_flow").reverse().cum_sum().reverse().shift(-1, fill_value=0.0)
    return flows.with_columns(balance=start_balance(fc) - after).tail(days)


def forecast_vs_actual(account_id: str, fc: pl.DataFrame) -> pl.DataFrame:
    """The forecast with the actual balance and flow on each forecast_date that has happened already."""
    as_of = fc["as_of_date"][0]
    currency = fc["currency"][0] if "currency" in fc.columns else None
    flows = _daily_flows(account_id, currency)
    last_booked = flows["booking_date"].max() if not flows.is_empty() else None
    later = flows.filter(pl.col("booking_date") > as_of).rename({"booking_date": "forecast_date"})
    out = (
        fc.join(later, on="forecast_date", how="left")
        .with_columns(pl.col("net_flow").fill_null(0.0))
        .with_columns(actual=start_balance(fc) + pl.col("net_flow").cum_sum())
    )
    happened = pl.lit(last_booked is not None) & (pl.col("forecast_date") <= pl.lit(last_booked))
    return out.with_columns(
        actual=pl.when(happened).then(pl.col("actual")),
        actual_flow=pl.when(happened).then(pl.col("net_flow")),
    ).drop("net_flow")


def runway(cash_total: float, window_days: int = 90) -> dict[str, Any]:
    """Average daily net flow of the functional-currency accounts over the last `window_days` days, and
    the months of cash it leaves (None when the business is not burning cash)."""
    df = query(
        f"""
        with bounds as (select max(booking_date) as last_day from marts.fct_bank_transactions)
        select cast(sum(t.amount) as double precision) as net
        from marts.fct_bank_transactions t, bounds b
        where upper(t.currency) = upper({_p()}) and t.booking_date > b.last_day - {int(window_days)}
        """,
        (functional_currency(),),
    )
    net = df["net"][0] or 0.0
    daily = float(net) / window_days
    months = cash_total / (-daily * 30.4375) if daily < 0 and cash_total > 0 else None
    return {"daily_net": daily, "months": months, "window_days": window_days}


def due_in_30_days(mart: str, day: date) -> pl.DataFrame | None:
    """Open amount due in the 30 days from `day` (see `reference_day`) in `marts.fct_invoices`/`fct_bills`,
    per currency (the functional one when the mart has functional amounts); None when the mart lacks a
    due date or an amount column."""
    cols = columns("marts", mart)
    due = _first(cols, ("due_date", "due_at"))
    amount = _first(
        cols,
        (
            "amount_open_functional",
            "open_amount_functional",
            "amount_open",
            "open_amount",
            "balance",
            "amount_due",
            "amount",
        ),
    )
    if due is None or amount is None:
        return None
    by_currency = "currency" in cols and not amount.endswith("_functional")
    currency = "currency" if by_currency else f"cast({_p()} as varchar)"
    params: tuple[Any, ...] = () if by_currency else (functional_currency(),)
    open_filter = f"and cast({amount} as double precision) <> 0" if amount != "amount" else ""
    return query(
        f"""
        select {currency} as currency, count(*) as documents,
               cast(sum({amount}) as double precision) as amount
        from marts.{mart}
        where cast({due} as date) >= {_p()} and cast({due} as date) < {_p()} + 30 {open_filter}
        group by 1 order by 1
        """,
        (*params, day, day),
    )


def kpi_latest() -> pl.DataFrame:
    """The latest month's value of every KPI in `marts.kpi_monthly`."""
    return query(
        """
        with ranked as (
            select kpi, month, cast(value as double precision) as value, unit,
                   row_number() over (partition by kpi order by month desc) as rn
            from marts.kpi_monthly where value is not null
        )
        select kpi, month, value, unit from ranked where rn = 1 order by kpi
        """
    )


def exceptions_by_type() -> pl.DataFrame:
    return query(
        """
        select exception_type, count(*) as exceptions,
               cast(sum(abs(amount)) as double precision) as value
        from marts.reconciliation_exceptions
        group by exception_type order by value desc nulls last
        """
    )


def payments_by_month() -> pl.DataFrame:
    return query(
        f"""
        select {month_trunc("created_at")} as month, upper(currency) as currency,
               count(*) as payments, cast(sum(amount) as double precision) as gross,
               cast(sum(fee) as double precision) as fees, cast(sum(net) as double precision) as net
        from marts.fct_payments
        group by 1, 2 order by 1 desc, 2
        """
    )


# --- cash forecast: backtest ---------------------------------------------------------------------


def backtest(account_id: str, as_of: date) -> pl.DataFrame:
    return query(
        f"""
        select model, horizon_bucket, cast(mase as double precision) as mase,
               cast(coverage_80 as double precision) as coverage_80, n_points, is_selected
        from marts.forecast_backtest
        where unique_id = {_p()} and as_of_date = {_p()}
        order by case horizon_bucket when 'all' then 0 when '1-7' then 1 when '8-14' then 2
                 when '15-30' then 3 else 4 end, is_selected desc, model
        """,
        (account_id, as_of),
    )


# --- reconciliation ------------------------------------------------------------------------------


def exception_types() -> list[str]:
    df = query(
        "select distinct exception_type from marts.reconciliation_exceptions "
        "where exception_type is not null order by 1"
    )
    return df["exception_type"].to_list()


def _aged_exceptions() -> str:
    """The exceptions with `record_date` (the booking date of their bank line, the posting date of their
    ledger entry, the close date of their deal, a payout's arrival or the shop day they name) and `age_days`: from the record's date to the latest
    booked bank day (capped at today), or, with no record date, since detection."""
    cols = columns("marts", "reconciliation_exceptions")
    joins, dates = [], []
    if "bank_transaction_id" in cols:
        joins.append(
            "left join marts.fct_bank_transactions b "
            "on cast(b.bank_transaction_id as varchar) = cast(e.bank_transaction_id as varchar)"
        )
        dates.append("b.booking_date")
    if "counterpart_id" in cols and has_table("marts", "fct_gl_entries"):
        joins.append(
            "left join (select entry_id, min(posted_date) as posted_date from marts.fct_gl_entries "
            "group by entry_id) g on g.entry_id = cast(e.counterpart_id as varchar)"
        )
        dates.append("g.posted_date")
    if "counterpart_id" in cols and has_table("marts", "fct_deals"):
        joins.append(
            "left join marts.fct_deals d on cast(d.deal_id as varchar) = cast(e.counterpart_id as varchar)"
        )
        dates.append("cast(d.closed_at as date)")
    if "counterpart_id" in cols and has_table("marts", "fct_invoices"):
        joins.append(
            "left join marts.fct_invoices i on cast(i.invoice_id as varchar) = cast(e.counterpart_id as varchar)"
        )
        dates.append("cast(i.issue_date as date)")
    payouts = (
        "intermediate.int_processor_payouts"
        if has_table("intermediate", "int_processor_payouts")
        else "staging.stg_stripe__payouts"
        if has_table("staging", "stg_stripe__payouts")
        else None
    )
    if "counterpart_id" in cols and payouts:
        joins.append(f"left join {payouts} p on p.payout_id = cast(e.counterpart_id as varchar)")
        dates.append("p.arrival_date")
    # a shop day's exception names its day: record_ids `shopify:<YYYY-MM-DD>[,<entry>]`
    dates.append(
        "case when cast(e.record_ids as varchar) like 'shopify:____-__-__%' "
        "then cast(substr(cast(e.record_ids as varchar), 9, 10) as date) end"
    )
    record_date = f"coalesce({', '.join(dates)})"
    extra = "".join(f", e.{c}" for c in ("detail", "bank_transaction_id", "counterpart_id") if c in cols)
    return f"""
        with last_day as (
            select least(current_date, max(booking_date)) as d from marts.fct_bank_transactions
        ),
        dated as (
            select e.exception_id, e.exception_type, cast(e.amount as double precision) as amount,
                   cast(e.record_ids as varchar) as record_ids{extra}, e.detected_at,
                   {record_date} as record_date
            from marts.reconciliation_exceptions e {" ".join(joins)}
        )
        select dated.*,
               case when record_date is null then current_date - cast(detected_at as date)
                    else last_day.d - record_date end as age_days
        from dated, last_day
    """


def exceptions(types: list[str], min_amount: float, max_age_days: int | None) -> pl.DataFrame:
    """Exceptions of the chosen types (all when empty) with |amount| >= min_amount and at most
    `max_age_days` old (see `_aged_exceptions`), oldest record first."""
    where, params = [f"abs(amount) >= {_p()}"], [min_amount]
    if types:
        where.append(f"exception_type in {_in(types)}")
        params += types
    if max_age_days is not None:
        where.append(f"age_days <= {int(max_age_days)}")
    return query(
        f"""
        with aged as ({_aged_exceptions()})
        select * from aged where {" and ".join(where)}
        order by age_days desc, exception_type, exception_id
        """,
        tuple(params),
    )


def exceptions_by_age() -> pl.DataFrame:
    return query(
        f"""
        with aged as ({_aged_exceptions()})
        select case when age_days <= 7 then '0-7 days' when age_days <= 30 then '8-30 days'
                    when age_days <= 90 then '31-90 days' else 'over 90 days' end as age_bucket,
               count(*) as exceptions, cast(sum(abs(amount)) as double precision) as value
        from aged group by 1 order by min(age_days)
        """
    )


def matches_by_rule() -> pl.DataFrame:
    return query(
        """
        select rule, count(*) as matches, cast(avg(confidence) as double precision) as avg_confidence
        from marts.reconciliation_matches group by rule order by matches desc
        """
    )


def audit_for(record_ids: list[str]) -> pl.DataFrame | None:
    """Audit-trail rows that mention any of the record ids in any of its id columns; None when the trail
    has no id column."""
    cols = columns("marts", "audit_trail")
    keys = [
        c
        for c in ("record_id", "entry_id", "source_record_id", "bank_transaction_id", "invoice_id", "deal_id",
                  "bill_id", "payout_id", "entity_id", "object_id")
        if c in cols
    ]  # fmt: skip
    if not keys or not record_ids:
        return None
    where = " or ".join(f"cast({k} as varchar) in {_in(record_ids)}" for k in keys)
    return query(f"select * from marts.audit_trail where {where}", tuple(record_ids) * len(keys))


def bank_lines_for(record_ids: list[str]) -> pl.DataFrame:
    """The bank lines among an exception's record ids."""
    if not record_ids:
        return pl.DataFrame()
    return query(
        f"""
        select cast(bank_transaction_id as varchar) as bank_transaction_id, cast(account_id as varchar) as account_id,
               booking_date, cast(amount as double precision) as amount, currency, counterparty_name,
               remittance_info
        from marts.fct_bank_transactions where cast(bank_transaction_id as varchar) in {_in(record_ids)}
        """,
        tuple(record_ids),
    )


def matches_for(record_ids: list[str]) -> pl.DataFrame:
    """Matches that involve any of the record ids (either side)."""
    if not record_ids:
        return pl.DataFrame()
    marks = _in(record_ids)
    return query(
        f"select * from marts.reconciliation_matches where cast(bank_transaction_id as varchar) in {marks} "
        f"or cast(counterpart_id as varchar) in {marks}",
        tuple(record_ids) * 2,
    )


def bank_filter_options() -> dict[str, Any]:
    df = query(
        """
        select min(booking_date) as first_day, max(booking_date) as last_day
        from marts.fct_bank_transactions
        """
    )
    accounts = query(
        "select distinct cast(account_id as varchar) as account_id from marts.fct_bank_transactions order by 1"
    )
    currencies = query("select distinct currency from marts.fct_bank_transactions order by 1")
    return {
        "first_day": df["first_day"][0],
        "last_day": df["last_day"][0],
        "accounts": accounts["account_id"].to_list(),
        "currencies": currencies["currency"].to_list(),
    }


def _bank_where(start: date, end: date, accounts: list[str], currencies: list[str]) -> tuple[str, tuple]:
    where, params = [f"booking_date between {_p()} and {_p()}"], [start, end]
    if accounts:
        where.append(f"cast(account_id as varchar) in {_in(accounts)}")
        params += accounts
    if currencies:
        where.append(f"currency in {_in(currencies)}")
        params += currencies
    return " and ".join(where), tuple(params)


def bank_transactions(start: date, end: date, accounts: list[str], currencies: list[str]) -> pl.DataFrame:
    """Bank lines matching the filters (all accounts/currencies when the list is empty), newest first,
    at most BANK_ROW_LIMIT + 1 rows (the extra row tells the page that there are more)."""
    where, params = _bank_where(start, end, accounts, currencies)
    return query(
        f"""
        select cast(bank_transaction_id as varchar) as bank_transaction_id,
               cast(account_id as varchar) as account_id, booking_date,
               cast(amount as double precision) as amount, currency, counterparty_name, remittance_info,
               source_system, source_file
        from marts.fct_bank_transactions where {where}
        order by booking_date desc, bank_transaction_id
        limit {BANK_ROW_LIMIT + 1}
        """,
        params,
    )


def bank_totals(start: date, end: date, accounts: list[str], currencies: list[str]) -> pl.DataFrame:
    where, params = _bank_where(start, end, accounts, currencies)
    return query(
        f"""
        select currency, count(*) as lines,
               cast(sum(case when amount > 0 then amount else 0 end) as double precision) as inflow,
               cast(sum(case when amount < 0 then amount else 0 end) as double precision) as outflow,
               cast(sum(amount) as double precision) as net
        from marts.fct_bank_transactions where {where}
        group by currency order by currency
        """,
        params,
    )


def bank_line(bank_transaction_id: str) -> dict[str, Any] | None:
    df = query(
        f"select * from marts.fct_bank_transactions where cast(bank_transaction_id as varchar) = {_p()}",
        (bank_transaction_id,),
    )
    return None if df.is_empty() else df.row(0, named=True)


def _raw_lookup(table: str, key: str, value: Any) -> dict[str, Any] | None:
    df = query(f"select * from {table} where cast({key} as varchar) = {_p()}", (str(value),))
    return None if df.is_empty() else df.row(0, named=True)


def _raw_by_content(line: dict[str, Any], feed: bool) -> dict[str, Any] | None:
    """Fallback when the bank line carries no id of its raw row: same account, date and amount."""
    if feed:
        table, day, amount = "raw_bank_feed.transactions", "date", -float(line["amount"])
    else:
        table, day, amount = "raw_bank_files.transactions", "booking_date", float(line["amount"])
    df = query(
        f"select * from {table} where cast(account_id as varchar) = {_p()} and cast({day} as date) = {_p()} "
        f"and abs(cast(amount as double precision) - {_p()}) < 0.005",
        (str(line["account_id"]), line["booking_date"], amount),
    )
    return None if df.height != 1 else df.row(0, named=True)


def raw_source(line: dict[str, Any]) -> dict[str, Any]:
    """The raw record a bank line came from: `table`, `matched_by` and `payload` (None when not found)."""
    feed = line.get("source_system") == "bank_feed"
    table, key = ("raw_bank_feed", "transaction_id") if feed else ("raw_bank_files", "fingerprint")
    out: dict[str, Any] = {"table": f"{table}.transactions", "matched_by": None, "payload": None}
    if not has_table(table, "transactions"):
        out["missing_table"] = True
        return out
    for col in (key, "source_record_id", "bank_transaction_id"):
        if line.get(col) is None:
            continue
        row = _raw_lookup(out["table"], key, line[col])
        if row is not None:
            return out | {"matched_by": f"{key} = {line[col]}", "payload": _jsonable(row)}
    row = _raw_by_content(line, feed)
    if row is not None:
        return out | {"matched_by": "account, date and amount", "payload": _jsonable(row)}
    return out


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in row.items():
        if isinstance(v, str) and v[:1] in "[{":
            try:
                v = json.loads(v)
            except ValueError:
                pass
        if isinstance(v, Decimal):
            v = float(v)
        out[k] = v if isinstance(v, str | int | float | bool | list | dict | None) else str(v)
    return out


# --- rollout -------------------------------------------------------------------------------------


def scorecard() -> pl.DataFrame:
    """The scorecard, with each KPI's unit from `marts.kpi_monthly` when that exists."""
    units = (
        "left join (select kpi, max(unit) as unit from marts.kpi_monthly group by kpi) u on u.kpi = s.kpi"
        if has_table("marts", "kpi_monthly")
        else "left join (select cast(null as varchar) as kpi, cast(null as varchar) as unit) u on false"
    )
    return query(
        f"""
        select s.kpi, u.unit, cast(s.baseline as double precision) as baseline,
               cast(s.current as double precision) as current, cast(s.target as double precision) as target,
               cast(s.change as double precision) as change, s.status
        from marts.rollout_scorecard s {units}
        order by s.kpi
        """
    )


def kpi_names() -> list[str]:
    return query("select distinct kpi from marts.kpi_monthly order by kpi")["kpi"].to_list()


def kpi_series(kpi: str, grain: str = "month") -> pl.DataFrame:
    """`<grain>, value, numerator, denominator, unit` of a KPI from `marts.kpi_monthly` (grain month) or
    `marts.kpi_daily` (grain day; empty for the KPIs that are monthly only)."""
    mart = {"month": "kpi_monthly", "day": "kpi_daily"}[grain]
    if not has_table("marts", mart):
        return pl.DataFrame()
    return query(
        f"""
        select {grain}, cast(value as double precision) as value, cast(numerator as double precision) as numerator,
               cast(denominator as double precision) as denominator, unit
        from marts.{mart} where kpi = {_p()} order by {grain}
        """,
        (kpi,),
    )


# --- data quality --------------------------------------------------------------------------------


def load_runs() -> pl.DataFrame:
    return query(
        """
        select run_id, started_at, source, object, seen, loaded, quarantined, duplicates,
               cast(seconds as double precision) as seconds, status, error
        from marts.load_runs order by started_at desc, source, object
        """
    )


def latest_load_per_source() -> pl.DataFrame:
    """Per source: its latest run's totals over objects, and when it last loaded successfully."""
    return query(
        """
        with latest as (
            select source, max(started_at) as started_at from marts.load_runs group by source
        ),
        ok as (
            select source, max(started_at) as last_ok from marts.load_runs where status = 'ok' group by source
        )
        select r.source, l.started_at as last_run, ok.last_ok as last_successful_load,
               sum(r.seen) as seen, sum(r.loaded) as loaded, sum(r.quarantined) as quarantined,
               sum(r.duplicates) as duplicates, cast(sum(r.seconds) as double precision) as seconds,
               case when sum(case when r.status = 'ok' then 0 else 1 end) = 0 then 'ok' else 'failed' end
                   as status
        from marts.load_runs r
        join latest l on l.source = r.source and l.started_at = r.started_at
        left join ok on ok.source = r.source
        group by r.source, l.started_at, ok.last_ok
        order by r.source
        """
    )


def bank_freshness() -> pl.DataFrame:
    """Latest booking date per bank source system: how current the bank data itself is."""
    return query(
        """
        select source_system, count(*) as lines, max(booking_date) as latest_booking_date
        from marts.fct_bank_transactions group by source_system order by source_system
        """
    )


def quarantine_sources() -> list[str]:
    return query("select distinct source from marts.quarantine order by source")["source"].to_list()


def quarantine(sources: list[str]) -> pl.DataFrame:
    where = f"where source in {_in(sources)}" if sources else ""
    return query(
        f"select source, object, record_ref, reason, raw, loaded_at from marts.quarantine {where} "
        "order by loaded_at desc, source, record_ref",
        tuple(sources),
    )


def quarantine_reasons(sources: list[str]) -> pl.DataFrame:
    where = f"where source in {_in(sources)}" if sources else ""
    return query(
        f"select source, reason, count(*) as records from marts.quarantine {where} "
        "group by source, reason order by records desc, source, reason",
        tuple(sources),
    )


# --- SQL workbench: schema browser ---------------------------------------------------------------


def mart_columns() -> pl.DataFrame:
    return query(
        """
        select table_name, column_name, data_type
        from information_schema.columns where table_schema = 'marts'
        order by table_name, ordinal_position
        """
    )


def manifest_path() -> Path:
    """Where `ledgerlake build` has dbt write its manifest (`Settings.dbt_dir`, as ledgerlake.dbt uses it)."""
    return settings().dbt_dir / "target" / "manifest.json"


@st.cache_data(ttl=TTL, show_spinner=False)
def _manifest_docs(path: str, mtime: float) -> dict[str, dict[str, Any]]:
    nodes = json.loads(Path(path).read_text(encoding="utf-8")).get("nodes", {})
    docs: dict[str, dict[str, Any]] = {}
    for node in nodes.values():
        if node.get("resource_type") != "model" or node.get("schema") != "marts":
            continue
        columns_ = {name: c.get("description", "") for name, c in node.get("columns", {}).items()}
        docs[node["name"]] = {"description": node.get("description", ""), "columns": columns_}
    return docs


def manifest_docs() -> dict[str, dict[str, Any]] | None:
    """Model and column descriptions of the marts from dbt's manifest.json; None when there is none."""
    path = manifest_path()
    if not path.exists():
        return None
    try:
        return _manifest_docs(str(path), path.stat().st_mtime)
    except (OSError, ValueError):
        return None


def month_trunc(column: str) -> str:
    return f"cast(date_trunc('month', {column}) as date)"


# --- financial statements ------------------------------------------------------------------------


def pnl_months(basis: str) -> pl.DataFrame:
    """Revenue, expenses and net income per month on one basis (`accrual` or `cash`)."""
    return query(
        f"""
        select month,
               cast(sum(case when classification = 'Revenue' then amount else 0 end) as double precision)
                   as revenue,
               cast(sum(case when classification = 'Expense' then amount else 0 end) as double precision)
                   as expenses,
               cast(sum(case when classification = 'Revenue' then amount else -amount end) as double precision)
                   as net_income
        from marts.profit_and_loss where basis = {_p()}
        group by month order by month
        """,
        (basis,),
    )


def pnl_accounts(basis: str) -> pl.DataFrame:
    """The P&L in long form: one row per account and month, revenue first."""
    return query(
        f"""
        select classification, account_name, month, cast(amount as double precision) as amount
        from marts.profit_and_loss where basis = {_p()}
        order by case classification when 'Revenue' then 0 else 1 end, account_name, month
        """,
        (basis,),
    )


def by_month_wide(long: pl.DataFrame, row_cols: list[str], month_col: str = "month") -> pl.DataFrame:
    """Long `row_cols, month, amount` -> one column per month (YYYY-MM), plus a total."""
    if long.is_empty():
        return long
    wide = long.with_columns(pl.col(month_col).cast(pl.Utf8).str.slice(0, 7)).pivot(
        on=month_col, index=row_cols, values="amount", aggregate_function="sum"
    )
    months = [c for c in wide.columns if c not in row_cols]
    return wide.with_columns(pl.sum_horizontal(months).alias("total")).fill_null(0.0)


def balance_sheet_months() -> list[date]:
    df = query("select distinct month_end from marts.balance_sheet order by month_end desc")
    return df["month_end"].to_list()


def balance_sheet(month_end: date) -> pl.DataFrame:
    return query(
        f"""
        select classification, account_id, account_name, cast(balance as double precision) as balance
        from marts.balance_sheet where month_end = {_p()}
        order by case classification when 'Asset' then 0 when 'Liability' then 1 else 2 end, account_name
        """,
        (month_end,),
    )


def balance_sheet_totals(month_end: date) -> dict[str, float]:
    df = query(
        f"""
        select classification, cast(sum(balance) as double precision) as total
        from marts.balance_sheet where month_end = {_p()} group by classification
        """,
        (month_end,),
    )
    return {str(k): float(v or 0.0) for k, v in df.iter_rows()}


def cash_flow(method: str) -> pl.DataFrame:
    """`line_item, month, amount` of one method (`direct` or `indirect`); the direct method gets a
    `net change in cash` line (receipts + payments), as the indirect one has."""
    net = (
        f"""
        union all
        select 'net change in cash' as line_item, month, cast(sum(amount) as double precision) as amount
        from marts.cash_flow_statement where method = {_p()} group by month
        """
        if method == "direct"
        else ""
    )
    return query(
        f"""
        with lines as (
            select line_item, month, cast(amount as double precision) as amount
            from marts.cash_flow_statement where method = {_p()}
            {net}
        )
        select line_item, month, amount from lines
        order by case when line_item in ('net_income', 'receipts') then 0
                      when substring(line_item from 1 for 10) = 'net change' then 2 else 1 end, line_item, month
        """,
        (method, method) if net else (method,),
    )


def trial_balance_check() -> pl.DataFrame:
    """Per day of the trial balance: the sum over all accounts (0 in a balanced ledger), worst first."""
    return query(
        """
        select balance_date, count(*) as accounts,
               cast(sum(balance) as double precision) as sum_of_balances,
               cast(sum(debits) as double precision) as debits, cast(sum(credits) as double precision) as credits
        from marts.trial_balance group by balance_date
        order by abs(sum(balance)) desc, balance_date desc
        """
    )


def trial_balance_at(day: date) -> pl.DataFrame:
    return query(
        f"""
        select account_id, account_name, classification,
               cast(case when balance > 0 then balance else 0 end as double precision) as debit_balance,
               cast(case when balance < 0 then -balance else 0 end as double precision) as credit_balance
        from marts.trial_balance where balance_date = {_p()} order by account_id
        """,
        (day,),
    )


def fx_revaluation_months() -> list[date]:
    return query("select distinct month_end from marts.fx_revaluation order by month_end desc")[
        "month_end"
    ].to_list()


def fx_revaluation_by_month() -> pl.DataFrame:
    """Unrealised FX gain/loss (functional currency) per month end and item type."""
    return query(
        """
        select month_end, item_type, cast(sum(unrealised_gain_loss) as double precision) as unrealised_gain_loss
        from marts.fx_revaluation group by month_end, item_type order by month_end, item_type
        """
    )


def fx_revaluation_at(month_end: date) -> pl.DataFrame:
    """Every item revalued at `month_end`, with the rate used and the entry a controller would post."""
    return query(
        f"""
        select item_type, item_name, counterparty_name, currency,
               cast(balance_original as double precision) as balance_original,
               cast(closing_rate as double precision) as closing_rate, rate_observed_on,
               cast(carrying_amount_functional as double precision) as carrying_amount_functional,
               cast(revalued_amount_functional as double precision) as revalued_amount_functional,
               cast(unrealised_gain_loss as double precision) as unrealised_gain_loss,
               cast(unrealised_gain_loss_change as double precision) as unrealised_gain_loss_change,
               proposed_debit_account_id, proposed_credit_account_id,
               cast(proposed_amount as double precision) as proposed_amount, proposed_reversal_date
        from marts.fx_revaluation where month_end = {_p()}
        order by item_type, abs(unrealised_gain_loss) desc
        """,
        (month_end,),
    )


AGING_ORDER = (
    "case aging_bucket when 'current' then 0 when '1-30' then 1 when '31-60' then 2 "
    "when '61-90' then 3 else 4 end"
)


def aging_buckets(mart: str) -> pl.DataFrame:
    """Open items and amount (functional currency) per aging bucket of `marts.ar_aging`/`ap_aging`."""
    return query(
        f"""
        select aging_bucket, count(*) as documents,
               cast(sum(amount_open_functional) as double precision) as amount_open_functional,
               max(as_of_date) as as_of_date
        from marts.{mart} group by aging_bucket order by min({AGING_ORDER})
        """
    )


def aging_items(mart: str) -> pl.DataFrame:
    party = "customer_name" if mart == "ar_aging" else "vendor_name"
    doc = "invoice_id" if mart == "ar_aging" else "bill_id"
    return query(
        f"""
        select {doc}, {party}, due_date, days_past_due, aging_bucket, currency,
               cast(amount_open as double precision) as amount_open,
               cast(amount_open_functional as double precision) as amount_open_functional
        from marts.{mart} order by days_past_due desc, {doc}
        """
    )


# --- overview: what falls due, scorecard tiles ---------------------------------------------------


def reference_day(mart: str) -> date:
    """Today, or the latest document date when the data stops earlier (a sandbox on its own clock)."""
    cols = columns("marts", mart)
    issued = _first(cols, ("issue_date", "bill_date", "txn_date"))
    if issued is None:
        return query("select current_date as d")["d"][0]
    return query(f"select least(current_date, max(cast({issued} as date))) as d from marts.{mart}")["d"][0]


def open_by_due(mart: str, day: date) -> dict[str, float]:
    """Open amount (functional currency when the mart has it) overdue on `day` and due in the 30 days
    from `day`."""
    cols = columns("marts", mart)
    amount = _first(cols, ("amount_open_functional", "open_amount", "amount_open"))
    if amount is None or "due_date" not in cols:
        return {}
    p = _p()
    df = query(
        f"""
        select cast(sum(case when cast(due_date as date) < {p} then {amount} else 0 end) as double precision)
                   as overdue,
               cast(sum(case when cast(due_date as date) >= {p} and cast(due_date as date) < {p} + 30
                        then {amount} else 0 end) as double precision) as due_30
        from marts.{mart} where {amount} <> 0
        """,
        (day, day, day),
    )
    return {k: float(df[k][0] or 0.0) for k in ("overdue", "due_30")}


def scorecard_tiles() -> pl.DataFrame:
    cols = columns("marts", "rollout_scorecard")
    extra = "".join(f", {c}" for c in ("unit", "direction", "latest_month") if c in cols)
    return query(
        f"""
        select kpi, cast(baseline as double precision) as baseline, cast(current as double precision) as current,
               cast(target as double precision) as target, cast(change as double precision) as change,
               status{extra}
        from marts.rollout_scorecard order by kpi
        """
    )


# --- reconciliation: every record linked to an exception or a ledger entry -----------------------


RAW_LEDGER_TABLES = {
    "Invoice": "invoice",
    "Payment": "payment",
    "Bill": "bill",
    "BillPayment": "bill_payment",
    "Deposit": "deposit",
    "JournalEntry": "journal_entry",
}


def _ids_in(sql_col: str, ids: list[str]) -> str:
    return f"cast({sql_col} as varchar) in {_in(ids)}"


def _split(values: list[Any]) -> set[str]:
    out: set[str] = set()
    for v in values:
        if v is None:
            continue
        out |= {p.strip() for p in str(v).split(",") if p.strip()}
    return out


def _has_columns(mart: str, names: str) -> bool:
    """The mart exists with these columns (a mart of an earlier shape is left out of the drill-down)."""
    return has_table("marts", mart) and set(names.split()) <= set(columns("marts", mart))


def linked_records(ids: list[str]) -> dict[str, pl.DataFrame]:
    """Every record the ids lead to, following the warehouse's links twice over: ledger documents
    (`fct_gl_entries` by entry, line or document id; the ledger_entry matches of bank lines), bank lines
    (by id, ledger match, source_link), processor payouts (Stripe, Shopify) and their balance
    transactions, invoices and their deals.
    An id `<account>:<YYYY-MM-DD>` (an unusual cash day) stands for the account's bank lines that day.
    Keys: gl_lines, bank_lines, matches, payouts, payout_charges, invoices, deals (present when found)."""
    seen = {i for i in ids if i}
    out: dict[str, pl.DataFrame] = {}
    has_m = _has_columns(
        "reconciliation_matches", "record_id counterpart_id counterpart_type amount_difference"
    )
    has_gl = _has_columns("fct_gl_entries", "entry_id line_id source_entity source_record_id source_link")
    has_inv = _has_columns("fct_invoices", "invoice_id invoice_number customer_name issue_date source_link")
    has_deals = _has_columns("fct_deals", "deal_id invoice_id invoice_match_rule company_name")
    for _ in range(2):  # two hops: exception -> bank line -> ledger entry -> its source
        found = set(seen)
        keys = sorted(seen)
        if has_m:
            m = query(
                f"select rule, confidence, record_type, record_id, counterpart_type, counterpart_id, "
                f"cast(amount_difference as double precision) as amount_difference from marts.reconciliation_matches "
                f"where {_ids_in('record_id', keys)} or {_ids_in('counterpart_id', keys)}",
                tuple(keys) * 2,
            )
            out["matches"] = m
            found |= _split(m["record_id"].to_list()) | _split(m["counterpart_id"].to_list())
        if has_gl:
            keys = sorted(found)
            gl = query(
                f"""
                select entry_id, line_id, posted_date, account_name, cast(debit as double precision) as debit,
                       cast(credit as double precision) as credit, currency, source_entity, source_record_id,
                       source_link, is_manual, description
                from marts.fct_gl_entries
                where {_ids_in("entry_id", keys)} or {_ids_in("line_id", keys)}
                order by entry_id, line_id
                """,
                tuple(keys) * 2,
            )
            out["gl_lines"] = gl
            found |= set(gl["entry_id"].to_list()) | _split(gl["source_link"].to_list())
            found |= {f"{e}" for e in gl["source_record_id"].to_list() if e}
        if has_inv:
            keys = sorted(found)
            inv = query(
                f"""
                select invoice_id, invoice_number, customer_name, issue_date, due_date, currency,
                       cast(total_amount as double precision) as total_amount,
                       cast(amount_open as double precision) as amount_open, status, source_link
                from marts.fct_invoices
                where {_ids_in("invoice_id", keys)} or {_ids_in("invoice_number", keys)}
                   or 'Invoice:' || cast(invoice_id as varchar) in {_in(keys)}
                """,
                tuple(keys) * 3,
            )
            out["invoices"] = inv
            found |= set(inv["invoice_id"].to_list()) | {f"Invoice:{i}" for i in inv["invoice_id"].to_list()}
        if has_deals:
            keys = sorted(found)
            deals = query(
                f"""
                select deal_id, deal_name, company_name, stage, cast(amount as double precision) as amount,
                       currency, closed_at, invoice_id, invoice_number, invoice_match_rule,
                       cast(invoice_match_confidence as double precision) as invoice_match_confidence
                from marts.fct_deals
                where {_ids_in("deal_id", keys)} or {_ids_in("invoice_id", keys)}
                """,
                tuple(keys) * 2,
            )
            out["deals"] = deals
            found |= set(deals["deal_id"].to_list()) | _split(deals["invoice_id"].to_list())
        seen = found
    keys = sorted(seen)
    bank = query(
        f"""
        select cast(bank_transaction_id as varchar) as bank_transaction_id, cast(account_id as varchar) as account_id,
               booking_date, cast(amount as double precision) as amount, currency, counterparty_name,
               remittance_info
        from marts.fct_bank_transactions
        where {_ids_in("bank_transaction_id", keys)}
           or cast(account_id as varchar) || ':' || cast(booking_date as varchar) in {_in(keys)}
        order by booking_date
        """,
        tuple(keys) * 2,
    )
    out["bank_lines"] = bank
    if has_table("intermediate", "int_processor_payouts"):
        out["payouts"] = query(
            f"""
            select processor, payout_id, arrival_date, currency, cast(amount as double precision) as amount,
                   status
            from intermediate.int_processor_payouts where {_ids_in("payout_id", keys)}
            """,
            tuple(keys),
        )
    elif has_table("staging", "stg_stripe__payouts"):  # a warehouse built before Shopify payouts
        out["payouts"] = query(
            f"""
            select 'stripe' as processor, payout_id, arrival_date, currency,
                   cast(amount as double precision) as amount, status
            from staging.stg_stripe__payouts where {_ids_in("payout_id", keys)}
            """,
            tuple(keys),
        )
    payouts = sorted(out["payouts"]["payout_id"].to_list()) if "payouts" in out else []
    members = []
    if payouts and has_table("staging", "stg_stripe__payout_balance_transactions"):
        members.append(
            f"""
            select payout_id, balance_transaction_id, type, currency, cast(amount as double precision) as amount,
                   cast(fee as double precision) as fee, cast(net as double precision) as net
            from staging.stg_stripe__payout_balance_transactions where {_ids_in("payout_id", payouts)}
            """
        )
    if payouts and has_table("staging", "stg_shopify__balance_transactions"):
        members.append(
            f"""
            select payout_id, balance_transaction_id, type, currency, cast(amount as double precision) as amount,
                   cast(fee as double precision) as fee, cast(net as double precision) as net
            from staging.stg_shopify__balance_transactions
            where type <> 'payout' and {_ids_in("payout_id", payouts)}
            """
        )
    if members:
        out["payout_charges"] = query(
            " union all ".join(members) + " order by payout_id, type, balance_transaction_id",
            tuple(payouts) * len(members),
        )
    return {k: v for k, v in out.items() if not v.is_empty()}


def raw_payloads(linked: dict[str, pl.DataFrame]) -> list[dict[str, Any]]:
    """The raw source rows behind the linked records: QuickBooks documents, HubSpot deals, processor payouts
    and bank lines; each `{"table", "matched_by", "payload"}`."""
    out: list[dict[str, Any]] = []
    docs = {}
    if "gl_lines" in linked:
        for entity, rid in (
            linked["gl_lines"].select("source_entity", "source_record_id").unique().iter_rows()
        ):
            if entity in RAW_LEDGER_TABLES and rid is not None:
                docs[(entity, str(rid))] = f"raw_quickbooks.{RAW_LEDGER_TABLES[entity]}"
    lookups = [(table, "id", rid) for (_, rid), table in sorted(docs.items())]
    lookups += [
        ("raw_hubspot.deals", "id", str(d))
        for d in linked.get("deals", pl.DataFrame({"deal_id": []}))["deal_id"]
    ]
    if "payouts" in linked:
        lookups += [
            (f"raw_{processor}.payouts", "id", p)
            for processor, p in linked["payouts"].select("processor", "payout_id").iter_rows()
        ]
    for table, key, value in lookups:
        schema, name = table.split(".")
        if not has_table(schema, name):
            out.append({"table": table, "matched_by": None, "payload": None, "missing_table": True})
            continue
        row = _raw_lookup(table, key, value)
        out.append({"table": table, "matched_by": f"{key} = {value}",
                    "payload": None if row is None else _jsonable(row)})  # fmt: skip
    for bid in linked.get("bank_lines", pl.DataFrame({"bank_transaction_id": []}))["bank_transaction_id"]:
        line = bank_line(bid)
        if line:
            out.append(raw_source(line))
    return out


def gl_filter_options() -> dict[str, list[str]]:
    accounts = query("select distinct account_name from marts.fct_gl_entries order by 1")["account_name"]
    entities = query("select distinct source_entity from marts.fct_gl_entries order by 1")["source_entity"]
    return {"accounts": accounts.to_list(), "entities": entities.to_list()}


GL_ROW_LIMIT = 2_000


def gl_lines(accounts: list[str], entities: list[str], manual_only: bool) -> pl.DataFrame:
    """GL lines matching the filters, newest first, at most GL_ROW_LIMIT."""
    where, params = ["1 = 1"], []
    if accounts:
        where.append(f"account_name in {_in(accounts)}")
        params += accounts
    if entities:
        where.append(f"source_entity in {_in(entities)}")
        params += entities
    if manual_only:
        where.append("is_manual")
    return query(
        f"""
        select entry_id, line_id, posted_date, account_name, cast(debit as double precision) as debit,
               cast(credit as double precision) as credit, currency, source_entity, source_link, is_manual
        from marts.fct_gl_entries where {" and ".join(where)}
        order by posted_date desc, entry_id, line_id limit {GL_ROW_LIMIT}
        """,
        tuple(params),
    )


# --- anomalies, duplicates, entities -------------------------------------------------------------


def anomaly_kinds() -> pl.DataFrame:
    return query(
        """
        select kind, count(*) as flags, cast(sum(amount) as double precision) as amount
        from marts.anomaly_flags group by kind order by flags desc, kind
        """
    )


def anomaly_flags(kinds: list[str]) -> pl.DataFrame:
    where = f"where kind in {_in(kinds)}" if kinds else ""
    return query(
        f"""
        select flag_date, kind, entity, cast(amount as double precision) as amount, currency,
               cast(score as double precision) as score, reason, record_ids
        from marts.anomaly_flags {where} order by flag_date desc, kind, entity
        """,
        tuple(kinds),
    )


def vendors() -> pl.DataFrame:
    return query(
        """
        select vendor_key, vendor_name, currency, member_count, descriptor_count, sources, qbo_vendor_ids,
               bank_payment_count, cast(total_paid as double precision) as total_paid, first_seen, last_seen
        from marts.dim_vendors order by member_count desc, vendor_name
        """
    )


def customers() -> pl.DataFrame:
    return query(
        """
        select customer_key, customer_name, email, web_domain, member_count, source_count, stripe_customer_ids,
               shopify_customer_ids, hubspot_company_ids, qbo_customer_ids
        from marts.dim_customers order by member_count desc, customer_name
        """
    )


def cluster_members(kind: str, key: str) -> pl.DataFrame:
    """The records resolved to one vendor/customer (`intermediate.int_<kind>s_resolved`)."""
    table = f"int_{kind}s_resolved"
    if not has_table("intermediate", table):
        return pl.DataFrame()
    cols = columns("intermediate", table)
    extra = "".join(f", {c}" for c in ("payment_count", "email", "normalised_name") if c in cols)
    return query(
        f"select member_id, source, source_id, raw_name{extra} from intermediate.{table} "
        f"where {kind}_key = {_p()} order by source, member_id",
        (key,),
    )


def cluster_evidence(kind: str, members: list[str]) -> pl.DataFrame:
    """The pairwise links between members (rule, score, accepted or why rejected) that merged them."""
    table = f"int_{kind}_links"
    if not members or not has_table("intermediate", table):
        return pl.DataFrame()
    marks = _in(members)
    return query(
        f"""
        select member_a, member_b, name_a, name_b, rule, cast(score as double precision) as score,
               is_accepted, rejected_because
        from intermediate.{table} where member_a in {marks} or member_b in {marks}
        order by is_accepted desc, score desc, member_a, member_b
        """,
        tuple(members) * 2,
    )


# --- expense categories --------------------------------------------------------------------------


def expense_status_counts() -> pl.DataFrame:
    return query(
        """
        select status, count(*) as lines, cast(sum(abs(amount)) as double precision) as amount,
               cast(avg(confidence) as double precision) as avg_confidence
        from marts.expense_categories group by status order by status
        """
    )


def expense_confidences() -> pl.DataFrame:
    return query(
        "select cast(confidence as double precision) as confidence, status from marts.expense_categories"
    )


def expense_threshold() -> float | None:
    """The confidence threshold of the latest categorisation run (None when the mart has no such column)."""
    if "threshold" not in columns("marts", "expense_categories"):
        return None
    value = query("select cast(max(threshold) as double precision) as t from marts.expense_categories")["t"][
        0
    ]
    return None if value is None else float(value)


def expense_review_queue() -> pl.DataFrame:
    return query(
        """
        select record_id, source, vendor, text, cast(amount as double precision) as amount,
               predicted_category, cast(confidence as double precision) as confidence
        from marts.expense_categories where status = 'review'
        order by abs(amount) desc, record_id
        """
    )


def expense_by_category() -> pl.DataFrame:
    return query(
        """
        select predicted_category, status, count(*) as lines, cast(sum(abs(amount)) as double precision) as amount
        from marts.expense_categories group by predicted_category, status order by amount desc
        """
    )

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
    """`account_id, currency, balance, as_of, basis`: the bank's stated balance when the warehouse has one
    (`marts.bank_balances_daily`), otherwise the sum of the account's transactions."""
    stated = has_table("marts", "bank_balances_daily")
    return query(_STATED_BALANCES if stated else _CUMULATIVE_BALANCES)


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


def forecast(account_id: str, as_of: date) -> pl.DataFrame:
    """The forecast rows of one account (or 'total') made on `as_of`, by horizon."""
    cols = columns("marts", "fct_cash_forecast")
    extra = [
        c
        for c in ("flow_p10", "flow_p50", "flow_p90", "baseline_flow", "known_flow", "model", "currency")
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


def due_in_30_days(mart: str) -> pl.DataFrame | None:
    """Open amount due in the next 30 days from `marts.fct_invoices`/`fct_bills`, per currency; None
    when the mart lacks a due date or an amount column."""
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
    currency = "currency" if "currency" in cols else f"cast({_p()} as varchar)"
    params: tuple[Any, ...] = () if "currency" in cols else (functional_currency(),)
    open_filter = f"and cast({amount} as double precision) <> 0" if amount != "amount" else ""
    return query(
        f"""
        select {currency} as currency, count(*) as documents,
               cast(sum({amount}) as double precision) as amount
        from marts.{mart}
        where cast({due} as date) >= current_date and cast({due} as date) < current_date + 30 {open_filter}
        group by 1 order by 1
        """,
        params,
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


def exceptions(types: list[str], min_amount: float, max_age_days: int | None) -> pl.DataFrame:
    """Exceptions of the chosen types (all when empty) with |amount| >= min_amount, newest first."""
    cols = columns("marts", "reconciliation_exceptions")
    extra = "".join(f", {c}" for c in ("detail", "bank_transaction_id", "counterpart_id") if c in cols)
    where, params = [f"abs(amount) >= {_p()}"], [min_amount]
    if types:
        where.append(f"exception_type in {_in(types)}")
        params += types
    if max_age_days is not None:
        where.append(f"cast(detected_at as date) >= current_date - {int(max_age_days)}")
    return query(
        f"""
        select exception_id, exception_type, cast(amount as double precision) as amount,
               cast(record_ids as varchar) as record_ids{extra}, detected_at,
               current_date - cast(detected_at as date) as age_days
        from marts.reconciliation_exceptions
        where {" and ".join(where)}
        order by detected_at desc, exception_id
        """,
        tuple(params),
    )


def exceptions_by_age() -> pl.DataFrame:
    return query(
        """
        with aged as (
            select current_date - cast(detected_at as date) as age, abs(amount) as amount
            from marts.reconciliation_exceptions
        )
        select case when age <= 7 then '0-7 days' when age <= 30 then '8-30 days'
                    when age <= 90 then '31-90 days' else 'over 90 days' end as age_bucket,
               count(*) as exceptions, cast(sum(amount) as double precision) as value
        from aged group by 1 order by min(age)
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
    """Audit-trail rows that mention any of the record ids; None when the trail has no id column."""
    cols = columns("marts", "audit_trail")
    key = _first(cols, ("record_id", "source_record_id", "entity_id", "object_id"))
    if key is None or not record_ids:
        return None
    return query(
        f"select * from marts.audit_trail where cast({key} as varchar) in {_in(record_ids)}",
        tuple(record_ids),
    )


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


def kpi_series(kpi: str) -> pl.DataFrame:
    return query(
        f"""
        select month, cast(value as double precision) as value, cast(numerator as double precision) as numerator,
               cast(denominator as double precision) as denominator, unit
        from marts.kpi_monthly where kpi = {_p()} order by month
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

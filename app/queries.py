"""All SQL of the app, in one place. Every function returns a polars DataFrame read from the marts.

The app reads the published snapshot of the DuckDB warehouse (read-only, one short-lived connection
per query), or PostgreSQL directly; it never recomputes a KPI.
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import streamlit as st

from ledgerlake.config import load_settings
from ledgerlake.warehouse import Warehouse

TTL = 60


def warehouse() -> Warehouse:
    settings = load_settings()
    if settings.target == "duckdb":
        return Warehouse("duckdb", duckdb_path=settings.snapshot_path, read_only=True)
    return settings.warehouse(read_only=True)


def data_version() -> str:
    """Changes whenever a run publishes a new snapshot, so cached results refresh."""
    wh = warehouse()
    if wh.kind == "duckdb" and wh.duckdb_path is not None:
        p = Path(wh.duckdb_path)
        return f"{p}:{p.stat().st_mtime_ns}" if p.exists() else "missing"
    return os.environ.get("LEDGERLAKE_PG_DSN", "")


@st.cache_data(ttl=TTL, show_spinner=False)
def _query(sql: str, version: str) -> pl.DataFrame:
    return warehouse().query(sql)


def query(sql: str) -> pl.DataFrame:
    return _query(sql, data_version())


def has_table(schema: str, table: str) -> bool:
    return not query(
        f"select 1 from information_schema.tables where table_schema = '{schema}' and table_name = '{table}'"
    ).is_empty()


# --- overview ------------------------------------------------------------------------------------


def cash_by_account() -> pl.DataFrame:
    return query(
        """
        select account_id, currency, sum(amount) as balance, max(booking_date) as as_of
        from marts.fct_bank_transactions
        group by account_id, currency
        order by account_id
        """
    )


def latest_forecast() -> pl.DataFrame:
    return query(
        """
        select as_of_date, forecast_date, account_id, p10, p50, p90
        from marts.fct_cash_forecast
        where as_of_date = (select max(as_of_date) from marts.fct_cash_forecast)
        order by account_id, forecast_date
        """
    )


def daily_balance(account_id: str) -> pl.DataFrame:
    acct = account_id.replace("'", "''")
    where = "" if account_id == "total" else f"where account_id = '{acct}'"
    return query(
        f"""
        with daily as (
            select booking_date, sum(amount) as net_flow
            from marts.fct_bank_transactions {where}
            group by booking_date
        )
        select booking_date, net_flow, sum(net_flow) over (order by booking_date) as balance
        from daily order by booking_date
        """
    )


def payments_by_month() -> pl.DataFrame:
    return query(
        f"""
        select {month_trunc("created_at")} as month, currency,
               count(*) as payments, sum(amount) as gross, sum(fee) as fees
        from marts.fct_payments
        group by 1, 2 order by 1, 2
        """
    )


# --- data quality --------------------------------------------------------------------------------


def load_runs() -> pl.DataFrame:
    return query(
        """
        select run_id, started_at, source, object, seen, loaded, quarantined, duplicates, seconds, status, error
        from marts.load_runs order by started_at desc, source, object
        """
    )


def quarantine() -> pl.DataFrame:
    return query(
        "select source, object, record_ref, reason, raw, loaded_at from marts.quarantine "
        "order by loaded_at desc, source, record_ref"
    )


def month_trunc(column: str) -> str:
    return f"cast(date_trunc('month', {column}) as date)"

"""The ledger cut at `as_of` and its truth: GL lines, P&L and balance sheet per month, KPIs, matches."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from sandbox.company.clock import Clock
from sandbox.company.ledger import ENTRY_MINUTES, LedgerData, Txn


@dataclass
class LedgerView:
    """What QuickBooks shows at `as_of`."""

    data: LedgerData
    clock: Clock
    visible: list[Txn]  # created by as_of and not deleted by then
    deleted: list[Txn]  # created and deleted by as_of
    updated: dict[str, int]  # txn key -> LastUpdatedTime (unix)
    sync: dict[str, int]  # txn key -> SyncToken
    paid: dict[str, float]  # invoice/bill key -> amount paid by as_of (txn currency)


def cut_ledger(data: LedgerData, clock: Clock) -> LedgerView:
    end = clock.as_of_unix()
    created = [t for t in data.txns if t.created <= end]
    visible = [t for t in created if t.deleted_at is None or t.deleted_at > end]
    deleted = [t for t in created if t.deleted_at is not None and t.deleted_at <= end]
    updated = {t.key: t.created for t in visible}
    sync = {t.key: 0 for t in visible}
    paid: dict[str, float] = {}
    for t in visible:
        if t.voided_at is not None and t.voided_at <= end:
            updated[t.key] = max(updated[t.key], t.voided_at)
            sync[t.key] += 1
        if t.linked is not None and t.linked in updated:
            updated[t.linked] = max(updated[t.linked], t.created)
            sync[t.linked] += 1
            paid[t.linked] = round(paid.get(t.linked, 0.0) + t.total, 2)
    return LedgerView(data, clock, visible, deleted, updated, sync, paid)


def is_void(view: LedgerView, t: Txn) -> bool:
    return t.voided_at is not None and t.voided_at <= view.clock.as_of_unix()


def gl_lines(view: LedgerView) -> pl.DataFrame:
    acc = view.data.accounts
    rows = []
    start = np.datetime64(view.clock.start, "D")
    for t in view.visible:
        if is_void(view, t):
            continue
        for i, (key, debit, credit, amount, text) in enumerate(t.lines):
            rows.append(
                (
                    f"{t.entity}:{t.id}",
                    t.entity,
                    t.id,
                    i,
                    t.day,
                    key,
                    debit,
                    credit,
                    t.currency,
                    amount,
                    t.rate,
                    t.manual,
                    t.kind,
                    t.source,
                    t.created,
                    text,
                )
            )
    schema = {
        "entry_id": pl.Utf8,
        "entity": pl.Utf8,
        "txn_id": pl.Utf8,
        "line_id": pl.Int64,
        "day": pl.Int64,
        "account_key": pl.Utf8,
        "debit": pl.Float64,
        "credit": pl.Float64,
        "currency": pl.Utf8,
        "amount_txn": pl.Float64,
        "exchange_rate": pl.Float64,
        "is_manual": pl.Boolean,
        "kind": pl.Utf8,
        "source_link": pl.Utf8,
        "created_unix": pl.Int64,
        "description": pl.Utf8,
    }
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    return (
        frame.join(
            acc.select(
                account_key="key", account_id="id", account_name="name", classification="classification"
            ),
            on="account_key",
            how="left",
        )
        .with_columns(
            posted_date=pl.Series(start + frame["day"].to_numpy().astype("timedelta64[D]")),
            created_at=pl.from_epoch("created_unix", time_unit="s"),
            source_system=pl.lit("quickbooks"),
        )
        .select(
            "entry_id",
            "line_id",
            "posted_date",
            "account_id",
            "account_name",
            "classification",
            "debit",
            "credit",
            "currency",
            "amount_txn",
            "exchange_rate",
            "entity",
            "txn_id",
            "kind",
            "is_manual",
            "created_at",
            "source_system",
            "source_link",
            "description",
        )
        .sort("entry_id", "line_id")
    )


def _months(clock: Clock) -> list[np.datetime64]:
    first = np.datetime64(clock.start, "M")
    last = np.datetime64(clock.as_of, "M")
    return list(np.arange(first, last + 1))


def pl_monthly(gl: pl.DataFrame) -> pl.DataFrame:
    """Revenue as credit - debit, expenses as debit - credit, per month and account."""
    pnl = gl.filter(pl.col("classification").is_in(["Revenue", "Expense"]))
    sign = pl.when(pl.col("classification") == "Revenue").then(-1.0).otherwise(1.0)
    return (
        pnl.with_columns(month=pl.col("posted_date").dt.truncate("1mo"))
        .group_by("month", "account_id", "account_name", "classification")
        .agg(amount=((pl.col("debit") - pl.col("credit")) * sign).sum().round(2))
        .sort("month", "account_id")
    )


def bs_monthly(gl: pl.DataFrame, clock: Clock) -> pl.DataFrame:
    """Balance per account at each month end (or as_of): assets debit - credit, others credit - debit;
    `Net Income (to date)` carries the cumulative P&L into equity so assets = liabilities + equity."""
    rows = []
    g = gl.with_columns(net=pl.col("debit") - pl.col("credit"))
    for month in _months(clock):
        end = min((month + 1).astype("datetime64[D]") - 1, np.datetime64(clock.as_of, "D"))
        upto = g.filter(pl.col("posted_date") <= end.astype(object))
        bs = upto.filter(pl.col("classification").is_in(["Asset", "Liability", "Equity"]))
        per = bs.group_by("account_id", "account_name", "classification").agg(pl.col("net").sum())
        for acc_id, name, cls, net in per.iter_rows():
            rows.append(
                (
                    month.astype("datetime64[D]").astype(object),
                    acc_id,
                    name,
                    cls,
                    round(net if cls == "Asset" else -net, 2),
                )
            )
        income = -upto.filter(pl.col("classification").is_in(["Revenue", "Expense"]))["net"].sum()
        rows.append(
            (
                month.astype("datetime64[D]").astype(object),
                "net_income",
                "Net Income (to date)",
                "Equity",
                round(income, 2),
            )
        )
    schema = {
        "month": pl.Date,
        "account_id": pl.Utf8,
        "account_name": pl.Utf8,
        "classification": pl.Utf8,
        "balance": pl.Float64,
    }
    return pl.DataFrame(rows, schema=schema, orient="row").sort("month", "account_id")


def _business_days(a: np.datetime64, b: np.datetime64) -> int:
    return int(np.busday_count(a + 1, b + 1))


def kpi_monthly(view: LedgerView) -> pl.DataFrame:
    """The rollout KPIs per month of TxnDate (definitions in docs/sandbox.md)."""
    clock = view.clock
    start = np.datetime64(clock.start, "D")
    end_unix = clock.as_of_unix()
    # documents standing in the ledger at as_of (voided ones included): a document keyed and deleted
    # again leaves nothing a warehouse loading after the deletion can see, so it is not counted
    entered = list(view.visible)
    month_of = {t.key: (start + t.day).astype("datetime64[M]") for t in entered}
    rows: list[tuple] = []
    deals = view.data.deals
    close_of: dict[str, int] = {}
    if deals is not None:
        won = deals.filter(pl.col("invoice_number").is_not_null())
        close_of = dict(zip(won["invoice_number"], won["close_day"], strict=True))
    for month in _months(clock):
        m_txns = [t for t in entered if month_of[t.key] == month]
        manual = [t for t in m_txns if t.manual]
        mdate = month.astype("datetime64[D]").astype(object)
        rows.append(
            (
                mdate,
                "manual_entry_share",
                len(manual) / len(m_txns) if m_txns else None,
                len(manual),
                len(m_txns),
                "ratio",
            )
        )
        minutes = sum(ENTRY_MINUTES[t.entity] for t in manual)
        rows.append((mdate, "manual_entry_hours", minutes / 60, minutes, 60, "hours"))
        invoices = [t for t in m_txns if t.entity == "Invoice" and t.kind == "invoice"]
        voided = [t for t in m_txns if t.kind == "voided"]
        if invoices:
            rows.append(
                (
                    mdate,
                    "invoice_error_rate",
                    len(voided) / len(invoices),
                    len(voided),
                    len(invoices),
                    "ratio",
                )
            )
        dups = [t for t in view.visible if t.kind == "duplicate" and month_of[t.key] == month]
        rows.append((mdate, "duplicate_payments_count", float(len(dups)), len(dups), 1, "count"))
        value = round(sum(t.total * t.rate for t in dups), 2)
        rows.append((mdate, "duplicate_payments_value", value, value, 1, "USD"))
        # a month counts as closed once its month-end accrual is posted; its close took until the
        # last posting dated in the month was entered (the accrual, or e.g. a summary posted later)
        closes = [t for t in m_txns if t.kind == "accrual"]
        if closes:
            month_end = (month + 1).astype("datetime64[D]") - 1
            postings = [
                t.created
                for t in view.visible
                if month_of.get(t.key) == month and t.kind != "voided" and t.created <= end_unix
            ]
            done = (np.datetime64(max(postings), "s")).astype("datetime64[D]")
            days = _business_days(month_end, done)
            rows.append((mdate, "close_duration_days", float(days), days, 1, "business_days"))
        lags = [t.day - close_of[t.doc] for t in invoices if t.doc in close_of]
        if lags:
            rows.append((mdate, "time_to_invoice_days", sum(lags) / len(lags), sum(lags), len(lags), "days"))
    schema = {
        "month": pl.Date,
        "kpi": pl.Utf8,
        "value": pl.Float64,
        "numerator": pl.Float64,
        "denominator": pl.Float64,
        "unit": pl.Utf8,
    }
    return pl.DataFrame(rows, schema=schema, orient="row").sort("month", "kpi")


def matches(view: LedgerView) -> dict[str, pl.DataFrame]:
    by_key = {t.key: t for t in view.visible}
    pay_rows = [
        (t.id, by_key[t.linked].id, by_key[t.linked].doc, t.source, t.total, t.currency)
        for t in view.visible
        if t.entity == "Payment" and t.linked in by_key
    ]
    payments = pl.DataFrame(
        pay_rows,
        schema=["payment_id", "invoice_id", "invoice_number", "bank_transaction_id", "amount", "currency"],
        orient="row",
    ).sort("payment_id")
    inv_id = {t.doc: t.id for t in view.visible if t.kind == "invoice"}
    deals = view.data.deals
    if deals is None:
        deal_matches = pl.DataFrame(schema={"deal_id": pl.Utf8, "invoice_number": pl.Utf8})
    else:
        deal_matches = (
            deals.filter(
                pl.col("invoice_number").is_in(list(inv_id)) & (pl.col("created") <= view.clock.as_of_unix())
            )
            .select(
                "deal_id",
                "invoice_number",
                invoice_id=pl.col("invoice_number").replace_strict(inv_id, default=None),
                deal_amount="amount",
                invoice_amount="invoice_amount",
                currency="currency",
                amount_differs="amount_differs",
            )
            .sort("deal_id")
        )
    return {"payment_invoice_matches": payments, "deal_invoice_matches": deal_matches}


def defects(view: LedgerView) -> pl.DataFrame:
    """Injected ledger defects visible at as_of; record_ids = QBO entity:Id, then the source record."""
    by_key = {t.key: t for t in view.visible + view.deleted}
    rows = []
    for defect_type, key, detail in view.data.defects.iter_rows():
        t = by_key.get(key)
        if t is None:
            continue
        rows.append((defect_type, f"{t.entity}:{t.id},{t.source}", detail))
    return pl.DataFrame(rows, schema=["defect_type", "record_ids", "detail"], orient="row")


def vendor_clusters(view: LedgerView) -> pl.DataFrame:
    v = view.data.vendors
    return v.select(descriptor="name", vendor_id="vendor_id", qbo_vendor_id="id", is_alias="alias")

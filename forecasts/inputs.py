"""Reads what the cash forecast needs from the marts. SQL here is portable between DuckDB and PostgreSQL."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, timedelta

import polars as pl

from forecasts import recurring
from forecasts.cash import TOTAL
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


# --- known flows -----------------------------------------------------------------------------------
# Column names are matched from candidates, so that older or hand-made marts still work.
_INVOICE_COLS = {
    "doc_id": ("invoice_id",),
    "key": ("customer_id",),
    "issue_date": ("issue_date",),
    "due_date": ("due_date",),
    "last_paid_date": ("last_paid_date",),
    "amount": ("amount_open", "open_amount", "amount_due", "balance_due", "balance"),
    "total_amount": ("total_amount",),
    "currency": ("currency",),
    "status": ("status",),
    "is_voided": ("is_voided",),
}
_BILL_COLS = {**_INVOICE_COLS, "doc_id": ("bill_id",), "key": ("vendor_id",), "issue_date": ("bill_date",)}
_DEAL_COLS = {
    "deal_id": ("deal_id",),
    "stage": ("stage",),
    "is_closed": ("is_closed",),
    "is_won": ("is_won",),
    "amount": ("amount",),
    "currency": ("currency",),
    "probability": ("probability",),
    "close_date": ("closed_at",),
    "days_to_invoice": ("days_to_invoice",),
}
_STAGE_COLS = {"deal_id": ("deal_id",), "stage": ("stage",), "entered_at": ("entered_at",)}
_TYPES = {
    "entered_at": pl.Datetime("us"),
    "doc_id": pl.Utf8,
    "key": pl.Utf8,
    "issue_date": pl.Date,
    "due_date": pl.Date,
    "last_paid_date": pl.Date,
    "amount": pl.Float64,
    "total_amount": pl.Float64,
    "currency": pl.Utf8,
    "status": pl.Utf8,
    "is_voided": pl.Boolean,
    "deal_id": pl.Utf8,
    "stage": pl.Utf8,
    "is_closed": pl.Boolean,
    "is_won": pl.Boolean,
    "probability": pl.Float64,
    "close_date": pl.Date,
    "days_to_invoice": pl.Float64,
}


@dataclass
class KnownFlows:
    """The settlement items booked to accounts, plus what the summary reports about them."""

    items: pl.DataFrame  # known_flows.ITEM_SCHEMA + account_id
    notes: list[str] = field(default_factory=list)
    info: dict[str, object] = field(default_factory=dict)


def _read(
    wh: Warehouse, table: str, wanted: dict[str, tuple[str, ...]], required: tuple[str, ...]
) -> pl.DataFrame | None:
    """`table` with the `wanted` aliases (missing optional columns as nulls); None without a required one."""
    if not wh.table_exists("marts", table):
        return None
    cols = set(wh.query(f"select * from marts.{table} limit 0").columns)
    found = {alias: next((c for c in cands if c in cols), None) for alias, cands in wanted.items()}
    if any(found[r] is None for r in required):
        return None
    df = wh.query(
        "select "
        + ", ".join(f"{c} as {alias}" for alias, c in found.items() if c is not None)
        + f" from marts.{table}"
    )
    return df.with_columns(
        [pl.lit(None, dtype=_TYPES[a]).alias(a) for a, c in found.items() if c is None]
    ).select([pl.col(a).cast(_TYPES[a]) for a in wanted])


def _open_and_paid(docs: pl.DataFrame, functional: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    live = docs.filter(
        ~pl.col("is_voided").fill_null(False) & (pl.col("status").fill_null("") != "voided")
    ).with_columns(pl.col("currency").fill_null(functional))
    is_open = pl.col("amount").fill_null(0.0).abs() > 0.005
    paid = live.filter(~is_open & pl.col("last_paid_date").is_not_null())
    return live.filter(is_open), paid


def currency_accounts(tx: pl.DataFrame) -> dict[str, str]:
    """Per currency, the bank account with the most booking days in it (where its known flows land)."""
    counts = (
        tx.group_by("currency", "account_id")
        .len()
        .sort("currency", "len", "account_id", descending=[False, True, False])
    )
    first = counts.group_by("currency", maintain_order=True).first()
    return dict(zip(first["currency"].to_list(), first["account_id"].to_list(), strict=True))


def currency_rates(wh: Warehouse, functional: str, as_of: date) -> dict[str, float]:
    """Latest rate to the functional currency on or before as_of, per currency (functional: 1)."""
    rates = {functional: 1.0}
    fx = _fx_table(wh)
    if fx is not None and not fx.is_empty():
        upto = fx.filter(pl.col("ds") <= as_of)
        last = (
            (upto if not upto.is_empty() else fx).sort("ds").group_by("currency", maintain_order=True).last()
        )
        rates.update(dict(zip(last["currency"].to_list(), last["rate"].to_list(), strict=True)))
    return rates


@dataclass
class KnownSources:
    """The marts the known flows come from (None when a table is missing or lacks a needed column)."""

    invoices: pl.DataFrame | None
    bills: pl.DataFrame | None
    deals: pl.DataFrame | None
    accounts: dict[str, str]
    rates: dict[str, float]
    bank_lines: pl.DataFrame | None = None  # `load_bank_lines`: where recurring flows are detected
    stage_history: pl.DataFrame | None = None  # `deal_id, stage, entered_at` (marts.fct_deal_stages)


def read_deals(wh: Warehouse, functional: str) -> pl.DataFrame | None:
    """The CRM deals (`marts.fct_deals`) the pipeline is made of, None without the mart."""
    deals = _read(wh, "fct_deals", _DEAL_COLS, ("stage", "is_closed", "amount", "close_date"))
    if deals is None:
        return None
    return deals.with_columns(pl.col("is_won").fill_null(False), pl.col("currency").fill_null(functional))


def read_stage_history(wh: Warehouse) -> pl.DataFrame | None:
    """`deal_id, stage, entered_at` of every stage each deal entered (`marts.fct_deal_stages`)."""
    return _read(wh, "fct_deal_stages", _STAGE_COLS, ("deal_id", "stage", "entered_at"))


def read_known_sources(wh: Warehouse, as_of: date, functional: str, tx: pl.DataFrame | None) -> KnownSources:
    deals = read_deals(wh, functional)
    return KnownSources(
        invoices=_read(wh, "fct_invoices", _INVOICE_COLS, ("due_date", "amount")),
        bills=_read(wh, "fct_bills", _BILL_COLS, ("due_date", "amount")),
        deals=deals,
        stage_history=read_stage_history(wh),
        accounts=currency_accounts(tx) if tx is not None and not tx.is_empty() else {},
        rates=currency_rates(wh, functional, as_of),
        bank_lines=load_bank_lines(wh),
    )


def documents_as_of(docs: pl.DataFrame, cutoff: date) -> pl.DataFrame:
    """The documents as they stood at `cutoff` (for the backtest): issued by then; one paid after it
    was open for its total then (partial payments before the cutoff are not known and ignored)."""
    paid_after = pl.col("last_paid_date").is_not_null() & (pl.col("last_paid_date") > cutoff)
    return docs.filter(pl.col("issue_date").is_null() | (pl.col("issue_date") <= cutoff)).with_columns(
        amount=pl.when(paid_after).then(pl.coalesce("total_amount", "amount")).otherwise(pl.col("amount")),
        last_paid_date=pl.when(paid_after).then(None).otherwise(pl.col("last_paid_date")),
    )


def known_from_sources(
    src: KnownSources,
    as_of: date,
    horizon: int,
    functional: str,
    with_pipeline: bool = True,
    recurring_found: list[recurring.RecurringSeries] | None = None,
) -> KnownFlows:
    """Settlement items of the open documents and deals in `src`, booked to accounts.

    `recurring_found`: `recurring.detect` of `src.bank_lines`' candidates at `as_of`, when the caller
    has it already (the backtest shares one detection per origin with `explained_as_of`)."""
    from forecasts import known_flows as kf

    frames = [kf.empty_items()]
    info: dict[str, object] = {}
    invoices, bills, deals = src.invoices, src.bills, src.deals
    customer_delays = kf.Delays(company=[])
    if invoices is not None:
        open_inv, paid_inv = _open_and_paid(invoices, functional)
        customer_delays = kf.delays_from_history(paid_inv, open_inv, as_of, key="key")
        frames.append(kf.document_items(open_inv, customer_delays, "receivables", 1.0, as_of, horizon))
        info["receivables"] = {
            "open_documents": open_inv.height,
            "paid_history": len(customer_delays.company),
            "customers_with_own_delays": len(customer_delays.by_key),
            "median_delay_days": _median(customer_delays.company),
            "never_paid_share": round(customer_delays.never_share, 4),
        }
    if bills is not None:
        open_bills, paid_bills = _open_and_paid(bills, functional)
        bill_delays = kf.delays_from_history(paid_bills, open_bills, as_of)
        frames.append(kf.document_items(open_bills, bill_delays, "payables", -1.0, as_of, horizon))
        info["payables"] = {
            "open_documents": open_bills.height,
            "paid_history": len(bill_delays.company),
            "median_delay_days": _median(bill_delays.company),
            "never_paid_share": round(bill_delays.never_share, 4),
        }
    if deals is not None and with_pipeline:
        calib = kf.calibrate_stages(deals, history=src.stage_history, as_of=as_of)
        lags = deals["days_to_invoice"].drop_nulls().to_list()
        lag = round(_median(lags) or 0) if lags else 0
        terms_all = (
            []
            if invoices is None
            else invoices.filter(pl.col("issue_date").is_not_null() & pl.col("due_date").is_not_null())
            .select(t=(pl.col("due_date") - pl.col("issue_date")).dt.total_days())["t"]
            .to_list()
        )
        terms = round(_median(terms_all) or 0) if terms_all else kf.DEFAULT_TERMS_DAYS
        open_deals = deals.filter(~pl.col("is_closed"))
        frames.append(
            kf.pipeline_items(open_deals, calib.probability, lag, terms, customer_delays, as_of, horizon)
        )
        info["pipeline"] = {
            "open_deals": open_deals.height,
            "stage_probability": calib.as_dict(),
            "invoice_lag_days": lag,
            "invoice_lag_source": "median fct_deals.days_to_invoice" if lags else "none observed: 0",
            "payment_terms_days": terms,
            "payment_terms_source": "median invoice due_date - issue_date" if terms_all else "default",
        }
    routed, notes = kf.route(pl.concat(frames), src.accounts, src.rates)
    if src.bank_lines is not None:
        # already on their own account: not routed by currency
        found = (
            recurring.detect(recurring_candidates(src.bank_lines), as_of)
            if recurring_found is None
            else recurring_found
        )
        routed = pl.concat([routed, recurring.project(found, as_of, horizon).select(routed.columns)])
        info["recurring"] = recurring.summary(found)
    info["accounts_by_currency"] = src.accounts
    return KnownFlows(items=routed, notes=notes, info=info)


def load_known_flows(
    wh: Warehouse, as_of: date, horizon: int, functional: str, tx: pl.DataFrame | None = None
) -> KnownFlows:
    """Open receivables (+), open payables (-) and the CRM pipeline (+) settling in (as_of, as_of + horizon].

    See `forecasts.known_flows` for the method. Each item goes to the bank account of its currency
    (`currency_accounts` of `tx`); a currency without an account goes to 'total' at its FX rate.
    Missing tables simply contribute nothing.
    """
    return known_from_sources(read_known_sources(wh, as_of, functional, tx), as_of, horizon, functional)


def _median(xs: list[int] | list[float]) -> float | None:
    if not xs:
        return None
    s = sorted(xs)
    m = len(s) // 2
    return float(s[m]) if len(s) % 2 else (s[m - 1] + s[m]) / 2


_SETTLEMENT_IDS = (
    "select r.bank_transaction_id from marts.reconciliation_matches r "
    "join marts.fct_gl_entries g on g.entry_id = r.counterpart_id "
    "where r.counterpart_type = 'ledger_entry' and g.source_entity in ('Payment', 'BillPayment')"
)
# the latest issue date of the documents a settlement line settles: bank line -> ledger BillPayment ->
# fct_bill_payments.last_bill_date, and bank line -> ledger Payment -> fct_customer_payments.last_invoice_date
_SETTLED_BILL_DATES = (
    "select r.bank_transaction_id, max(cast(p.last_bill_date as date)) as issue_date "
    "from marts.reconciliation_matches r "
    "join marts.fct_gl_entries g on g.entry_id = r.counterpart_id "
    "join marts.fct_bill_payments p on cast(p.bill_payment_id as varchar) = cast(g.source_record_id as varchar) "
    "where r.counterpart_type = 'ledger_entry' and g.source_entity = 'BillPayment' "
    "group by r.bank_transaction_id"
)
_SETTLED_INVOICE_DATES = (
    "select r.bank_transaction_id, max(cast(p.last_invoice_date as date)) as issue_date "
    "from marts.reconciliation_matches r "
    "join marts.fct_gl_entries g on g.entry_id = r.counterpart_id "
    "join marts.fct_customer_payments p on cast(p.payment_id as varchar) = cast(g.source_record_id as varchar) "
    "where r.counterpart_type = 'ledger_entry' and g.source_entity = 'Payment' "
    "group by r.bank_transaction_id"
)
BANK_LINE_SCHEMA = {**recurring.LINE_SCHEMA, "is_settlement": pl.Boolean, "settled_issue_date": pl.Date}


def load_bank_lines(wh: Warehouse) -> pl.DataFrame | None:
    """Every bank line: `account_id, ds, amount, currency, counterparty, is_settlement`.

    `counterparty` is `recurring.counterparty_key` of the line; `is_settlement` marks the lines that
    settle an invoice or a bill (matched in `marts.reconciliation_matches` to a ledger Payment or
    BillPayment), which the receivables and payables forecast; `settled_issue_date` the latest issue
    date of the documents such a line settles, when the marts link them (bills through
    `marts.fct_bill_payments`, invoices through `marts.fct_customer_payments`; null otherwise). None
    without the transactions mart.
    """
    if not wh.table_exists("marts", "fct_bank_transactions"):
        return None
    cols = set(wh.query(f"select * from {TX_TABLE} limit 0").columns)
    text = {c: (f"cast(t.{c} as varchar)" if c in cols else "cast(null as varchar)") for c in (
        "counterparty_name", "remittance_info")}  # fmt: skip
    settles = (
        f"t.bank_transaction_id in ({_SETTLEMENT_IDS})"
        if wh.table_exists("marts", "reconciliation_matches")
        and wh.table_exists("marts", "fct_gl_entries")
        and "bank_transaction_id" in cols
        else "false"
    )
    gl = {"fct_gl_entries": ("source_record_id", "source_entity")}
    dated = [
        q
        for q, needed in (
            (_SETTLED_BILL_DATES, {**gl, "fct_bill_payments": ("bill_payment_id", "last_bill_date")}),
            (_SETTLED_INVOICE_DATES, {**gl, "fct_customer_payments": ("payment_id", "last_invoice_date")}),
        )
        if settles != "false" and _has_columns(wh, needed)
    ]  # fmt: skip
    issued = "d.issue_date" if dated else "cast(null as date)"
    join = (
        "left join (select bank_transaction_id, max(issue_date) as issue_date from ("
        + " union all ".join(dated)
        + ") u group by bank_transaction_id) d on d.bank_transaction_id = t.bank_transaction_id "
        if dated
        else ""
    )
    sql = (
        "select cast(t.account_id as varchar) as account_id, cast(t.booking_date as date) as ds, "
        "cast(t.amount as double precision) as amount, t.currency as currency, "
        f"{text['counterparty_name']} as counterparty_name, {text['remittance_info']} as remittance_info, "
        f"case when {settles} then true else false end as is_settlement, "
        f"case when {settles} then {issued} end as settled_issue_date "
        f"from {TX_TABLE} t {join}where t.booking_date is not null and t.amount is not null "
        "and t.account_id is not null"
    )
    df = wh.query(sql)
    return df.with_columns(
        pl.col("ds").cast(pl.Date),
        pl.col("settled_issue_date").cast(pl.Date),
        pl.col("amount").cast(pl.Float64),
        counterparty=recurring.counterparty_key(pl.col("counterparty_name"), pl.col("remittance_info")),
    ).select([pl.col(c).cast(t) for c, t in BANK_LINE_SCHEMA.items()])


def _has_columns(wh: Warehouse, needed: dict[str, tuple[str, ...]]) -> bool:
    """Every marts table of `needed` exists with the columns it lists."""
    for table, cols in needed.items():
        if not wh.table_exists("marts", table):
            return False
        if not set(cols) <= set(wh.query(f"select * from marts.{table} limit 0").columns):
            return False
    return True


def recurring_candidates(lines: pl.DataFrame) -> pl.DataFrame:
    """The lines recurring flows are detected in: not settling a document (those are receivables and
    payables already, and their lines are already out of the residual), with a counterparty."""
    return lines.filter(~pl.col("is_settlement") & pl.col("counterparty").is_not_null()).select(
        list(recurring.LINE_SCHEMA)
    )


def load_explained(
    wh: Warehouse, lines: pl.DataFrame | None = None
) -> tuple[pl.DataFrame, dict[str, object]]:
    """Daily sum of the bank lines that known flows forecast: `account_id, ds, y_explained`.

    Two kinds, disjoint: lines that settle invoices or bills (`is_settlement`, see `load_bank_lines`),
    and the lines of every recurring series detected on the whole history (`forecasts.recurring`; the
    lines not settling a document only). Empty when no line is either. `lines`: `load_bank_lines(wh)`
    when the caller already has them. The backtest's origins use `explained_as_of` instead.
    """
    schema = {"account_id": pl.Utf8, "ds": pl.Date, "y_explained": pl.Float64}
    lines = load_bank_lines(wh) if lines is None else lines
    if lines is None or lines.is_empty():
        return pl.DataFrame(schema=schema), {"explained_bank_lines": 0, "recurring_bank_lines": 0}
    # names as `detect` reads them (cut-short names joined), or its hits would miss those lines
    candidates = recurring.merge_truncated_names(recurring_candidates(lines))
    as_of = lines["ds"].max()
    assert isinstance(as_of, date)
    hits = recurring.hit_lines(recurring.detect(candidates, as_of))
    rec = candidates.with_columns(outflow=pl.col("amount") < 0).join(
        hits, on=["account_id", "counterparty", "outflow", "ds"], how="semi"
    )
    if "settled_issue_date" not in lines.columns:
        lines = lines.with_columns(settled_issue_date=pl.lit(None, dtype=pl.Date))
    never_open = lines.filter(pl.col("is_settlement") & ~_ever_open())
    settled = lines.filter(pl.col("is_settlement") & _ever_open())
    info: dict[str, object] = {
        "explained_bank_lines": settled.height,
        "settlement_lines_never_open": never_open.height,
        "explained_receipts": _sum(settled.filter(pl.col("amount") > 0)),
        "explained_payments": _sum(settled.filter(pl.col("amount") < 0)),
        "recurring_bank_lines": rec.height,
        "recurring_receipts": _sum(rec.filter(pl.col("amount") > 0)),
        "recurring_payments": _sum(rec.filter(pl.col("amount") < 0)),
    }
    return _daily_explained(settled, rec), info


def explained_as_of(
    lines: pl.DataFrame,
    cutoff: date,
    horizon: int,
    found: list[recurring.RecurringSeries] | None = None,
) -> pl.DataFrame:
    """`account_id, ds, y_explained` of the days up to `cutoff + horizon`, as a forecaster standing at
    `cutoff` (a backtest origin) could have taken them out of the residual: what `load_explained` does
    at the last day, with nothing learnt after the cutoff.

    * Settlement lines booked by the cutoff (matched by then); those booked in the window only when
      every document they settle was issued by the cutoff (`settled_issue_date`; the known flows of the
      cutoff hold only those documents). Without a link to a document (a payment applied to no
      invoice) the line is taken as known, as at the last day.
    * Recurring series detected with `as_of = cutoff` on the lines up to it (`found`, else detected
      here), names read as they could be read then: the hit lines of every series up to the cutoff,
      and in the window the lines of the running ones on the schedule dates the known flows of the
      cutoff forecast (`recurring.window_hits`).
    """
    end = cutoff + timedelta(days=horizon)
    lines = lines.filter(pl.col("ds") <= end)
    if "settled_issue_date" not in lines.columns:
        lines = lines.with_columns(settled_issue_date=pl.lit(None, dtype=pl.Date))
    known_doc = pl.col("settled_issue_date").is_null() | (pl.col("settled_issue_date") <= cutoff)
    settled = lines.filter(pl.col("is_settlement") & _ever_open() & ((pl.col("ds") <= cutoff) | known_doc))
    raw = recurring_candidates(lines)
    upto = raw.filter((pl.col("ds") <= cutoff) & (pl.col("amount") != 0))  # as `detect` reads them
    names = recurring.truncated_name_map(upto)  # the names known at the cutoff
    if found is None:
        found = recurring.detect(upto, cutoff)
    named = recurring.rename_counterparties(raw, names).with_columns(outflow=pl.col("amount") < 0)
    past = recurring.hit_lines(found)
    ahead = recurring.window_hits(found, named.drop("outflow"), cutoff, end)
    keys = ["account_id", "counterparty", "outflow", "ds"]
    rec = pl.concat(
        [
            named.filter(pl.col("ds") <= cutoff).join(past, on=keys, how="semi"),
            named.filter(pl.col("ds") > cutoff).join(ahead, on=keys, how="semi"),
        ]
    )
    return _daily_explained(settled, rec)


def _ever_open() -> pl.Expr:
    """A settlement line whose documents were issued before the day it was booked: known flows can
    hold it (an open document at some earlier origin). One booked on or before its documents' issue
    date (a bill entered the day it is paid) is an open document at no origin, so no known flow ever
    forecasts it and it stays in the residual. Lines without a linked document count as ever open."""
    issued = pl.col("settled_issue_date")
    return issued.is_null() | (issued < pl.col("ds"))


def _daily_explained(settled: pl.DataFrame, rec: pl.DataFrame) -> pl.DataFrame:
    schema = {"account_id": pl.Utf8, "ds": pl.Date, "y_explained": pl.Float64}
    both = pl.concat([settled.select("account_id", "ds", "amount"), rec.select("account_id", "ds", "amount")])
    if both.is_empty():
        return pl.DataFrame(schema=schema)
    daily = both.group_by("account_id", "ds").agg(y_explained=pl.col("amount").sum())
    return daily.select([pl.col(c).cast(t) for c, t in schema.items()]).sort("account_id", "ds")


def _sum(df: pl.DataFrame) -> float:
    return round(float(df["amount"].sum() or 0.0), 2)

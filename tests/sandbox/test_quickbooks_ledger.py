"""The simulated ledger (QuickBooks Online): double entry, statements, links to the other systems, rollout KPIs."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from sandbox.company.bank import simulate_bank
from sandbox.company.clock import Clock
from sandbox.company.crm import simulate_crm
from sandbox.company.ledger import simulate_ledger
from sandbox.company.ledger_truth import cut_ledger, gl_lines, kpi_monthly
from sandbox.company.registry import Registry
from sandbox.company.stripe import simulate_stripe


def _qbo(root: Path, entity: str) -> list[dict]:
    return [json.loads(x) for x in (root / "state/quickbooks" / f"{entity}.jsonl").read_text().splitlines()]


def _truth(root: Path, name: str) -> pl.DataFrame:
    return pl.read_parquet(root / "truth" / f"{name}.parquet")


@pytest.fixture(scope="module")
def year() -> dict:
    """A bigger company (scale 0.3) simulated in memory, for rates that need volume."""
    clock = Clock.for_year()
    reg = Registry(5, clock)
    reg.make_customers(960)
    stripe = simulate_stripe(reg, 0.3)
    bank = simulate_bank(reg, stripe, 0.3)
    crm = simulate_crm(reg, 0.3)
    ledger = simulate_ledger(reg, stripe, bank, crm, 0.3)
    view = cut_ledger(ledger, clock)
    return {"clock": clock, "ledger": ledger, "view": view, "gl": gl_lines(view), "kpi": kpi_monthly(view)}


def test_every_entry_balances_and_the_trial_balance_is_zero(small_sandbox: Path) -> None:
    gl = _truth(small_sandbox, "gl_lines")
    per_entry = gl.group_by("entry_id").agg(diff=(pl.col("debit").sum() - pl.col("credit").sum()).round(2))
    assert gl.height > 100 and per_entry.filter(pl.col("diff") != 0).height == 0
    assert round(gl["debit"].sum() - gl["credit"].sum(), 2) == 0
    assert ((gl["debit"] >= 0) & (gl["credit"] >= 0) & ((gl["debit"] == 0) | (gl["credit"] == 0))).all()


def test_journal_entries_on_the_wire_balance(small_sandbox: Path) -> None:
    for je in _qbo(small_sandbox, "JournalEntry"):
        sides = {"Debit": 0.0, "Credit": 0.0}
        for line in je["Line"]:
            sides[line["JournalEntryLineDetail"]["PostingType"]] += line["Amount"]
        assert round(sides["Debit"] - sides["Credit"], 2) == 0, je["Id"]


def test_pl_and_balance_sheet_agree_with_gl(small_sandbox: Path) -> None:
    gl = _truth(small_sandbox, "gl_lines").with_columns(net=pl.col("debit") - pl.col("credit"))
    pnl = _truth(small_sandbox, "pl_monthly")
    revenue = -gl.filter(pl.col("classification") == "Revenue")["net"].sum()
    expense = gl.filter(pl.col("classification") == "Expense")["net"].sum()
    by_class = dict(pnl.group_by("classification").agg(pl.col("amount").sum()).iter_rows())
    assert by_class["Revenue"] == pytest.approx(revenue, abs=0.05)
    assert by_class["Expense"] == pytest.approx(expense, abs=0.05)
    bs = _truth(small_sandbox, "bs_monthly")
    for month in bs["month"].unique():
        m = bs.filter(pl.col("month") == month)
        assets = m.filter(pl.col("classification") == "Asset")["balance"].sum()
        other = m.filter(pl.col("classification") != "Asset")["balance"].sum()
        assert assets == pytest.approx(other, abs=0.05), month
    last = bs.filter(pl.col("month") == bs["month"].max())
    assert last.filter(pl.col("account_id") == "net_income")["balance"][0] == pytest.approx(
        revenue - expense, abs=0.05
    )


def test_invoices_are_the_receivables(small_sandbox: Path) -> None:
    meta = json.loads((small_sandbox / "sandbox.json").read_text())
    n_days = (date.fromisoformat(meta["as_of"]) - date.fromisoformat(meta["start"])).days + 1
    receivables = _truth(small_sandbox, "receivables")
    invoices = [i for i in _qbo(small_sandbox, "Invoice") if i["PrivateNote"] != "Voided"]
    amount = dict(receivables.select("invoice_number", "amount").iter_rows())
    assert invoices and all(i["TotalAmt"] == amount[i["DocNumber"]] for i in invoices)
    issued_early = receivables.filter(pl.col("issue_day").is_between(0, n_days - 15))["invoice_number"]
    assert set(issued_early) <= {i["DocNumber"] for i in invoices}
    assert len({i["DocNumber"] for i in invoices}) == len(invoices)


def test_payments_link_their_invoice_and_bank_receipt(small_sandbox: Path) -> None:
    matches = _truth(small_sandbox, "payment_invoice_matches")
    bank = _truth(small_sandbox, "bank_lines").select("bank_transaction_id", "ref", "expected_amount", "kind")
    joined = matches.join(bank, on="bank_transaction_id")
    assert joined.height == matches.height > 0
    assert (joined["kind"] == "invoice_payment").all() and (joined["ref"] == joined["invoice_number"]).all()
    assert (joined["amount"] == joined["expected_amount"]).all()
    invoice_ids = {i["Id"] for i in _qbo(small_sandbox, "Invoice")}
    for p in _qbo(small_sandbox, "Payment"):
        assert p["Line"][0]["LinkedTxn"][0]["TxnId"] in invoice_ids


def test_bank_vendor_payments_are_booked_once_and_duplicates_twice(small_sandbox: Path) -> None:
    gl = _truth(small_sandbox, "gl_lines")
    bank = _truth(small_sandbox, "bank_lines").filter(
        pl.col("kind").is_in(["vendor_payment", "duplicate_vendor_payment"])
    )
    booked = gl.filter(
        pl.col("entity").is_in(["BillPayment", "JournalEntry"]) & (pl.col("kind") != "fx_transfer")
    )
    sources = set(booked["source_link"].drop_nulls())
    # vendor payments made by the last week are in the books (manual keying lags a few days)
    recent = bank["date"].max() - pl.duration(days=7)
    settled = bank.filter(pl.col("date") <= recent)
    assert set(settled["bank_transaction_id"]) <= sources
    defects = _truth(small_sandbox, "defects")
    dup_bill = defects.filter(pl.col("defect_type") == "duplicate_bill_payment")
    dup_bank = defects.filter(pl.col("defect_type") == "duplicate_vendor_payment")
    bank_ids = {r.split(",")[0] for r in dup_bank["record_ids"]}
    assert {r.split(",")[1] for r in dup_bill["record_ids"]} <= bank_ids


def test_eur_documents_carry_the_days_exchange_rate(small_sandbox: Path) -> None:
    rates = dict(_truth(small_sandbox, "fx_rates").select(pl.col("date").cast(pl.Utf8), "eurusd").iter_rows())
    eur = [
        o
        for e in ("Invoice", "Payment", "Bill")
        for o in _qbo(small_sandbox, e)
        if o["CurrencyRef"]["value"] == "EUR"
    ]
    assert eur
    for obj in eur:
        assert obj["ExchangeRate"] == rates[obj["TxnDate"]]


def test_rollout_kpis_improve_after_go_live(year: dict) -> None:
    kpi, clock = year["kpi"], year["clock"]
    go_live = np.datetime64(clock.go_live, "M").astype("datetime64[D]").astype(object)

    def mean(name: str, after: bool) -> float:
        k = kpi.filter(pl.col("kpi") == name)
        k = k.filter(pl.col("month") > go_live) if after else k.filter(pl.col("month") < go_live)
        return float(k["value"].mean())

    assert mean("manual_entry_share", False) > 0.6 and mean("manual_entry_share", True) < 0.2
    assert mean("manual_entry_hours", False) > 3 * mean("manual_entry_hours", True)
    assert mean("close_duration_days", False) >= 8 and mean("close_duration_days", True) <= 3
    assert mean("time_to_invoice_days", False) >= 5 and mean("time_to_invoice_days", True) <= 2
    assert mean("invoice_error_rate", False) > mean("invoice_error_rate", True)
    dups = kpi.filter(pl.col("kpi") == "duplicate_payments_count")["value"].sum()
    assert dups == sum(1 for t in year["view"].visible if t.kind == "duplicate")


def test_manual_entries_are_marked_and_aliases_only_before_go_live(year: dict) -> None:
    view, clock = year["view"], year["clock"]
    go_live = (clock.go_live - clock.start).days
    aliases = [t for t in view.visible if t.party and t.party.startswith("alias:")]
    assert aliases and all(t.manual and t.day < go_live for t in aliases)
    late = [t for t in view.visible if t.kind == "accrual" and t.day < go_live]
    assert all((t.created - clock.to_unix(clock.day(np.array([t.day])))[0]) / 86400 >= 8 for t in late)


def test_vendor_clusters_include_qbo_aliases(small_sandbox: Path) -> None:
    clusters = _truth(small_sandbox, "vendor_clusters").filter(pl.col("source") == "quickbooks")
    vendors = {v["Id"]: v["DisplayName"] for v in _qbo(small_sandbox, "Vendor")}
    assert dict(clusters.select("qbo_vendor_id", "descriptor").iter_rows()) == vendors
    aws = clusters.filter(pl.col("vendor_id") == "ven_aws")["descriptor"].to_list()
    assert "AWS" in aws and "Amazon Web Services" in aws


def test_deleted_entries_are_gone_from_queries(year: dict) -> None:
    view = year["view"]
    assert view.deleted and all(t.kind == "entered_twice" for t in view.deleted)
    visible = {t.id for t in view.visible}
    assert not visible & {t.id for t in view.deleted}


def test_shopify_orders_are_booked_as_daily_summaries(small_sandbox: Path) -> None:
    orders = {}
    for line in (small_sandbox / "state/shopify/orders.jsonl").read_text().splitlines():
        order = json.loads(line)
        orders[order["id"]] = order  # the API may serve an order twice
    gl = _truth(small_sandbox, "gl_lines").filter(pl.col("kind") == "shopify_sales")
    sales = gl.filter(
        (pl.col("description") == "Shopify sales") & (pl.col("account_name") == "Shopify Clearing")
    )
    assert orders and sales["debit"].sum() == pytest.approx(
        sum(float(o["total_price"]) for o in orders.values()), abs=0.05
    )
    tax = gl.filter(pl.col("account_name") == "Sales Tax Payable")["credit"].sum()
    assert tax == pytest.approx(sum(float(o["total_tax"]) for o in orders.values()), abs=0.05)

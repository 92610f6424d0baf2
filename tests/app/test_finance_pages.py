"""AppTests of the pages on the ledger, reconciliation, entity, anomaly and categorisation marts: each
shows a number equal to the warehouse's (asked of the snapshot directly) and its controls work."""

from __future__ import annotations

import pytest

from tests.app.conftest import snapshot_query
from tests.app.test_pages import frame_with, has_mart, metric, number, open_page, open_tab
from tests.conftest import Run


def one(run: Run, sql: str):  # noqa: ANN201 - a scalar of any type
    return snapshot_query(run, sql)[0][0]


def need(run: Run, *marts: str) -> None:
    missing = [m for m in marts if not has_mart(run, m)]
    if missing:
        pytest.skip(f"not in this warehouse: {missing}")


NET_INCOME = (
    "select sum(case when classification = 'Revenue' then amount else -amount end) "
    "from marts.profit_and_loss where basis = '{}'"
)


def test_statements_pnl_basis_toggle_and_balance_sheet(app_env: Run) -> None:
    need(app_env, "profit_and_loss", "balance_sheet", "cash_flow_statement", "trial_balance")
    at = open_page("statements")
    assert at.title[0].value == "Financial statements"
    assert number(metric(at, "Net income")) == pytest.approx(
        float(one(app_env, NET_INCOME.format("accrual"))), abs=0.01
    )
    at.radio(key="pnl_basis").set_value("cash").run()
    assert not at.exception
    assert number(metric(at, "Net income")) == pytest.approx(
        float(one(app_env, NET_INCOME.format("cash"))), abs=0.01
    )

    open_tab(at, "statements_tab", "Balance sheet")
    month_end = at.selectbox(key="bs_month").options[-1]  # the earliest month end
    at.selectbox(key="bs_month").set_value(month_end).run()
    assets = one(app_env, f"select sum(balance) from marts.balance_sheet where month_end = date '{month_end}' "
                          "and classification = 'Asset'")  # fmt: skip
    assert number(metric(at, "Assets (")) == pytest.approx(float(assets), abs=0.01)
    assert number(metric(at, "Assets − liabilities − equity")) == pytest.approx(0.0, abs=0.01)

    open_tab(at, "statements_tab", "Cash flow")
    at.radio(key="cf_method").set_value("indirect").run()
    flows = frame_with(at, "line_item", "total")
    expected = dict(snapshot_query(app_env, "select line_item, sum(amount) from marts.cash_flow_statement "
                                            "where method = 'indirect' group by 1"))  # fmt: skip
    assert dict(zip(flows["line_item"], flows["total"], strict=True)) == pytest.approx(
        {k: float(v) for k, v in expected.items()}, abs=0.01
    )

    open_tab(at, "statements_tab", "Trial balance")
    worst = one(app_env, "select max(abs(s)) from (select sum(balance) as s from marts.trial_balance "
                         "group by balance_date) t")  # fmt: skip
    assert number(metric(at, "Largest daily imbalance")) == pytest.approx(float(worst), abs=0.005)
    assert number(metric(at, "Days checked")) == one(
        app_env, "select count(distinct balance_date) from marts.trial_balance"
    )


def test_statements_aging_buckets_equal_the_warehouse(app_env: Run) -> None:
    need(app_env, "ar_aging", "ap_aging")
    at = open_tab(open_page("statements"), "statements_tab", "AR and AP aging")
    tables = [df.value for df in at.dataframe if {"aging_bucket", "documents"} <= set(df.value.columns)]
    assert len(tables) == 2  # AR, then AP
    for shown, mart in zip(tables, ("ar_aging", "ap_aging"), strict=True):
        expected = dict(
            snapshot_query(
                app_env, f"select aging_bucket, sum(amount_open_functional) from marts.{mart} group by 1"
            )
        )
        got = dict(zip(shown["aging_bucket"], shown["amount_open_functional"], strict=True))
        assert got == pytest.approx({k: float(v) for k, v in expected.items()}, abs=0.01), mart
    assert {"customer_name", "days_past_due"} <= set(frame_with(at, "customer_name", "days_past_due").columns)
    assert {"vendor_name", "days_past_due"} <= set(frame_with(at, "vendor_name", "days_past_due").columns)


def test_statements_fx_revaluation_equals_the_warehouse_per_month_end(app_env: Run) -> None:
    need(app_env, "fx_revaluation")
    at = open_tab(open_page("statements"), "statements_tab", "FX revaluation")
    months = at.selectbox(key="fx_month").options
    assert months, "the sandbox holds EUR at every month end"
    for month_end in (months[0], months[-1]):  # the latest and the earliest
        at.selectbox(key="fx_month").set_value(month_end).run()
        assert not at.exception
        expected = one(app_env, "select sum(unrealised_gain_loss) from marts.fx_revaluation "
                                f"where month_end = date '{month_end}'")  # fmt: skip
        assert number(metric(at, "Unrealised gain/loss")) == pytest.approx(float(expected), abs=0.01)
        previous = one(app_env, "select coalesce(sum(unrealised_gain_loss), 0) from marts.fx_revaluation "
                                f"where month_end = date '{month_end}' - interval 1 day * extract(day from "
                                f"date '{month_end}')")  # fmt: skip
        change = number(metric(at, "Change since the previous month end"))
        assert change == pytest.approx(float(expected) - float(previous), abs=0.01)
        items = frame_with(at, "item_type", "unrealised_gain_loss", "proposed_amount")
        assert len(items) == one(
            app_env, f"select count(*) from marts.fx_revaluation where month_end = date '{month_end}'"
        )


def test_overview_due_amounts_and_scorecard_tiles(app_env: Run) -> None:
    need(app_env, "fct_invoices", "rollout_scorecard")
    at = open_page("overview")
    day = one(app_env, "select least(current_date, max(issue_date)) from marts.fct_invoices")
    due = one(app_env, f"select coalesce(sum(amount_open_functional), 0) from marts.fct_invoices where due_date >= "
                       f"date '{day}' and due_date < date '{day}' + 30 and amount_open_functional <> 0")  # fmt: skip
    assert number(metric(at, "Receivables (AR) due in 30 days")) == pytest.approx(float(due), abs=0.01)
    kpis = [r[0] for r in snapshot_query(app_env, "select kpi from marts.rollout_scorecard")]
    labels = [m.label for m in at.metric]
    for kpi in kpis:
        assert any(label.startswith(kpi.replace("_", " ").capitalize()) for label in labels), kpi
    met = one(app_env, "select current from marts.rollout_scorecard where kpi = 'auto_match_rate'")
    if met is not None:
        assert metric(at, "Auto match rate") == f"{met:.1%}"


def test_exception_drill_down_reaches_the_payout_charges_and_raw_payloads(app_env: Run) -> None:
    need(app_env, "reconciliation_exceptions", "reconciliation_matches")
    row = snapshot_query(
        app_env,
        "select exception_id, counterpart_id from marts.reconciliation_exceptions "
        "where exception_type = 'amount_mismatch' and counterpart_id like 'po_%' order by exception_id limit 1",
    )
    if not row:
        pytest.skip("no payout amount mismatch in this warehouse")
    exception_id, payout = row[0]
    at = open_page("reconciliation")
    at.multiselect(key="recon_types").set_value(["amount_mismatch"]).run()
    at.selectbox(key="recon_drill").set_value(exception_id).run()
    assert not at.exception
    charges = frame_with(at, "payout_id", "balance_transaction_id", "fee")
    n = one(
        app_env,
        f"select count(*) from staging.stg_stripe__payout_balance_transactions where payout_id = '{payout}'",
    )
    assert (charges["payout_id"] == payout).sum() == n
    assert payout in set(frame_with(at, "payout_id", "arrival_date")["payout_id"])
    assert any(e.label.startswith("raw_stripe.payouts") for e in at.expander)


def test_gl_line_drill_down_finds_its_bank_line(app_env: Run) -> None:
    need(app_env, "fct_gl_entries", "reconciliation_matches")
    entry, bank = snapshot_query(
        app_env,
        "select m.counterpart_id, m.bank_transaction_id from marts.reconciliation_matches m "
        "join marts.fct_gl_entries g on g.entry_id = m.counterpart_id "
        "where m.counterpart_type = 'ledger_entry' and g.source_entity = 'Deposit' order by 1 limit 1",
    )[0]
    at = open_tab(open_page("reconciliation"), "recon_tab", "Ledger lines")
    at.multiselect(key="gl_entities").set_value(["Deposit"]).run()
    at.selectbox(key="gl_drill").set_value(entry).run()
    assert not at.exception
    lines = next(df.value for df in at.dataframe if {"bank_transaction_id", "counterparty_name"} <= set(df.value.columns)
                 and bank in set(df.value["bank_transaction_id"]))  # fmt: skip
    assert len(lines) >= 1
    docs = [
        df.value
        for df in at.dataframe
        if {"entry_id", "line_id", "source_record_id"} <= set(df.value.columns)
    ]
    assert any(set(d["entry_id"]) == {entry} for d in docs)  # the drill-down's ledger document, all its lines
    n = one(app_env, f"select count(*) from marts.fct_gl_entries where entry_id = '{entry}'")
    assert any(set(d["entry_id"]) == {entry} and len(d) == n for d in docs)


def test_anomalies_and_entity_evidence(app_env: Run) -> None:
    need(app_env, "anomaly_flags", "dim_vendors")
    at = open_tab(open_page("reconciliation"), "recon_tab", "Duplicates and anomalies")
    reasons = {
        r[0]
        for r in snapshot_query(
            app_env, "select reason from marts.anomaly_flags where kind = 'duplicate_payment'"
        )
    }
    assert reasons <= {w.value for w in at.warning}
    flags = frame_with(at, "flag_date", "kind", "reason")
    assert len(flags) == one(app_env, "select count(*) from marts.anomaly_flags")
    open_tab(at, "recon_tab", "Vendors and customers")
    key, name = snapshot_query(app_env, "select vendor_key, vendor_name from marts.dim_vendors "
                                        "order by member_count desc, vendor_name limit 1")[0]  # fmt: skip
    assert at.selectbox(key="entity_pick").value == key
    members = frame_with(at, "member_id", "source", "raw_name")
    assert len(members) == one(
        app_env, f"select member_count from marts.dim_vendors where vendor_key = '{key}'"
    )
    links = one(app_env, "select count(*) from intermediate.int_vendor_links l where exists (select 1 from "
                         "intermediate.int_vendors_resolved r where r.vendor_key = '" + key + "' and r.member_id in "
                         "(l.member_a, l.member_b))")  # fmt: skip
    assert len(frame_with(at, "member_a", "member_b", "rule", "score")) == links
    at.radio(key="entity_kind").set_value("customer").run()
    assert not at.exception
    assert len(frame_with(at, "customer_key", "customer_name")) == one(
        app_env, "select count(*) from marts.dim_customers"
    )


def test_expense_categories_counts_and_review_queue(app_env: Run) -> None:
    need(app_env, "expense_categories")
    at = open_page("expense_categories")
    counts = dict(snapshot_query(app_env, "select status, count(*) from marts.expense_categories group by 1"))
    assert number(metric(at, "Categorised automatically")) == counts.get("auto", 0)
    assert number(metric(at, "Waiting for review")) == counts.get("review", 0)
    if counts.get("review", 0):
        queue = frame_with(at, "record_id", "predicted_category", "confidence")
        assert len(queue) == counts["review"]
    else:
        assert any("Nothing waits for review" in c.value for c in at.caption), [c.value for c in at.caption]

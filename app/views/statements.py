"""Financial statements from the ledger marts: P&L by month (accrual or cash), the balance sheet at a month
end, the cash flow statement (direct or indirect), the trial balance check, AR/AP aging and the month-end
FX revaluation."""

from __future__ import annotations

from datetime import timedelta

import plotly.express as px
import plotly.graph_objects as go
import polars as pl
import queries as q
import streamlit as st
import ui

st.title("Financial statements")
cur = q.functional_currency()
st.caption(
    f"All amounts in the functional currency, {cur}, from the QuickBooks ledger (`marts.fct_gl_entries`)."
)
pnl_tab, bs_tab, cf_tab, tb_tab, aging_tab, fx_tab = st.tabs(
    ["Profit and loss", "Balance sheet", "Cash flow", "Trial balance", "AR and AP aging", "FX revaluation"],
    key="statements_tab",
    on_change="rerun",
)

with pnl_tab:
    if pnl_tab.open:  # lazy: only the selected tab's content runs
        if ui.require("profit_and_loss"):
            basis = st.radio("Basis", ["accrual", "cash"], key="pnl_basis", horizontal=True,
                             help="accrual: when invoiced or billed; cash: when paid")  # fmt: skip
            months = q.pnl_months(basis)
            c = st.columns(3)
            c[0].metric(f"Revenue ({cur})", ui.money(months["revenue"].sum()))
            c[1].metric(f"Expenses ({cur})", ui.money(months["expenses"].sum()))
            c[2].metric(f"Net income ({cur})", ui.money(months["net_income"].sum()))
            fig = go.Figure()
            fig.add_trace(
                go.Bar(x=months["month"], y=months["revenue"], name="revenue", marker_color="#2ca02c")
            )
            fig.add_trace(
                go.Bar(x=months["month"], y=-months["expenses"], name="expenses", marker_color="#d62728")
            )
            fig.add_trace(go.Scatter(x=months["month"], y=months["net_income"], name="net income",
                                     line={"color": ui.ACTUAL}))  # fmt: skip
            fig.update_layout(barmode="relative")
            st.plotly_chart(ui.style(fig, f"Profit and loss by month ({basis} basis)", f"amount ({cur})", "month"),
                            key="pnl_chart")  # fmt: skip
            ui.table(months, key="pnl_months", money_cols=["revenue", "expenses", "net_income"])
            wide = q.by_month_wide(q.pnl_accounts(basis), ["classification", "account_name"])
            st.markdown("**By account** (revenue: credit − debit; expense: debit − credit)")
            ui.table(
                wide, key="pnl_accounts", money_cols=[c for c in wide.columns if c[:1].isdigit()] + ["total"]
            )

with bs_tab:
    if bs_tab.open:  # lazy: only the selected tab's content runs
        if ui.require("balance_sheet"):
            month_end = st.selectbox("Month end", q.balance_sheet_months(), key="bs_month")
            totals = q.balance_sheet_totals(month_end)
            assets, liab, equity = (totals.get(k, 0.0) for k in ("Asset", "Liability", "Equity"))
            c = st.columns(4)
            c[0].metric(f"Assets ({cur})", ui.money(assets))
            c[1].metric(f"Liabilities ({cur})", ui.money(liab))
            c[2].metric(f"Equity ({cur})", ui.money(equity))
            c[3].metric(f"Assets − liabilities − equity ({cur})", ui.money(assets - liab - equity))
            sheet = q.balance_sheet(month_end)
            st.plotly_chart(
                ui.style(px.bar(sheet, x="balance", y="account_name", color="classification", orientation="h"),
                         f"Balance sheet at {month_end}", "account", x_title=f"balance ({cur})", height=460),
                key="bs_chart",
            )  # fmt: skip
            ui.table(sheet, key="bs_table", money_cols=["balance"])

with cf_tab:
    if cf_tab.open:  # lazy: only the selected tab's content runs
        if ui.require("cash_flow_statement"):
            method = st.radio("Method", ["direct", "indirect"], key="cf_method", horizontal=True,
                              help="direct: bank receipts and payments; indirect: net income plus changes in "
                              "non-cash balance sheet accounts")  # fmt: skip
            flows = q.cash_flow(method)
            parts = flows.filter(~flows["line_item"].str.starts_with("net change"))
            fig = px.bar(parts, x="month", y="amount", color="line_item", barmode="relative")
            st.plotly_chart(ui.style(fig, f"Cash flow by month ({method} method)", f"amount ({cur})", "month"),
                            key="cf_chart")  # fmt: skip
            wide = q.by_month_wide(flows, ["line_item"])
            ui.table(wide, key="cf_table", money_cols=[c for c in wide.columns if c != "line_item"])

with tb_tab:
    if tb_tab.open:  # lazy: only the selected tab's content runs
        if ui.require("trial_balance"):
            check = q.trial_balance_check()
            worst = float(check["sum_of_balances"].abs().max() or 0.0)
            c = st.columns(2)
            c[0].metric("Days checked", f"{check.height:,}")
            c[1].metric(f"Largest daily imbalance ({cur})", ui.money(worst))
            if worst < 0.005:
                st.success(f"The trial balance sums to 0 on every one of the {check.height:,} days.")
            else:
                st.error("The trial balance does not sum to 0 on some days (worst first below).")
            day = st.selectbox("Trial balance at", check.sort("balance_date", descending=True)["balance_date"].to_list(),
                               key="tb_day")  # fmt: skip
            tb = q.trial_balance_at(day)
            st.caption(f"Debits {ui.money(tb['debit_balance'].sum(), cur)} · credits "
                       f"{ui.money(tb['credit_balance'].sum(), cur)}")  # fmt: skip
            ui.table(tb, key="tb_table", money_cols=["debit_balance", "credit_balance"])
            with st.expander("Sum of all balances per day (worst first)"):
                ui.table(
                    check, key="tb_check", money_cols=["sum_of_balances", "debits", "credits"], height=300
                )

with aging_tab:
    if aging_tab.open:  # lazy: only the selected tab's content runs
        cols = st.columns(2)
        for col, mart, label in (
            (cols[0], "ar_aging", "Receivables (AR)"),
            (cols[1], "ap_aging", "Payables (AP)"),
        ):
            with col:
                st.subheader(label)
                if ui.require(mart):
                    buckets = q.aging_buckets(mart)
                    as_of = buckets["as_of_date"].max() if not buckets.is_empty() else None
                    st.caption(f"Open at {as_of}, by days past due.")
                    st.plotly_chart(
                        ui.style(px.bar(buckets, x="aging_bucket", y="amount_open_functional"),
                                 f"{label} by days past due", f"open ({cur})", x_title="days past due", height=300),
                        key=f"{mart}_chart",
                    )  # fmt: skip
                    ui.table(buckets.drop("as_of_date"), key=f"{mart}_buckets", money_cols=["amount_open_functional"],
                             count_cols=["documents"])  # fmt: skip
                    with st.expander("Open documents"):
                        ui.table(q.aging_items(mart), key=f"{mart}_items",
                                 money_cols=["amount_open", "amount_open_functional"], height=300)  # fmt: skip

with fx_tab:
    if fx_tab.open:  # lazy: only the selected tab's content runs
        if ui.require("fx_revaluation"):
            st.caption(
                "Foreign-currency bank balances and open invoices and bills revalued at each month end's closing "
                "rate. A report with the entry to post and reverse on the 1st, not posted: the statements above "
                "are the ledger's."
            )
            months = q.fx_revaluation_months()
            if not months:
                st.info("Nothing is held in a foreign currency at any month end.")
            else:
                by_month = q.fx_revaluation_by_month()
                st.plotly_chart(
                    ui.style(px.bar(by_month, x="month_end", y="unrealised_gain_loss", color="item_type"),
                             "Unrealised FX gain (+) or loss (−) at each month end", f"amount ({cur})", "month end"),
                    key="fx_chart",
                )  # fmt: skip
                month_end = st.selectbox("Month end", months, key="fx_month")
                items = q.fx_revaluation_at(month_end)
                c = st.columns(2)
                c[0].metric(f"Unrealised gain/loss ({cur})", ui.money(items["unrealised_gain_loss"].sum()))
                # month-end totals, not the open items' own changes: an item settled in the month has no
                # row any more, and its earlier gain/loss reverses all the same
                previous_end = month_end.replace(day=1) - timedelta(days=1)
                previous = float(
                    by_month.filter(pl.col("month_end") == previous_end)["unrealised_gain_loss"].sum()
                )
                c[1].metric(f"Change since the previous month end ({cur})",
                            ui.money(items["unrealised_gain_loss"].sum() - previous))  # fmt: skip
                ui.table(items, key="fx_items", money_cols=["balance_original", "carrying_amount_functional",
                         "revalued_amount_functional", "unrealised_gain_loss", "unrealised_gain_loss_change",
                         "proposed_amount"])  # fmt: skip

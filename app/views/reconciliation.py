"""Reconciliation workbench: exceptions by type, value and age with a drill-down to the records and the
audit trail; and an explorer of bank lines with a drill-down to the raw payload they were loaded from."""

from __future__ import annotations

from datetime import timedelta

import plotly.express as px
import queries as q
import streamlit as st
import ui

st.title("Reconciliation")
exceptions_tab, bank_tab = st.tabs(["Exceptions", "Bank transactions"])

with exceptions_tab:
    if ui.require("reconciliation_exceptions"):
        by_type, by_age = q.exceptions_by_type(), q.exceptions_by_age()
        c = st.columns(2)
        c[0].plotly_chart(
            ui.style(px.bar(by_type, x="exception_type", y="value"), "Open exceptions by type",
                     f"value ({q.functional_currency()})", x_title="exception type", height=320),
            key="recon_by_type_chart",
        )  # fmt: skip
        c[1].plotly_chart(
            ui.style(px.bar(by_age, x="age_bucket", y="exceptions"), "Open exceptions by age", "exceptions",
                     x_title="age since detected", height=320),
            key="recon_by_age_chart",
        )  # fmt: skip
        f = st.columns(3)
        types = f[0].multiselect(
            "Exception type", q.exception_types(), key="recon_types", placeholder="all types"
        )
        min_amount = f[1].number_input(
            "Minimum amount", min_value=0.0, value=0.0, step=100.0, key="recon_min"
        )
        age = f[2].selectbox("Detected within", [None, 7, 30, 90, 365], key="recon_age",
                             format_func=lambda d: "any time" if d is None else f"{d} days")  # fmt: skip
        exc = q.exceptions(types, min_amount, age)
        st.caption(f"{exc.height} exceptions match.")
        ui.table(exc, key="recon_exceptions", money_cols=["amount"], count_cols=["age_days"], height=320)
        if not exc.is_empty():
            pick = st.selectbox("Drill down into exception", exc["exception_id"].to_list(), key="recon_drill")
            row = exc.filter(exc["exception_id"] == pick).row(0, named=True)
            st.json(ui.jsonable(row), expanded=True)
            ids = ui.record_ids(row["record_ids"])
            lines = q.bank_lines_for(ids)
            if not lines.is_empty():
                st.markdown("**Bank lines in this exception**")
                ui.table(lines, key="recon_drill_lines", money_cols=["amount"])
            if q.has_table("marts", "reconciliation_matches"):
                matched = q.matches_for(ids)
                st.markdown(f"**Matches that involve these records** ({matched.height})")
                if not matched.is_empty():
                    ui.table(matched, key="recon_drill_matches")
            if q.has_table("marts", "audit_trail"):
                audit = q.audit_for(ids)
                if audit is None:
                    st.info("`marts.audit_trail` has no record id column to link on.")
                else:
                    st.markdown(f"**Audit trail of {', '.join(ids)}**")
                    ui.table(audit, key="recon_audit")
            else:
                ui.require("audit_trail")
    if q.has_table("marts", "reconciliation_matches"):
        st.subheader("Matches by rule")
        ui.table(
            q.matches_by_rule(), key="recon_matches", count_cols=["matches"], pct_cols=["avg_confidence"]
        )

with bank_tab:
    if ui.require("fct_bank_transactions"):
        opts = q.bank_filter_options()
        f = st.columns([2, 2, 1])
        default_start = max(opts["first_day"], opts["last_day"] - timedelta(days=90))
        period = f[0].date_input(
            "Booking date", (default_start, opts["last_day"]), min_value=opts["first_day"],
            max_value=opts["last_day"], key="bank_dates",
        )  # fmt: skip
        accounts = f[1].multiselect(
            "Account", opts["accounts"], key="bank_accounts", placeholder="all accounts"
        )
        currencies = f[2].multiselect(
            "Currency", opts["currencies"], key="bank_currencies", placeholder="all"
        )
        start, end = ui.date_range(period, opts["last_day"])
        totals = q.bank_totals(start, end, accounts, currencies)
        lines = q.bank_transactions(start, end, accounts, currencies)
        ui.table(totals, key="bank_totals", money_cols=["inflow", "outflow", "net"], count_cols=["lines"])
        if lines.height > q.BANK_ROW_LIMIT:
            st.caption(f"Showing the newest {q.BANK_ROW_LIMIT:,} lines; narrow the filters to see the rest.")
            lines = lines.head(q.BANK_ROW_LIMIT)
        ui.table(lines, key="bank_lines", money_cols=["amount"], height=360)
        if lines.is_empty():
            st.info("No bank lines match these filters.")
        else:
            pick = st.selectbox(
                "Drill down into bank line", lines["bank_transaction_id"].to_list(), key="bank_drill"
            )
            line = q.bank_line(pick)
            raw = q.raw_source(line) if line else None
            left, right = st.columns(2)
            with left:
                st.markdown("**The line in `marts.fct_bank_transactions`**")
                st.json(ui.jsonable(line or {}), expanded=True)
            with right:
                st.markdown(f"**Raw payload in `{raw['table'] if raw else '?'}`**")
                ui.raw_payload(raw)

"""Reconciliation workbench: exceptions by type, value and age with a drill-down to every linked record
(bank line, ledger document, payout and its charges, invoice and deal, raw payloads) and the audit trail;
ledger lines with the same drill-down; duplicate payments and anomaly flags; vendor and customer clusters
with their evidence; and an explorer of bank lines with a drill-down to the raw payload."""

from __future__ import annotations

from datetime import timedelta

import plotly.express as px
import queries as q
import streamlit as st
import ui

st.title("Reconciliation")
exceptions_tab, ledger_tab, anomalies_tab, entities_tab, bank_tab = st.tabs(
    ["Exceptions", "Ledger lines", "Duplicates and anomalies", "Vendors and customers", "Bank transactions"],
    key="recon_tab",
    on_change="rerun",
)

with exceptions_tab:
    if exceptions_tab.open:  # lazy: only the selected tab's content runs
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
                         x_title="age of the record (days to the latest booked day)", height=320),
                key="recon_by_age_chart",
            )  # fmt: skip
            f = st.columns(3)
            types = f[0].multiselect(
                "Exception type", q.exception_types(), key="recon_types", placeholder="all types"
            )
            min_amount = f[1].number_input(
                "Minimum amount", min_value=0.0, value=0.0, step=100.0, key="recon_min"
            )
            age = f[2].selectbox("Age at most", [None, 7, 30, 90, 365], key="recon_age",
                                 format_func=lambda d: "any time" if d is None else f"{d} days")  # fmt: skip
            exc = q.exceptions(types, min_amount, age)
            st.caption(f"{exc.height} exceptions match.")
            ui.table(exc, key="recon_exceptions", money_cols=["amount"], count_cols=["age_days"], height=320)
            if not exc.is_empty():
                pick = st.selectbox(
                    "Drill down into exception", exc["exception_id"].to_list(), key="recon_drill"
                )
                row = exc.filter(exc["exception_id"] == pick).row(0, named=True)
                st.json(ui.jsonable(row), expanded=True)
                ids = ui.record_ids(row["record_ids"])
                ids += [str(row[c]) for c in ("bank_transaction_id", "counterpart_id") if row.get(c)]
                linked = q.linked_records(ids)
                ui.linked_view(linked, q.raw_payloads(linked), key="recon_drill")
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

with ledger_tab:
    if ledger_tab.open:  # lazy: only the selected tab's content runs
        if ui.require("fct_gl_entries"):
            opts = q.gl_filter_options()
            f = st.columns([2, 2, 1])
            accounts = f[0].multiselect(
                "Account", opts["accounts"], key="gl_accounts", placeholder="all accounts"
            )
            entities = f[1].multiselect(
                "Document type", opts["entities"], key="gl_entities", placeholder="all"
            )
            manual = f[2].checkbox("Keyed by hand only", key="gl_manual")
            gl = q.gl_lines(accounts, entities, manual)
            more = (
                f" (the newest {q.GL_ROW_LIMIT:,}; narrow the filters)" if gl.height == q.GL_ROW_LIMIT else ""
            )
            st.caption(f"{gl.height:,} ledger lines{more}.")
            ui.table(gl, key="gl_lines", money_cols=["debit", "credit"], height=320)
            if not gl.is_empty():
                entry = st.selectbox("Drill down into ledger entry", gl["entry_id"].unique(maintain_order=True),
                                     key="gl_drill")  # fmt: skip
                linked = q.linked_records([entry])
                ui.linked_view(linked, q.raw_payloads(linked), key="gl_drill")

with anomalies_tab:
    if anomalies_tab.open:  # lazy: only the selected tab's content runs
        if ui.require("anomaly_flags"):
            kinds = q.anomaly_kinds()
            st.subheader("Duplicate payments")
            dups = q.anomaly_flags(["duplicate_payment"])
            st.caption(f"{dups.height} payment(s) flagged as paying the same vendor the same amount again.")
            for r in dups.iter_rows(named=True):
                st.warning(r["reason"], icon=":material/content_copy:")
            st.subheader("Every anomaly flag")
            ui.table(kinds, key="anomaly_kinds_table", money_cols=["amount"], count_cols=["flags"])
            chosen = st.multiselect(
                "Kind", kinds["kind"].to_list(), key="anomaly_kinds", placeholder="all kinds"
            )
            flags = q.anomaly_flags(chosen)
            ui.table(flags, key="anomaly_flags", money_cols=["amount"], ratio_cols=["score"], height=360)
            if not flags.is_empty():
                pick = st.selectbox("Drill down into flag", range(flags.height), key="anomaly_drill",
                                    format_func=lambda i: f"{flags['flag_date'][i]} · {flags['kind'][i]} · "
                                    f"{flags['entity'][i]}")  # fmt: skip
                st.markdown(f"> {flags['reason'][pick]}")
                ids = ui.record_ids(flags["record_ids"][pick])
                linked = q.linked_records(ids)
                ui.linked_view(linked, q.raw_payloads(linked), key="anomaly_drill")

with entities_tab:
    if entities_tab.open:  # lazy: only the selected tab's content runs
        kind = st.radio("Cluster", ["vendor", "customer"], key="entity_kind", horizontal=True,
                        format_func=lambda k: f"{k.capitalize()}s")  # fmt: skip
        if ui.require(f"dim_{kind}s"):
            clusters = q.vendors() if kind == "vendor" else q.customers()
            name_col, key_col = f"{kind}_name", f"{kind}_key"
            st.caption(f"{clusters.height:,} resolved {kind}s, most merged records first.")
            ui.table(clusters, key=f"entity_{kind}s", money_cols=["total_paid"],
                     count_cols=["member_count", "descriptor_count", "bank_payment_count"], height=320)  # fmt: skip
            names = dict(zip(clusters[key_col].to_list(), clusters[name_col].to_list(), strict=True))
            key = st.selectbox(f"{kind.capitalize()} to explain", list(names), key="entity_pick",
                               format_func=lambda k: f"{names[k]} ({k[:8]})")  # fmt: skip
            members = q.cluster_members(kind, key)
            st.markdown(f"**Records resolved to {names[key]}** ({members.height})")
            ui.table(
                members,
                key="entity_members",
                height=300,
                empty=f"`intermediate.int_{kind}s_resolved` is not there.",
            )
            evidence = q.cluster_evidence(
                kind, members["member_id"].to_list() if not members.is_empty() else []
            )
            st.markdown(f"**Evidence: the pairwise links between them** ({evidence.height})")
            ui.table(evidence, key="entity_evidence", ratio_cols=["score"], height=300,
                     empty=f"No links in `intermediate.int_{kind}_links` (a single record, or the table is not there).")  # fmt: skip

with bank_tab:
    if bank_tab.open:  # lazy: only the selected tab's content runs
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
                st.caption(
                    f"Showing the newest {q.BANK_ROW_LIMIT:,} lines; narrow the filters to see the rest."
                )
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

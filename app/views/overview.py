"""CFO overview: cash today, the 30-day forecast, runway, what falls due, KPIs and open exceptions."""

from __future__ import annotations

from datetime import timedelta

import plotly.express as px
import plotly.graph_objects as go
import queries as q
import streamlit as st
import ui

st.title("Overview")
cur = q.functional_currency()

if ui.require("fct_bank_transactions"):
    cash = q.cash_by_account()
    total, left_out = q.total_cash(cash)
    runway = q.runway(total)
    st.subheader("Cash today")
    cols = st.columns(3)
    cols[0].metric("Total cash", ui.money(total, cur), help=f"All accounts, in the functional currency {cur}")
    months = runway["months"]
    cols[1].metric(
        "Runway",
        ui.runway_text(months, runway["daily_net"]),
        help=f"Total cash / average net outflow of the {cur} accounts over the last {runway['window_days']} days",
    )
    cols[2].metric(
        f"Average daily net flow ({runway['window_days']} days)", ui.money(runway["daily_net"], cur)
    )
    if left_out:
        st.caption(f"Not in the total (no FX rate in `marts.fx_rates_daily`): {', '.join(left_out)}.")
    ui.table(
        cash,
        key="overview_cash",
        money_cols=["balance"],
        labels={
            "account_id": "account id",
            "account_name": "account",
            "as_of": "last booking",
            "basis": "balance from",
        },  # fmt: skip
    )

    st.subheader("Next 30 days")
    if ui.require("fct_cash_forecast"):
        as_of = q.forecast_as_of_dates()[0]
        fc = q.forecast("total", as_of)
        if fc.is_empty():
            st.info(f"The forecast made on {as_of} has no 'total' series.")
        else:
            end = fc.row(-1, named=True)
            c = st.columns(3)
            c[0].metric(f"Cash on {end['forecast_date']} (p50)", ui.money(end["p50"], cur))
            c[1].metric("Low case (p10)", ui.money(end["p10"], cur))
            c[2].metric("High case (p90)", ui.money(end["p90"], cur))
            hist = q.history("total", fc, days=90)
            fig = go.Figure()
            fig.add_trace(
                go.Scatter(
                    x=hist["booking_date"], y=hist["balance"], name="actual", line={"color": ui.ACTUAL}
                )
            )
            ui.fan(fig, fc["forecast_date"], fc["p10"], fc["p50"], fc["p90"], name="forecast p50")
            st.plotly_chart(
                ui.style(fig, f"Total cash: last 90 days and forecast made {as_of}", f"balance ({cur})"),
                key="overview_forecast_chart",
            )

    st.subheader("What falls due")
    due = st.columns(2)
    for col, mart, label in (
        (due[0], "fct_invoices", "Receivables (AR)"),
        (due[1], "fct_bills", "Payables (AP)"),
    ):
        with col:
            if ui.require(mart):
                day = q.reference_day(mart)
                open_ = q.open_by_due(mart, day)
                c = st.columns(2)
                c[0].metric(f"{label} due in 30 days", ui.money(open_.get("due_30"), cur),
                            help=f"Open amount due {day} to {day + timedelta(days=29)}")  # fmt: skip
                c[1].metric(f"{label} overdue", ui.money(open_.get("overdue"), cur),
                            help=f"Open amount due before {day}")  # fmt: skip
                frame = q.due_in_30_days(mart, day)
                if frame is None:
                    st.info(f"`marts.{mart}` has no due date or open amount column to read.")
                else:
                    ui.table(
                        frame, key=f"overview_{mart}_due", money_cols=["amount"], count_cols=["documents"]
                    )
    st.caption("Due dates count from today, or from the latest document date when the data stops earlier.")

    st.subheader("Rollout KPIs")
    if ui.require("rollout_scorecard"):
        ui.kpi_tiles(q.scorecard_tiles(), cur)
        st.caption(
            "Current = the measurement window since go-live; the delta is the change from the baseline."
        )
    if q.has_table("marts", "kpi_monthly"):
        with st.expander("Every KPI, latest month"):
            ui.table(ui.with_readable(q.kpi_latest(), cur), key="overview_kpis", ratio_cols=["value"])
    else:
        ui.require("kpi_monthly")

    st.subheader("Open reconciliation exceptions")
    if ui.require("reconciliation_exceptions"):
        by_type = q.exceptions_by_type()
        left, right = st.columns(2)
        left.plotly_chart(
            ui.style(px.bar(by_type, x="value", y="exception_type", orientation="h"), "Open exceptions by value",
                     "exception type", x_title=f"value ({cur})", height=320),
            key="overview_exceptions_chart",
        )  # fmt: skip
        with right:
            ui.table(by_type, key="overview_exceptions", money_cols=["value"], count_cols=["exceptions"])

    if q.has_table("marts", "fct_payments"):
        st.subheader("Card payments by month")
        ui.table(
            q.payments_by_month(),
            key="overview_payments",
            money_cols=["gross", "fees", "net"],
            count_cols=["payments"],
        )

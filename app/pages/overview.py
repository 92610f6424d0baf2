"""CFO overview: cash today, the 30-day forecast, payments."""

from __future__ import annotations

import plotly.graph_objects as go
import queries as q
import streamlit as st

st.title("Overview")

if not q.has_table("marts", "fct_bank_transactions"):
    st.warning("The warehouse has no bank transactions yet: run `ledgerlake run`.")
    st.stop()

cash = q.cash_by_account()
cols = st.columns(max(len(cash), 1) + 1)
for i, row in enumerate(cash.iter_rows(named=True)):
    cols[i].metric(
        f"Cash {row['account_id']}", f"{row['balance']:,.2f} {row['currency']}", help=f"as of {row['as_of']}"
    )

if q.has_table("marts", "fct_cash_forecast"):
    fc = q.latest_forecast()
    total = fc.filter(fc["account_id"] == "total")
    if not total.is_empty():
        last = total.row(-1, named=True)
        cols[-1].metric(
            "Total cash in 30 days (p50)",
            f"{last['p50']:,.0f}",
            help=f"p10 {last['p10']:,.0f} – p90 {last['p90']:,.0f}, forecast made {last['as_of_date']}",
            delta=None,
        )
        hist = q.daily_balance("total").tail(120)
        fig = go.Figure()
        fig.add_trace(go.Scatter(x=hist["booking_date"], y=hist["balance"], name="balance", mode="lines"))
        fig.add_trace(go.Scatter(x=total["forecast_date"], y=total["p90"], name="p90", line={"width": 0}))
        fig.add_trace(
            go.Scatter(
                x=total["forecast_date"], y=total["p10"], name="p10–p90", fill="tonexty", line={"width": 0}
            )
        )
        fig.add_trace(go.Scatter(x=total["forecast_date"], y=total["p50"], name="p50 forecast", mode="lines"))
        fig.update_layout(
            title="Total cash: last 120 days and 30-day forecast", yaxis_title="balance (functional currency)"
        )
        st.plotly_chart(fig, key="overview_forecast_chart")

if q.has_table("marts", "fct_payments"):
    pay = q.payments_by_month()
    st.subheader("Card payments by month")
    st.dataframe(pay, key="overview_payments", hide_index=True)

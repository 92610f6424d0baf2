"""Cash forecast: the fan of balance and daily flow for one account, its components, how earlier
forecasts did against what happened, and the backtest against the naive baselines."""

from __future__ import annotations

import plotly.graph_objects as go
import queries as q
import streamlit as st
import ui

st.title("Cash forecast")

if ui.require("fct_bank_transactions", "fct_cash_forecast"):
    dates = q.forecast_as_of_dates()
    left, right = st.columns(2)
    as_of = left.selectbox("Forecast made on", dates, key="forecast_as_of", help="as_of_date of the run")
    account = right.selectbox("Account", q.forecast_accounts(as_of), key="forecast_account")
    fc = q.forecast(account, as_of)
    cur = fc["currency"][0] if "currency" in fc.columns else q.functional_currency()
    end = fc.row(-1, named=True)
    model = f" · model {fc['model'][0]}" if "model" in fc.columns else ""
    st.caption(f"{account} · {cur} · {fc.height} days ahead from {as_of}{model}")

    c = st.columns(4)  # the currency goes in the labels, so four tiles fit the numbers
    c[0].metric(f"Balance at the start ({cur})", ui.money(q.start_balance(fc)))
    c[1].metric(f"p50 on {end['forecast_date']} ({cur})", ui.money(end["p50"]))
    c[2].metric(f"Low case, p10 ({cur})", ui.money(end["p10"]))
    c[3].metric(f"High case, p90 ({cur})", ui.money(end["p90"]))

    hist = q.history(account, fc, days=120)
    bal = go.Figure()
    bal.add_trace(
        go.Scatter(x=hist["booking_date"], y=hist["balance"], name="actual", line={"color": ui.ACTUAL})
    )
    ui.fan(bal, fc["forecast_date"], fc["p10"], fc["p50"], fc["p90"], name="forecast p50")
    st.plotly_chart(ui.style(bal, f"Balance of {account}", f"balance ({cur})"), key="forecast_balance_chart")

    if {"flow_p10", "flow_p50", "flow_p90"} <= set(fc.columns):
        flow = go.Figure()
        flow.add_trace(
            go.Bar(x=hist["booking_date"], y=hist["net_flow"], name="actual net flow", marker_color="#999")
        )
        ui.fan(flow, fc["forecast_date"], fc["flow_p10"], fc["flow_p50"], fc["flow_p90"], name="forecast p50")
        st.plotly_chart(
            ui.style(flow, f"Daily net flow of {account}", f"net flow ({cur}/day)"), key="forecast_flow_chart"
        )

    if {"baseline_flow", "known_flow"} <= set(fc.columns):
        comp = go.Figure()
        comp.add_trace(go.Bar(x=fc["forecast_date"], y=fc["baseline_flow"], name="statistical baseline"))
        parts = [c for c in q.KNOWN_COMPONENTS if c in fc.columns]
        for col in parts:  # each kind of known flow, when the forecast has them apart
            comp.add_trace(go.Bar(x=fc["forecast_date"], y=fc[col], name=q.KNOWN_COMPONENTS[col]))
        if not parts:
            comp.add_trace(go.Bar(x=fc["forecast_date"], y=fc["known_flow"], name="known flows"))
        comp.update_layout(barmode="relative")
        st.plotly_chart(
            ui.style(comp, "Forecast flow by component", f"flow ({cur}/day)", height=340),
            key="forecast_components",
        )
        known = fc["known_flow"].abs().sum()
        st.caption(
            "Known flows add nothing yet: no open invoices or bills fall in the horizon."
            if known == 0
            else f"Known flows over the horizon: {known:,.0f} {cur} (absolute)."
        )

    st.subheader("Forecast vs actual")
    vs = q.forecast_vs_actual(account, fc)
    seen = vs.filter(vs["actual"].is_not_null())
    if seen.is_empty():
        later = [d for d in dates if d < as_of]
        hint = f" Pick an earlier run ({later[0]})" if later else " Earlier runs will appear here"
        st.info(f"Nothing booked after {as_of} yet to compare with.{hint}.")
    else:
        inside = ((seen["actual"] >= seen["p10"]) & (seen["actual"] <= seen["p90"])).mean()
        mae = (seen["actual"] - seen["p50"]).abs().mean()
        c = st.columns(3)
        c[0].metric("Days with actuals", f"{seen.height}")
        c[1].metric("Mean abs. error of p50", ui.money(mae, cur))
        c[2].metric("Actual inside p10–p90", f"{inside:.0%}", help="80% is what a calibrated band gives")
        fig = go.Figure()
        ui.fan(fig, vs["forecast_date"], vs["p10"], vs["p50"], vs["p90"], name="forecast p50")
        fig.add_trace(
            go.Scatter(x=seen["forecast_date"], y=seen["actual"], name="actual", line={"color": ui.ACTUAL})
        )
        st.plotly_chart(
            ui.style(fig, f"Forecast made {as_of} vs what happened", f"balance ({cur})"),
            key="forecast_vs_actual",
        )
        ui.table(
            seen.select("forecast_date", "p10", "p50", "p90", "actual", "actual_flow"),
            key="forecast_vs_actual_table",
            money_cols=["p10", "p50", "p90", "actual", "actual_flow"],
            height=260,
        )

    st.subheader("Backtest against naive baselines")
    if ui.require("forecast_backtest"):
        bt = q.backtest(account, as_of)
        if bt.is_empty():
            st.info(f"No backtest rows for {account} on {as_of}.")
        else:
            st.markdown(ui.backtest_sentence(bt, account))
            ui.table(
                bt,
                key="forecast_backtest",
                ratio_cols=["mase"],
                pct_cols=["coverage_80"],
                count_cols=["n_points"],
                labels={"mase": "MASE (lower is better)", "coverage_80": "80% interval coverage"},
            )

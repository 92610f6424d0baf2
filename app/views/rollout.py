"""Rollout scorecard: each KPI's baseline, current value, target and status, and its monthly history."""

from __future__ import annotations

import plotly.graph_objects as go
import queries as q
import streamlit as st
import ui

st.title("Rollout scorecard")
company = q.settings().company
st.caption(
    f"Go-live {company.go_live_date}: baseline = the {company.baseline_days} days before, "
    f"measurement = the {company.measurement_days} days after."
)

if ui.require("rollout_scorecard"):
    card = q.scorecard()
    counts = ui.statuses(card)
    for col, (name, n) in zip(st.columns(len(counts)), counts, strict=True):
        col.metric(name.replace("_", " ").capitalize(), n)
    ui.table(card, key="rollout_scorecard", ratio_cols=["baseline", "current", "target", "change"])

st.subheader("KPIs by month")
if ui.require("kpi_monthly"):
    names = q.kpi_names()
    kpi = st.selectbox("KPI", names, key="rollout_kpi")
    series = q.kpi_series(kpi)
    unit = series["unit"][0] if not series.is_empty() else ""
    fig = go.Figure(go.Scatter(x=series["month"], y=series["value"], mode="lines+markers", name=kpi))
    fig.add_vline(x=company.go_live_date.isoformat(), line_dash="dot", line_color="#888")
    st.plotly_chart(
        ui.style(
            fig,
            f"{kpi} by month (dotted line: go-live)",
            f"{kpi} ({unit})",
            "month",
            y_format=ui.unit_format(unit),
        ),
        key="rollout_kpi_chart",
    )
    ui.table(series, key="rollout_kpi_table", ratio_cols=["value", "numerator", "denominator"])
    daily = q.kpi_series(kpi, grain="day")
    if not daily.is_empty():
        day_fig = go.Figure(go.Scatter(x=daily["day"], y=daily["value"], mode="lines", name=kpi))
        st.plotly_chart(
            ui.style(day_fig, f"{kpi} by day", f"{kpi} ({unit})", "day", y_format=ui.unit_format(unit)),
            key="rollout_kpi_daily_chart",
        )

"""Expense categories: how many money-out lines the model categorised on its own and how many wait for a
person, how confident it was, and the review queue."""

from __future__ import annotations

import plotly.express as px
import queries as q
import streamlit as st
import ui

st.title("Expense categories")
cur = q.functional_currency()

if ui.require("expense_categories"):
    counts = q.expense_status_counts()
    by = {r["status"]: r for r in counts.iter_rows(named=True)}
    total = int(counts["lines"].sum() or 0)
    review = int(by.get("review", {}).get("lines", 0) or 0)
    c = st.columns(4)
    c[0].metric("Categorised automatically", f"{int(by.get('auto', {}).get('lines', 0) or 0):,}")
    c[1].metric("Waiting for review", f"{review:,}")
    c[2].metric("Review share", f"{review / total:.0%}" if total else "–")
    c[3].metric("Lines", f"{total:,}")
    st.caption("A line is `auto` when the model's confidence reaches the threshold chosen so that the lines "
               "above it are right 95% of the time in cross-validation; the rest go to `review`.")  # fmt: skip
    left, right = st.columns(2)
    fig = px.histogram(q.expense_confidences(), x="confidence", color="status", nbins=20, barmode="stack")
    threshold = q.expense_threshold()
    if threshold is not None:
        fig.add_vline(
            x=threshold, line_dash="dot", line_color="#888", annotation_text=f"threshold {threshold:.2f}"
        )
    left.plotly_chart(ui.style(fig, "Confidence of the predicted category", "lines", x_title="confidence (0–1)",
                               height=340, y_format=",d"), key="expense_confidence_chart")  # fmt: skip
    with right:
        ui.table(counts, key="expense_status", money_cols=["amount"], count_cols=["lines"],
                 ratio_cols=["avg_confidence"], labels={"amount": "amount (each line's currency)"})  # fmt: skip
        ui.table(q.expense_by_category(), key="expense_by_category", money_cols=["amount"],
                 count_cols=["lines"], height=260)  # fmt: skip
    st.subheader("Review queue")
    queue = q.expense_review_queue()
    st.caption(f"{queue.height:,} lines, largest first.")
    ui.table(queue, key="expense_review_queue", money_cols=["amount"], ratio_cols=["confidence"], height=420,
             empty="Nothing waits for review.")  # fmt: skip

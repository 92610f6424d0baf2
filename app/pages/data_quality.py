"""Data quality: load runs per source and the quarantine with reasons."""

from __future__ import annotations

import queries as q
import streamlit as st

st.title("Data quality")

if not q.has_table("marts", "load_runs"):
    st.warning("No load has run yet: run `ledgerlake run`.")
    st.stop()

runs = q.load_runs()
st.subheader("Load runs")
st.dataframe(runs, key="dq_load_runs", hide_index=True)

quar = q.quarantine()
st.subheader(f"Quarantine ({quar.height} rows)")
st.dataframe(quar, key="dq_quarantine", hide_index=True)

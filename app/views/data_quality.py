"""Data quality: load runs per source, freshness, and the quarantine with its reasons."""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl
import queries as q
import streamlit as st
import ui

st.title("Data quality")

st.subheader("Last run and dbt tests")
status = q.last_run()
last = status.get("last") or {}
if not last:
    st.info("No run has been recorded for this warehouse yet (`ledgerlake run`, or `ledgerlake build`).")
else:
    verdict = "finished" if last.get("ok", True) else f"failed at {last.get('failed_step')}"
    st.caption(
        f"Last run: `ledgerlake {last.get('command')}`, started {ui._when(last.get('started_at'))}, {verdict}. "
        f"Data published {ui._when(status.get('published_at'))}."
    )
    tests = pl.DataFrame(
        last.get("tests") or [], schema={"node": pl.Utf8, "status": pl.Utf8, "message": pl.Utf8}
    )
    if tests.is_empty():
        st.success("Every dbt test of the last build passed.")
    else:
        failing = tests.filter(pl.col("status") != "warn").height
        st.warning(
            f"{failing} dbt test(s) failed (they stop the run) and {tests.height - failing} warned (the data "
            "has a problem the team should look at; the run went on)."
        )
        ui.table(tests, key="dq_tests", labels={"node": "test"})

if ui.require("load_runs"):
    latest = q.latest_load_per_source()
    st.subheader("Latest load per source")
    c = st.columns(4)
    c[0].metric("Records seen", f"{int(latest['seen'].sum() or 0):,}")
    c[1].metric("Loaded", f"{int(latest['loaded'].sum() or 0):,}")
    c[2].metric("Quarantined", f"{int(latest['quarantined'].sum() or 0):,}")
    c[3].metric("Duplicates skipped", f"{int(latest['duplicates'].sum() or 0):,}")
    fig = go.Figure()
    for name in ("loaded", "quarantined", "duplicates"):
        fig.add_trace(go.Bar(x=latest["source"], y=latest[name], name=name))
    fig.update_layout(barmode="stack")
    st.plotly_chart(ui.style(fig, "Records per source, latest run", "records", x_title="source", height=340),
                    key="dq_sources_chart")  # fmt: skip
    ui.table(
        latest,
        key="dq_latest",
        count_cols=["seen", "loaded", "quarantined", "duplicates"],
        ratio_cols=["seconds"],
        labels={"last_successful_load": "fresh as of (last ok load)"},
    )
    with st.expander("Every load run"):
        ui.table(
            q.load_runs(),
            key="dq_load_runs",
            count_cols=["seen", "loaded", "quarantined", "duplicates"],
            ratio_cols=["seconds"],
            height=300,
        )

st.subheader("Freshness of the bank data")
if ui.require("fct_bank_transactions"):
    ui.table(q.bank_freshness(), key="dq_bank_freshness", count_cols=["lines"])

st.subheader("Quarantine")
if ui.require("quarantine"):
    all_sources = q.quarantine_sources()
    if not all_sources:
        st.success("Nothing is in quarantine: every record seen was loaded or skipped as a duplicate.")
    sources = st.multiselect("Source", all_sources, key="dq_source", placeholder="all sources")
    reasons = q.quarantine_reasons(sources)
    rows = q.quarantine(sources)
    st.caption(f"{rows.height:,} quarantined records{' from ' + ', '.join(sources) if sources else ''}.")
    ui.table(reasons, key="dq_reasons", count_cols=["records"])
    ui.table(rows, key="dq_quarantine", height=320)

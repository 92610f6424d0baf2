"""SQL workbench: read-only queries on the warehouse snapshot, with a schema browser from dbt's docs."""

from __future__ import annotations

import queries as q
import streamlit as st
import ui
import workbench

EXAMPLES = {
    "Cash per account": "select account_id, currency, sum(amount) as balance\n"
    "from marts.fct_bank_transactions\ngroup by 1, 2\norder by 1",
    "Bank lines per month": "select date_trunc('month', booking_date) as month, count(*) as lines,\n"
    "       sum(amount) as net\nfrom marts.fct_bank_transactions\ngroup by 1\norder by 1",
    "Latest total forecast": "select forecast_date, p10, p50, p90\nfrom marts.fct_cash_forecast\n"
    "where account_id = 'total'\n  and as_of_date = (select max(as_of_date) from marts.fct_cash_forecast)\n"
    "order by forecast_date",
    "Quarantine reasons": "select source, reason, count(*) as records\nfrom marts.quarantine\n"
    "group by 1, 2\norder by records desc",
}


def _use_example() -> None:
    st.session_state["sql_text"] = EXAMPLES[st.session_state["sql_example"]]


st.title("SQL workbench")
st.caption(
    f"Read-only: one SELECT at a time, at most {workbench.ROW_LIMIT:,} rows, stopped after "
    f"{workbench.TIME_LIMIT_SECONDS:g} s. Files, URLs, settings and writes are refused."
)
if ui.require():
    st.session_state.setdefault("sql_text", EXAMPLES["Cash per account"])
    editor, browser = st.columns([3, 2])
    with editor:
        st.selectbox("Example queries", list(EXAMPLES), key="sql_example", on_change=_use_example)
        sql = st.text_area("SQL", key="sql_text", height=200)
        if st.button("Run query", key="sql_run", type="primary", icon=":material/play_arrow:"):
            ui.run_sql(sql)
    with browser:
        st.markdown("**Marts**")
        ui.schema_browser(q.mart_columns(), q.manifest_docs())

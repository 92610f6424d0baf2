"""ledgerlake app: a router over the pages (run with `ledgerlake app`, or `streamlit run app/app.py`).

Pages live in `app/views/` and only lay out; every query is in `app/queries.py`. The app reads the
published snapshot of the warehouse, never the file a run is writing (docs/architecture.md).
"""

from __future__ import annotations

import streamlit as st
import ui

# Why `views/` and not HOUSE_STYLE's `pages/`: Streamlit still registers a `pages/` folder beside the main
# script as old-style pages, and a fresh server asked for a deep link (e.g. /cash_forecast) then runs that
# file on its own, without this router: no navigation, no page config. A folder of another name is only
# reached through st.navigation below.
st.set_page_config(page_title="ledgerlake", page_icon="📒", layout="wide")

pages = {
    "Finance": [
        st.Page("views/overview.py", title="Overview", icon=":material/account_balance:", default=True),
        st.Page("views/cash_forecast.py", title="Cash forecast", icon=":material/trending_up:"),
        st.Page("views/statements.py", title="Financial statements", icon=":material/request_quote:"),
        st.Page("views/reconciliation.py", title="Reconciliation", icon=":material/rule:"),
        st.Page("views/expense_categories.py", title="Expense categories", icon=":material/category:"),
        st.Page("views/rollout.py", title="Rollout scorecard", icon=":material/flag:"),
    ],
    "Data": [
        st.Page("views/data_quality.py", title="Data quality", icon=":material/fact_check:"),
        st.Page("views/sql_workbench.py", title="SQL workbench", icon=":material/terminal:"),
    ],
}
ui.require_login()
page = st.navigation(pages)
ui.run_banner()
page.run()

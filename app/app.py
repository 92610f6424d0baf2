"""ledgerlake app: a router over the pages (run with `ledgerlake app`)."""

from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="ledgerlake", page_icon="📒", layout="wide")

pages = [
    st.Page("pages/overview.py", title="Overview", icon="🏦", default=True),
    st.Page("pages/data_quality.py", title="Data quality", icon="🧪"),
]
st.navigation(pages).run()

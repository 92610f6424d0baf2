"""One AppTest per page: it renders without an exception, its widgets are there, and a number it shows
equals the warehouse's value (asked of the snapshot directly, not through the app's queries)."""

from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.conftest import snapshot_query
from tests.conftest import ROOT, Run

TIMEOUT = 60


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app" / "app.py"), default_timeout=TIMEOUT)
    at.switch_page(f"views/{page}.py").run()  # straight to the page, through the router
    assert not at.exception, [e.value for e in at.exception]
    return at


def open_tab(at: AppTest, key: str, label: str) -> AppTest:
    """Select a lazy tab (`st.tabs(..., key=key, on_change="rerun")`): only its content runs."""
    at.session_state[key] = label
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def number(text: str) -> float:
    """The first number in a metric's text: '20,290.56 USD' -> 20290.56."""
    found = re.search(r"-?[\d,]+(?:\.\d+)?", text)
    assert found, text
    return float(found.group().replace(",", ""))


def metric(at: AppTest, label_start: str) -> str:
    values = [m.value for m in at.metric if m.label.startswith(label_start)]
    assert values, f"no metric '{label_start}...' in {[m.label for m in at.metric]}"
    return values[0]


def frame_with(at: AppTest, *cols: str):  # -> pandas.DataFrame
    for df in at.dataframe:
        if set(cols) <= set(df.value.columns):
            return df.value
    raise AssertionError(f"no table with columns {cols}")


def has_mart(run: Run, name: str) -> bool:
    sql = f"select count(*) from information_schema.tables where table_schema='marts' and table_name='{name}'"
    return snapshot_query(run, sql)[0][0] == 1


def infos(at: AppTest) -> str:
    return " ".join(i.value for i in at.info)


def test_overview_shows_the_forecast_and_balances_of_the_warehouse(app_env: Run) -> None:
    at = open_page("overview")
    assert at.title[0].value == "Overview"
    as_of, last_day, p50 = snapshot_query(
        app_env,
        "select as_of_date, forecast_date, p50 from marts.fct_cash_forecast where account_id = 'total' "
        "and as_of_date = (select max(as_of_date) from marts.fct_cash_forecast) "
        "order by forecast_date desc limit 1",
    )[0]
    assert number(metric(at, f"Cash on {last_day}")) == pytest.approx(p50, abs=0.01)
    cash = frame_with(at, "account_id", "balance", "basis")
    sums = dict(
        snapshot_query(app_env, "select account_id, sum(amount) from marts.fct_bank_transactions group by 1")
    )
    assert set(cash["account_id"]) == set(sums)
    for row in cash.itertuples():
        if row.basis == "sum of transactions":
            assert row.balance == pytest.approx(float(sums[row.account_id]), abs=0.01)
    for mart in ("fct_invoices", "kpi_monthly", "reconciliation_exceptions"):
        if not has_mart(app_env, mart):
            assert f"`marts.{mart}` is not in the warehouse yet" in infos(at)


def test_cash_forecast_follows_the_chosen_account_and_run(app_env: Run) -> None:
    at = open_page("cash_forecast")
    account_box = at.selectbox(key="forecast_account")
    assert account_box.options[0] == "total"
    account = account_box.options[-1]
    account_box.set_value(account).run()
    assert not at.exception
    as_of = at.selectbox(key="forecast_as_of").value
    day, p50 = snapshot_query(
        app_env,
        f"select forecast_date, p50 from marts.fct_cash_forecast where account_id = '{account}' "
        f"and as_of_date = date '{as_of}' order by forecast_date desc limit 1",
    )[0]
    assert number(metric(at, f"p50 on {day}")) == pytest.approx(p50, abs=0.01)
    models = set(frame_with(at, "model", "mase", "horizon_bucket")["model"])
    assert {"SeasonalNaive", "Naive"} <= models
    # one sentence says whether the chosen model beats the naive baselines (or is one of them)
    assert any("beat" in m.value or "itself a naive baseline" in m.value for m in at.markdown)


def test_cash_forecast_compares_an_earlier_run_with_what_happened(app_env: Run) -> None:
    dates = [r[0] for r in snapshot_query(app_env, "select distinct as_of_date from marts.fct_cash_forecast")]
    if len(dates) < 2:
        pytest.skip("the warehouse holds a single forecast run")
    earliest = min(dates)
    at = open_page("cash_forecast")
    at.selectbox(key="forecast_as_of").set_value(earliest).run()
    at.selectbox(key="forecast_account").set_value("total").run()
    assert not at.exception
    currency = snapshot_query(
        app_env,
        f"select max(currency) from marts.fct_cash_forecast where account_id='total' and as_of_date=date '{earliest}'",
    )[0][0]
    expected = snapshot_query(
        app_env,
        f"select count(*) from marts.fct_cash_forecast where account_id = 'total' and as_of_date = date '{earliest}' "
        f"and forecast_date <= (select max(booking_date) from marts.fct_bank_transactions where currency = '{currency}')",
    )[0][0]
    assert expected > 0
    assert number(metric(at, "Days with actuals")) == expected


def test_reconciliation_bank_explorer_filters_and_drills_down(app_env: Run) -> None:
    at = open_page("reconciliation")
    if not has_mart(app_env, "reconciliation_exceptions"):
        assert "`marts.reconciliation_exceptions` is not in the warehouse yet" in infos(at)
    account, first, last, lines = snapshot_query(
        app_env,
        "select account_id, min(booking_date), max(booking_date), count(*) from marts.fct_bank_transactions "
        "group by 1 order by 4 desc limit 1",
    )[0]
    open_tab(at, "recon_tab", "Bank transactions")
    at.multiselect(key="bank_accounts").set_value([account]).run()
    at.date_input(key="bank_dates").set_value((first, last)).run()
    assert not at.exception
    totals = frame_with(at, "currency", "lines", "net")
    assert int(totals["lines"].sum()) == lines
    shown = frame_with(at, "bank_transaction_id", "account_id", "source_system")
    assert set(shown["account_id"]) == {account}
    drill = at.selectbox(key="bank_drill")
    assert drill.value == shown["bank_transaction_id"].iloc[0]
    assert len(at.json) >= 2  # the line and its raw payload
    assert any("matched by" in c.value for c in at.caption) or at.info or at.warning


def test_reconciliation_bank_explorer_currency_filter(app_env: Run) -> None:
    at = open_tab(open_page("reconciliation"), "recon_tab", "Bank transactions")
    currency, n = snapshot_query(
        app_env, "select currency, count(*) from marts.fct_bank_transactions group by 1 order by 2 limit 1"
    )[0]
    first, last = snapshot_query(
        app_env, "select min(booking_date), max(booking_date) from marts.fct_bank_transactions"
    )[0]
    at.multiselect(key="bank_currencies").set_value([currency]).run()
    at.date_input(key="bank_dates").set_value((first, last)).run()
    totals = frame_with(at, "currency", "lines", "net")
    assert list(totals["currency"]) == [currency]
    assert int(totals["lines"].iloc[0]) == n


def test_rollout_page(app_env: Run) -> None:
    at = open_page("rollout")
    if has_mart(app_env, "rollout_scorecard"):
        met = snapshot_query(app_env, "select count(*) from marts.rollout_scorecard where status = 'met'")[0][
            0
        ]
        assert number(metric(at, "Met")) == met
        assert at.selectbox(key="rollout_kpi").options
    else:
        assert "`marts.rollout_scorecard` is not in the warehouse yet" in infos(at)
        assert "ledgerlake build" in infos(at)


def test_data_quality_counts_and_quarantine_filter(app_env: Run) -> None:
    at = open_page("data_quality")
    quarantined = snapshot_query(
        app_env,
        "select sum(quarantined) from marts.load_runs r where started_at = "
        "(select max(started_at) from marts.load_runs l where l.source = r.source)",
    )[0][0]
    assert number(metric(at, "Quarantined")) == (quarantined or 0)
    latest = frame_with(at, "source", "seen", "loaded")
    assert set(latest["source"]) == {
        r[0] for r in snapshot_query(app_env, "select distinct source from marts.load_runs")
    }
    sources = at.multiselect(key="dq_source").options
    if not sources:
        pytest.skip("nothing was quarantined")
    at.multiselect(key="dq_source").set_value([sources[0]]).run()
    n = snapshot_query(app_env, f"select count(*) from marts.quarantine where source = '{sources[0]}'")[0][0]
    rows = frame_with(at, "record_ref", "reason", "raw")
    assert len(rows) == n and set(rows["source"]) == {sources[0]}


def test_sql_workbench_runs_a_query_and_refuses_a_write(app_env: Run) -> None:
    at = open_page("sql_workbench")
    at.text_area(key="sql_text").set_value("select count(*) as n from marts.fct_bank_transactions").run()
    at.button(key="sql_run").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    expected = snapshot_query(app_env, "select count(*) from marts.fct_bank_transactions")[0][0]
    assert int(frame_with(at, "n")["n"].iloc[0]) == expected
    at.text_area(key="sql_text").set_value("drop table marts.fct_bank_transactions").run()
    at.button(key="sql_run").click().run()
    assert any(e.value.startswith("Refused") for e in at.error)
    assert snapshot_query(app_env, "select count(*) from marts.fct_bank_transactions")[0][0] == expected


def test_sql_workbench_example_fills_the_editor_and_lists_marts(app_env: Run) -> None:
    at = open_page("sql_workbench")
    at.selectbox(key="sql_example").set_value("Quarantine reasons").run()
    assert "from marts.quarantine" in at.text_area(key="sql_text").value
    marts = {
        r[0]
        for r in snapshot_query(
            app_env, "select table_name from information_schema.tables where table_schema='marts'"
        )
    }
    labels = {e.label for e in at.expander}
    assert {f"marts.{m}" for m in marts} <= labels
    manifest = app_env.warehouse.with_name(app_env.warehouse.name + ".dbt") / "target" / "manifest.json"
    if manifest.exists():  # dbt's column descriptions are shown beside the columns
        described = [df.value for df in at.dataframe if "description" in df.value.columns]
        assert any((df["description"] != "").any() for df in described)
    else:
        assert any("manifest" in c.value and "is missing" in c.value for c in at.caption)


def test_schema_browser_reads_dbt_descriptions(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json
    import sys

    sys.path.insert(0, str(ROOT / "app"))
    import queries

    warehouse = tmp_path / "w.duckdb"
    monkeypatch.setenv("LEDGERLAKE_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("LEDGERLAKE_TARGET", "duckdb")
    assert queries.manifest_docs() is None
    target = tmp_path / "w.duckdb.dbt" / "target"
    target.mkdir(parents=True)
    node = {"resource_type": "model", "schema": "marts", "name": "load_runs", "description": "Per run.",
            "columns": {"seen": {"description": "Records received."}}}  # fmt: skip
    other = node | {"schema": "staging", "name": "stg_x"}
    (target / "manifest.json").write_text(json.dumps({"nodes": {"model.a": node, "model.b": other}}))
    docs = queries.manifest_docs()
    assert docs == {"load_runs": {"description": "Per run.", "columns": {"seen": "Records received."}}}


def test_every_page_says_what_to_run_without_a_warehouse(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGERLAKE_WAREHOUSE", str(tmp_path / "none.duckdb"))
    monkeypatch.setenv("LEDGERLAKE_TARGET", "duckdb")
    pages = ("overview", "cash_forecast", "statements", "reconciliation", "expense_categories", "rollout",
             "data_quality", "sql_workbench")  # fmt: skip
    for page in pages:
        at = open_page(page)
        assert "ledgerlake run" in infos(at), page

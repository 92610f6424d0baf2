"""The pages on marts that later issues build (KPIs, scorecard, invoices, bills, exceptions, audit trail),
in their contract shapes, on a small hand-made snapshot: the pages use them instead of the info."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from tests.app.test_queries import SETUP
from tests.conftest import ROOT

LATER = """
create table marts.kpi_monthly as
select * from (values
    (date '2025-01-01', 'auto_match_rate', 0.50, 50, 100, 'share'),
    (date '2025-02-01', 'auto_match_rate', 0.80, 80, 100, 'share'),
    (date '2025-02-01', 'close_duration_days', 6.0, null, null, 'days')
) t(month, kpi, value, numerator, denominator, unit);
create table marts.rollout_scorecard as
select * from (values
    ('auto_match_rate', 0.5, 0.8, 0.75, 0.3, 'met'),
    ('close_duration_days', 9.0, 6.0, 5.0, -3.0, 'on_track'),
    ('invoice_error_rate', 0.05, 0.06, 0.02, 0.01, 'missed')
) t(kpi, baseline, current, target, change, status);
create table marts.reconciliation_exceptions as
select * from (values
    ('x1', 'amount_mismatch', 9.00, 't1,po_1', current_date - 2),
    ('x2', 'unmatched_bank_line', 120.00, 't3', current_date - 40),
    ('x3', 'unmatched_bank_line', 80.00, 't4', current_date - 1)
) t(exception_id, exception_type, amount, record_ids, detected_at);
create table marts.audit_trail as
select 't3' as record_id, 'bank_feed' as source, 'created' as action, timestamp '2025-03-04 10:00' as at;
create table marts.fct_invoices as
select * from (values
    ('i1', current_date + 5, 300.00, 'USD'),
    ('i2', current_date + 45, 999.00, 'USD'),
    ('i3', current_date + 10, 200.00, 'USD')
) t(invoice_id, due_date, open_amount, currency);
"""


@pytest.fixture
def later_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    snap = tmp_path / "w.snapshot.duckdb"
    con = duckdb.connect(str(snap))
    con.execute(SETUP + LATER)
    con.close()
    monkeypatch.setenv("LEDGERLAKE_WAREHOUSE", str(tmp_path / "w.duckdb"))
    monkeypatch.setenv("LEDGERLAKE_TARGET", "duckdb")
    monkeypatch.chdir(ROOT)
    return snap


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app" / "app.py"), default_timeout=60)
    at.switch_page(f"views/{page}.py").run()  # straight to the page, through the router
    assert not at.exception, [e.value for e in at.exception]
    return at


def frame_with(at: AppTest, *cols: str):  # -> pandas.DataFrame
    return next(df.value for df in at.dataframe if set(cols) <= set(df.value.columns))


def test_overview_uses_invoices_kpis_and_exceptions(later_env: Path) -> None:
    at = open_page("overview")
    due = frame_with(at, "currency", "documents", "amount")
    assert due.to_dict("records") == [{"currency": "USD", "documents": 2, "amount": 500.0}]  # i2 is later
    kpis = frame_with(at, "kpi", "month", "value")
    assert dict(zip(kpis["kpi"], kpis["value"], strict=True)) == {
        "auto_match_rate": 0.8,
        "close_duration_days": 6.0,
    }
    assert list(kpis["reading"]) == ["80.0%", "6.00 days"]
    exc = frame_with(at, "exception_type", "exceptions", "value")
    assert dict(zip(exc["exception_type"], exc["value"], strict=True)) == {
        "unmatched_bank_line": 200.0,
        "amount_mismatch": 9.0,
    }
    assert "`marts.fct_bills` is not in the warehouse yet" in " ".join(i.value for i in at.info)


def test_rollout_scorecard_counts_and_kpi_history(later_env: Path) -> None:
    at = open_page("rollout")
    counts = {m.label: m.value for m in at.metric}
    assert counts == {"Met": "1", "On track": "1", "At risk": "0", "Missed": "1"}
    at.selectbox(key="rollout_kpi").set_value("auto_match_rate").run()
    series = frame_with(at, "month", "value", "numerator")
    assert list(series["value"]) == [0.5, 0.8]


def test_exception_filters_and_drill_down_to_lines_and_audit(later_env: Path) -> None:
    at = open_page("reconciliation")
    at.multiselect(key="recon_types").set_value(["unmatched_bank_line"]).run()
    at.selectbox(key="recon_age").set_value(30).run()
    shown = frame_with(at, "exception_id", "exception_type", "age_days")
    assert list(shown["exception_id"]) == ["x3"]  # x2 is older than 30 days
    at.selectbox(key="recon_age").set_value(None).run()
    at.number_input(key="recon_min").set_value(100.0).run()
    assert list(frame_with(at, "exception_id", "exception_type", "age_days")["exception_id"]) == ["x2"]
    assert at.selectbox(key="recon_drill").value == "x2"
    lines = frame_with(at, "bank_transaction_id", "remittance_info")
    assert list(lines["bank_transaction_id"]) == ["t3"]
    audit = frame_with(at, "record_id", "action")
    assert list(audit["action"]) == ["created"]


def test_forecast_vs_actual_of_an_earlier_run(later_env: Path) -> None:
    """The hand-made forecast (tests/app/test_queries.py) was made on 2 March; bookings run to the 5th."""
    at = open_page("cash_forecast")
    assert at.selectbox(key="forecast_account").value == "A"
    values = {m.label: m.value for m in at.metric}
    assert values["Days with actuals"] == "3"
    assert values["Mean abs. error of p50"] == "23.33 USD"  # |1000-1005|, |1050-1010|, |1040-1015|
    assert values["Actual inside p10–p90"] == "100%"
    infos = " ".join(i.value for i in at.info)
    assert "`marts.forecast_backtest` is not in the warehouse yet" in infos and "ledgerlake forecast" in infos


def test_quarantine_filter_by_source(later_env: Path) -> None:
    con = duckdb.connect(str(later_env))
    con.execute(
        "create table marts.quarantine as select * from (values "
        "('stripe', 'charges', 'ch_1', 'amount is negative', '{}', timestamp '2025-03-01 10:00'), "
        "('bank_files', 'file', 'a.xml:3', 'no currency', '<Ntry/>', timestamp '2025-03-01 10:00'), "
        "('stripe', 'charges', 'ch_2', 'amount is negative', '{}', timestamp '2025-03-01 10:00')"
        ") t(source, object, record_ref, reason, raw, loaded_at)"
    )
    con.close()
    at = open_page("data_quality")
    assert "`marts.load_runs` is not in the warehouse yet" in " ".join(i.value for i in at.info)
    at.multiselect(key="dq_source").set_value(["stripe"]).run()
    rows = frame_with(at, "record_ref", "reason")
    assert sorted(rows["record_ref"]) == ["ch_1", "ch_2"]
    reasons = frame_with(at, "source", "reason", "records")
    assert reasons.to_dict("records") == [{"source": "stripe", "reason": "amount is negative", "records": 2}]


def test_a_shop_day_exception_is_aged_from_the_day_it_names(later_env: Path) -> None:
    from app import queries

    con = duckdb.connect(str(later_env))
    con.execute(
        "insert into marts.reconciliation_exceptions values "
        "('x4', 'missing_ledger_entry', 55.00, 'shopify:2025-03-01', current_date), "
        "('x5', 'amount_mismatch', 3.00, 'shopify:2025-03-02,JournalEntry:9', current_date)"
    )
    con.close()
    df = queries.exceptions(["missing_ledger_entry", "amount_mismatch"], 0.0, None)
    dates = dict(zip(df["exception_id"], df["record_date"], strict=True))
    assert str(dates["x4"]) == "2025-03-01" and str(dates["x5"]) == "2025-03-02"

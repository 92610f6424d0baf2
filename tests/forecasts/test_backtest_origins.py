"""The backtest is honest per origin: at each cutoff the residual series takes out only what a forecaster
standing at that cutoff could have known (recurring series detected then, documents issued by then)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from statsforecast.models import Naive, SeasonalNaive

import forecasts
from forecasts import backtest, inputs, recurring
from ledgerlake.warehouse import Warehouse
from tests.forecasts.test_recurring import HISTORY, _lines
from tests.forecasts.test_run import START, synthetic_transactions

D = date.fromisoformat
KEYS = ["account_id", "ds"]


def _bank_lines(lines: pl.DataFrame) -> pl.DataFrame:
    return lines.with_columns(is_settlement=pl.lit(False), settled_issue_date=pl.lit(None, dtype=pl.Date))


def _explained_days(explained: pl.DataFrame) -> dict[date, float]:
    return dict(zip(explained["ds"].to_list(), explained["y_explained"].to_list(), strict=True))


def test_a_series_detectable_only_later_stays_in_the_early_residual() -> None:
    # GUSTO (month-end payroll) and WEWORK (rent on the 1st) start in Nov/Dec 2024: at 2025-01-20 they
    # have two occurrences each, too few to be detected; the old landlord is detected (and running)
    lines = _bank_lines(HISTORY)
    early = _explained_days(inputs.explained_as_of(lines, D("2025-01-20"), 30))
    old_landlord = {D(d) for d in ("2024-06-17", "2024-07-15", "2024-08-15", "2024-09-16", "2024-10-15")}
    assert old_landlord | {D("2024-11-15"), D("2024-12-16")} == set(early)
    # ... while detected on the whole history (what the final forecast takes out), both are explained
    late = _explained_days(inputs.explained_as_of(lines, D("2025-05-15"), 0))
    assert {D("2024-11-29"), D("2025-01-31"), D("2024-12-02"), D("2025-01-01")} <= set(late)


def test_the_window_loses_only_the_hits_the_origin_projects() -> None:
    # at 2025-03-20 payroll and rent have four occurrences: their next dates in the window are known
    # flows of that origin; a one-off line of the same counterparty off the schedule is not
    one_off = _lines("op", "GUSTO", [("2025-04-10", -500.0)])
    lines = _bank_lines(pl.concat([HISTORY, one_off]))
    cutoff = D("2025-03-20")
    found = recurring.detect(inputs.recurring_candidates(lines), cutoff)
    assert {s.counterparty for s in found if s.running} == {"GUSTO", "WEWORK"}
    window = {
        d: y
        for d, y in _explained_days(inputs.explained_as_of(lines, cutoff, 30, found)).items()
        if d > cutoff
    }
    assert window == {D("2025-03-31"): -42500.0, D("2025-04-01"): -9500.0}
    projected = recurring.project(found, cutoff, 30)
    assert set(projected["flow_date"].to_list()) == set(window)  # the same lines the known flows forecast


def test_window_hits_pair_each_schedule_date_with_its_nearest_line() -> None:
    found = recurring.detect(HISTORY, D("2025-03-20"))
    gusto = [s for s in found if s.counterparty == "GUSTO"]
    later = _lines("op", "GUSTO", [("2025-03-28", -42500.0), ("2025-03-31", -42500.0), ("2025-04-15", -1.0)])
    hits = recurring.window_hits(gusto, later, D("2025-03-20"), D("2025-04-19"))
    # month end is due 2025-03-31 (tolerance 3 days): the exact line wins, the 28th stays residual
    assert hits["ds"].to_list() == [D("2025-03-31")]
    stopped = [s for s in recurring.detect(HISTORY, D("2025-05-15")) if not s.running]
    again = _lines("op", "OLD LANDLORD", [("2025-05-15", -3000.0), ("2025-06-16", -3000.0)])
    assert recurring.window_hits(stopped, again, D("2025-05-15"), D("2025-06-30")).is_empty()


def _bill_warehouse(path: Path) -> Warehouse:
    """Three bill payments matched to bank lines: a bill open for weeks, one issued after the backtest
    cutoff (2025-03-01) and paid in its window, and one entered the day it was paid."""
    wh = Warehouse("duckdb", duckdb_path=path)
    tx = pl.DataFrame(
        {
            "bank_transaction_id": ["b1", "b2", "b3", "x"],
            "account_id": ["op"] * 4,
            "booking_date": [D("2025-03-10"), D("2025-03-12"), D("2025-02-10"), D("2025-01-02")],
            "amount": [-100.0, -200.0, -300.0, 5.0],
            "currency": ["USD"] * 4,
            "counterparty_name": ["A", "B", "C", "D"],
            "remittance_info": ["r"] * 4,
        }
    )
    wh.write_table("marts", "fct_bank_transactions", tx)
    wh.write_table(
        "marts",
        "reconciliation_matches",
        pl.DataFrame(
            {
                "bank_transaction_id": ["b1", "b2", "b3"],
                "counterpart_type": ["ledger_entry"] * 3,
                "counterpart_id": ["BillPayment:1", "BillPayment:2", "BillPayment:3"],
            }
        ),
    )
    wh.write_table(
        "marts",
        "fct_gl_entries",
        pl.DataFrame(
            {
                "entry_id": ["BillPayment:1", "BillPayment:2", "BillPayment:3"],
                "source_entity": ["BillPayment"] * 3,
                "source_record_id": ["1", "2", "3"],
            }
        ),
    )
    wh.write_table(
        "marts",
        "fct_bill_payments",
        pl.DataFrame(
            {
                "bill_payment_id": ["1", "2", "3"],
                "bill_id": ["k", "l", "m"],
                "last_bill_date": [D("2025-02-01"), D("2025-03-05"), D("2025-02-10")],
            }
        ),
    )
    wh.write_table(
        "marts",
        "fct_bills",
        pl.DataFrame(
            {
                "bill_id": ["k", "l", "m"],
                "bill_date": [D("2025-02-01"), D("2025-03-05"), D("2025-02-10")],
                "due_date": [D("2025-03-01"), D("2025-03-19"), D("2025-02-10")],
                "balance": [0.0, 0.0, 0.0],
            }
        ),
    )
    return wh


def test_settlements_count_as_explained_only_for_documents_issued_by_the_cutoff(tmp_path: Path) -> None:
    wh = _bill_warehouse(tmp_path / "w.duckdb")
    lines = inputs.load_bank_lines(wh)
    assert lines is not None
    issued = dict(zip(lines["ds"].to_list(), lines["settled_issue_date"].to_list(), strict=True))
    assert issued == {D("2025-03-10"): D("2025-02-01"), D("2025-03-12"): D("2025-03-05"),
                      D("2025-02-10"): D("2025-02-10"), D("2025-01-02"): None}  # fmt: skip
    at_cutoff = _explained_days(inputs.explained_as_of(lines, D("2025-03-01"), 30))
    assert at_cutoff == {D("2025-03-10"): -100.0}  # the bill issued 03-05 was unknown on 03-01
    # the final residual (and a cutoff after its issue) takes the later bill out as well; the bill
    # entered the day it was paid was never an open document any known flow could hold: it stays
    final, info = inputs.load_explained(wh)
    assert _explained_days(final) == {D("2025-03-10"): -100.0, D("2025-03-12"): -200.0}
    assert info["explained_bank_lines"] == 2 and info["settlement_lines_never_open"] == 1
    assert _explained_days(inputs.explained_as_of(lines, D("2025-03-06"), 30)) == _explained_days(final)


def test_per_origin_cross_validation_scores_each_origin_on_its_own_series() -> None:
    days = pl.date_range(D("2025-01-01"), D("2025-04-30"), "1d", eager=True)
    base = pl.DataFrame({"unique_id": "a", "ds": days, "y": [float(i % 7) for i in range(len(days))]})
    plan = backtest.plan_windows(len(days), 14, max_windows=3, step=10)
    models = [SeasonalNaive(season_length=7), Naive()]
    cutoffs = backtest.origin_cutoffs(D("2025-04-30"), plan)
    plain = backtest.cross_validate(base, plan, models)
    assert sorted(set(plain["cutoff"].cast(pl.Date).to_list())) == cutoffs

    def series_at(cutoff: date) -> pl.DataFrame:  # what was "explained" moves with the cutoff
        return base.with_columns(pl.col("y") + pl.when(pl.col("ds") > cutoff).then(100.0).otherwise(0.0))

    cv, scales = backtest.cross_validate_per_origin(series_at, D("2025-04-30"), plan, models)
    sn = cv.filter(pl.col("model") == "SeasonalNaive")
    assert sorted(set(sn["cutoff"].cast(pl.Date).to_list())) == cutoffs
    assert sn["error"].to_list() == pytest.approx([100.0] * sn.height)  # scored on each origin's own y
    assert scales["scale"].to_list() == pytest.approx([0.0] * len(cutoffs))  # its history: pure season
    metrics = backtest.backtest_metrics(cv.filter(pl.col("model") == "Naive"), None, scales=scales)
    assert metrics["horizon_bucket"].to_list() == ["1-7", "8-14", "all"]


def test_run_backtests_each_origin_on_the_residual_known_at_its_cutoff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tx = synthetic_transactions(days=150)
    # a weekly receipt that starts on day 100: detected on the whole history, not at the early origins
    start = START + timedelta(days=100)
    rows = [
        (f"t{i}", "acc-1", start + timedelta(days=7 * i), 500.0, "EUR", "TENANT", None, "bank_feed", None)
        for i in range(7)
    ]
    wh = Warehouse("duckdb", duckdb_path=tmp_path / "w.duckdb")
    wh.write_table("marts", "fct_bank_transactions", pl.concat([tx, pl.DataFrame(rows, schema=tx.columns,
                   orient="row").cast(tx.schema)]))  # fmt: skip
    seen: dict[date, pl.DataFrame] = {}
    per_origin = backtest.cross_validate_per_origin

    def spy(series_at, last_day, plan, models=None):  # type: ignore[no-untyped-def]
        def record(cutoff: date) -> pl.DataFrame:
            seen[cutoff] = series_at(cutoff)
            return seen[cutoff]

        return per_origin(record, last_day, plan, models)

    monkeypatch.setattr(backtest, "cross_validate_per_origin", spy)
    summary = forecasts.run(wh, functional_currency="EUR")
    assert summary["recurring_bank_lines"] == 7  # the final residual has no tenant receipt
    tenant_days = [r[2] for r in rows]
    # the last origin has three receipts behind it (too few to detect) and four in its window
    last = max(seen)
    assert last == START + timedelta(days=119)
    acc = seen[last].filter((pl.col("unique_id") == "acc-1") & pl.col("ds").is_in(tenant_days))
    assert acc.height == 7
    flows = (
        tx.filter(pl.col("account_id") == "acc-1")
        .group_by(ds="booking_date")
        .agg(y=pl.col("amount").cast(pl.Float64).sum())
    )
    expected = flows.filter(pl.col("ds").is_in(acc["ds"].to_list())).sort("ds")
    # ... and every one of them, before and after the cutoff, is still in its residual
    assert acc.sort("ds")["y"].to_list() == pytest.approx([y + 500.0 for y in expected["y"].to_list()])
    assert set(seen) == set(backtest.origin_cutoffs(START + timedelta(days=149), summary_plan(summary)))


def summary_plan(summary: dict) -> backtest.BacktestPlan:
    return backtest.BacktestPlan(30, summary["backtest_windows"], summary["backtest_step_days"])


def test_customer_payments_are_dated_by_the_invoices_they_pay(tmp_path: Path) -> None:
    wh = _bill_warehouse(tmp_path / "w.duckdb")
    wh.write_table(
        "marts",
        "reconciliation_matches",
        pl.DataFrame(
            {
                "bank_transaction_id": ["b1", "b2", "b3", "x"],
                "counterpart_type": ["ledger_entry"] * 4,
                "counterpart_id": ["BillPayment:1", "BillPayment:2", "BillPayment:3", "Payment:9"],
            }
        ),
    )
    wh.write_table(
        "marts",
        "fct_gl_entries",
        pl.DataFrame(
            {
                "entry_id": ["BillPayment:1", "BillPayment:2", "BillPayment:3", "Payment:9"],
                "source_entity": ["BillPayment"] * 3 + ["Payment"],
                "source_record_id": ["1", "2", "3", "9"],
            }
        ),
    )
    wh.write_table(
        "marts",
        "fct_customer_payments",
        pl.DataFrame({"payment_id": ["9"], "last_invoice_date": [D("2024-12-20")]}),
    )
    lines = inputs.load_bank_lines(wh)
    assert lines is not None
    issued = dict(zip(lines["ds"].to_list(), lines["settled_issue_date"].to_list(), strict=True))
    assert issued[D("2025-01-02")] == D("2024-12-20")  # the receipt is dated by its invoice
    assert issued[D("2025-03-12")] == D("2025-03-05")  # bills as before
    # a receipt of an invoice issued after the cutoff was not yet explained at that cutoff
    assert D("2025-01-02") not in _explained_days(inputs.explained_as_of(lines, D("2024-12-15"), 30))
    assert D("2025-01-02") in _explained_days(inputs.explained_as_of(lines, D("2024-12-21"), 30))

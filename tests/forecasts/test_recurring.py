"""Recurring flows detected from a hand-made bank history, projected into the horizon with exact dates."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

import forecasts
from forecasts import cash, inputs, recurring
from forecasts import known_flows as kf
from ledgerlake.warehouse import Warehouse
from tests.forecasts.test_run import START, synthetic_transactions

AS_OF = date(2025, 5, 15)  # a Thursday; the horizon runs to 2025-06-14
D = date.fromisoformat

# last business day of each month: Nov 30 2024 is a Saturday, so Friday the 29th
PAYROLL = [
    ("2024-11-29", -42000.0),
    ("2024-12-31", -42000.0),
    ("2025-01-31", -42500.0),
    ("2025-02-28", -42500.0),
    ("2025-03-31", -42500.0),
    ("2025-04-30", -42500.0),
]
# the 1st, rolled to Monday when it falls on a weekend (Dec 1, Feb 1, Mar 1)
RENT = [
    ("2024-12-02", -9500.0),
    ("2025-01-01", -9500.0),
    ("2025-02-03", -9500.0),
    ("2025-03-03", -9500.0),
    ("2025-04-01", -9500.0),
    ("2025-05-01", -9500.0),
]
# always the same amount, but no cadence: gaps of 10 to 52 days
IRREGULAR = [
    ("2024-10-01", -120.0),
    ("2024-10-11", -120.0),
    ("2024-11-25", -120.0),
    ("2024-12-15", -120.0),
    ("2025-01-17", -120.0),
    ("2025-03-10", -120.0),
    ("2025-04-07", -120.0),
    ("2025-04-22", -120.0),
    ("2025-05-02", -120.0),
]
# monthly on the 15th (following), stopped after December
STOPPED = [
    ("2024-06-17", -3000.0),
    ("2024-07-15", -3000.0),
    ("2024-08-15", -3000.0),
    ("2024-09-16", -3000.0),
    ("2024-10-15", -3000.0),
    ("2024-11-15", -3000.0),
    ("2024-12-16", -3000.0),
]


def _lines(account: str, counterparty: str, rows: list[tuple[str, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        [(account, D(d), a, "USD", counterparty) for d, a in rows],
        schema=recurring.LINE_SCHEMA,
        orient="row",
    )


HISTORY = pl.concat(
    [
        _lines("op", "GUSTO", PAYROLL),
        _lines("op", "WEWORK", RENT),
        _lines("op", "OFFICE DEPOT", IRREGULAR),
        _lines("op", "OLD LANDLORD", STOPPED),
    ]
)


def _by_counterparty(found: list[recurring.RecurringSeries]) -> dict[str, recurring.RecurringSeries]:
    return {s.counterparty: s for s in found}


def test_payroll_rent_and_a_stopped_series_are_detected_but_not_the_irregular_vendor() -> None:
    found = _by_counterparty(recurring.detect(HISTORY, AS_OF))
    assert set(found) == {"GUSTO", "WEWORK", "OLD LANDLORD"}
    assert found["GUSTO"].fit.schedule.describe() == "monthly on month end, preceding business day"
    assert found["WEWORK"].fit.schedule.describe() == "monthly on day 1, following business day"
    assert found["GUSTO"].fit.deviations == [0] * 6 and found["WEWORK"].fit.deviations == [0] * 6
    assert found["GUSTO"].amount == -42500.0  # median of the recent events: follows the raise
    assert found["GUSTO"].running and found["WEWORK"].running
    assert not found["OLD LANDLORD"].running  # last seen 2024-12-16, five months before as_of


def test_projection_lands_on_the_business_days_of_the_horizon() -> None:
    items = recurring.project(recurring.detect(HISTORY, AS_OF), AS_OF, 30)
    got = items.sort("flow_date").select("flow_date", "amount", "weight", "account_id", "component")
    assert got.to_dicts() == [
        # May 31 2025 is a Saturday: the last business day is Friday the 30th
        {"flow_date": D("2025-05-30"), "amount": -42500.0, "weight": 1.0, "account_id": "op", "component": "recurring"},
        # June 1 2025 is a Sunday: rent moves to Monday the 2nd
        {"flow_date": D("2025-06-02"), "amount": -9500.0, "weight": 1.0, "account_id": "op", "component": "recurring"},
    ]  # fmt: skip


def test_a_series_is_not_projected_before_it_has_enough_occurrences() -> None:
    # as of 2025-03-15 the rent has been seen 4 times (Dec-Mar): enough; as of 2025-02-15 only 3
    assert "WEWORK" in _by_counterparty(recurring.detect(HISTORY, D("2025-03-15")))
    assert "WEWORK" not in _by_counterparty(recurring.detect(HISTORY, D("2025-02-15")))


def test_biweekly_payroll_with_timing_jitter_spreads_over_the_observed_deviations() -> None:
    fridays = [D("2025-01-03") + timedelta(days=14 * i) for i in range(10)]
    days = [f + timedelta(days=1 if i % 4 == 3 else 0) for i, f in enumerate(fridays)]  # every 4th a day late
    lines = _lines("op", "PAYROLL CO", [(d.isoformat(), -1000.0) for d in days])
    as_of = fridays[-1] + timedelta(days=1)  # Saturday 2025-05-10
    (found,) = recurring.detect(lines, as_of)
    assert found.fit.schedule.cadence == "biweekly"
    items = recurring.project([found], as_of, 30)
    flows = items.group_by("flow_date").agg(pl.col("weight").sum()).sort("flow_date")
    # next Fridays 2025-05-23 and 2025-06-06; 8 of 10 on the day, 2 of 10 a day late
    assert flows.to_dicts() == [
        {"flow_date": D("2025-05-23"), "weight": pytest.approx(0.8)},
        {"flow_date": D("2025-05-24"), "weight": pytest.approx(0.2)},
        {"flow_date": D("2025-06-06"), "weight": pytest.approx(0.8)},
        {"flow_date": D("2025-06-07"), "weight": pytest.approx(0.2)},
    ]


def test_semi_monthly_payroll_on_the_15th_and_month_end_rolled_back() -> None:
    days = ["01-15", "01-31", "02-14", "02-28", "03-14", "03-31", "04-15", "04-30"]  # Feb/Mar 15: Saturdays
    lines = _lines("op", "PAYROLL CO", [(f"2025-{d}", -5000.0) for d in days])
    (found,) = recurring.detect(lines, D("2025-05-05"))
    assert found.fit.schedule.describe() == "semi-monthly on day 15 and month end, preceding business day"
    items = recurring.project([found], D("2025-05-05"), 30)
    assert items.sort("flow_date")["flow_date"].to_list() == [D("2025-05-15"), D("2025-05-30")]


def test_unstable_amounts_are_not_recurring() -> None:
    amounts = [-1000.0, -400.0, -2500.0, -900.0, -1800.0, -300.0]
    lines = _lines("op", "AMAZON", [(r[0], a) for r, a in zip(RENT, amounts, strict=True)])
    assert recurring.detect(lines, AS_OF) == []


def test_counterparty_key_falls_back_to_the_remittance_text_without_references() -> None:
    df = pl.DataFrame(
        {
            "name": [None, "  Gusto ", None, "Amazon.com Services"],
            "text": ["RENT 2025-03 REF A1B2", "GUSTO NET PAY X9", "hiscox insurance 03/25", "PAYMENT 77"],
        }
    )
    keys = df.select(k=recurring.counterparty_key(pl.col("name"), pl.col("text")))["k"].to_list()
    assert keys == ["RENT REF", "GUSTO", "HISCOX INSURANCE", "AMAZON COM SERVICES"]


def test_a_name_cut_short_by_a_statement_format_joins_its_series() -> None:
    # interest on day 3; the statement format of every third month cuts the name short
    rows = [(f"2025-{m:02d}-03", 300.0) for m in range(1, 11)]
    names = ["LAKESHORE NATIONAL" if m % 3 == 0 else "LAKESHORE NATIONAL BANK" for m in range(1, 11)]
    lines = pl.concat(
        [_lines("res", n, [r]) for n, r in zip(names, rows, strict=True)] + [_lines("res", "LAKESHORE", [])]
    )
    (found,) = recurring.detect(lines, D("2025-10-20"))
    assert (found.counterparty, found.fit.schedule.cadence, len(found.fit.hits)) == (
        "LAKESHORE NATIONAL BANK",
        "monthly",
        10,
    )
    ambiguous = pl.concat(
        [_lines("a", "AMAZON", RENT), _lines("a", "AMAZON EU", []), _lines("a", "AMAZON COM", [])]
    )
    assert set(recurring.merge_truncated_names(ambiguous)["counterparty"]) == {"AMAZON"}


def test_known_flows_detect_recurring_as_of_the_cutoff_only() -> None:
    lines = HISTORY.with_columns(is_settlement=pl.lit(False))
    src = inputs.KnownSources(None, None, None, accounts={"USD": "op"}, rates={"USD": 1.0}, bank_lines=lines)
    now = inputs.known_from_sources(src, AS_OF, 30, "USD")
    assert now.items.filter(pl.col("component") == "recurring").height == 2
    # at 2025-01-20 (a backtest origin) rent and payroll had 2 occurrences each: not known yet; the
    # old landlord was then still running (last paid 2024-12-16) and is due 2025-02-17 (15th: a Saturday)
    early = inputs.known_from_sources(src, D("2025-01-20"), 30, "USD").items
    got = early.filter(pl.col("component") == "recurring").select("item_id", "flow_date", "amount")
    assert got.to_dicts() == [
        {"item_id": "op|OLD LANDLORD|out|2025-02-17", "flow_date": D("2025-02-17"), "amount": -3000.0}
    ]
    # a line settling a bill is the payables' business, not a recurring flow
    settled = lines.with_columns(is_settlement=pl.col("counterparty") == "WEWORK")
    src_settled = inputs.KnownSources(None, None, None, {"USD": "op"}, {"USD": 1.0}, bank_lines=settled)
    info = inputs.known_from_sources(src_settled, AS_OF, 30, "USD").info["recurring"]
    assert {s["counterparty"] for s in info["series"]} == {"GUSTO", "OLD LANDLORD"}


def test_run_takes_recurring_lines_out_of_the_residual_and_forecasts_them(tmp_path: Path) -> None:
    tx = synthetic_transactions(days=70)  # two noisy bookings a day on 'cp': not recurring
    mondays = [START + timedelta(days=7 * i) for i in range(10)]  # START is a Monday
    # every third line with the name cut short, as a statement format does: still the same series
    rows = [
        (
            f"r{i}",
            "acc-1",
            d,
            500.0,
            "EUR",
            "Tenant" if i % 3 == 0 else "Tenant Ltd",
            f"RENT W{i}",
            "bank_feed",
            None,
        )
        for i, d in enumerate(mondays)
    ]
    extra = pl.DataFrame(rows, schema=tx.columns, orient="row").cast(tx.schema)
    wh = Warehouse("duckdb", duckdb_path=tmp_path / "w.duckdb")
    wh.write_table("marts", "fct_bank_transactions", pl.concat([tx, extra]))
    explained, info = inputs.load_explained(wh)
    assert info["recurring_bank_lines"] == 10 and info["recurring_receipts"] == 5000.0
    assert explained["y_explained"].sum() == 5000.0
    summary = forecasts.run(wh, functional_currency="EUR")
    as_of = START + timedelta(days=69)
    expected = [START + timedelta(days=7 * i) for i in range(10, 15)]  # the Mondays in the horizon
    assert all(as_of < d <= as_of + timedelta(days=30) for d in expected)
    fc = wh.query("select * from marts.fct_cash_forecast where account_id = 'total' order by horizon_days")
    got = fc.filter(pl.col("known_recurring") != 0).select("forecast_date", "known_recurring")
    assert got.to_dicts() == [{"forecast_date": d, "known_recurring": 500.0} for d in expected]
    assert summary["known_flows_total"]["known_recurring"] == 2500.0
    assert summary["known_flows_detail"]["recurring"]["series"][0]["schedule"] == "weekly"


def test_forecast_rows_carry_the_recurring_component() -> None:
    known = pl.DataFrame(
        {
            "account_id": ["a"],
            "flow_date": [D("2025-06-02")],
            "amount": [-9500.0],
            "component": ["recurring"],
        },
        schema=cash.KNOWN_FLOW_SCHEMA,
    )
    per = cash.known_flows_per_series(known, {"a": 1.0})
    assert per.filter(pl.col("unique_id") == "total")["known_recurring"].to_list() == [-9500.0]
    assert "recurring" in kf.COMPONENTS

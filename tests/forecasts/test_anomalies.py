from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from forecasts import anomalies, evaluation
from forecasts.anomalies import Settings
from ledgerlake.warehouse import Warehouse

D0 = date(2025, 1, 6)  # a Monday


def payments(rows: list[tuple[str, str, float, int]], currency: str = "USD") -> pl.DataFrame:
    """Generic payment frame from (id, vendor, signed amount, day offset)."""
    return pl.DataFrame(
        {
            "payment_id": [r[0] for r in rows],
            "vendor": [r[1] for r in rows],
            "amount": [r[2] for r in rows],
            "currency": [currency] * len(rows),
            "date": [D0 + timedelta(days=r[3]) for r in rows],
        }
    )


def ids(flags: list[dict]) -> list[str]:
    return sorted(f["record_ids"] for f in flags)


# ---------------------------------------------------------------- vendor identity


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("AMZN MKTP US*2K4", "AMAZON MARKETPLACE"),
        ("Amzn Mktp US 6BD", "AMAZON MARKETPLACE"),
        ("UBER *TRIP 9QX1", "UBER"),
        ("GUSTO PAYROLL 8F2K", "GUSTO PAYROLL"),
        ("Baker & Partners LLP", "BAKER PARTNERS"),
        ("BAKER PARTNERS LLP", "BAKER PARTNERS"),
        ("WeWork Companies, Inc.", "WEWORK"),
        ("AWS EMEA aws.amazon.com", "AWS EMEA AMAZON"),
        (None, ""),
    ],
)
def test_normalise_vendor(raw: str | None, key: str) -> None:
    assert anomalies.normalise_vendor(raw) == key


def test_resolve_vendors_links_descriptors_without_a_name_and_merges_near_identical_names() -> None:
    lines = pl.DataFrame(
        {
            "counterparty_name": ["Amazon Marketplace", None, None, "Baker & Partners LLP", "Baker and Partners", None],
            "remittance_info": [
                "AMZN MKTP US*2K4", "AMZN MKTP US*9QX", "AMZN MKTP US 7LL", "BAKER & PARTNERS 1AB",
                "BAKER PARTNERS LLP", "ADOBE *CREATIVE CLD",
            ],
        }
    )  # fmt: skip
    out = anomalies.resolve_vendors(lines)
    assert out["vendor"].to_list()[:5] == ["Amazon Marketplace"] * 3 + ["Baker & Partners LLP"] * 2
    assert out["vendor_key"][5] == "ADOBE"
    assert out["vendor_key"].n_unique() == 3


def test_a_descriptor_starting_with_a_known_counterparty_takes_its_name() -> None:
    lines = pl.DataFrame(
        {
            "counterparty_name": ["REGUS LONDON", None, None, None],
            "remittance_info": [
                "RENT 2025-01",
                "REGUS LONDON RENT 2025-04",
                "REGUSLONDON 2025-05",
                "ROYAL MAIL 4X",
            ],
        }
    )
    out = anomalies.resolve_vendors(lines)["vendor"].to_list()
    assert out == ["REGUS LONDON", "REGUS LONDON", "REGUS LONDON", "ROYAL MAIL"]  # the third: fuzzy merge


# ---------------------------------------------------------------- duplicate payments


def test_duplicate_within_window_is_flagged_with_a_readable_reason() -> None:
    flags = anomalies.detect_duplicate_payments(
        payments(
            [("a", "AWS EMEA", -3112.40, 0), ("b", "AWS EMEA", -3112.40, 1), ("c", "AWS EMEA", -99.0, 2)],
            "EUR",
        )
    )
    assert ids(flags) == ["b,a"]
    (flag,) = flags
    assert flag["kind"] == "duplicate_payment"
    assert flag["flag_date"] == D0 + timedelta(days=1)
    assert flag["reason"] == (
        "Paid AWS EMEA 3,112.40 EUR on 2025-01-07, the same amount as on 2025-01-06 (3,112.40 EUR) "
        "— likely paid twice."
    )
    assert 0.9 < flag["score"] <= 1.0


def test_pairs_outside_the_window_or_with_other_amounts_vendors_or_accounts_are_not_flagged() -> None:
    frame = payments(
        [
            ("a", "Slack", -50.0, 0),
            ("b", "Slack", -50.0, 8),  # 8 days later: outside the 7-day window
            ("c", "Slack", -50.01, 9),  # one cent off
            ("d", "Adobe", -50.01, 10),  # other vendor
        ]
    )
    assert anomalies.detect_duplicate_payments(frame) == []
    assert ids(anomalies.detect_duplicate_payments(frame, Settings(window_days=8))) == ["b,a"]
    two_accounts = payments([("a", "Slack", -50.0, 0), ("b", "Slack", -50.0, 1)]).with_columns(
        account_id=pl.Series(["acc-1", "acc-2"])
    )
    assert anomalies.detect_duplicate_payments(two_accounts) == []


def test_monthly_and_weekly_recurring_payments_are_not_flagged_but_a_double_inside_them_is() -> None:
    monthly = [(f"rent-{m}", "WeWork", -4500.0, 30 * m) for m in range(12)]
    weekly = [(f"fee-{w}", "Cleaning Co", -120.0, 7 * w) for w in range(20)]
    assert anomalies.detect_duplicate_payments(payments(monthly + weekly)) == []
    doubled = monthly + weekly + [("rent-x", "WeWork", -4500.0, 92), ("fee-x", "Cleaning Co", -120.0, 72)]
    assert ids(anomalies.detect_duplicate_payments(payments(doubled))) == ["fee-x,fee-10", "rent-x,rent-3"]


def test_a_reversal_of_the_same_amount_from_the_vendor_cancels_the_duplicate() -> None:
    base = [("a", "Delta Air Lines", -812.3, 0), ("b", "Delta Air Lines", -812.3, 2)]
    refund = [("r", "Delta Air Lines", 812.3, 9)]
    assert ids(anomalies.detect_duplicate_payments(payments(base))) == ["b,a"]
    assert anomalies.detect_duplicate_payments(payments(base + refund)) == []
    other_vendor_refund = [("r", "Uber", 812.3, 9)]
    assert ids(anomalies.detect_duplicate_payments(payments(base + other_vendor_refund))) == ["b,a"]


def test_one_reversal_cancels_only_one_of_two_duplicates() -> None:
    rows = [("a", "Uber", -40.0, 0), ("b", "Uber", -40.0, 1), ("c", "Uber", -40.0, 2), ("r", "Uber", 40.0, 3)]
    assert ids(anomalies.detect_duplicate_payments(payments(rows))) == ["c,b"]


# ---------------------------------------------------------------- amounts, new vendors, weekdays


def vendor_history(n: int, seed: int = 3) -> list[tuple[str, str, float, int]]:
    """Ordinary payments: log-normal around 40 with sigma 0.3, no draw beyond 2 sigma."""
    rng = np.random.default_rng(seed)
    return [
        (f"u{i}", "Uber", -round(float(40 * np.exp(0.3 * np.clip(rng.normal(), -2, 2))), 2), 3 * i)
        for i in range(n)
    ]


def keyed(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(vendor_key=pl.col("vendor").str.to_uppercase())


def test_unusual_amount_against_the_vendors_earlier_payments() -> None:
    rows = vendor_history(30) + [("big", "Uber", -900.0, 91)]
    flags = [
        f
        for f in anomalies.detect_vendor_anomalies(keyed(payments(rows)))
        if f["kind"] == "unusual_vendor_amount"
    ]
    assert ids(flags) == ["big"]
    assert re.fullmatch(
        r"Paid Uber 900\.00 USD on 2025-04-07, \d+\.\d times its usual \d+\.\d\d USD \(median of 30 earlier payments\)\.",
        flags[0]["reason"],
    )
    assert flags[0]["score"] >= Settings().z_threshold


def test_unusual_amount_needs_a_minimum_history() -> None:
    rows = vendor_history(4) + [("big", "Uber", -900.0, 20)]
    assert [f for f in anomalies.detect_vendor_anomalies(keyed(payments(rows)))] == []


def test_no_look_ahead_flags_do_not_change_when_later_payments_are_added() -> None:
    early = vendor_history(30) + [("big", "Uber", -900.0, 91)]
    later = early + [(f"x{i}", "Uber", -900.0 - i, 92 + i) for i in range(40)]  # would make 900 normal
    first = [f for f in anomalies.detect_vendor_anomalies(keyed(payments(early)))]
    second = [
        f
        for f in anomalies.detect_vendor_anomalies(keyed(payments(later)))
        if f["flag_date"] <= D0 + timedelta(days=91)
    ]
    assert ids(first) == ids(second) == ["big"]
    cash = payments(early).with_columns(account_id=pl.lit("acc"))
    cash_later = payments(later).with_columns(account_id=pl.lit("acc"))
    cut = D0 + timedelta(days=91)
    assert ids(anomalies.detect_cash_days(cash)) == ids(
        [f for f in anomalies.detect_cash_days(cash_later) if f["flag_date"] <= cut]
    )


def test_large_first_charge_of_a_new_vendor_after_the_warm_up() -> None:
    rows = vendor_history(40) + [("law", "Baker & Partners", -5000.0, 100), ("pens", "Staples", -12.0, 101)]
    early_new = [("early", "Gusto", -20000.0, 5)]  # inside the 60-day warm-up: every vendor is new then
    flags = [
        f
        for f in anomalies.detect_vendor_anomalies(keyed(payments(rows + early_new)))
        if f["kind"] == "new_vendor_large_charge"
    ]
    assert ids(flags) == ["law"]
    assert flags[0]["reason"].startswith("First ever payment to Baker & Partners: 5,000.00 USD on 2025-04-16")


def test_payment_on_a_weekday_the_vendor_is_never_paid() -> None:
    weekdays = [(f"w{i}", "Payroll Co", -1000.0 - i, 7 * (i // 5) + i % 5) for i in range(60)]  # Mon-Fri
    sunday = [("sun", "Payroll Co", -1000.5, 7 * 12 + 6)]
    flags = [
        f
        for f in anomalies.detect_vendor_anomalies(keyed(payments(weekdays + sunday)))
        if f["kind"] == "unusual_day"
    ]
    assert ids(flags) == ["sun"]
    assert "on Sunday 2025-04-06; 0 of its 60 earlier payments fell on a Sunday." in flags[0]["reason"]


# ---------------------------------------------------------------- cash days


def test_unusual_cash_day_against_the_same_weekday() -> None:
    rng = np.random.default_rng(5)
    rows = [(f"d{i}", "x", float(1000 * (i % 7 == 4) + rng.normal(0, 50)), i) for i in range(120)]
    rows.append(("spike", "x", -60000.0, 100))
    lines = payments(rows).with_columns(account_id=pl.lit("acc-1"))
    flags = anomalies.detect_cash_days(lines)
    assert ids(flags) == ["acc-1:2025-04-16"]
    assert flags[0]["reason"].startswith("Net cash flow on account acc-1 was -")
    assert "on Wednesdays" in flags[0]["reason"]


# ---------------------------------------------------------------- warehouse


def bank_frame() -> pl.DataFrame:
    rows = []
    for m in range(10):
        day = D0 + timedelta(days=30 * m)
        rows.append((f"rent-{m}", "acc-1", day, -4500.0, "USD", "WeWork", "WEWORK COMPANIES LLC"))
        rows.append(
            (f"in-{m}", "acc-1", day + timedelta(days=3), 9000.0, "USD", "Stripe", f"STRIPE PAYOUT po_{m}")
        )
        rows.append(
            (f"uber-{m}", "acc-1", day + timedelta(days=5), -20.0 - m, "USD", None, f"UBER *TRIP {m}AB1")
        )
    rows.append(("dup", "acc-1", D0 + timedelta(days=150 + 6), -25.0, "USD", None, "UBER *TRIP 9ZZ1"))
    cols = [
        "bank_transaction_id",
        "account_id",
        "booking_date",
        "amount",
        "currency",
        "counterparty_name",
        "remittance_info",
    ]
    return pl.DataFrame(rows, schema=cols, orient="row").with_columns(
        pl.col("amount").cast(pl.Decimal(18, 2))
    )


def test_run_anomalies_writes_the_table_and_a_rerun_replaces_it(tmp_path: Path) -> None:
    wh = Warehouse("duckdb", duckdb_path=tmp_path / "w.duckdb")
    wh.write_table("marts", "fct_bank_transactions", bank_frame())
    first = anomalies.run_anomalies(wh)
    table = wh.query("select * from marts.anomaly_flags")
    second = anomalies.run_anomalies(wh)
    again = wh.query("select * from marts.anomaly_flags")
    assert first["rows_written"] == second["rows_written"] == {"anomaly_flags": table.height}
    assert again.height == table.height
    assert sorted(again["flag_id"]) == sorted(table["flag_id"])
    assert table.columns == list(anomalies.FLAG_SCHEMA)
    dup = table.filter(pl.col("kind") == "duplicate_payment")
    assert dup["record_ids"].to_list() == ["dup,uber-5"]
    assert dup["entity"].to_list() == ["UBER"]
    assert dup["reason"][0].startswith("Paid UBER 25.00 USD on 2025-06-11, the same amount as on 2025-06-10")


def test_anomaly_and_duplicate_metrics_against_a_truth_folder(tmp_path: Path) -> None:
    pl.DataFrame(
        {
            "defect_id": [1, 2, 3, 4],
            "defect_type": [
                "duplicate_vendor_payment",
                "duplicate_vendor_payment",
                "duplicate_bill_payment",
                "amount_typo",
            ],
            "record_ids": ["dup1,ven_uber", "dup2,ven_aws", "BillPayment:9,dup1", "typo1,po_1"],
            "detail": ["", "", "", ""],
        }
    ).write_parquet(tmp_path / "defects.parquet")
    flags = anomalies.to_frame(
        [
            anomalies._flag("duplicate_payment", 1, "r", ["dup1", "orig1"], "Uber", 5, "USD", D0),
            anomalies._flag(
                "duplicate_payment", 1, "r", ["BillPayment:9", "BillPayment:8"], "Uber", 5, "USD", D0
            ),
            anomalies._flag("duplicate_payment", 1, "r", ["x", "y"], "Uber", 5, "USD", D0),
            anomalies._flag("unusual_cash_day", 7, "r", ["acc:2025-01-06"], "acc", 5, "USD", D0),
        ]
    )
    dup = evaluation.duplicate_payment_metrics(flags, tmp_path)
    assert dup == {"precision": 2 / 3, "recall": 0.5, "n_flags": 3, "n_planted": 2}
    allm = evaluation.anomaly_metrics(flags, tmp_path)
    assert allm["precision"] == 0.5 and allm["recall"] == 0.5
    assert allm["precision_by_kind"] == {"duplicate_payment": 2 / 3, "unusual_cash_day": 0.0}


@pytest.mark.postgres
def test_run_anomalies_on_postgres_with_bill_payments(pg_dsn: str) -> None:
    wh = Warehouse("postgres", pg_dsn=pg_dsn)
    wh.write_table("marts", "fct_bank_transactions", bank_frame())
    wh.write_table(
        "marts",
        "fct_bill_payments",
        pl.DataFrame(
            {
                "bill_payment_id": ["7", "8", "9"],
                "vendor_name": ["Uber", "Uber", "Slack"],
                "amount": [25.0, 25.0, 25.0],
                "currency": ["USD"] * 3,
                "payment_date": [D0, D0 + timedelta(days=2), D0 + timedelta(days=3)],
            }
        ),
    )
    first = anomalies.run_anomalies(wh)
    second = anomalies.run_anomalies(wh)
    assert first["rows_written"] == second["rows_written"]
    assert first["bill_payments"] == 3
    dups = wh.query("select record_ids from marts.anomaly_flags where kind = 'duplicate_payment' order by 1")
    assert dups["record_ids"].to_list() == ["BillPayment:8,BillPayment:7", "dup,uber-5"]

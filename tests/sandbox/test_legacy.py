"""The legacy trial-balance export for the parallel run: it parses, it equals the ledger's balances
except for the planted differences, and those are exactly `truth/parallel_run_differences`."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

import sandbox.generate as gen
from ingestion.legacy import HEADER, parse_files
from sandbox.company.clock import Clock
from sandbox.company.legacy import KINDS, WINDOW_DAYS, legacy_chart
from sandbox.generate import generate


def _export(root: Path) -> Path:
    return root / "exports" / "legacy" / "legacy_trial_balance.csv"


def _parsed(root: Path) -> pl.DataFrame:
    rows, quarantine, seen, duplicates = parse_files([_export(root)])
    assert quarantine == [] and duplicates == 0 and seen == len(rows)
    return pl.DataFrame(rows).with_columns(pl.col("debit", "credit", "balance").cast(pl.Float64))


def _ledger_balances(root: Path, days: list) -> pl.DataFrame:
    """End-of-day debit − credit per account from truth/gl_lines, on the given days."""
    gl = pl.read_parquet(root / "truth" / "gl_lines.parquet")
    out = []
    for day in days:
        upto = gl.filter(pl.col("posted_date") <= day)
        per = upto.group_by("account_id").agg(ledger=(pl.col("debit") - pl.col("credit")).sum())
        out.append(
            legacy_chart()
            .select("account_id")
            .join(per, on="account_id", how="left")
            .with_columns(date=pl.lit(day))
        )
    return pl.concat(out).with_columns(pl.col("ledger").fill_null(0.0).round(2))


def test_the_export_covers_every_account_each_day_of_the_window(small_sandbox: Path) -> None:
    raw = _export(small_sandbox).read_bytes()
    assert raw.decode("cp1252").splitlines()[0] == ";".join(HEADER)
    assert b"\r\n" in raw
    rows = _parsed(small_sandbox)
    go_live = Clock.for_year().go_live
    assert rows["date"].min() == go_live
    assert rows["date"].max() == go_live + timedelta(days=WINDOW_DAYS - 1)
    assert rows.height == WINDOW_DAYS * legacy_chart().height
    # the legacy books balance too: every day's balances sum to zero
    per_day = rows.group_by("date").agg(pl.col("balance").sum().round(2))
    assert (per_day["balance"].abs() < 0.005).all()


def test_the_export_differs_from_the_ledger_exactly_where_the_truth_says(small_sandbox: Path) -> None:
    rows = _parsed(small_sandbox).join(
        legacy_chart().select("account_no", "account_id", chart_name="account_name"), on="account_no"
    )
    assert (rows["account_name"] == rows["chart_name"]).all()
    ledger = _ledger_balances(small_sandbox, rows["date"].unique().sort().to_list())
    cells = rows.join(ledger, on=["date", "account_id"]).with_columns(
        diff=(pl.col("balance") - pl.col("ledger")).round(2)
    )
    differing = (
        cells.filter(pl.col("diff").abs() > 0.005)
        .select("date", "account_id", "diff")
        .sort("date", "account_id")
    )
    truth = pl.read_parquet(small_sandbox / "truth" / "parallel_run_differences.parquet").sort(
        "date", "account_id"
    )
    assert truth.height > 0
    assert differing.select("date", "account_id").equals(truth.select("date", "account_id"))
    assert (differing["diff"] - truth["difference"]).abs().max() < 0.005
    assert ((truth["legacy_balance"] - truth["ledger_balance"] - truth["difference"]).abs() < 0.005).all()


def test_each_planted_kind_is_a_defect_and_explains_its_cells(small_sandbox: Path) -> None:
    defects = pl.read_parquet(small_sandbox / "truth" / "defects.parquet")
    legacy = defects.filter(pl.col("defect_type").str.starts_with("legacy_"))
    assert sorted(legacy["defect_type"]) == sorted(f"legacy_{k}" for k in KINDS)
    assert defects["defect_id"].n_unique() == defects.height
    truth = pl.read_parquet(small_sandbox / "truth" / "parallel_run_differences.parquet")
    assert set(truth["difference_type"]) == set(KINDS)
    no_to_id = dict(legacy_chart().select("account_no", "account_id").iter_rows())
    for defect_type, record_ids in legacy.select("defect_type", "record_ids").iter_rows():
        accounts = {no_to_id[n] for n in record_ids.split(",")[1:]}
        kind = defect_type.removeprefix("legacy_")
        assert set(truth.filter(pl.col("difference_type") == kind)["account_id"]) == accounts
    # a timing difference lasts one day; the others last to the end of the window
    timing = truth.filter(pl.col("difference_type") == "timing")
    assert timing["date"].n_unique() == 1
    end = truth["date"].max()
    for kind in ("missing_posting", "amount"):
        assert truth.filter(pl.col("difference_type") == kind)["date"].max() == end


def test_the_export_is_deterministic_and_changes_nothing_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b, without = tmp_path / "a", tmp_path / "b", tmp_path / "without"
    generate(seed=3, scale=0.03, out=a)
    generate(seed=3, scale=0.03, out=b)
    assert _export(a).read_bytes() == _export(b).read_bytes()
    assert pl.read_parquet(a / "truth/parallel_run_differences.parquet").equals(
        pl.read_parquet(b / "truth/parallel_run_differences.parquet")
    )
    monkeypatch.setattr(gen, "write_legacy_export", lambda reg, gl, out: {})
    generate(seed=3, scale=0.03, out=without)
    assert not _export(without).exists()
    for sub in ("state", "exports/bank"):
        for f in sorted((without / sub).rglob("*")):
            if f.is_file():
                assert f.read_bytes() == (a / f.relative_to(without)).read_bytes(), f
    before = pl.read_parquet(without / "truth/defects.parquet")
    after = pl.read_parquet(a / "truth/defects.parquet")
    assert after.head(before.height).equals(before)


def test_no_export_before_go_live(tmp_path: Path) -> None:
    clock = Clock.for_year()
    generate(seed=3, scale=0.03, out=tmp_path, as_of=clock.go_live - timedelta(days=1))
    assert not _export(tmp_path).exists()
    assert pl.read_parquet(tmp_path / "truth/parallel_run_differences.parquet").height == 0


def test_bad_and_repeated_rows_are_quarantined_or_counted(tmp_path: Path) -> None:
    f = tmp_path / "tb.csv"
    f.write_text(
        ";".join(HEADER) + "\n"
        "02.07.2025;1000;Operating Checking;1.234,56;0,00;-12.345,67\n"
        "02.07.2025;1000;Operating Checking;1.234,56;0,00;-12.345,67\n"
        "31.02.2025;1010;EUR Business Account;0,00;0,00;5,00\n"
        "02.07.2025;1020;Stripe Clearing;abc;0,00;5,00\n"
        "02.07.2025;1030;Shopify Clearing;0,00\n",
        encoding="utf-8",
    )
    rows, quarantine, seen, duplicates = parse_files([f])
    assert seen == 5 and len(rows) == 1 and duplicates == 1 and len(quarantine) == 3
    assert float(rows[0]["balance"]) == -12345.67 and float(rows[0]["debit"]) == 1234.56
    reasons = " | ".join(q["reason"] for q in quarantine)
    assert "Date" in reasons and "Debit" in reasons and "columns" in reasons

"""The rollout scorecard follows ledgerlake.toml: moving the go-live date moves both windows."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import duckdb

from tests.conftest import Run, ledgerlake_cli


def scorecard(path: Path) -> dict[str, dict]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.sql("select kpi, baseline, current, target, status from marts.rollout_scorecard").pl()
    finally:
        con.close()
    return {r["kpi"]: r for r in rows.iter_rows(named=True)}


def window_ratio(path: Path, kpi: str, first: date, last: date) -> float:
    con = duckdb.connect(str(path), read_only=True)
    try:
        df = con.execute(
            "select sum(numerator) / sum(denominator) from marts.kpi_monthly "
            "where kpi = ? and month >= ? and month <= ?",
            [kpi, first, last],
        ).fetchall()
    finally:
        con.close()
    return float(df[0][0])


def test_moving_the_go_live_date_moves_baseline_and_measurement(demo_run: Run, tmp_path: Path) -> None:
    assert demo_run.returncode == 0
    copy = tmp_path / "ll.duckdb"
    shutil.copy(demo_run.warehouse, copy)
    config = tmp_path / "ledgerlake.toml"
    config.write_text(
        '[company]\nfunctional_currency = "USD"\n'
        '[rollout]\ngo_live_date = "2025-10-01"\nbaseline_days = 90\nmeasurement_days = 60\n'
        "[kpi_targets]\nmanual_entry_share = { absolute = 0.5 }\n"
    )
    res = ledgerlake_cli("build", "--warehouse", str(copy), "--config", str(config))
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    before, after = scorecard(demo_run.warehouse), scorecard(copy)
    share = "manual_entry_share"
    # go-live 2025-07-02, 90 days: baseline Apr–Jun; go-live 2025-10-01: baseline Jul–Sep, measurement Oct–Nov
    expected_before = window_ratio(demo_run.warehouse, share, date(2025, 4, 1), date(2025, 6, 1))
    assert abs(before[share]["baseline"] - expected_before) < 1e-9
    assert (
        abs(after[share]["baseline"] - window_ratio(copy, share, date(2025, 7, 1), date(2025, 9, 1))) < 1e-9
    )
    assert (
        abs(after[share]["current"] - window_ratio(copy, share, date(2025, 10, 1), date(2025, 11, 1))) < 1e-9
    )
    assert after[share]["baseline"] != before[share]["baseline"]
    assert after[share]["target"] == 0.5  # the absolute target from the config
    assert after[share]["status"] == ("met" if after[share]["current"] <= 0.5 else "missed")


def test_sync_lag_without_a_baseline_is_judged_on_its_absolute_target(demo_run: Run, tmp_path: Path) -> None:
    """Sync lag has no pre-go-live history: two loads inside the measurement window (on the source's
    clock) give it a current value, the months' ratio of Σ lag / records, and a status by the
    absolute 24 h target alone; the demo's single backfill gives no value at all."""
    assert scorecard(demo_run.warehouse)["sync_lag_hours"]["status"] == "no_data"
    copy = tmp_path / "ll.duckdb"
    shutil.copy(demo_run.warehouse, copy)
    con = duckdb.connect(str(copy))
    try:
        for run_id, clock, changed, hours in [
            ("t-aug", "2025-08-12 10:00:00", 30, 60.0),
            ("t-sep", "2025-09-03 06:00:00", 10, 500.0),
        ]:
            con.execute(
                "insert into raw_ledgerlake.load_runs by name select ? as run_id, now() as started_at, "
                "'stripe' as source, 'charges' as object, 0 as seen, 0 as loaded, 0 as quarantined, "
                "0 as duplicates, 1.0 as seconds, 'ok' as status, cast(? as timestamptz) as source_clock_at, "
                "? as changed, ? as lag_hours_sum, ? as lag_hours_max, 'test' as _dlt_load_id, ? as _dlt_id",
                [run_id, clock, changed, hours, hours / changed, run_id],
            )
    finally:
        con.close()
    res = ledgerlake_cli("build", "--warehouse", str(copy))
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    con = duckdb.connect(str(copy), read_only=True)
    try:
        monthly = con.execute(
            "select month, value from marts.kpi_monthly where kpi = 'sync_lag_hours' order by month"
        ).fetchall()
        daily = con.execute(
            "select day, value from marts.kpi_daily where kpi = 'sync_lag_hours' order by day"
        ).fetchall()
    finally:
        con.close()
    assert monthly == [(date(2025, 8, 1), 2.0), (date(2025, 9, 1), 50.0)]
    assert daily == [(date(2025, 8, 12), 2.0), (date(2025, 9, 3), 50.0)]
    lag = scorecard(copy)["sync_lag_hours"]
    assert lag["baseline"] is None and lag["target"] == 24.0
    assert lag["current"] == 14.0  # (60 + 500) hours / 40 records; the months' mean would be 26 (missed)
    assert lag["status"] == "met"  # within 24 h, judged without a baseline

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

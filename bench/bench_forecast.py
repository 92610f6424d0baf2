"""Benchmark of the cash forecast step: accuracy against the naive baselines, interval coverage, time.

    .venv/bin/python bench/bench_forecast.py [--seed N] [--days N] [--sandbox]

Scenario `synthetic`: 3 accounts x 365 days, seeded: weekly pattern, noise, a monthly payroll on one
account and a slow drift on another, all in one currency. With `--sandbox`, also the simulated company's
bank lines (`sandbox.generate`, its truth folder) as if they were `marts.fct_bank_transactions`.
Prints a table and writes `bench/results/forecast.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("NIXTLA_ID_AS_COL", "1")

import forecasts  # noqa: E402
from ledgerlake.warehouse import Warehouse  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "forecast.json"
START = date(2025, 1, 1)


def synthetic_transactions(seed: int, days: int) -> pl.DataFrame:
    """Three EUR accounts with different shapes, a few bookings a day."""
    rng = np.random.default_rng(seed)
    weekly = {
        "operating": np.array([4000.0, 5200.0, 4800.0, 5000.0, 6500.0, -900.0, -400.0]),
        "payroll": np.array([-300.0, -250.0, -200.0, -250.0, -300.0, 0.0, 0.0]),
        "savings": np.array([50.0, 80.0, 60.0, 40.0, 120.0, 10.0, 5.0]),
    }
    rows: list[tuple[Any, ...]] = []
    for account, pattern in weekly.items():
        for i in range(days):
            day = START + timedelta(days=i)
            amounts = [pattern[i % 7] + rng.normal(0, abs(pattern).mean() * 0.3)]
            if account == "payroll" and day.day == 25:
                amounts.append(-15000.0 + rng.normal(0, 300))
            if account == "savings":
                amounts[0] += 0.3 * i
            rows += [(f"{account}-{i}-{k}", account, day, round(a, 2), "EUR") for k, a in enumerate(amounts)]
    return pl.DataFrame(
        rows, schema=["bank_transaction_id", "account_id", "booking_date", "amount", "currency"], orient="row"
    )


def sandbox_tables(seed: int, out: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The sandbox's true bank lines and EUR->USD rates, in the marts' shapes."""
    from sandbox.generate import generate

    generate(seed, 1.0, out)
    lines = pl.read_parquet(out / "truth" / "bank_lines.parquet")
    tx = lines.select(
        "bank_transaction_id", "account_id", booking_date="date", amount="amount", currency="currency"
    )
    fx = pl.read_parquet(out / "truth" / "fx_rates.parquet").select(
        rate_date="date", currency=pl.lit("EUR"), rate_to_functional="eurusd"
    )
    return tx, fx


def run_scenario(
    name: str, tables: dict[str, pl.DataFrame], functional: str, workdir: Path
) -> dict[str, Any]:
    wh = Warehouse("duckdb", duckdb_path=workdir / f"{name}.duckdb")
    for table, df in tables.items():
        wh.write_table("marts", table, df)
    started = time.perf_counter()
    summary = forecasts.run(wh, functional_currency=functional)
    return {"scenario": name, "seconds": round(time.perf_counter() - started, 2), "summary": summary}


def print_table(results: list[dict[str, Any]]) -> None:
    head = f"{'scenario':<10} {'series':<26} {'model':<14} {'MASE':>6} {'vs SN7':>7} {'cov80':>6} {'bal80':>6} {'sec':>6}"
    print(head)
    print("-" * len(head))
    for res in results:
        for uid, s in res["summary"]["series"].items():
            print(
                f"{res['scenario']:<10} {uid[:26]:<26} {s['model']:<14} {_f(s['mase'])} "
                f"{_f(s['mase_vs_seasonal_naive'], 7)} {_f(s['coverage_80'])} {_f(s['balance_coverage_80'])} "
                f"{res['seconds']:>6.2f}"
            )
        losing = res["summary"]["not_beating_baseline"]
        verdict = (
            "beats both naive baselines in every bucket"
            if not losing
            else f"{len(losing)} bucket(s) not beating"
        )
        print(f"{res['scenario']:<10} -> {verdict}")
        for e in losing:
            print(
                f"{'':<13}{e['unique_id'][:26]} {e['horizon_bucket']}: {e['model']} {_f(e['mase'])} "
                f"vs {e['baseline']} {_f(e['mase_baseline'])}"
            )


def _f(x: float | None, width: int = 6) -> str:
    return f"{'-':>{width}}" if x is None else f"{x:>{width}.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument(
        "--sandbox", action="store_true", help="also forecast the sandbox company's bank lines"
    )
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        tx = synthetic_transactions(args.seed, args.days)
        results.append(run_scenario("synthetic", {"fct_bank_transactions": tx}, "EUR", work))
        if args.sandbox:
            stx, fx = sandbox_tables(args.seed, work / "sandbox")
            tables = {"fct_bank_transactions": stx, "fx_rates_daily": fx}
            results.append(run_scenario("sandbox", tables, "USD", work))
    print_table(results)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "seed": args.seed,
        "days": args.days,
        "cpu_count": os.cpu_count(),
        "goal_seconds": 20,
        "scenarios": results,
    }
    RESULTS.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()

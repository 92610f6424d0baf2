"""Benchmark of anomaly flags and expense categorisation against the sandbox truth.

    .venv/bin/python bench/bench_anomalies.py [--seed 42] [--scale 1.0] [--keep DIR]

Builds a warehouse with `ledgerlake run` into a temp dir (sandbox + truth there too), then measures:
- `truth_lines`: the anomaly detectors directly on the truth's bank lines (descriptor only, no names);
- `pipeline`: `run_anomalies` / `run_categorise` on the warehouse as it is built today (no ledger marts
  with expense labels yet, so categorisation honestly sends everything to review);
- `ledger_labelled`: the same after adding stand-ins for the QuickBooks marts being built
  (`marts.fct_bill_lines` with the expense account name, `marts.fct_bill_payments`) made from
  `raw_quickbooks`, so the categoriser trains on booked bills and duplicates are also sought in bills;
- `truth_cv`: the categoriser's grouped 5-fold cross-validation inside the truth labels (bank text from
  the warehouse), grouped by normalised descriptor and, harder, by true vendor (unseen vendors).
Prints a table and writes `bench/results/anomalies.json`. Numbers, not pass/fail.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from forecasts import anomalies, categorise, evaluation  # noqa: E402
from ledgerlake.warehouse import Warehouse  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "anomalies.json"

BILL_LINES_SQL = """
create or replace table marts.fct_bill_lines as
select cast(b.id as varchar) || ':' || cast(l.line_num as varchar) as bill_line_id,
       cast(b.txn_date as date) as bill_date, b.vendor_ref__name as vendor_name, l.description,
       l.amount, l.account_based_expense_line_detail__account_ref__name as expense_account_name
from raw_quickbooks.bill b join raw_quickbooks.bill__line l on l._dlt_parent_id = b._dlt_id
where not coalesce(b._is_deleted, false)
"""
BILL_PAYMENTS_SQL = """
create or replace table marts.fct_bill_payments as
select cast(id as varchar) as bill_payment_id, vendor_ref__name as vendor_name, total_amt as amount,
       currency_ref__value as currency, cast(txn_date as date) as payment_date
from raw_quickbooks.bill_payment where not coalesce(_is_deleted, false)
"""


def build_warehouse(seed: int, scale: float, work: Path) -> tuple[Warehouse, Path, dict[str, Any]]:
    """`ledgerlake run` into `work` (a subprocess, as a user would); returns the warehouse and truth dir."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "LEDGERLAKE_"))}
    warehouse, sandbox = work / "ledgerlake.duckdb", work / "sandbox"
    args = [
        "run",
        "--warehouse",
        str(warehouse),
        "--sandbox",
        str(sandbox),
        "--seed",
        str(seed),
        "--scale",
        str(scale),
    ]
    started = time.perf_counter()
    res = subprocess.run(
        [sys.executable, "-m", "ledgerlake.cli", *args], cwd=ROOT, env=clean, capture_output=True, text=True
    )
    info = {"returncode": res.returncode, "seconds": round(time.perf_counter() - started, 1)}
    if res.returncode not in (0, 1):  # other steps may fail while the bank marts still build
        print(f"ledgerlake run exited {res.returncode}; last lines of stderr:", file=sys.stderr)
        print("\n".join(res.stderr.strip().splitlines()[-5:]), file=sys.stderr)
    return Warehouse("duckdb", duckdb_path=warehouse), sandbox / "truth", info


def measure(wh: Warehouse, truth: Path) -> dict[str, Any]:
    started = time.perf_counter()
    anomaly_summary = anomalies.run_anomalies(wh)
    category_summary = categorise.run_categorise(wh)
    flags = wh.query("select * from marts.anomaly_flags")
    cats = wh.query("select * from marts.expense_categories")
    return {
        "anomalies": evaluation.anomaly_metrics(flags, truth),
        "duplicate_payments": evaluation.duplicate_payment_metrics(flags, truth),
        "categorisation": evaluation.categorisation_metrics(cats, truth),
        "anomaly_run": anomaly_summary,
        "categorise_run": {k: v for k, v in category_summary.items() if k != "cv"},
        "categorise_cv": category_summary.get("cv"),
        "example_reasons": _examples(flags),
        "seconds": round(time.perf_counter() - started, 2),
    }


def _examples(flags: pl.DataFrame) -> dict[str, str]:
    first = flags.sort("flag_date").group_by("kind", maintain_order=True).first()
    return dict(zip(first["kind"].to_list(), first["reason"].to_list(), strict=True))


def truth_lines(truth: Path) -> dict[str, Any]:
    """The detectors on the truth's bank lines (descriptor only, no counterparty names)."""
    lines = pl.read_parquet(truth / "bank_lines.parquet").select(
        "bank_transaction_id", "account_id", booking_date="date", amount="amount", currency="currency",
        counterparty_name=pl.lit(None, dtype=pl.Utf8), remittance_info="name",
    )  # fmt: skip
    started = time.perf_counter()
    flags = anomalies.detect_all(lines)
    return {
        "anomalies": evaluation.anomaly_metrics(flags, truth),
        "duplicate_payments": evaluation.duplicate_payment_metrics(flags, truth),
        "seconds": round(time.perf_counter() - started, 2),
    }


def truth_cv(wh: Warehouse, truth: Path) -> dict[str, Any]:
    """Grouped CV of the categoriser on the truth labels, with the warehouse's text for each line."""
    lines = categorise.bank_lines_to_categorise(wh)
    labels = pl.read_parquet(truth / "expense_categories.parquet")
    clusters = pl.read_parquet(truth / "vendor_clusters.parquet").unique("descriptor")
    names = pl.read_parquet(truth / "bank_lines.parquet").select("bank_transaction_id", descriptor="name")
    data = (
        lines.join(labels, left_on="record_id", right_on="bank_transaction_id")
        .join(names, left_on="record_id", right_on="bank_transaction_id", how="left")
        .join(clusters.select("descriptor", "vendor_id"), on="descriptor", how="left")
    )
    cols = (
        data["text"].to_list(),
        data["vendor"].to_list(),
        data["amount"].to_list(),
        data["category"].to_list(),
    )
    by_descriptor = [categorise.normalise_text(t) for t in cols[0]]
    by_vendor = data["vendor_id"].fill_null("unknown").to_list()
    return {
        "grouped_by_descriptor": categorise.evaluate(*cols, by_descriptor),
        "grouped_by_vendor": categorise.evaluate(*cols, by_vendor),
    }


def print_table(results: dict[str, Any]) -> None:
    head = f"{'scenario':<18} {'anom P':>7} {'anom R':>7} {'dup P':>6} {'dup R':>6} {'flags':>6} {'cat acc':>8} {'review':>7} {'n':>5}"
    print(head)
    print("-" * len(head))
    for name in ("truth_lines", "pipeline", "ledger_labelled"):
        r = results.get(name)
        if not r:
            continue
        a, d, c = r["anomalies"], r["duplicate_payments"], r.get("categorisation", {})
        print(
            f"{name:<18} {_f(a['precision'])} {_f(a['recall'])} {_f(d['precision'], 6)} {_f(d['recall'], 6)} "
            f"{a['n_flags']:>6} {_f(c.get('accuracy'), 8)} {_f(c.get('review_share'))} {c.get('n', '-'):>5}"
        )
    for group, r in results.get("truth_cv", {}).items():
        print(
            f"truth_cv {group:<22} acc(all) {_f(r['accuracy_all'])}  auto acc {_f(r['auto_accuracy'])}  "
            f"review {_f(r['review_share'])}  threshold {_f(r['threshold'])}  n {r['n']}  groups {r['groups']}"
        )
    for name in ("pipeline", "ledger_labelled"):
        if results.get(name):
            print(f"{name}: flags by kind {results[name]['anomalies']['flags_by_kind']}")
            for kind, reason in results[name]["example_reasons"].items():
                print(f"  {kind}: {reason}")


def _f(x: float | None, width: int = 7) -> str:
    return f"{'-':>{width}}" if x is None or x != x else f"{x:>{width}.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--keep", type=Path, help="build into this folder and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        wh, truth, build = build_warehouse(args.seed, args.scale, work)
        results: dict[str, Any] = {"seed": args.seed, "scale": args.scale, "build": build}
        results["truth_lines"] = truth_lines(truth)
        if wh.table_exists("marts", "fct_bank_transactions"):
            results["pipeline"] = measure(wh, truth)
            results["truth_cv"] = truth_cv(wh, truth)
            if wh.table_exists("raw_quickbooks", "bill__line"):
                wh.execute(BILL_LINES_SQL)
                wh.execute(BILL_PAYMENTS_SQL)
                results["ledger_labelled"] = measure(wh, truth)
    print_table(results)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()

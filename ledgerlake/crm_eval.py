"""Deal ↔ invoice reconciliation measured against the sandbox truth.

`crm_metrics(warehouse, truth_dir)` compares:
- `intermediate.int_deals_invoiced` (our won deal ↔ QuickBooks invoice matches) with
  `truth/deal_invoice_matches.parquet`: precision, recall, per rule;
- `intermediate.int_crm_exceptions` with the planted defects `won_deal_not_invoiced` (record = deal id)
  and `invoice_amount_differs_from_deal` (record = "deal id,invoice number") in `truth/defects.parquet`.
  A won deal is only flagged once it is `grace_days` old (dbt var `deal_invoice_grace_days`), so
  `recall_due` counts only the planted ones that closed at least that long before the sandbox's
  `as_of` (`truth/summary.json`); `recall` counts all of them;
- `intermediate.int_kpis_crm` with `truth/kpi_monthly.parquet` (`time_to_invoice_days` per month).

Keys are missing when the warehouse or the truth lacks the table.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from ledgerlake.warehouse import Warehouse

EXCEPTION_TYPES = ("won_deal_not_invoiced", "invoice_amount_differs_from_deal")
GRACE_DAYS = 30  # the default of the dbt var deal_invoice_grace_days


def _as_warehouse(warehouse: Warehouse | Path | str) -> Warehouse:
    if isinstance(warehouse, Warehouse):
        return warehouse
    return Warehouse(kind="duckdb", duckdb_path=Path(warehouse), read_only=True)


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def _matches(wh: Warehouse, truth: Path) -> dict[str, Any] | None:
    path = truth / "deal_invoice_matches.parquet"
    if not path.exists() or not wh.table_exists("intermediate", "int_deals_invoiced"):
        return None
    true_pairs = {(d, i) for d, i in pl.read_parquet(path).select("deal_id", "invoice_id").iter_rows()}
    ours = wh.query("select deal_id, invoice_id, rule from intermediate.int_deals_invoiced")
    our_pairs = {(d, i) for d, i, _ in ours.iter_rows()}
    by_rule: dict[str, Any] = {}
    for (rule,), group in ours.group_by("rule"):
        pairs = {(d, i) for d, i, _ in group.iter_rows()}
        by_rule[str(rule)] = {"matches": len(pairs), "precision": _ratio(len(pairs & true_pairs), len(pairs))}
    tp = len(our_pairs & true_pairs)
    return {
        "precision": _ratio(tp, len(our_pairs)),
        "recall": _ratio(tp, len(true_pairs)),
        "matches": len(our_pairs),
        "true_matches": len(true_pairs),
        "false_matches": sorted(f"{d},{i}" for d, i in our_pairs - true_pairs),
        "missed": sorted(f"{d},{i}" for d, i in true_pairs - our_pairs),
        "by_rule": by_rule,
    }


def truth_as_of(truth: Path) -> date | None:
    """The sandbox's as_of (its simulated today) from the truth's summary.json."""
    summary = truth / "summary.json"
    if not summary.exists():
        return None
    as_of = json.loads(summary.read_text()).get("clock", {}).get("as_of")
    return date.fromisoformat(as_of) if as_of else None


def _exceptions(wh: Warehouse, truth: Path, grace_days: int) -> dict[str, Any] | None:
    path = truth / "defects.parquet"
    if not path.exists() or not wh.table_exists("intermediate", "int_crm_exceptions"):
        return None
    planted = pl.read_parquet(path).filter(pl.col("defect_type").is_in(EXCEPTION_TYPES))
    ours = wh.query("select exception_type, record_ids from intermediate.int_crm_exceptions")
    closed: dict[str, date] = {}
    deals_path = truth / "crm_deals.parquet"
    if deals_path.exists():
        for deal_id, closedate in pl.read_parquet(deals_path).select("deal_id", "closedate").iter_rows():
            if closedate is not None:
                closed[deal_id] = closedate.date()
    as_of = truth_as_of(truth)
    cutoff = as_of - timedelta(days=grace_days) if as_of else None
    out: dict[str, Any] = {}
    for kind in EXCEPTION_TYPES:
        want = set(planted.filter(pl.col("defect_type") == kind)["record_ids"].to_list())
        got = set(ours.filter(pl.col("exception_type") == kind)["record_ids"].to_list())
        due = want
        if kind == "won_deal_not_invoiced" and cutoff is not None:
            due = {r for r in want if r in closed and closed[r] < cutoff}
        out[kind] = {
            "planted": len(want),
            "planted_due": len(due),
            "found": len(got),
            "true_found": len(got & want),
            "false_found": len(got - want),
            "recall": _ratio(len(got & want), len(want)),
            "recall_due": _ratio(len(got & due), len(due)),
            "precision": _ratio(len(got & want), len(got)),
            "missed": sorted(due - got),
            "false": sorted(got - want),
        }
    return out


def _kpi(wh: Warehouse, truth: Path) -> dict[str, Any] | None:
    path = truth / "kpi_monthly.parquet"
    if not path.exists() or not wh.table_exists("intermediate", "int_kpis_crm"):
        return None
    t = pl.read_parquet(path).filter(pl.col("kpi") == "time_to_invoice_days").select("month", "value")
    ours = wh.query(
        "select cast(month as date) as month, cast(value as double precision) as ours "
        "from intermediate.int_kpis_crm where kpi = 'time_to_invoice_days'"
    )
    joined = t.join(ours, on="month", how="full", coalesce=True)
    diffs = (joined["value"] - joined["ours"]).abs()
    return {
        "months": t.height,
        "missing": int(joined["ours"].null_count()),
        "extra": int(joined["value"].null_count()),
        "max_abs_diff": round(float(diffs.max() or 0.0), 4),
    }


def crm_metrics(
    warehouse: Warehouse | Path | str, truth_dir: Path | str, grace_days: int = GRACE_DAYS
) -> dict:
    """Deal ↔ invoice matches, CRM exceptions and time_to_invoice_days against the truth."""
    wh = _as_warehouse(warehouse)
    truth = Path(truth_dir)
    metrics: dict[str, Any] = {}
    for name, result in (
        ("deal_invoice_matches", _matches(wh, truth)),
        ("exceptions", _exceptions(wh, truth, grace_days)),
        ("time_to_invoice_days", _kpi(wh, truth)),
    ):
        if result is not None:
            metrics[name] = result
    return metrics

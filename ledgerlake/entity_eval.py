"""Entity resolution measured against the sandbox truth: pairwise precision, recall and F1.

`entity_metrics(warehouse, truth_dir)` compares `intermediate.int_vendors_resolved` and
`intermediate.int_customers_resolved` with the true clusters. Pairwise: every two records the
truth puts in one cluster is a true pair; every two records we put under one key a predicted pair.
A truth record the warehouse does not have counts as a cluster of its own (it costs recall).

Truth per record:
- vendors: `truth/vendor_clusters.parquet` (bank descriptors by text, QBO vendors by id).
- customers: the registry's `customer_key`. Shopify customers from `truth/shopify_orders.parquet`,
  HubSpot companies through their invoiced deals (`crm_deals` -> `receivables`), QuickBooks
  customers by their name in `receivables` (the ledger names customers as the registry does), and
  Stripe customers from the sandbox's Stripe state (`<sandbox>/state/stripe/customers.jsonl`,
  `metadata.customer_key`) — the truth folder has no Stripe customer table of its own.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import polars as pl

from ledgerlake.warehouse import Warehouse


def pairwise_scores(pred: dict[str, str], true: dict[str, str]) -> dict[str, Any]:
    """Pairwise precision/recall/F1 of clustering `pred` (item -> cluster) against `true`, over the
    items of `true`; items missing from `pred` are singletons."""
    items = list(true)
    pred_of = {i: pred.get(i, f"__missing__{i}") for i in items}

    def pairs(counts: Counter[Any]) -> int:
        return sum(n * (n - 1) // 2 for n in counts.values())

    tp = pairs(Counter((pred_of[i], true[i]) for i in items))
    predicted = pairs(Counter(pred_of.values()))
    actual = pairs(Counter(true[i] for i in items))
    precision = tp / predicted if predicted else 1.0
    recall = tp / actual if actual else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "items": len(items),
        "items_missing": sum(1 for i in items if i not in pred),
        "true_pairs": actual,
        "predicted_pairs": predicted,
    }


def _as_warehouse(warehouse: Warehouse | Path | str) -> Warehouse:
    if isinstance(warehouse, Warehouse):
        return warehouse
    return Warehouse(kind="duckdb", duckdb_path=Path(warehouse), read_only=True)


def _resolved(wh: Warehouse, table: str, key: str) -> dict[str, str] | None:
    if not wh.table_exists("intermediate", table):
        return None
    df = wh.query(f"select source, source_id, {key} as cluster from intermediate.{table}")
    return {f"{s}:{i}": c for s, i, c in df.iter_rows()}


def vendor_truth(truth_dir: Path) -> dict[str, str] | None:
    path = truth_dir / "vendor_clusters.parquet"
    if not path.exists():
        return None
    df = pl.read_parquet(path)
    if "source" not in df.columns:
        df = df.with_columns(source=pl.lit("bank_feed"), qbo_vendor_id=pl.lit(None, pl.Utf8))
    out: dict[str, str] = {}
    for descriptor, vendor_id, source, qbo_id in df.select(
        "descriptor", "vendor_id", "source", "qbo_vendor_id"
    ).iter_rows():
        item = f"quickbooks:{qbo_id}" if source == "quickbooks" else f"bank_feed:{descriptor}"
        out[item] = vendor_id
    return out


def customer_truth(truth_dir: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    orders = truth_dir / "shopify_orders.parquet"
    if orders.exists():
        for cid, key in pl.read_parquet(orders).select("customer_id", "customer_key").unique().iter_rows():
            if cid is not None and key is not None:
                out[f"shopify:{cid}"] = key
    receivables = truth_dir / "receivables.parquet"
    deals = truth_dir / "crm_deals.parquet"
    if receivables.exists():
        rec = pl.read_parquet(receivables)
        if deals.exists():
            companies = (
                pl.read_parquet(deals)
                .filter(pl.col("invoice_number").is_not_null())
                .join(rec.select("invoice_number", "customer_key"), on="invoice_number")
                .select("company_id", "customer_key")
                .unique()
            )
            for cid, key in companies.iter_rows():
                out[f"hubspot:{cid}"] = key
        names = rec.select("customer_name", "customer_key").unique()
        unique_names = names.group_by("customer_name").agg(pl.col("customer_key").first(), pl.len())
        by_name = {n: k for n, k, c in unique_names.iter_rows() if c == 1}
        out.update({f"__qbo_name__:{n}": k for n, k in by_name.items()})
    stripe = truth_dir.parent / "state" / "stripe" / "customers.jsonl"
    if stripe.exists():
        with stripe.open() as fh:
            for line in fh:
                obj = json.loads(line)
                key = (obj.get("metadata") or {}).get("customer_key")
                if key:
                    out[f"stripe:{obj['id']}"] = key
    return out


def _qbo_customers_by_name(wh: Warehouse, truth: dict[str, str]) -> dict[str, str]:
    """QBO customer ids -> registry key, through their display name."""
    if not wh.table_exists("intermediate", "int_customers_resolved"):
        return {}
    df = wh.query(
        "select source_id, raw_name from intermediate.int_customers_resolved where source = 'quickbooks'"
    )
    out = {}
    for sid, name in df.iter_rows():
        key = truth.get(f"__qbo_name__:{name}")
        if key is not None:
            out[f"quickbooks:{sid}"] = key
    return out


def entity_metrics(warehouse: Warehouse | Path | str, truth_dir: Path | str) -> dict[str, Any]:
    """`{"vendor_f1", "vendor_precision", "vendor_recall", "customer_f1", ...}`; keys are missing
    for the side whose truth or resolved model does not exist."""
    wh = _as_warehouse(warehouse)
    truth_dir = Path(truth_dir)
    metrics: dict[str, Any] = {}
    vt = vendor_truth(truth_dir)
    vp = _resolved(wh, "int_vendors_resolved", "vendor_key")
    if vt and vp is not None:
        s = pairwise_scores(vp, vt)
        metrics |= {
            "vendor_f1": s["f1"],
            "vendor_precision": s["precision"],
            "vendor_recall": s["recall"],
            "vendor_items": s["items"],
            "vendor_items_missing": s["items_missing"],
        }
    cp = _resolved(wh, "int_customers_resolved", "customer_key")
    if cp is not None:
        raw = customer_truth(truth_dir)
        ct = {k: v for k, v in raw.items() if not k.startswith("__qbo_name__:")}
        ct |= _qbo_customers_by_name(wh, raw)
        if ct:
            s = pairwise_scores(cp, ct)
            metrics |= {
                "customer_f1": s["f1"],
                "customer_precision": s["precision"],
                "customer_recall": s["recall"],
                "customer_items": s["items"],
            }
            by_source: dict[str, dict[str, str]] = {}
            for k in ct:
                by_source.setdefault(k.split(":", 1)[0], {})[k] = ct[k]
            metrics["customer_items_by_source"] = {src: len(v) for src, v in sorted(by_source.items())}
    return metrics

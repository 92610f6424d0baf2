"""Writes HubSpot and QuickBooks state and truth for `sandbox.generate` (called after Stripe and bank)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl

from sandbox.company.bank import BankData
from sandbox.company.crm import cut_crm, simulate_crm
from sandbox.company.hubspot_wire import deal_stage_history, hubspot_objects
from sandbox.company.ledger import simulate_ledger
from sandbox.company.ledger_truth import (
    bs_monthly,
    cut_ledger,
    defects,
    gl_lines,
    kpi_monthly,
    matches,
    pl_monthly,
    vendor_clusters,
)
from sandbox.company.qbo_wire import qbo_deleted, qbo_objects
from sandbox.company.registry import Registry
from sandbox.company.stripe import StripeData


def _write_jsonl(path: Path, objs: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for obj in objs:
            fh.write(json.dumps(obj, separators=(",", ":"), ensure_ascii=False))
            fh.write("\n")


def _records(source: str, objs: dict[str, list[dict[str, Any]]], key: str) -> pl.DataFrame:
    return pl.concat(
        [
            pl.DataFrame(
                {"source": source, "object": name, "record_id": [str(o[key]) for o in items]},
                schema={"source": pl.Utf8, "object": pl.Utf8, "record_id": pl.Utf8},
            )
            for name, items in objs.items()
        ]
    )


def _table(entity: str) -> str:
    """`BillPayment` -> `bill_payment`: the raw table (and `records.object`) the source loads it into."""
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(entity))


def _append_defects(truth: dict[str, pl.DataFrame], more: pl.DataFrame) -> None:
    old = truth["defects"]
    start = int(old["defect_id"].max() + 1) if old.height else 0
    more = more.with_row_index("defect_id", offset=start).with_columns(pl.col("defect_id").cast(pl.Int64))
    truth["defects"] = pl.concat([old, more.select(old.columns)], how="vertical_relaxed")


def write_crm_and_ledger(
    reg: Registry,
    stripe_all: StripeData,
    bank_all: BankData,
    scale: float,
    out: Path,
    truth: dict[str, pl.DataFrame],
    orders: pl.DataFrame | None = None,
    shop_payouts: pl.DataFrame | None = None,
) -> None:
    """Simulate HubSpot and QuickBooks over the horizon, cut at as_of, write `state/hubspot`,
    `state/quickbooks` and add their truth tables to `truth` (records, defects, vendor_clusters extended)."""
    crm_all = simulate_crm(reg, scale)
    ledger = simulate_ledger(
        reg, stripe_all, bank_all, crm_all, scale, orders=orders, shop_payouts=shop_payouts
    )
    crm = cut_crm(crm_all, reg.clock)
    view = cut_ledger(ledger, reg.clock)
    hs = hubspot_objects(crm)
    for name, items in hs.items():
        _write_jsonl(out / "state" / "hubspot" / f"{name}.jsonl", items)
    gl = gl_lines(view)
    qbo = qbo_objects(view, gl)
    for name, items in qbo.items():
        _write_jsonl(out / "state" / "quickbooks" / f"{name}.jsonl", items)
    _write_jsonl(out / "state" / "quickbooks" / "deleted.jsonl", qbo_deleted(view))
    truth["records"] = pl.concat(
        [
            truth["records"],
            _records("hubspot", hs, "id"),
            _records("quickbooks", {_table(e): items for e, items in qbo.items()}, "Id"),
        ]
    ).sort("source", "object", "record_id")
    _append_defects(truth, pl.concat([crm.defects, defects(view)]))
    clusters = truth["vendor_clusters"].with_columns(
        source=pl.lit("bank_feed"), qbo_vendor_id=pl.lit(None, pl.Utf8), is_alias=pl.lit(None, pl.Boolean)
    )
    qbo_clusters = vendor_clusters(view).with_columns(source=pl.lit("quickbooks"))
    names = dict(zip([v.vendor_id for v in reg.vendors], [v.name for v in reg.vendors], strict=True))
    qbo_clusters = qbo_clusters.with_columns(
        vendor_name=pl.col("vendor_id").replace_strict(names, default=None)
    )
    truth["vendor_clusters"] = pl.concat([clusters, qbo_clusters.select(clusters.columns)])
    truth["gl_lines"] = gl
    write_report_lines(out, gl)
    truth["pl_monthly"] = pl_monthly(gl)
    truth["bs_monthly"] = bs_monthly(gl, reg.clock)
    truth["kpi_monthly"] = kpi_monthly(view)
    truth.update(matches(view))
    truth["crm_deals"] = crm.deals.select(
        "deal_id",
        "company_id",
        "dealname",
        "amount",
        "currency",
        "dealstage",
        "outcome",
        "invoice_number",
        created_at=pl.from_epoch("created", time_unit="s"),
        closedate=pl.from_epoch("closed", time_unit="s"),
    )
    truth["deal_stage_history"] = deal_stage_history(crm)


def write_report_lines(out: Path, gl: pl.DataFrame) -> None:
    """GL lines the QuickBooks report endpoints sum (server-side state, not truth)."""
    path = out / "state" / "quickbooks" / "gl_lines.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    gl.select("posted_date", "account_id", "account_name", "classification", "debit", "credit").write_parquet(
        path
    )

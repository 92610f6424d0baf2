"""The parallel run measured against the sandbox truth.

`parallel_run_metrics(warehouse, truth_dir)` compares `marts.parallel_run_differences` with
`truth/parallel_run_differences.parquet` (the planted legacy-vs-ledger differences, one row per account
and day) by (date, account): cells found and missed, extra cells, cells whose amount differs, and how
often the guessed `difference_type` is the planted one. Empty when the warehouse or the truth lacks
the table (no legacy export loaded, or an older sandbox).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from ledgerlake.warehouse import Warehouse

TOLERANCE = 0.005


def _as_warehouse(warehouse: Warehouse | Path | str) -> Warehouse:
    if isinstance(warehouse, Warehouse):
        return warehouse
    return Warehouse(kind="duckdb", duckdb_path=Path(warehouse), read_only=True)


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def found_differences(wh: Warehouse) -> pl.DataFrame:
    """The mart's rows as (date, account_id, difference, difference_type)."""
    return wh.query(
        "select balance_date as date, cast(account_id as varchar) as account_id,"
        " cast(difference as double precision) as difference, difference_type"
        " from marts.parallel_run_differences"
    ).with_columns(pl.col("date").cast(pl.Date))


def parallel_run_metrics(warehouse: Warehouse | Path | str, truth_dir: Path | str) -> dict[str, Any]:
    path = Path(truth_dir) / "parallel_run_differences.parquet"
    wh = _as_warehouse(warehouse)
    if not path.exists() or not wh.table_exists("marts", "parallel_run_differences"):
        return {}
    truth = pl.read_parquet(path).select("date", "account_id", "difference", "difference_type")
    ours = found_differences(wh)
    joined = truth.join(ours, on=["date", "account_id"], how="full", coalesce=True, suffix="_found")
    both = joined.filter(pl.col("difference").is_not_null() & pl.col("difference_found").is_not_null())
    same_amount = both.filter((pl.col("difference") - pl.col("difference_found")).abs() <= TOLERANCE)
    same_type = both.filter(pl.col("difference_type") == pl.col("difference_type_found"))
    missed = joined.filter(pl.col("difference_found").is_null())
    extra = joined.filter(pl.col("difference").is_null())
    return {
        "planted_cells": truth.height,
        "found_cells": ours.height,
        "matched_cells": same_amount.height,
        "recall": _ratio(same_amount.height, truth.height),
        "precision": _ratio(same_amount.height, ours.height),
        "missed": [
            f"{d},{a}" for d, a in missed.select("date", "account_id").sort("date", "account_id").iter_rows()
        ],
        "extra": [
            f"{d},{a}" for d, a in extra.select("date", "account_id").sort("date", "account_id").iter_rows()
        ],
        "amount_mismatches": both.height - same_amount.height,
        "type_accuracy": _ratio(same_type.height, both.height),
        "planted_by_type": dict(truth.group_by("difference_type").len().sort("difference_type").iter_rows()),
        "found_by_type": dict(ours.group_by("difference_type").len().sort("difference_type").iter_rows()),
    }

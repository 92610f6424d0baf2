"""Shopify order days ↔ the ledger's daily sales summaries against the sandbox truth.

Uses the session's `demo_run` (seed 7, scale 0.1: ~400 orders, 1 refund the ledger never booked,
`shopify_refund_not_booked`). The sandbox has no truth file of these matches; the ledger truth names
the shop day each summary books (`gl_lines.source_link` = `shopify:<day>`, hand-keyed summaries
too), and `ledgerlake.evaluate.shop_ledger_metrics` — what `ledgerlake eval` prints as
`shop_ledger` — measures `marts.reconciliation_matches` and the order-day exceptions against it.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from ledgerlake.evaluate import shop_ledger_metrics
from ledgerlake.warehouse import Warehouse
from tests.conftest import Run

# the sandbox cuts orders and summaries at the same -05:00 day boundary: anything short of every
# day matched means orders landed on the wrong day or a summary was missed
MATCH_PRECISION_GOAL = 1.0
MATCH_RECALL_GOAL = 1.0


@pytest.fixture(scope="module")
def built(demo_run: Run) -> Run:
    assert demo_run.returncode in (0, 1), demo_run.stderr[-2000:]
    return demo_run


@pytest.fixture(scope="module")
def warehouse(built: Run) -> Warehouse:
    return Warehouse(kind="duckdb", duckdb_path=built.warehouse, read_only=True)


@pytest.fixture(scope="module")
def metrics(built: Run, warehouse: Warehouse) -> dict:
    m = shop_ledger_metrics(warehouse, built.truth)
    print(f"\nshop_ledger metrics: {m}")
    assert m is not None
    return m


def test_every_order_day_matches_its_ledger_summary(metrics: dict) -> None:
    assert metrics["true_matches"] > 100
    assert metrics["precision"] >= MATCH_PRECISION_GOAL, metrics
    assert metrics["recall"] >= MATCH_RECALL_GOAL, metrics
    # both rules are exercised: integration summaries after go-live, hand-keyed ones before it
    assert set(metrics["by_rule"]) == {"shop_summary_link", "shop_summary_note_date"}


def test_unbooked_refunds_are_the_only_order_day_exceptions(metrics: dict) -> None:
    exc = metrics["exceptions"]
    assert exc["true_days"] >= 1, "the demo sandbox plants at least one unbooked refund"
    assert exc["recall"] == 1.0, exc
    assert exc["precision"] == 1.0, exc


def test_an_unbooked_refund_is_an_amount_mismatch_of_its_amount(warehouse: Warehouse, built: Run) -> None:
    defects = pl.read_parquet(built.truth / "defects.parquet").filter(
        pl.col("defect_type") == "shopify_refund_not_booked"
    )
    orders = pl.read_parquet(built.truth / "shopify_orders.parquet")
    clock = json.loads((built.truth / "summary.json").read_text())["clock"]
    as_of_day = (date.fromisoformat(clock["as_of"]) - date.fromisoformat(clock["start"])).days
    order_ids = [int(r.split(",")[0]) for r in defects["record_ids"]]
    unbooked = orders.filter(pl.col("order_id").is_in(order_ids) & (pl.col("refund_day") <= as_of_day))
    refunded = unbooked["refunded_amount"].sum()
    assert unbooked.height >= 1
    exc = warehouse.query(
        "select cast(amount as double precision) as amount from marts.reconciliation_exceptions "
        "where record_ids like 'shopify:%' and exception_type in ('amount_mismatch', 'missing_ledger_entry')"
    )
    # the ledger summary is short by exactly the refunds it left out (the shop currency is USD)
    assert exc["amount"].sum() == pytest.approx(refunded, abs=0.01 * unbooked.height)


def test_order_days_carry_every_order_once(warehouse: Warehouse) -> None:
    days = warehouse.query(
        "select sum(order_count) as orders, sum(cast(orders_gross as double precision)) as gross "
        "from intermediate.int_orders_booked where order_date is not null"
    ).row(0, named=True)
    orders = warehouse.query(
        "select count(*) as orders, sum(cast(total_price_functional as double precision)) as gross "
        "from marts.fct_orders"
    ).row(0, named=True)
    assert days["orders"] == orders["orders"] > 0
    assert days["gross"] == pytest.approx(orders["gross"], abs=0.01)


def test_matches_and_exceptions_keep_the_marts_shape(warehouse: Warehouse) -> None:
    matches = warehouse.query(
        "select * from marts.reconciliation_matches where record_type = 'shopify_order_day'"
    )
    assert matches.height > 0
    assert matches["bank_transaction_id"].null_count() == matches.height
    assert set(matches["counterpart_type"]) == {"quickbooks_journal_entry"}
    assert matches["record_id"].str.starts_with("shopify:").all()
    assert matches["counterpart_id"].str.starts_with("JournalEntry:").all()
    assert matches["record_id"].n_unique() == matches["counterpart_id"].n_unique() == matches.height
    exc = warehouse.query(
        "select * from marts.reconciliation_exceptions where record_ids like 'shopify:%' "
        "or detail like 'Shopify sales summary%'"
    )
    assert exc["detected_at"].null_count() == 0
    assert exc["amount"].null_count() == 0


def test_the_shop_day_is_cut_at_an_offset_consistent_with_the_ledger(warehouse: Warehouse) -> None:
    # orders are placed 07:00-23:00 at -05:00 and refunds 08:00-20:00: every offset from -12:00 to
    # -04:00 puts each of them on its ledger day; the inference must land in that range
    offsets = warehouse.query(
        "select distinct shop_utc_offset_minutes as m from intermediate.int_orders_booked "
        "where shop_utc_offset_minutes is not null"
    )["m"].to_list()
    assert len(offsets) == 1 and -720 <= offsets[0] <= -240, offsets


def test_shop_ledger_metrics_is_none_without_the_marts(tmp_path: Path, built: Run) -> None:
    import duckdb

    db = tmp_path / "empty.duckdb"
    duckdb.connect(str(db)).close()
    empty = Warehouse(kind="duckdb", duckdb_path=db, read_only=True)
    assert shop_ledger_metrics(empty, built.truth) is None
    (tmp_path / "truth").mkdir()
    assert shop_ledger_metrics(empty, tmp_path / "truth") is None

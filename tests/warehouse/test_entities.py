"""Entity resolution (dim_vendors, dim_customers) against the sandbox truth: pairwise F1.

Reuses the session's `ledgerlake run` (tests/conftest.py::demo_run, one sandbox and DuckDB
warehouse per session), so this module adds only a few seconds when the end-to-end tests run too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ledgerlake.entity_eval import entity_metrics, pairwise_scores
from ledgerlake.warehouse import Warehouse
from tests.conftest import Run

VENDOR_F1_GOAL = 0.95  # the goal
CUSTOMER_F1_GOAL = 0.95


@pytest.fixture(scope="module")
def built(demo_run: Run) -> Run:
    assert demo_run.returncode in (0, 1), demo_run.stderr[-2000:]
    return demo_run


@pytest.fixture(scope="module")
def metrics(built: Run) -> dict:
    m = entity_metrics(built.warehouse, built.truth)
    print(f"\nentity metrics: {m}")
    return m


@pytest.fixture(scope="module")
def warehouse(built: Run) -> Warehouse:
    return Warehouse(kind="duckdb", duckdb_path=built.warehouse, read_only=True)


def test_pairwise_scores_counts_pairs() -> None:
    true = {"a": "x", "b": "x", "c": "x", "d": "y"}
    # a,b together (1 true pair of 3), c alone, d wrongly with a and b (2 false pairs)
    s = pairwise_scores({"a": 1, "b": 1, "c": 2, "d": 1}, true)
    assert (s["precision"], s["recall"]) == (round(1 / 3, 4), round(1 / 3, 4))
    # a record the warehouse lacks is a singleton: it costs recall, not precision
    s = pairwise_scores({"a": 1, "b": 1, "d": 2}, true)
    assert s["precision"] == 1.0 and s["recall"] == round(1 / 3, 4) and s["items_missing"] == 1


def test_vendor_f1_meets_goal(metrics: dict) -> None:
    assert metrics["vendor_items_missing"] == 0
    assert metrics["vendor_f1"] >= VENDOR_F1_GOAL, metrics
    assert metrics["vendor_precision"] >= 0.95 and metrics["vendor_recall"] >= 0.95, metrics


def test_customer_f1_meets_goal(metrics: dict) -> None:
    by_source = metrics["customer_items_by_source"]
    assert set(by_source) == {"stripe", "shopify", "hubspot", "quickbooks"}, by_source
    assert metrics["customer_f1"] >= CUSTOMER_F1_GOAL, metrics


def test_vendors_that_share_a_brand_stay_apart(warehouse: Warehouse) -> None:
    """AWS EMEA (paid in EUR), AWS US and Amazon's marketplace are three vendors in the truth."""
    df = warehouse.query(
        "select raw_name, vendor_key, vendor_currency from intermediate.int_vendors_resolved "
        "where source = 'bank_feed' and (raw_name like 'AWS%' or raw_name like 'AMZN MKTP%' "
        "or raw_name like 'Amazon Web Services EMEA%')"
    )
    keys = {
        kind: set(df.filter(df["raw_name"].str.starts_with(prefix))["vendor_key"])
        for kind, prefix in (("emea", "AWS EMEA"), ("us", "AWS.AMAZON.COM"), ("mktp", "AMZN MKTP"))
    }
    assert all(len(v) == 1 for v in keys.values() if v), keys
    present = [next(iter(v)) for v in keys.values() if v]
    assert len(present) == len(set(present)), keys


def test_every_link_keeps_its_evidence(warehouse: Warehouse) -> None:
    df = warehouse.query(
        "select rule, score, normalised_a, normalised_b from intermediate.int_vendor_links where is_accepted"
    )
    assert df.height > 0
    assert set(df["rule"]) <= {"exact_name", "merchant_name", "token_containment"}
    assert df["score"].min() >= 0.5
    assert df["normalised_a"].null_count() == 0 and df["normalised_b"].null_count() == 0


def test_dims_have_one_row_per_key(warehouse: Warehouse) -> None:
    for table, key in (("dim_vendors", "vendor_key"), ("dim_customers", "customer_key")):
        n, distinct = warehouse.query(f"select count(*), count(distinct {key}) from marts.{table}").row(0)
        assert n == distinct > 0, table


def test_entity_metrics_accepts_a_path(built: Run) -> None:
    assert entity_metrics(Path(built.warehouse), built.truth)["vendor_f1"] > 0

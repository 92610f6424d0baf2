"""HubSpot deals ↔ QuickBooks invoices against the sandbox truth.

One `ledgerlake run` per module on its own small sandbox (scale 0.2, seed 2: 3 won deals never
invoiced, 2 invoices whose amount differs from the deal, 1 invoice voided and reissued — richer in CRM
defects than the session's demo_run), ~50 s. The warehouse's matches, exceptions and
time_to_invoice_days are measured with `ledgerlake.crm_eval.crm_metrics`, the function `ledgerlake eval`
uses.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from ledgerlake.crm_eval import crm_metrics
from ledgerlake.warehouse import Warehouse
from tests.conftest import Run, ledgerlake_cli

SEED = 2
SCALE = 0.2
MATCH_PRECISION_GOAL = 0.98
MATCH_RECALL_GOAL = 0.98
MAX_FALSE_EXCEPTIONS = 2  # per exception type
KPI_TOLERANCE = 0.01  # days


@pytest.fixture(scope="module")
def crm_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    base = tmp_path_factory.mktemp("crm")
    warehouse, sandbox = base / "ledgerlake.duckdb", base / "sandbox"
    res = ledgerlake_cli(
        "run", "--warehouse", str(warehouse), "--sandbox", str(sandbox),
        "--seed", str(SEED), "--scale", str(SCALE),
    )  # fmt: skip
    run = Run(warehouse, sandbox, res.returncode, res.stdout, res.stderr)
    assert run.returncode in (0, 1), run.stderr[-2000:]
    return run


@pytest.fixture(scope="module")
def warehouse(crm_run: Run) -> Warehouse:
    return Warehouse(kind="duckdb", duckdb_path=crm_run.warehouse, read_only=True)


@pytest.fixture(scope="module")
def metrics(crm_run: Run) -> dict:
    m = crm_metrics(crm_run.warehouse, crm_run.truth)
    print(f"\ncrm metrics: {m}")
    return m


def test_crm_metrics_is_empty_without_the_models(tmp_path: Path) -> None:
    import duckdb

    db = tmp_path / "empty.duckdb"
    duckdb.connect(str(db)).close()
    (tmp_path / "truth").mkdir()
    assert crm_metrics(db, tmp_path / "truth") == {}


def test_every_deal_lands_in_fct_deals(warehouse: Warehouse, crm_run: Run) -> None:
    raw = warehouse.scalar("select count(*) from raw_hubspot.deals where not coalesce(archived, false)")
    deals = warehouse.query("select * from marts.fct_deals")
    assert deals.height == raw > 0
    assert deals["deal_id"].n_unique() == deals.height
    assert set(deals["source_system"].unique()) == {"hubspot"}
    assert (deals["source_record_id"] == deals["deal_id"]).all()
    # every deal has its primary company and that company's name
    assert deals["company_id"].null_count() == 0
    assert deals["company_name"].null_count() == 0
    # amounts: functional = own amount for functional-currency deals
    usd = deals.filter(pl.col("currency") == "USD")
    assert (usd["amount_functional"] == usd["amount"]).all()
    # stage flags agree with the stage
    assert (deals["is_won"] == (deals["stage"] == "closedwon")).all()
    assert (deals["is_closed"] == deals["stage"].is_in(["closedwon", "closedlost"])).all()
    truth = pl.read_parquet(crm_run.truth / "crm_deals.parquet")
    joined = deals.join(truth, on="deal_id")
    assert joined.height == deals.height
    assert (joined["stage"] == joined["dealstage"]).all()
    assert ((joined["amount"].cast(pl.Float64) - joined["amount_right"]).abs() < 0.005).all()


def test_deal_invoice_matches_against_truth(metrics: dict) -> None:
    m = metrics["deal_invoice_matches"]
    assert m["true_matches"] > 20
    assert m["precision"] >= MATCH_PRECISION_GOAL, m["false_matches"]
    assert m["recall"] >= MATCH_RECALL_GOAL, m["missed"]


def test_matches_use_the_standing_invoice_of_a_reissued_doc_number(warehouse: Warehouse) -> None:
    matched = warehouse.query(
        "select m.deal_id, m.invoice_number, i.is_voided from intermediate.int_deals_invoiced as m "
        "inner join staging.stg_quickbooks__invoices as i on i.invoice_id = m.invoice_id"
    )
    assert not matched["is_voided"].any()
    reissued = warehouse.query(
        "select doc_number from staging.stg_quickbooks__invoices group by doc_number "
        "having count(*) > 1 and sum(case when is_voided then 1 else 0 end) >= 1"
    )["doc_number"].to_list()
    assert reissued, "the sandbox should hold a voided-and-reissued invoice"
    assert set(reissued) <= set(matched["invoice_number"].to_list())


@pytest.mark.parametrize("kind", ["won_deal_not_invoiced", "invoice_amount_differs_from_deal"])
def test_planted_crm_defects_are_found(metrics: dict, kind: str) -> None:
    m = metrics["exceptions"][kind]
    assert m["planted_due"] >= 1
    assert m["recall_due"] == 1.0, m["missed"]
    assert m["false_found"] <= MAX_FALSE_EXCEPTIONS, m["false"]


def test_time_to_invoice_days_equals_truth(metrics: dict) -> None:
    m = metrics["time_to_invoice_days"]
    assert m["months"] >= 6
    assert m["missing"] == 0 and m["extra"] == 0
    assert m["max_abs_diff"] <= KPI_TOLERANCE


def test_exception_rows_fit_reconciliation_exceptions(warehouse: Warehouse) -> None:
    cols = warehouse.query("select * from intermediate.int_crm_exceptions limit 0").columns
    assert cols == [
        "exception_type",
        "amount",
        "record_ids",
        "bank_transaction_id",
        "counterpart_id",
        "detail",
    ]
    kpi_cols = warehouse.query("select * from intermediate.int_kpis_crm limit 0").columns
    assert kpi_cols == ["month", "kpi", "value", "numerator", "denominator"]

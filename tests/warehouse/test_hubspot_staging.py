"""HubSpot line items and deal stage history, from the sandbox's API through dlt into the staging models.

One small sandbox (seed 4, scale 0.05), HubSpot alone ingested into a temporary DuckDB file, then
`dbt build` of `models/staging/hubspot` with its tests and the two singular tests on it (~20 s;
the same on PostgreSQL in one more test). Before the load one deal's amount is changed by PATCH, as a
user typing over the line items' total: the line item test must flag exactly that deal, and nothing
else may fail.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest
import requests

from ingestion.common import Target
from ingestion.runner import run_api_sources
from ledgerlake.config import load_settings
from ledgerlake.dbt import BuildResult, run_dbt
from sandbox.credentials import HUBSPOT_API_KEY
from sandbox.generate import generate
from sandbox.server import serve_in_thread

SUM_TEST = "assert_deal_line_items_sum_to_deal_amount"
STAGE_TEST = "assert_deal_stage_history_ends_in_current_stage"


@dataclass(frozen=True)
class Built:
    warehouse: Path
    truth: Path
    result: BuildResult
    patched_deal: str


def _status(result: BuildResult, name: str) -> str:
    [status] = [s for uid, s in result.nodes.items() if uid.split(".")[-1] == name]
    return status


def _load_and_build(base: Path, pg_dsn: str | None = None) -> Built:
    sandbox, warehouse = base / "sandbox", base / "w.duckdb"
    generate(seed=4, scale=0.05, out=sandbox)
    saved = dict(os.environ)  # the sources and run_dbt set environment variables: put them back
    try:
        if pg_dsn is not None:
            os.environ["LEDGERLAKE_PG_DSN"] = pg_dsn
        os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
        os.environ["SOURCES__HUBSPOT__API_KEY"] = HUBSPOT_API_KEY
        with serve_in_thread(sandbox) as url:
            os.environ["SOURCES__HUBSPOT__BASE_URL"] = url
            auth = {"Authorization": f"Bearer {HUBSPOT_API_KEY}"}
            deal = requests.get(f"{url}/crm/v3/objects/deals", params={"limit": 1}, headers=auth).json()
            deal_id, amount = deal["results"][0]["id"], deal["results"][0]["properties"]["amount"]
            patched = requests.patch(
                f"{url}/crm/v3/objects/deals/{deal_id}",
                json={"properties": {"amount": str(Decimal(amount) + 1)}},
                headers=auth,
            )
            assert patched.status_code == 200
            target = (
                Target("duckdb", warehouse, pipelines_dir=base / ".dlt")
                if pg_dsn is None
                else Target("postgres", pg_dsn=pg_dsn, pipelines_dir=base / ".dlt")
            )
            [report] = run_api_sources(["hubspot"], target, record=False)
        assert report.error is None
        result = run_dbt(
            load_settings(warehouse=warehouse, target="duckdb" if pg_dsn is None else "postgres"),
            "build",
            "--select",
            "path:models/staging/hubspot",
            f"path:tests/crm/{SUM_TEST}.sql",
            f"path:tests/crm/{STAGE_TEST}.sql",
            "--indirect-selection",
            "cautious",
        )
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return Built(warehouse, sandbox / "truth", result, deal_id)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return _load_and_build(tmp_path_factory.mktemp("hubspot_staging"))


def _query(db: Path, sql: str) -> pl.DataFrame:
    # not read-only: dbt-duckdb keeps this process's read-write handle on the file open
    with duckdb.connect(str(db)) as con:
        return con.sql(sql).pl()


def _only_the_sum_test_fails(result: BuildResult) -> None:
    # real portals break it too, so it warns (listed on the data-quality page) instead of stopping the run
    assert _status(result, SUM_TEST) == "warn"
    assert _status(result, STAGE_TEST) == "pass"
    others = {uid: s for uid, s in result.nodes.items() if not uid.endswith(SUM_TEST)}
    assert len(others) > 15 and set(others.values()) <= {"success", "pass"}, others
    assert not result.failures
    [warning] = result.warnings
    assert "Got 1 result" in warning, warning
    assert [(status, SUM_TEST in node) for node, status, _ in result.tests] == [("warn", True)]


def test_only_the_patched_deal_fails_the_line_item_sum(built: Built) -> None:
    _only_the_sum_test_fails(built.result)
    sums = _query(
        built.warehouse,
        "select links.deal_id, sum(items.amount) as lines, max(deals.amount) as deal "
        "from staging.stg_hubspot__deal_line_items links "
        "join staging.stg_hubspot__line_items items using (line_item_id) "
        "join staging.stg_hubspot__deals deals using (deal_id) group by links.deal_id",
    )
    off = sums.filter(pl.col("lines") != pl.col("deal"))
    assert off["deal_id"].to_list() == [built.patched_deal]
    assert off["deal"][0] - off["lines"][0] == 1


def test_line_items_sum_to_the_true_deal_amounts(built: Built) -> None:
    truth = pl.read_parquet(built.truth / "crm_deals.parquet").select("deal_id", "amount")
    sums = _query(
        built.warehouse,
        "select deal_id, cast(sum(amount) as double) as lines, count(*) as n "
        "from staging.stg_hubspot__deal_line_items join staging.stg_hubspot__line_items "
        "using (line_item_id) group by deal_id",
    )
    joined = truth.join(sums, on="deal_id", how="left")
    assert joined["n"].is_between(1, 4).all()
    assert ((joined["lines"] - joined["amount"]).abs() < 0.005).all()


def test_stage_history_equals_the_truth(built: Built) -> None:
    truth = pl.read_parquet(built.truth / "deal_stage_history.parquet").sort("deal_id", "stage")
    ours = _query(
        built.warehouse,
        "select deal_id, stage, entered_at, exited_at from staging.stg_hubspot__deal_stage_history",
    ).sort("deal_id", "stage")
    assert ours.height == truth.height > 0
    assert ours.select("deal_id", "stage").equals(truth.select("deal_id", "stage"))
    for column in ("entered_at", "exited_at"):
        assert ours[column].cast(pl.Datetime("us")).equals(truth[column].cast(pl.Datetime("us"))), column
    assert truth["exited_at"].null_count() == truth["deal_id"].n_unique()  # one open stage per deal


def test_the_same_on_postgres(tmp_path: Path, pg_dsn: str) -> None:
    import psycopg2

    done = _load_and_build(tmp_path, pg_dsn)
    _only_the_sum_test_fails(done.result)
    with psycopg2.connect(pg_dsn) as con, con.cursor() as cur:
        cur.execute(
            "select deal_id, stage, entered_at, exited_at from staging.stg_hubspot__deal_stage_history"
        )
        ours = sorted(cur.fetchall())
    truth = pl.read_parquet(done.truth / "deal_stage_history.parquet")
    assert ours == sorted(truth.iter_rows()) and len(ours) > 0

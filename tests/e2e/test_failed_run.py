"""A run that stops says so: the build fails on a broken invariant, nothing is published, the status
file names the step and the failing test, and every app page shows the line "data as of ...; the last
run failed at build: ..."; the data-quality page lists the failing test.

The warehouse is a copy of the end-to-end run's, with one Stripe charge written twice into its raw
table behind dlt's back (as a second, careless writer would): `fct_payments.payment_id` is then not
unique, a test only a broken pipeline can fail, so it is an error."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT, Run, ledgerlake_cli

PAGES = ("overview", "cash_forecast", "statements", "reconciliation", "expense_categories", "rollout",
         "data_quality", "sql_workbench")  # fmt: skip


@pytest.fixture(scope="module")
def failed(demo_run: Run, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    base = tmp_path_factory.mktemp("failed_run")
    warehouse = base / "ledgerlake.duckdb"
    shutil.copy(demo_run.warehouse, warehouse)
    shutil.copy(demo_run.snapshot, base / "ledgerlake.snapshot.duckdb")
    shutil.copy(demo_run.warehouse.with_name("ledgerlake.status.json"), base / "ledgerlake.status.json")
    with duckdb.connect(str(warehouse)) as con:
        con.execute("insert into raw_stripe.charges select * from raw_stripe.charges limit 1")
    snapshot_before = (base / "ledgerlake.snapshot.duckdb").stat().st_mtime_ns
    res = ledgerlake_cli("build", "--warehouse", str(warehouse))
    return warehouse, res, snapshot_before


def test_the_build_fails_and_publishes_nothing(failed) -> None:  # noqa: ANN001
    warehouse, res, snapshot_before = failed
    assert res.returncode == 2, res.stdout[-2000:] + res.stderr[-2000:]
    assert "unique_fct_payments_payment_id" in res.stderr
    assert warehouse.with_name("ledgerlake.snapshot.duckdb").stat().st_mtime_ns == snapshot_before


def test_the_status_names_the_step_the_reason_and_the_failing_test(failed) -> None:  # noqa: ANN001
    warehouse, _res, _ = failed
    status = json.loads(warehouse.with_name("ledgerlake.status.json").read_text())
    last = status["last"]
    assert not last["ok"] and last["failed_step"] == "build" and last["command"] == "build"
    assert "unique_fct_payments_payment_id" in last["reason"]
    assert any("unique_fct_payments_payment_id" in t["node"] and t["status"] == "fail" for t in last["tests"])
    assert status["last_ok"]["command"] == "run"  # the run that published what the app still shows
    assert last["published_at"] is None and status["published_at"] == status["last_ok"]["published_at"]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_says_the_last_run_failed(failed, page: str, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    warehouse, _res, _ = failed
    monkeypatch.setenv("LEDGERLAKE_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("LEDGERLAKE_TARGET", "duckdb")
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(str(ROOT / "app" / "app.py"), default_timeout=60)
    at.switch_page(f"views/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    banners = [e.value for e in at.error if "the last run" in e.value]
    assert len(banners) == 1, [e.value for e in at.error]
    assert banners[0].startswith("Data as of ")
    assert "failed at build" in banners[0] and "unique_fct_payments_payment_id" in banners[0]
    if page == "data_quality":
        [tests] = [d.value for d in at.dataframe if "node" in d.value.columns]
        assert tests["node"].str.contains("unique_fct_payments_payment_id").any()

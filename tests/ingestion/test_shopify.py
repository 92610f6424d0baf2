"""The Shopify dlt source against the HTTP sandbox (with faults on), into a temporary DuckDB file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from ingestion.common import Target
from ingestion.runner import run_api_sources
from sandbox.advance import advance
from sandbox.credentials import SHOPIFY_API_KEY, SHOPIFY_API_VERSION
from sandbox.generate import generate
from sandbox.server import serve_in_thread

FAULTS = "429=0.05,500=0.03,slow=0.02,dup_page=0.2"


@pytest.fixture(scope="module")
def sandbox_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("shopify_sandbox")
    generate(seed=6, scale=0.05, out=out)  # a seed whose shop serves some orders twice
    return out


@pytest.fixture(autouse=True)
def _dlt_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
    monkeypatch.setenv("SOURCES__SHOPIFY__API_KEY", SHOPIFY_API_KEY)
    monkeypatch.setenv("SOURCES__SHOPIFY__API_VERSION", SHOPIFY_API_VERSION)


def _target(tmp_path: Path) -> Target:
    return Target("duckdb", tmp_path / "w.duckdb", pipelines_dir=tmp_path / ".dlt")


def _stored(root: Path, name: str) -> dict[int, dict]:
    lines = (root / "state/shopify" / f"{name}.jsonl").read_text().splitlines()
    return {o["id"]: o for o in map(json.loads, lines)}


def _rows(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_load_equals_sandbox_nested_refunds_and_second_run_adds_nothing(
    sandbox_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = _target(tmp_path)
    with serve_in_thread(sandbox_dir, faults=FAULTS) as url:
        monkeypatch.setenv("SOURCES__SHOPIFY__BASE_URL", url)
        [first] = run_api_sources(["shopify"], target)
        [second] = run_api_sources(["shopify"], target)
    assert first.error is None and second.error is None
    orders = _stored(sandbox_dir, "orders")
    loaded = _rows(
        target.duckdb_path, "select id, total_price, financial_status from raw_shopify.orders order by id"
    )
    assert loaded == sorted((o["id"], o["total_price"], o["financial_status"]) for o in orders.values())
    customers = _stored(sandbox_dir, "customers")
    assert [
        r[0] for r in _rows(target.duckdb_path, "select id from raw_shopify.customers order by id")
    ] == sorted(customers)
    lines = _rows(target.duckdb_path, "select count(*) from raw_shopify.orders__line_items")[0][0]
    assert lines == sum(len(o["line_items"]) for o in orders.values())
    refunds = _rows(
        target.duckdb_path,
        "select r.order_id, t.amount from raw_shopify.orders__refunds r "
        "join raw_shopify.orders__refunds__transactions t on t._dlt_parent_id = r._dlt_id order by 1",
    )
    want = sorted(
        (o["id"], t["amount"]) for o in orders.values() for r in o["refunds"] for t in r["transactions"]
    )
    assert refunds == want and want
    counts = first.objects["orders"]
    assert counts.seen == counts.loaded + counts.duplicates + counts.quarantined
    assert counts.duplicates > 0, "the duplicated order rows (and dup_page faults) must be skipped"
    # the second run re-reads only the overlap window and changes nothing
    assert _rows(target.duckdb_path, "select count(*) from raw_shopify.orders")[0][0] == len(orders)
    assert second.objects["orders"].seen < len(orders) / 4


def test_advance_reloads_refunded_and_edited_orders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "sbx"
    generate(seed=6, scale=0.05, out=data)
    target = _target(tmp_path)
    with serve_in_thread(data) as url:
        monkeypatch.setenv("SOURCES__SHOPIFY__BASE_URL", url)
        run_api_sources(["shopify"], target)
        advance(data, 40)
        [after] = run_api_sources(["shopify"], target)
    assert after.error is None
    orders = _stored(data, "orders")
    loaded = dict(_rows(target.duckdb_path, "select id, updated_at from raw_shopify.orders"))
    assert len(loaded) == len(orders)
    stale = [
        i
        for i, o in orders.items()
        if str(loaded[i]) != o["updated_at"] and _ts(loaded[i]) != _ts(o["updated_at"])
    ]
    assert not stale
    status = dict(_rows(target.duckdb_path, "select id, financial_status from raw_shopify.orders"))
    assert status == {i: o["financial_status"] for i, o in orders.items()}


def _ts(value: object) -> float:
    from datetime import datetime

    if isinstance(value, datetime):
        return value.timestamp()
    return datetime.fromisoformat(str(value)).timestamp()


def test_wrong_token_is_one_clear_error(
    sandbox_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCES__SHOPIFY__API_KEY", "shpat_wrong")
    with serve_in_thread(sandbox_dir) as url:
        monkeypatch.setenv("SOURCES__SHOPIFY__BASE_URL", url)
        [report] = run_api_sources(["shopify"], _target(tmp_path))
    assert report.error is not None
    assert "HTTP 401" in report.error and "Invalid API key or access token" in report.error


def test_broken_records_are_quarantined_not_dropped(
    sandbox_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "broken"
    shutil.copytree(sandbox_dir, data)
    path = data / "state/shopify/orders.jsonl"
    lines = path.read_text().splitlines()
    ids = [json.loads(line)["id"] for line in lines]
    first, second = [i for i, oid in enumerate(ids) if ids.count(oid) == 1][:2]
    bad_id = {**json.loads(lines[first]), "id": "not-a-number"}
    bad_time = {**json.loads(lines[second]), "updated_at": "last tuesday"}
    rest = [line for i, line in enumerate(lines) if i not in (first, second)]
    path.write_text("\n".join([json.dumps(bad_id), json.dumps(bad_time), *rest]) + "\n")
    target = _target(tmp_path)
    with serve_in_thread(data) as url:
        monkeypatch.setenv("SOURCES__SHOPIFY__BASE_URL", url)
        [report] = run_api_sources(["shopify"], target)
    assert report.error is None
    assert report.objects["orders"].quarantined == 2
    rows = _rows(
        target.duckdb_path, "select object, record_ref, reason from raw_shopify.quarantine order by reason"
    )
    assert [r[0] for r in rows] == ["orders", "orders"]
    assert "updated_at" in rows[0][2] and "id" in rows[1][2]
    assert str(bad_time["id"]) in [r[1] for r in rows]

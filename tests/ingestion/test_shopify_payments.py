"""The Shopify Payments dlt resources (`payouts`, `balance_transactions`) against the HTTP sandbox,
into one temporary DuckDB file: a full load, an advance, an incremental load (a payout in transit
arrives, pending balance transactions get their payout), a re-run that changes nothing, and broken
records quarantined."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest

from ingestion.runner import SOURCES, run_api_sources
from sandbox.advance import advance
from sandbox.generate import generate
from sandbox.server import serve_in_thread
from tests.ingestion.test_shopify import _dlt_env, _target  # noqa: F401 - _dlt_env: autouse fixture (key, version)

FAULTS = "500=0.03,dup_page=0.3"  # no 429: its Retry-After of 1 s only slows the test down
OBJECTS = ("payouts", "balance_transactions")


@pytest.fixture(scope="module")
def sandbox_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("shopify_payments_sandbox")
    generate(seed=3, scale=0.04, out=out)
    return out


def _stored(root: Path, name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (root / "state/shopify" / f"{name}.jsonl").read_text().splitlines()]


def _rows(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def _payouts_loaded(db: Path) -> list[tuple]:
    return _rows(
        db,
        "select id, status, cast(date as varchar), amount, summary__charges_fee_amount "
        "from raw_shopify.payouts order by id",
    )


def _payouts_stored(root: Path) -> list[tuple]:
    return sorted(
        (p["id"], p["status"], p["date"], p["amount"], p["summary"]["charges_fee_amount"])
        for p in _stored(root, "payouts")
    )


def _bts_loaded(db: Path) -> list[tuple]:
    return _rows(
        db,
        "select id, type, payout_id, payout_status, amount, fee, net, source_order_id "
        "from raw_shopify.balance_transactions order by id",
    )


def _bts_stored(root: Path) -> list[tuple]:
    return sorted(
        (
            b["id"],
            b["type"],
            b["payout_id"],
            b["payout_status"],
            b["amount"],
            b["fee"],
            b["net"],
            b["source_order_id"],
        )
        for b in _stored(root, "balance_transactions")
    )


def test_the_runner_loads_both_objects_into_raw_shopify() -> None:
    spec = SOURCES["shopify"]
    assert set(OBJECTS) <= set(spec.objects)
    # a payout's status changes at a time the API does not give, and payouts in the look-back are
    # read again every run: no sync lag for them (a re-run must not report a change)
    assert "payouts" not in spec.changed_at and spec.changed_at["balance_transactions"] == "processed_at"


def test_full_advance_incremental_and_a_rerun_equal_the_sandbox(
    sandbox_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "sbx"
    shutil.copytree(sandbox_dir, data)
    target = _target(tmp_path)
    db = target.duckdb_path
    with serve_in_thread(data, faults=FAULTS) as url:
        monkeypatch.setenv("SOURCES__SHOPIFY__BASE_URL", url)
        [first] = run_api_sources(["shopify"], target)
        assert first.error is None, first.error
        assert _payouts_loaded(db) == _payouts_stored(data)
        assert _bts_loaded(db) == _bts_stored(data)
        before = {b["id"]: b for b in _stored(data, "balance_transactions")}
        in_transit = {p["id"] for p in _stored(data, "payouts") if p["status"] == "in_transit"}
        pending = {i for i, b in before.items() if b["payout_status"] == "pending"}
        assert in_transit and pending, "the cut must show a payout in transit and pending transactions"

        advance(data, 9)
        [second] = run_api_sources(["shopify"], target)
        assert second.error is None, second.error
        payouts, bts = _payouts_loaded(db), _bts_loaded(db)
        assert payouts == _payouts_stored(data)
        assert bts == _bts_stored(data)
        # what changed at the source since the first load is in the warehouse
        status = {row[0]: row[1] for row in payouts}
        assert all(status[i] == "paid" for i in in_transit)
        by_id = {row[0]: row for row in bts}
        assert all(by_id[i][2] is not None and by_id[i][3] in ("paid", "in_transit") for i in pending)
        assert len(bts) > len(before)
        for obj in OBJECTS:
            c = second.objects[obj]
            assert c.seen == c.loaded + c.quarantined + c.duplicates, (obj, c)
            assert c.quarantined == 0 and 0 < c.loaded
        # incremental: far fewer reads than a full load
        assert second.objects["balance_transactions"].seen < len(bts) / 2
        assert second.objects["payouts"].seen < len(payouts) / 2

        snapshot = (_payouts_loaded(db), _bts_loaded(db))
        [third] = run_api_sources(["shopify"], target)
        assert third.error is None, third.error
        assert (_payouts_loaded(db), _bts_loaded(db)) == snapshot
        for obj in OBJECTS:
            c = third.objects[obj]
            assert c.seen == c.loaded + c.quarantined + c.duplicates, (obj, c)
        counts = _rows(
            db,
            "select (select count(*) from raw_shopify.payouts), "
            "(select count(*) from raw_shopify.balance_transactions)",
        )
        assert counts == [(len(snapshot[0]), len(snapshot[1]))]  # merged on id: no row twice


def test_first_load_counts_add_up(sandbox_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = _target(tmp_path)
    with serve_in_thread(sandbox_dir, faults="dup_page=0.5") as url:
        monkeypatch.setenv("SOURCES__SHOPIFY__BASE_URL", url)
        [report] = run_api_sources(["shopify"], target)
    assert report.error is None, report.error
    for obj, name in (("payouts", "payouts"), ("balance_transactions", "balance_transactions")):
        c = report.objects[obj]
        assert c.loaded == len(_stored(sandbox_dir, name)) and c.quarantined == 0
        assert c.seen == c.loaded + c.duplicates, (obj, c)
    runs = _rows(
        target.duckdb_path,
        "select object, seen, loaded, quarantined, duplicates from raw_ledgerlake.load_runs "
        "where source = 'shopify' and object in ('payouts', 'balance_transactions') order by object",
    )
    assert [r[0] for r in runs] == ["balance_transactions", "payouts"]
    assert all(r[1] == r[2] + r[3] + r[4] for r in runs)


def test_broken_records_are_quarantined_not_dropped(
    sandbox_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "broken"
    shutil.copytree(sandbox_dir, data)
    payouts_path = data / "state/shopify/payouts.jsonl"
    payouts = payouts_path.read_text().splitlines()
    bad_payout = {**json.loads(payouts[3]), "id": "not-a-number"}
    payouts_path.write_text("\n".join([json.dumps(bad_payout), *payouts[:3], *payouts[4:]]) + "\n")
    bts_path = data / "state/shopify/balance_transactions.jsonl"
    bts = bts_path.read_text().splitlines()
    bad_id = {**json.loads(bts[5]), "id": 7.5}
    bad_time = {**json.loads(bts[6]), "processed_at": "last tuesday"}
    bts_path.write_text("\n".join([json.dumps(bad_id), json.dumps(bad_time), *bts[:5], *bts[7:]]) + "\n")
    target = _target(tmp_path)
    with serve_in_thread(data) as url:
        monkeypatch.setenv("SOURCES__SHOPIFY__BASE_URL", url)
        [report] = run_api_sources(["shopify"], target)
    assert report.error is None, report.error
    assert report.objects["payouts"].quarantined == 1
    assert report.objects["balance_transactions"].quarantined == 2
    for obj in OBJECTS:
        c = report.objects[obj]
        assert c.seen == c.loaded + c.quarantined + c.duplicates, (obj, c)
    rows = _rows(
        target.duckdb_path,
        "select object, record_ref, reason from raw_shopify.quarantine "
        "where object in ('payouts', 'balance_transactions') order by object, reason",
    )
    assert [(r[0], r[1]) for r in rows] == [
        ("balance_transactions", str(bad_time["id"])),
        ("balance_transactions", "7.5"),
        ("payouts", "not-a-number"),
    ]
    assert "processed_at" in rows[0][2] and "id" in rows[1][2] and "id" in rows[2][2]
    loaded = {r[0] for r in _rows(target.duckdb_path, "select id from raw_shopify.payouts")}
    assert loaded == {json.loads(p)["id"] for i, p in enumerate(payouts) if i != 3}
    n_bts = _rows(target.duckdb_path, "select count(*) from raw_shopify.balance_transactions")[0][0]
    assert n_bts == len(bts) - 2

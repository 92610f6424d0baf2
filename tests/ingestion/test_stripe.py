"""The Stripe dlt source against the HTTP sandbox (with faults on), into a temporary DuckDB file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest

from ingestion.common import Target
from ingestion.runner import run_api_sources
from sandbox.advance import advance
from sandbox.credentials import SOURCE_DEFAULTS, STRIPE_API_KEY
from sandbox.generate import generate
from sandbox.server import serve_in_thread

FAULTS = "429=0.03,500=0.03,503=0.02,slow=0.02,dup_page=0.2"
MONEY = {
    "charges": ("amount", "amount_refunded"),
    "refunds": ("amount",),
    "disputes": ("amount",),
    "payouts": ("amount",),
    "balance_transactions": ("amount", "fee", "net"),
    "customers": (),
    "events": (),
}


@pytest.fixture(scope="module")
def sandbox_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("stripe_sandbox")
    generate(seed=11, scale=0.05, out=out)
    return out


@pytest.fixture(autouse=True)
def _dlt_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
    monkeypatch.setenv("SOURCES__STRIPE__API_KEY", STRIPE_API_KEY)
    for key, value in SOURCE_DEFAULTS["bank_feed"].items():
        monkeypatch.setenv(f"SOURCES__BANK_FEED__{key.upper()}", value)


def _target(tmp_path: Path) -> Target:
    return Target("duckdb", tmp_path / "w.duckdb", pipelines_dir=tmp_path / ".dlt")


def _stored(root: Path, name: str) -> list[dict]:
    return [json.loads(line) for line in (root / "state/stripe" / f"{name}.jsonl").read_text().splitlines()]


def _rows(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_load_equals_sandbox_and_second_run_adds_nothing(
    sandbox_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = _target(tmp_path)
    with serve_in_thread(sandbox_dir, faults=FAULTS) as url:
        monkeypatch.setenv("SOURCES__STRIPE__BASE_URL", url)
        [first] = run_api_sources(["stripe"], target)
        [second] = run_api_sources(["stripe"], target)
    assert first.error is None and second.error is None
    for name, money in MONEY.items():
        stored = _stored(sandbox_dir, name)
        cols = ", ".join(("id", *money))
        loaded = _rows(target.duckdb_path, f"select {cols} from raw_stripe.{name} order by id")
        assert loaded == sorted(tuple(o[c] for c in ("id", *money)) for o in stored), name
        counts = first.objects[name]
        assert counts.loaded == len(stored) and counts.quarantined == 0
        assert counts.seen == counts.loaded + counts.duplicates
        assert second.objects[name].loaded == 0
    assert sum(c.duplicates for c in first.objects.values()) > 0, "dup_page faults should have been skipped"
    members = pl.read_parquet(sandbox_dir / "truth/stripe_payout_members.parquet").height
    assert first.objects["payout_balance_transactions"].loaded == members
    runs = _rows(target.duckdb_path, "select source, sum(loaded) from raw_ledgerlake.load_runs group by 1")
    assert runs == [("stripe", sum(len(_stored(sandbox_dir, n)) for n in MONEY) + members)]


def test_refund_and_fee_details_land_in_child_tables(sandbox_dir: Path, tmp_path: Path, monkeypatch) -> None:
    target = _target(tmp_path)
    with serve_in_thread(sandbox_dir) as url:
        monkeypatch.setenv("SOURCES__STRIPE__BASE_URL", url)
        run_api_sources(["stripe"], target, record=False)
    fees = _rows(target.duckdb_path, "select sum(amount) from raw_stripe.balance_transactions__fee_details")
    assert fees[0][0] == sum(b["fee"] for b in _stored(sandbox_dir, "balance_transactions"))
    nested = _rows(target.duckdb_path, "select count(*) from raw_stripe.charges__refunds__data")
    assert nested[0][0] == len(_stored(sandbox_dir, "refunds"))


def test_bad_records_are_quarantined_not_dropped(sandbox_dir: Path, tmp_path: Path, monkeypatch) -> None:
    broken = tmp_path / "sandbox"
    shutil.copytree(sandbox_dir, broken)
    path = broken / "state/stripe/charges.jsonl"
    lines = path.read_text().splitlines()
    no_id, bad_amount = json.loads(lines[0]), json.loads(lines[1])
    del no_id["id"]
    bad_amount["amount"] = "12.00"
    path.write_text("\n".join([json.dumps(no_id), json.dumps(bad_amount), *lines[2:]]) + "\n")
    target = _target(tmp_path)
    with serve_in_thread(broken) as url:
        monkeypatch.setenv("SOURCES__STRIPE__BASE_URL", url)
        [report] = run_api_sources(["stripe"], target, record=False)
    assert report.error is None and report.objects["charges"].quarantined == 2
    quarantined = _rows(
        target.duckdb_path, "select object, record_ref, reason from raw_stripe.quarantine order by 2"
    )
    assert quarantined == [
        ("charges", "?", "missing key field id"),
        ("charges", bad_amount["id"], "field amount: expected integer minor units, got str"),
    ]
    count = _rows(target.duckdb_path, "select count(*) from raw_stripe.charges")[0][0]
    assert count == len(lines) - 2


def test_wrong_key_fails_only_stripe(sandbox_dir: Path, tmp_path: Path, monkeypatch) -> None:
    target = _target(tmp_path)
    with serve_in_thread(sandbox_dir) as url:
        monkeypatch.setenv("SOURCES__STRIPE__BASE_URL", url)
        monkeypatch.setenv("SOURCES__STRIPE__API_KEY", "sk_test_wrong")
        monkeypatch.setenv("SOURCES__BANK_FEED__BASE_URL", url)
        stripe, bank = run_api_sources(["stripe", "bank_feed"], target, record=False)
    assert stripe.error is not None and "\n" not in stripe.error
    assert f"{url}/v1/" in stripe.error and "401" in stripe.error and "Invalid API Key" in stripe.error
    assert bank.error is None and bank.objects["transactions"].loaded > 0


def test_unreachable_server_names_the_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ingestion.stripe.settings.MAX_ATTEMPTS", 1)
    monkeypatch.setenv("SOURCES__STRIPE__BASE_URL", "http://127.0.0.1:9")
    [report] = run_api_sources(["stripe"], _target(tmp_path), record=False)
    assert report.error is not None and "http://127.0.0.1:9" in report.error
    assert "SOURCES__STRIPE__BASE_URL" in report.error


def test_missing_config_is_one_line_naming_the_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SOURCES__STRIPE__BASE_URL", raising=False)
    [report] = run_api_sources(["stripe"], _target(tmp_path), record=False)
    assert report.error is not None and "\n" not in report.error
    assert "SOURCES__STRIPE__BASE_URL" in report.error


@pytest.mark.postgres
def test_load_into_postgres(sandbox_dir: Path, tmp_path: Path, pg_dsn: str, monkeypatch) -> None:
    import psycopg2

    target = Target("postgres", pg_dsn=pg_dsn, pipelines_dir=tmp_path / ".dlt")
    with serve_in_thread(sandbox_dir, faults="429=0.05,dup_page=0.1") as url:
        monkeypatch.setenv("SOURCES__STRIPE__BASE_URL", url)
        [report] = run_api_sources(["stripe"], target, record=False)
    assert report.error is None
    with psycopg2.connect(pg_dsn) as con, con.cursor() as cur:
        cur.execute("select id, amount, fee, net from raw_stripe.balance_transactions order by id")
        loaded = cur.fetchall()
    stored = _stored(sandbox_dir, "balance_transactions")
    assert loaded == sorted((b["id"], b["amount"], b["fee"], b["net"]) for b in stored)


def test_advance_then_load_adds_the_new_objects(sandbox_dir: Path, tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "sbx"
    shutil.copytree(sandbox_dir, root)
    before = {name: {o["id"] for o in _stored(root, name)} for name in MONEY}
    target = _target(tmp_path)
    with serve_in_thread(root, faults="429=0.03,dup_page=0.1") as url:
        monkeypatch.setenv("SOURCES__STRIPE__BASE_URL", url)
        run_api_sources(["stripe"], target, record=False)
        advance(root, 20)
        [second] = run_api_sources(["stripe"], target, record=False)
    assert second.error is None
    for name in ("charges", "refunds", "balance_transactions", "payouts", "customers"):
        now = {o["id"] for o in _stored(root, name)}
        loaded = {i for (i,) in _rows(target.duckdb_path, f"select id from raw_stripe.{name}")}
        assert loaded == now, name
        # new objects, and changed ones through their events: counted in test_stripe_updates.py
        assert second.objects[name].loaded >= len(now - before[name]), name
    events = {i for (i,) in _rows(target.duckdb_path, "select id from raw_stripe.events")}
    assert {o["id"] for o in _stored(root, "events")} <= events

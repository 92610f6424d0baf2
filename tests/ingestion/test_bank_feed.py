"""The Plaid-style bank feed dlt source against the HTTP sandbox, into a temporary DuckDB file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import polars as pl
import psycopg2
import pytest

from ingestion.common import Target
from ingestion.runner import run_api_sources
from sandbox.advance import advance
from sandbox.credentials import SOURCE_DEFAULTS
from sandbox.generate import generate
from sandbox.server import serve_in_thread

FAULTS = "429=0.05,500=0.03,503=0.02,slow=0.02,dup_page=0.2"


@pytest.fixture(scope="module")
def sandbox_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bank_sandbox")
    generate(seed=1, scale=0.05, out=out)
    return out


@pytest.fixture(autouse=True)
def _dlt_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
    monkeypatch.setenv("SOURCES__BANK_FEED__PAGE_COUNT", "60")
    for key, value in SOURCE_DEFAULTS["bank_feed"].items():
        monkeypatch.setenv(f"SOURCES__BANK_FEED__{key.upper()}", value)


def _target(tmp_path: Path) -> Target:
    return Target("duckdb", tmp_path / "w.duckdb", pipelines_dir=tmp_path / ".dlt")


def _log(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / "state/bank_feed/sync_log.jsonl").read_text().splitlines()]


def _rows(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def _target_rows(target: Target, sql: str) -> list[tuple]:
    if target.kind == "duckdb":
        assert target.duckdb_path is not None
        return _rows(target.duckdb_path, sql)
    with psycopg2.connect(target.pg_dsn) as con, con.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def _run(root: Path, target: Target, monkeypatch: pytest.MonkeyPatch, faults: str | None = None):
    with serve_in_thread(root, faults=faults) as url:
        monkeypatch.setenv("SOURCES__BANK_FEED__BASE_URL", url)
        [report] = run_api_sources(["bank_feed"], target, record=False)
    return report


def test_load_equals_bank_truth_and_second_run_adds_nothing(
    sandbox_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    target = _target(tmp_path)
    first = _run(sandbox_dir, target, monkeypatch, FAULTS)
    second = _run(sandbox_dir, target, monkeypatch, FAULTS)
    assert first.error is None and second.error is None
    truth = pl.read_parquet(sandbox_dir / "truth/bank_lines.parquet")
    expected = sorted((t, round(-a, 2)) for t, a in truth.select("bank_transaction_id", "amount").iter_rows())
    live = _rows(
        target.duckdb_path,
        "select transaction_id, amount::double from raw_bank_feed.transactions "
        "where not _is_deleted and not pending order by 1",
    )
    assert live == expected
    removed = sorted(o["transaction"]["transaction_id"] for o in _log(sandbox_dir) if o["op"] == "removed")
    deleted = _rows(
        target.duckdb_path,
        "select transaction_id, pending, _deleted_at is not null "
        "from raw_bank_feed.transactions where _is_deleted order by 1",
    )
    assert removed and deleted == [(t, True, True) for t in removed]
    tx = first.objects["transactions"]
    assert tx.duplicates > 0 and tx.seen == _distinct(_log(sandbox_dir)) + tx.duplicates
    assert tx.seen == tx.loaded + tx.quarantined + tx.duplicates
    assert second.objects["transactions"].loaded == 0 and second.objects["transactions"].seen == 0
    balances = _rows(
        target.duckdb_path,
        "select balances__iso_currency_code, balances__current::double "
        "from raw_bank_feed.accounts order by 1 desc",
    )
    accounts = json.loads((sandbox_dir / "state/bank_feed/accounts.json").read_text())
    assert balances == [(a["balances"]["iso_currency_code"], a["balances"]["current"]) for a in accounts]


def _distinct(entries: list[dict]) -> int:
    """Transactions in a run's sync log entries: each counts once however many versions arrive."""
    return len({o["transaction"]["transaction_id"] for o in entries})


def test_modified_transactions_keep_the_latest_version(
    sandbox_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    target = _target(tmp_path)
    _run(sandbox_dir, target, monkeypatch)
    modified = {
        o["transaction"]["transaction_id"]: o["transaction"]["merchant_name"]
        for o in _log(sandbox_dir)
        if o["op"] == "modified"
    }
    assert modified
    got = dict(
        _rows(target.duckdb_path, "select transaction_id, merchant_name from raw_bank_feed.transactions")
    )
    assert {t: got[t] for t in modified} == modified


def _resume_and_flag_removal(sandbox_dir: Path, tmp_path: Path, target: Target, monkeypatch) -> None:
    """Run 1 sees the log up to a removal; run 2 sees the rest and flags the row loaded in run 1."""
    log = _log(sandbox_dir)
    cut = next(i for i, o in enumerate(log) if o["op"] == "removed")
    early = tmp_path / "early"
    shutil.copytree(sandbox_dir, early)
    (early / "state/bank_feed/sync_log.jsonl").write_text("".join(json.dumps(o) + "\n" for o in log[:cut]))
    first = _run(early, target, monkeypatch)
    second = _run(sandbox_dir, target, monkeypatch)
    assert first.error is None and second.error is None
    assert first.objects["transactions"].seen == _distinct(log[:cut])
    assert second.objects["transactions"].seen == _distinct(log[cut:])
    removed_id = log[cut]["transaction"]["transaction_id"]
    before = next(o["transaction"] for o in log[:cut] if o["transaction"]["transaction_id"] == removed_id)
    row = _target_rows(
        target,
        f"select name, _is_deleted from raw_bank_feed.transactions where transaction_id = '{removed_id}'",
    )
    assert row == [(before["name"], True)]
    count = _target_rows(target, "select count(*) from raw_bank_feed.transactions where not _is_deleted")
    assert count == [(pl.read_parquet(sandbox_dir / "truth/bank_lines.parquet").height,)]


def test_cursor_resumes_and_removal_flags_an_earlier_load(
    sandbox_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    _resume_and_flag_removal(sandbox_dir, tmp_path, _target(tmp_path), monkeypatch)


@pytest.mark.postgres
def test_cursor_resume_and_removal_on_postgres(
    sandbox_dir: Path, tmp_path: Path, pg_dsn: str, monkeypatch
) -> None:
    target = Target("postgres", pg_dsn=pg_dsn, pipelines_dir=tmp_path / ".dlt")
    _resume_and_flag_removal(sandbox_dir, tmp_path, target, monkeypatch)


def test_bad_transactions_are_quarantined(sandbox_dir: Path, tmp_path: Path, monkeypatch) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(sandbox_dir, broken)
    log = _log(sandbox_dir)
    first_added = next(i for i, o in enumerate(log) if o["op"] == "added")
    log[first_added]["transaction"]["amount"] = "12.30"
    (broken / "state/bank_feed/sync_log.jsonl").write_text("".join(json.dumps(o) + "\n" for o in log))
    target = _target(tmp_path)
    report = _run(broken, target, monkeypatch)
    assert report.error is None and report.objects["transactions"].quarantined == 1
    bad_id = log[first_added]["transaction"]["transaction_id"]
    assert _rows(target.duckdb_path, "select record_ref, reason from raw_bank_feed.quarantine") == [
        (bad_id, "field amount: expected int/float, got str")
    ]


def test_bad_credentials_name_the_url_and_plaid_code(sandbox_dir: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SOURCES__BANK_FEED__SECRET", "wrong")
    report = _run(sandbox_dir, _target(tmp_path), monkeypatch)
    assert report.error is not None and "INVALID_API_KEYS" in report.error
    assert "http://127.0.0.1:" in report.error and "/transactions/sync" in report.error


def test_advance_then_sync_loads_only_the_changes(sandbox_dir: Path, tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "sbx"
    shutil.copytree(sandbox_dir, root)
    old_log = _log(root)
    target = _target(tmp_path)
    with serve_in_thread(root) as url:  # the server reloads the state after the advance
        monkeypatch.setenv("SOURCES__BANK_FEED__BASE_URL", url)
        [first] = run_api_sources(["bank_feed"], target, record=False)
        advance(root, 20)
        [second] = run_api_sources(["bank_feed"], target, record=False)
    new_log = _log(root)
    assert first.error is None and second.error is None
    assert second.objects["transactions"].seen == _distinct(new_log[len(old_log) :]) > 0
    truth = pl.read_parquet(root / "truth/bank_lines.parquet")
    live = _rows(
        target.duckdb_path,
        "select transaction_id from raw_bank_feed.transactions "
        "where not _is_deleted and not pending order by 1",
    )
    assert [t for (t,) in live] == sorted(truth["bank_transaction_id"])
    removed = {o["transaction"]["transaction_id"] for o in new_log if o["op"] == "removed"}
    flagged = _rows(
        target.duckdb_path, "select transaction_id from raw_bank_feed.transactions where _is_deleted"
    )
    assert {t for (t,) in flagged} == removed

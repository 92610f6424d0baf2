"""Stripe disputes through the dlt source: `/v1/disputes` loads them, and after `advance` their new
status comes through the `charge.dispute.*` events (an old dispute is never re-listed).

Seed 10 at scale 0.1 (see tests/sandbox/test_stripe_disputes.py): two disputes under review at
`as_of` are decided within the next 30 days, one won (its reinstatement is a new balance
transaction) and one lost.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from ingestion.common import SourceReport, Target
from ingestion.runner import run_api_sources
from sandbox.advance import advance
from sandbox.credentials import STRIPE_API_KEY
from sandbox.generate import generate
from sandbox.server import serve_in_thread

FAULTS = "429=0.03,500=0.02,dup_page=0.2"


@dataclass
class Runs:
    root: Path
    db: Path
    before: dict[str, dict]  # dispute id -> the dispute before advancing
    loaded_before: list[tuple]  # (id, status, _ll_version) after the first run
    reports: list[SourceReport]


def _disputes(root: Path) -> dict[str, dict]:
    lines = (root / "state/stripe/disputes.jsonl").read_text().splitlines()
    return {o["id"]: o for o in map(json.loads, lines)}


def _rows(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    base = tmp_path_factory.mktemp("stripe_disputes")
    root = base / "sandbox"
    generate(seed=10, scale=0.05, out=root)  # a seed whose advance closes disputes both won and lost
    target = Target("duckdb", base / "w.duckdb", pipelines_dir=base / ".dlt")
    before = _disputes(root)
    sql = "select id, status, _ll_version from raw_stripe.disputes order by id"
    with pytest.MonkeyPatch.context() as mp, serve_in_thread(root, faults=FAULTS) as url:
        mp.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
        mp.setenv("SOURCES__STRIPE__API_KEY", STRIPE_API_KEY)
        mp.setenv("SOURCES__STRIPE__BASE_URL", url)
        reports = run_api_sources(["stripe"], target, record=False)
        loaded_before = _rows(target.duckdb_path, sql)
        advance(root, 30)
        reports += run_api_sources(["stripe"], target, record=False)
    assert [r.error for r in reports] == [None, None]
    yield Runs(root, target.duckdb_path, before, loaded_before, reports)


def test_first_run_loads_every_dispute(runs: Runs) -> None:
    assert runs.before, "the sandbox should have disputes"
    assert [(i, st) for i, st, _ in runs.loaded_before] == sorted(
        (i, d["status"]) for i, d in runs.before.items()
    )
    first = runs.reports[0].objects["disputes"]
    assert first.loaded == len(runs.before) and first.quarantined == 0
    assert first.seen == first.loaded + first.duplicates


def test_advance_updates_dispute_status_through_events(runs: Runs) -> None:
    now = _disputes(runs.root)
    loaded = {
        i: (st, v) for i, st, v in _rows(runs.db, "select id, status, _ll_version from raw_stripe.disputes")
    }
    assert {i: st for i, (st, _) in loaded.items()} == {i: d["status"] for i, d in now.items()}
    moved = {i for i in runs.before if runs.before[i]["status"] != now[i]["status"]}
    assert {now[i]["status"] for i in moved} == {"won", "lost"}
    events = [json.loads(x) for x in (runs.root / "state/stripe/events.jsonl").read_text().splitlines()]
    closed = {e["data"]["object"]["id"]: e["created"] for e in events if e["type"] == "charge.dispute.closed"}
    for i in moved:  # the row is the closing event's snapshot, versioned by the event's time
        assert loaded[i][1] == closed[i]
    # the second run loaded exactly the new disputes and the changed ones
    second = runs.reports[1].objects["disputes"]
    changed = {i for i in runs.before if runs.before[i] != now[i]}
    assert second.loaded == len((set(now) - set(runs.before)) | changed)
    assert moved <= changed


def test_dispute_money_lands_with_the_balance_transactions(runs: Runs) -> None:
    """The won dispute's reinstatement is a new balance transaction, listed like any other."""
    now = _disputes(runs.root)
    bts = {d["id"]: [b["id"] for b in d["balance_transactions"]] for d in now.values()}
    wanted = {t for ids in bts.values() for t in ids}
    rows = _rows(
        runs.db, "select id, source, reporting_category, amount, fee from raw_stripe.balance_transactions"
    )
    got = {r[0]: r for r in rows if r[0] in wanted}
    assert set(got) == wanted
    for d in now.values():
        cats = sorted(got[t][2] for t in bts[d["id"]])
        assert cats == (["dispute", "dispute_reversal"] if d["status"] == "won" else ["dispute"])
        assert all(got[t][1] == d["id"] for t in bts[d["id"]])

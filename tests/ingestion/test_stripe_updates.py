"""Stripe objects that change after creation (refunds, payouts arriving) reach raw_stripe through
`/v1/events`; payout membership through `/v1/balance_transactions?payout=`.

Three runs against one sandbox served with faults: load, `advance(20)` + load, load again.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl
import pytest

from ingestion.common import SourceReport, Target
from ingestion.runner import run_api_sources
from sandbox.advance import advance
from sandbox.credentials import STRIPE_API_KEY
from sandbox.generate import generate
from sandbox.server import serve_in_thread

FAULTS = "429=0.03,500=0.03,503=0.02,dup_page=0.2"
OBJECTS = ("customers", "charges", "refunds", "disputes", "balance_transactions", "payouts", "events")
MEMBERS = "payout_balance_transactions"


@dataclass
class Runs:
    root: Path
    db: Path
    before: dict[str, dict[str, dict]]  # object -> id -> what the sandbox served before advancing
    reports: list[SourceReport]


def _stored(root: Path, name: str) -> dict[str, dict]:
    lines = (root / "state/stripe" / f"{name}.jsonl").read_text().splitlines()
    return {o["id"]: o for o in map(json.loads, lines)}


def _rows(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.fixture(autouse=True)
def _dlt_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
    monkeypatch.setenv("SOURCES__STRIPE__API_KEY", STRIPE_API_KEY)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    base = tmp_path_factory.mktemp("stripe_updates")
    root = base / "sandbox"
    generate(seed=13, scale=0.05, out=root)  # a seed whose advance refunds charges loaded before
    target = Target("duckdb", base / "w.duckdb", pipelines_dir=base / ".dlt")
    before = {name: _stored(root, name) for name in OBJECTS}
    with pytest.MonkeyPatch.context() as mp, serve_in_thread(root, faults=FAULTS) as url:
        mp.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
        mp.setenv("SOURCES__STRIPE__API_KEY", STRIPE_API_KEY)
        mp.setenv("SOURCES__STRIPE__BASE_URL", url)
        reports = run_api_sources(["stripe"], target, record=False)
        advance(root, 20)
        reports += run_api_sources(["stripe"], target, record=False)
        reports += run_api_sources(["stripe"], target, record=False)
    assert [r.error for r in reports] == [None, None, None]
    yield Runs(root, target.duckdb_path, before, reports)


def test_changed_charges_and_payouts_equal_the_sandbox_now(runs: Runs) -> None:
    charges, payouts = _stored(runs.root, "charges"), _stored(runs.root, "payouts")
    # (not `disputed`: Stripe sends no charge event when a charge is disputed; the dispute has its
    # own events, see test_stripe_disputes.py)
    loaded = _rows(runs.db, "select id, amount_refunded, refunded from raw_stripe.charges")
    assert sorted(loaded) == sorted((c, o["amount_refunded"], o["refunded"]) for c, o in charges.items())
    changed = [
        c
        for c in runs.before["charges"]
        if charges[c]["amount_refunded"] != runs.before["charges"][c]["amount_refunded"]
    ]
    assert changed, "the advance should have refunded some charges loaded before"
    statuses = _rows(runs.db, "select id, status, reconciliation_status from raw_stripe.payouts")
    assert sorted(statuses) == sorted(
        (p, o["status"], o["reconciliation_status"]) for p, o in payouts.items()
    )
    arrived = [p for p, o in runs.before["payouts"].items() if o["status"] == "in_transit"]
    assert arrived and all(payouts[p]["status"] == "paid" for p in arrived)
    # the refunds nested in a charge are replaced with the charge, not added to
    nested = _rows(runs.db, "select count(*), count(distinct id) from raw_stripe.charges__refunds__data")
    assert nested == [(len(_stored(runs.root, "refunds")),) * 2]  # fmt: skip


def test_balance_transactions_that_became_available_are_reloaded(runs: Runs) -> None:
    now = _stored(runs.root, "balance_transactions")
    loaded = _rows(runs.db, "select id, status, _ll_version from raw_stripe.balance_transactions")
    assert sorted((i, st) for i, st, _ in loaded) == sorted((i, o["status"]) for i, o in now.items())
    settled = {i for i, o in runs.before["balance_transactions"].items() if o["status"] != now[i]["status"]}
    assert settled, "the advance should have made pending transactions available"
    assert {i: v for i, _, v in loaded if i in settled} == {i: now[i]["available_on"] for i in settled}
    # the ones still pending are re-listed by the third run, and count as duplicates
    pending = {o["created"] for o in now.values() if o["status"] == "pending"}
    third = runs.reports[2].objects["balance_transactions"]
    assert third.seen == sum(o["created"] >= min(pending) for o in now.values()) == third.duplicates


def test_version_is_the_time_of_the_state_loaded(runs: Runs) -> None:
    refunds = _stored(runs.root, "refunds").values()
    last_refund = {
        r["charge"]: max(x["created"] for x in refunds if x["charge"] == r["charge"]) for r in refunds
    }
    versions = dict(_rows(runs.db, "select id, _ll_version from raw_stripe.charges"))
    created = {c: o["created"] for c, o in _stored(runs.root, "charges").items()}
    # a refund inside the events' 30 days (before or after advancing) came through its event; older
    # ones were in the first list read
    events = [*_stored(runs.root, "events").values(), *runs.before["events"].values()]
    by_event = {e["data"]["object"]["id"] for e in events if e["type"] == "charge.refunded"}
    for charge, version in versions.items():
        assert version == (last_refund[charge] if charge in by_event else created[charge]), charge


def _but_disputed(obj: dict) -> dict:
    return {k: v for k, v in obj.items() if k != "disputed"}


def test_second_run_loads_the_new_and_changed_objects_only(runs: Runs) -> None:
    second = runs.reports[1]
    for name in OBJECTS:
        now, before = _stored(runs.root, name), runs.before[name]
        new = set(now) - set(before)
        # events: 30 days kept; a charge that only became `disputed` is not reloaded (Stripe sends no
        # charge event for it: the dispute's own events carry it, see test_stripe_disputes.py)
        changed = {i for i in before if i in now and _but_disputed(now[i]) != _but_disputed(before[i])}
        assert second.objects[name].loaded == len(new | changed), name
    assert second.objects["charges"].loaded > len(
        set(_stored(runs.root, "charges")) - set(runs.before["charges"])
    )


def test_events_do_not_change_once_emitted(runs: Runs) -> None:
    """Stripe's `data.object` is the object at the event's time: advancing must not rewrite it."""
    now, before = _stored(runs.root, "events"), runs.before["events"]
    kept = set(now) & set(before)
    assert kept and all(now[e] == before[e] for e in kept)
    succeeded = [e for e in now.values() if e["type"] == "charge.succeeded"]
    assert succeeded and all(e["data"]["object"]["amount_refunded"] == 0 for e in succeeded)


def test_every_run_counts_seen_as_loaded_quarantined_or_duplicate(runs: Runs) -> None:
    for report in runs.reports:
        for name, c in report.objects.items():
            assert c.seen == c.loaded + c.quarantined + c.duplicates, (name, c)
    assert sum(c.duplicates for c in runs.reports[0].objects.values()) > 0, "dup_page faults fired"


def test_third_run_loads_nothing(runs: Runs) -> None:
    third = runs.reports[2]
    assert {name: c.loaded for name, c in third.objects.items()} == dict.fromkeys([*OBJECTS, MEMBERS], 0)
    assert third.objects[MEMBERS].seen == 0  # no payout's members were asked for again


def test_payout_members_equal_the_truth(runs: Runs) -> None:
    truth = pl.read_parquet(runs.root / "truth/stripe_payout_members.parquet")
    loaded = _rows(
        runs.db,
        f"select payout_id, balance_transaction_id, type, amount, fee, net, currency from raw_stripe.{MEMBERS}",
    )
    expected = [(*row, "usd") for row in truth.iter_rows()]
    assert sorted(loaded) == sorted(expected)
    assert {p for p, *_ in loaded} == set(_stored(runs.root, "payouts"))
    new_payouts = set(_stored(runs.root, "payouts")) - set(runs.before["payouts"])
    second = runs.reports[1].objects[MEMBERS]
    assert second.loaded == truth.filter(pl.col("payout_id").is_in(list(new_payouts))).height


def _touch(root: Path) -> None:
    """Make a running sandbox server reload its state (it watches sandbox.json)."""
    meta = root / "sandbox.json"
    stamp = meta.stat().st_mtime_ns + 1_000_000_000
    os.utime(meta, ns=(stamp, stamp))


def _event(eid: str, created: int, obj: dict) -> dict:
    return {
        "id": eid,
        "object": "event",
        "type": "charge.refunded",
        "created": created,
        "data": {"object": obj},
    }


def test_newest_snapshot_wins_over_the_list_and_late_events(tmp_path: Path, monkeypatch) -> None:
    """One charge: the list shows it unrefunded, two events in one run show it refunded 100 then
    300; a later run brings a late event (older than 300's) showing 200: it must not win."""
    root = tmp_path / "sandbox"
    generate(seed=3, scale=0.02, out=root)
    charges, events_path = _stored(root, "charges"), root / "state/stripe/events.jsonl"
    charge = next(c for c in charges.values() if c["amount"] > 1000 and not c["refunds"]["data"])
    newest = max(e["created"] for e in _stored(root, "events").values())
    at = lambda refunded: {**charge, "amount_refunded": refunded}  # noqa: E731
    lines = events_path.read_text()
    events_path.write_text(
        lines + json.dumps(_event("evt_t100", newest + 10, at(100))) + "\n"
        + json.dumps(_event("evt_t300", newest + 20, at(300))) + "\n"
    )  # fmt: skip
    target = Target("duckdb", tmp_path / "w.duckdb", pipelines_dir=tmp_path / ".dlt")
    query = f"select amount_refunded, _ll_version from raw_stripe.charges where id = '{charge['id']}'"
    with serve_in_thread(root, faults="dup_page=0.3") as url:
        monkeypatch.setenv("SOURCES__STRIPE__BASE_URL", url)
        [first] = run_api_sources(["stripe"], target, record=False)
        assert _rows(target.duckdb_path, query) == [(300, newest + 20)]
        events_path.write_text(
            events_path.read_text() + json.dumps(_event("evt_late", newest + 15, at(200))) + "\n"
        )
        _touch(root)
        [second] = run_api_sources(["stripe"], target, record=False)
    assert _rows(target.duckdb_path, query) == [(300, newest + 20)]
    assert second.objects["events"].loaded == 1 and second.objects["charges"].loaded == 0
    assert second.objects["charges"].duplicates >= 1
    for report in (first, second):
        assert all(c.seen == c.loaded + c.quarantined + c.duplicates for c in report.objects.values())


def test_bad_member_rows_are_quarantined(tmp_path: Path, monkeypatch) -> None:
    """A member the payout filter serves with a non-integer fee goes to quarantine, the rest load."""
    root = tmp_path / "sandbox"
    generate(seed=3, scale=0.02, out=root)
    path = root / "state/stripe/balance_transactions.jsonl"
    members = json.loads((root / "state/stripe/payout_members.json").read_text())
    payout, txns = next(iter(members.items()))
    bad_id = txns[0]
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for row in rows:
        if row["id"] == bad_id:
            row["fee"] = "0.30"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    shutil.rmtree(tmp_path / ".dlt", ignore_errors=True)
    target = Target("duckdb", tmp_path / "w.duckdb", pipelines_dir=tmp_path / ".dlt")
    with serve_in_thread(root) as url:
        monkeypatch.setenv("SOURCES__STRIPE__BASE_URL", url)
        [report] = run_api_sources(["stripe"], target, record=False)
    assert report.error is None and report.objects[MEMBERS].quarantined == 1
    quarantine = _rows(
        target.duckdb_path, f"select record_ref from raw_stripe.quarantine where object = '{MEMBERS}'"
    )
    assert quarantine == [(f"{payout}/{bad_id}",)]
    loaded = _rows(
        target.duckdb_path, f"select count(*) from raw_stripe.{MEMBERS} where payout_id = '{payout}'"
    )
    assert loaded == [(len(txns) - 2,)]  # the payout's own transaction is not a member

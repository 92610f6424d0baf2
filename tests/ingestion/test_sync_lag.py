"""Sync lag measured on the source's clock: a backfill measures nothing; after the sandbox's clock
moves, each incremental load reports how many records changed at the source since the previous
load and how long (hours) they waited, equal to what the server's own state says."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from ingestion.common import Target
from ingestion.runner import run_api_sources
from sandbox.advance import advance
from sandbox.credentials import SOURCE_DEFAULTS
from sandbox.generate import generate
from sandbox.server import serve_in_thread

SOURCES = ["stripe", "hubspot", "shopify", "quickbooks", "bank_feed"]
DAYS = 6


def _end_of(as_of: str) -> datetime:
    return datetime.combine(
        date.fromisoformat(as_of) + timedelta(days=1), datetime.min.time(), tzinfo=UTC
    ) - (timedelta(seconds=1))


def _iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _touch(root: Path) -> None:
    """Make the running server reload the folder (it watches sandbox.json's mtime)."""
    meta = root / "sandbox.json"
    stat = meta.stat()
    os.utime(meta, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


@pytest.fixture(scope="module")
def loads(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, datetime, datetime]]:
    """Backfill, advance the sandbox DAYS days, load again: (sandbox, warehouse, clock 1, clock 2)."""
    root = tmp_path_factory.mktemp("sync_lag")
    sandbox, target = root / "sandbox", Target("duckdb", root / "w.duckdb", pipelines_dir=root / ".dlt")
    generate(seed=9, scale=0.03, out=sandbox)  # a seed whose HubSpot deals change within DAYS
    first_clock = _end_of(json.loads((sandbox / "sandbox.json").read_text())["as_of"])
    with pytest.MonkeyPatch.context() as mp, serve_in_thread(sandbox) as url:
        mp.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
        for source in SOURCES:
            mp.setenv(f"SOURCES__{source.upper()}__BASE_URL", url)
            for key, value in SOURCE_DEFAULTS[source].items():
                mp.setenv(f"SOURCES__{source.upper()}__{key.upper()}", value)
        first = run_api_sources(SOURCES, target)
        assert [r.error for r in first] == [None] * len(SOURCES)
        advance(sandbox, DAYS)
        _touch(sandbox)
        second = run_api_sources(SOURCES, target)
        assert [r.error for r in second] == [None] * len(SOURCES)
    yield sandbox, target.duckdb_path, first_clock, first_clock + timedelta(days=DAYS)


def _runs(db: Path) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(
            "select started_at, source, object, source_clock_at, changed, lag_hours_sum, lag_hours_max "
            "from raw_ledgerlake.load_runs order by started_at, source, object"
        ).fetchall()


def _stripe_charge_changes(state: Path) -> list[datetime]:
    """A charge's last change at Stripe: its creation, or the latest `charge.*` event about it (a
    refund), which the source loads as the charge's version."""
    latest = {o["id"]: o["created"] for o in _jsonl(state / "stripe/charges.jsonl")}
    for event in _jsonl(state / "stripe/events.jsonl"):
        obj = event["data"]["object"]
        if obj.get("object") == "charge" and obj["id"] in latest:
            latest[obj["id"]] = max(latest[obj["id"]], event["created"])
    return [datetime.fromtimestamp(t, UTC) for t in latest.values()]


def _expected(
    changed_at: list[datetime], previous: datetime, now: datetime
) -> tuple[int, float, float | None]:
    lags = [max((now - t).total_seconds() / 3600, 0.0) for t in changed_at if t > previous]
    return len(lags), round(sum(lags), 4), round(max(lags), 4) if lags else None


def test_each_load_reads_the_clock_of_the_source_not_of_this_machine(loads) -> None:
    _, db, first_clock, second_clock = loads
    runs = _runs(db)
    starts = sorted({r[0] for r in runs})
    assert len(starts) == 2
    for started, source, obj, clock, *_ in runs:
        assert clock == (first_clock if started == starts[0] else second_clock), (source, obj)


def test_a_backfill_measures_no_lag(loads) -> None:
    _, db, *_ = loads
    first_start = min(r[0] for r in _runs(db))
    assert {(r[4], r[5], r[6]) for r in _runs(db) if r[0] == first_start} == {(0, 0.0, None)}


def test_the_incremental_load_reports_what_changed_at_the_source_and_how_long_it_waited(loads) -> None:
    sandbox, db, first_clock, second_clock = loads
    state = sandbox / "state"
    changed_at = {
        ("stripe", "charges"): _stripe_charge_changes(state),
        ("stripe", "events"): [
            datetime.fromtimestamp(o["created"], UTC) for o in _jsonl(state / "stripe/events.jsonl")
        ],
        ("hubspot", "deals"): [_iso(o["updatedAt"]) for o in _jsonl(state / "hubspot/deals.jsonl")],
        ("shopify", "orders"): [_iso(o["updated_at"]) for o in _jsonl(state / "shopify/orders.jsonl")],
        ("quickbooks", "journal_entry"): [
            _iso(o["MetaData"]["LastUpdatedTime"]) for o in _jsonl(state / "quickbooks/JournalEntry.jsonl")
        ]
        + [
            _iso(d["object"]["MetaData"]["LastUpdatedTime"])
            for d in _jsonl(state / "quickbooks/deleted.jsonl")
            if d["entity"] == "JournalEntry"
        ],
    }
    second_start = max(r[0] for r in _runs(db))
    measured = {(r[1], r[2]): (r[4], r[5], r[6]) for r in _runs(db) if r[0] == second_start}
    for key, times in changed_at.items():
        expected = _expected(times, first_clock, second_clock)
        assert measured[key] == pytest.approx(expected), key
        assert expected[0] > 0, f"{key}: the sandbox changed nothing in {DAYS} days, the test proves nothing"
        assert expected[2] <= DAYS * 24, key


def test_day_dated_bank_lines_count_from_the_end_of_their_day(loads) -> None:
    _, db, _, second_clock = loads
    with duckdb.connect(str(db), read_only=True) as con:
        changed, max_lag = con.execute(
            "select changed, lag_hours_max from raw_ledgerlake.load_runs "
            "where source = 'bank_feed' and object = 'transactions' order by started_at desc limit 1"
        ).fetchone()
        oldest_new = con.execute(
            "select min(date) from raw_bank_feed.transactions where date > ?",
            [second_clock.date() - timedelta(days=DAYS)],
        ).fetchone()[0]
    assert changed > 0
    end_of_day = datetime.combine(oldest_new + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    assert max_lag == pytest.approx(round((second_clock - end_of_day).total_seconds() / 3600, 4))


def test_the_warehouse_kpi_is_the_mean_lag_of_the_changed_records_per_day_of_the_load(loads) -> None:
    from ledgerlake.config import load_settings
    from ledgerlake.dbt import run_dbt

    _, db, _, second_clock = loads
    result = run_dbt(
        load_settings(warehouse=db), "build", "--select", "stg_ledgerlake__load_runs int_kpis_sync_daily"
    )
    assert result.ok, result.failures
    # dbt-duckdb keeps the file open read-write in this process: a second connection must match it
    with duckdb.connect(str(db)) as con:
        runs = con.execute(
            "select started_at, changed, lag_hours_sum from raw_ledgerlake.load_runs"
        ).fetchall()
        second = [r for r in runs if r[0] == max(x[0] for x in runs)]
        records, hours = sum(r[1] for r in second), sum(r[2] for r in second)
        rows = con.execute(
            "select day, kpi, value, numerator, denominator from intermediate.int_kpis_sync_daily"
        ).fetchall()
    assert rows == [
        (second_clock.date(), "sync_lag_hours", pytest.approx(hours / records), pytest.approx(hours), records)
    ]

"""Runs the API sources into the warehouse, one dlt pipeline each, isolating failures and counting.

`SOURCES` is the registry of API sources (later: hubspot, shopify, quickbooks). Each entry names the
module and the `@dlt.source` function; the function reads its settings from dlt config
(`SOURCES__<SOURCE>__*`). Resources count what they receive via `counter` (seen, quarantined,
duplicates skipped); rows loaded per object come from dlt's normalize info. Of those, the records
new or changed since earlier loads (`ObjectCounts.written`) come from the content hashes
`ingestion.contracts.guarded` collects in `record_hashes`, compared after a successful load with the
hashes stored in `raw_ledgerlake.record_hashes` (and then merged into it).
"""

from __future__ import annotations

import importlib
import logging
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from dlt.common.configuration.exceptions import ConfigFieldMissingException

from ingestion.common import (
    RECORD_HASHES_SCHEMA,
    ObjectCounts,
    RecordHashes,
    SourceReport,
    Target,
    make_pipeline,
    source_clocks,
    store_hashes,
    stored_hashes,
)
from ingestion.contracts import contract_violation_message
from ledgerlake.errors import LedgerlakeError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceSpec:
    """Where an API source lives and which objects (tables) it loads."""

    module: str
    function: str
    objects: tuple[str, ...]
    # per object, the raw column holding when the record last changed at the source (sync lag)
    changed_at: dict[str, str] = field(default_factory=dict)

    def build(self) -> Any:
        return getattr(importlib.import_module(self.module), self.function)()


# one table per entity in ingestion/quickbooks/settings.py ENTITIES (a test keeps them equal;
# importing the settings here would be circular: the source imports the runner's counter)
QUICKBOOKS_OBJECTS = (
    "account", "customer", "vendor", "item", "invoice", "payment", "bill", "bill_payment", "deposit",
    "journal_entry",
)  # fmt: skip

SOURCES: dict[str, SourceSpec] = {
    "stripe": SourceSpec(
        "ingestion.stripe",
        "stripe_source",
        (
            "customers",
            "charges",
            "refunds",
            "disputes",
            "balance_transactions",
            "payouts",
            "events",
            "payout_balance_transactions",
        ),
        # a Stripe object's change is the time of the state loaded (`_ll_version`: the event that
        # changed it, e.g. a refund or a dispute's close), else its creation; an event's is its own
        {
            **dict.fromkeys(
                ("customers", "charges", "refunds", "disputes", "balance_transactions", "payouts"),
                "_ll_version|created",
            ),
            "events": "created",
        },
    ),
    "bank_feed": SourceSpec(
        "ingestion.bank_feed",
        "bank_feed_source",
        ("transactions", "accounts"),
        {"transactions": "datetime|date"},  # Plaid's `datetime` is often null: then the end of `date`
    ),
    "quickbooks": SourceSpec(
        "ingestion.quickbooks",
        "quickbooks_source",
        QUICKBOOKS_OBJECTS,
        dict.fromkeys(
            QUICKBOOKS_OBJECTS,
            "meta_data__last_updated_time",
        ),  # fmt: skip
    ),
    "hubspot": SourceSpec(
        "ingestion.hubspot",
        "hubspot_source",
        ("companies", "contacts", "deals", "line_items", "deals_companies", "deals_line_items"),
        dict.fromkeys(("companies", "contacts", "deals", "line_items"), "updated_at"),
    ),
    "shopify": SourceSpec(
        "ingestion.shopify",
        "shopify_source",
        ("orders", "customers", "payouts", "balance_transactions"),
        # Shopify Payments objects carry no updated_at: a balance transaction changes when it is
        # processed; a payout's status changes at a time the API does not give (its `date` is when it
        # was sent, and payouts in the look-back window are read again every run), so payouts
        # measure no sync lag
        {**dict.fromkeys(("orders", "customers"), "updated_at"), "balance_transactions": "processed_at"},
    ),
}


class RunCounter:
    """Per-run counts that resources report while they read (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], ObjectCounts] = {}

    def add(self, source: str, obj: str, seen: int = 0, quarantined: int = 0, duplicates: int = 0) -> None:
        with self._lock:
            c = self._counts.setdefault((source, obj), ObjectCounts())
            c.seen += seen
            c.quarantined += quarantined
            c.duplicates += duplicates

    def take(self, source: str) -> dict[str, ObjectCounts]:
        """The counts of `source` so far, removed from the counter."""
        with self._lock:
            keys = [k for k in self._counts if k[0] == source]
            return {k[1]: self._counts.pop(k) for k in keys}


counter = RunCounter()
record_hashes = RecordHashes()


def _one_line(exc: BaseException) -> str:
    """The most useful one-line message in an exception chain (a LedgerlakeError if there is one)."""
    chain: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in chain:
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
    for e in chain:
        if isinstance(e, LedgerlakeError):
            return str(e).splitlines()[0]
    root = chain[-1]
    text = " ".join(str(root).split())
    return f"{type(root).__name__}: {text[:300]}"


def _missing_config_message(name: str, exc: BaseException) -> str | None:
    """`SOURCES__<NAME>__<FIELD>` hints for dlt's missing-config error, if that is what `exc` is."""
    cur: BaseException | None = exc
    while cur is not None:
        if isinstance(cur, ConfigFieldMissingException):
            fields = ", ".join(f"SOURCES__{name.upper()}__{f.upper()}" for f in cur.fields)
            return f"{name}: missing configuration; set {fields} (or .dlt/secrets.toml)"
        cur = cur.__cause__ or cur.__context__
    return None


_LOAD_ID = re.compile(r"[0-9.]+")


def _as_utc(value: Any) -> datetime | None:
    """A source's change time as aware UTC: unix seconds (Stripe), timestamps, ISO text; a bare
    date (a bank line with no time) counts from the end of that day, so its lag is a lower bound."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    return None


def _previous_clocks(source: str, target: Target) -> dict[str, datetime]:
    """Per object, the source's clock at its last successful load (empty before the first one)."""
    try:
        with make_pipeline("ledgerlake", target).sql_client() as client:
            rows = client.execute_sql(
                "select object, max(source_clock_at) from "
                f"{client.make_qualified_table_name('load_runs')} "
                "where source = %s and status = 'ok' and source_clock_at is not null group by object",
                source,
            )
    except Exception:  # noqa: BLE001 - no load_runs yet (or from before sync lag was measured)
        return {}
    return {obj: at for obj, at in ((r[0], _as_utc(r[1])) for r in rows or []) if at is not None}


def _measure_sync_lag(
    pipeline: Any, spec: SourceSpec, load_ids: list[str], report: SourceReport, previous: dict[str, datetime]
) -> None:
    """Sync lag of this load, on the source's clock: for each record loaded now that changed at the
    source after the previous successful load read it, the hours from that change to this read.
    A first load (a backfill) has no previous read, so it measures nothing."""
    clock = source_clocks.take(report.source)
    if clock is None:
        return
    ids = ", ".join(f"'{i}'" for i in load_ids if _LOAD_ID.fullmatch(i))
    for obj in spec.objects:
        counts = report.counts(obj)
        counts.source_clock_at = clock
        prev, columns = previous.get(obj), spec.changed_at.get(obj)
        if prev is None or not columns or not ids:
            continue
        with pipeline.sql_client() as client:
            cols = ", ".join(client.escape_column_name(c) for c in columns.split("|"))
            table = client.make_qualified_table_name(obj)
            try:
                rows = client.execute_sql(f"select {cols} from {table} where _dlt_load_id in ({ids})") or []
            except Exception:  # noqa: BLE001 - the object's table does not exist: nothing was loaded
                rows = []
        lags = []
        for row in rows:
            changed = next((at for at in map(_as_utc, row) if at is not None), None)
            if changed is not None and changed > prev:
                lags.append(max((clock - changed).total_seconds() / 3600, 0.0))
        counts.changed = len(lags)
        counts.lag_hours_sum = round(sum(lags), 4)
        counts.lag_hours_max = round(max(lags), 4) if lags else None


def _written(
    source: str, target: Target, objects: tuple[str, ...], hashed: dict[str, pa.Table], loaded: dict[str, int]
) -> tuple[dict[str, int], pa.Table]:
    """Per object, how many of the rows just loaded were new or changed: their key had no stored
    hash, or another one. Also the hashes to store (source, object, record_key, content_hash): those
    of the changed versions the merge kept. An object whose hashed rows are not the rows dlt loaded
    (something between the contract guard and dlt dropped or added rows) is left unmeasured."""
    measured = {obj: t for obj, t in hashed.items() if t.num_rows == loaded.get(obj, 0)}
    for obj in sorted(set(hashed) - set(measured)):
        log.warning(
            "%s.%s: %d records hashed but %d loaded; new or changed not measured",
            source, obj, hashed[obj].num_rows, loaded.get(obj, 0),
        )  # fmt: skip
    # nothing hashed, nothing loaded: nothing written (an object loaded but not hashed: not measured)
    written = {obj: 0 for obj in objects if not loaded.get(obj) and obj not in hashed}
    if not measured:
        return written, RECORD_HASHES_SCHEMA.empty_table()
    run = pa.concat_tables(measured.values())
    joined = run.join(stored_hashes(target, source), keys=["object", "record_key"], join_type="left outer")
    changed = joined.filter(pc.fill_null(pc.not_equal(joined["content_hash"], joined["stored_hash"]), True))
    counts = changed.group_by("object").aggregate([("record_key", "count")])
    written.update(dict.fromkeys(measured, 0))
    written.update(zip(counts["object"].to_pylist(), counts["record_key_count"].to_pylist(), strict=True))
    kept = changed.filter(changed["keep"]).select(["object", "record_key", "content_hash"])
    kept = kept.append_column("source", pa.array([source] * kept.num_rows, pa.string()))
    return written, kept.select(RECORD_HASHES_SCHEMA.names).cast(RECORD_HASHES_SCHEMA)


def _run_one(name: str, target: Target, to_store: list[pa.Table]) -> SourceReport:
    """Load one source; appends the content hashes to store (after a successful load) to `to_store`."""
    report = SourceReport(source=name)
    spec = SOURCES.get(name)
    t0 = time.perf_counter()
    if spec is None:
        report.error = f"unknown source {name!r}; known: {', '.join(sorted(SOURCES))}"
        return report
    counter.take(name)
    record_hashes.take(name)
    source_clocks.take(name)
    previous = _previous_clocks(name, target)
    pipeline = None
    row_counts: dict[str, int] = {}
    load_ids: list[str] = []
    try:
        pipeline = make_pipeline(name, target)
        # parquet loads ~5x faster into DuckDB than insert statements (47 s -> 9 s for Stripe at scale 1)
        file_format = "parquet" if target.kind == "duckdb" else None
        load_ids = list(pipeline.run(spec.build(), loader_file_format=file_format).loads_ids)
        row_counts = pipeline.last_trace.last_normalize_info.row_counts if pipeline.last_trace else {}
    except Exception as exc:  # noqa: BLE001 - one failing source must not stop the others
        message = (
            _missing_config_message(name, exc) or contract_violation_message(name, exc) or _one_line(exc)
        )
        report.error = message if message.startswith(f"{name}:") else f"{name}: {message}"
        log.info("source %s failed: %s", name, report.error)  # the summary prints it once, on one line
        if pipeline is not None and pipeline.has_pending_data:
            # a half-done package would be retried first, and dlt would ignore the next run's data
            try:
                pipeline.abort_packages()
            except Exception as abort_exc:  # noqa: BLE001 - the report already carries the real error
                log.warning("could not abort pending packages of %s: %s", name, _one_line(abort_exc))
    hashed = record_hashes.take(name)
    for obj, counts in counter.take(name).items():
        report.objects[obj] = counts
    for obj in spec.objects:
        report.counts(obj).loaded = int(row_counts.get(obj, 0))
    if report.error is None and pipeline is not None:
        # only after a load that succeeded: a stored hash makes the next run count the record unchanged
        try:
            written, changed = _written(name, target, spec.objects, hashed, row_counts)
            for obj in spec.objects:
                report.counts(obj).written = written.get(obj)
            to_store.append(changed)
        except Exception as exc:  # noqa: BLE001 - a measurement, not a reason to fail the load
            log.warning("could not count the new or changed records of %s: %s", name, _one_line(exc))
    if report.error is None and pipeline is not None:
        try:
            _measure_sync_lag(pipeline, spec, load_ids, report, previous)
        except Exception as exc:  # noqa: BLE001 - lag is a measurement, not a reason to fail the load
            log.warning("could not measure the sync lag of %s: %s", name, _one_line(exc))
    report.seconds = round(time.perf_counter() - t0, 3)
    return report


def record_load_runs(
    reports: list[SourceReport], target: Target, run_id: str | None = None, started_at: datetime | None = None
) -> None:
    """Append the reports to `raw_ledgerlake.load_runs`, one row per source and object (a source
    that failed before any object gets one `*` row). The only writer of that table: `ledgerlake`'s
    orchestration calls it for API sources and statement files alike."""
    run_id = run_id or uuid.uuid4().hex[:12]
    started_at = started_at or datetime.now(UTC)
    rows = [
        {
            "run_id": run_id,
            "started_at": started_at,
            "source": r.source,
            "object": obj,
            "seen": c.seen,
            "loaded": c.loaded,
            "quarantined": c.quarantined,
            "duplicates": c.duplicates,
            "written": c.written,
            "seconds": float(r.seconds),
            "status": "failed" if r.error else "ok",
            "error": r.error,
            "source_clock_at": c.source_clock_at,
            "changed": c.changed,
            "lag_hours_sum": c.lag_hours_sum,
            "lag_hours_max": c.lag_hours_max,
        }
        for r in reports
        for obj, c in (r.objects.items() or [("*", ObjectCounts())])
    ]
    if not rows:
        return
    make_pipeline("ledgerlake", target).run(
        rows,
        table_name="load_runs",
        write_disposition="append",
        columns={
            "error": {"data_type": "text", "nullable": True},
            "written": {"data_type": "bigint", "nullable": True},
            "started_at": {"data_type": "timestamp"},
            "seconds": {"data_type": "double"},
            "source_clock_at": {"data_type": "timestamp", "nullable": True},
            "changed": {"data_type": "bigint"},
            "lag_hours_sum": {"data_type": "double"},
            "lag_hours_max": {"data_type": "double", "nullable": True},
        },
    )


def _store(target: Target, to_store: list[pa.Table]) -> None:
    """Merge the pending content hashes into `raw_ledgerlake.record_hashes` (and forget them)."""
    rows = pa.concat_tables(to_store) if to_store else RECORD_HASHES_SCHEMA.empty_table()
    to_store.clear()
    try:
        store_hashes(target, rows)
    except Exception as exc:  # noqa: BLE001 - the next run counts these records as changed once more
        log.warning("could not store the content hashes in raw_ledgerlake.record_hashes: %s", _one_line(exc))


def run_api_sources(names: list[str], target: Target, record: bool = True) -> list[SourceReport]:
    """Run each named source's pipeline; a failing source gets `error` set, the others still load.

    The content hashes of the sources that loaded are stored together at the end (one dlt load, not
    one per source: ~0.5 s each), or before a source named twice runs again."""
    to_store: list[pa.Table] = []
    reports: list[SourceReport] = []
    for name in names:
        if name in (r.source for r in reports):
            _store(target, to_store)
        reports.append(_run_one(name, target, to_store))
    _store(target, to_store)
    if record:
        try:
            record_load_runs(reports, target)
        except Exception as exc:  # noqa: BLE001 - counts are a report, not a reason to fail the load
            log.warning("could not write raw_ledgerlake.load_runs: %s", _one_line(exc))
    return reports


__all__ = [
    "SOURCES",
    "RunCounter",
    "SourceSpec",
    "counter",
    "record_hashes",
    "record_load_runs",
    "run_api_sources",
]

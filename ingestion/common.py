"""What every ingestion source shares: the quarantine row, the per-object counts, the dlt pipeline.

Contract for a source package `ingestion/<source>/`:
- `__init__.py` holds a `@dlt.source(name="<source>")` function whose arguments come from dlt config
  (`base_url`, `api_key`, ...), so `SOURCES__<SOURCE>__BASE_URL` etc. configure it.
- Records that break the contract are not dropped: the resource yields
  `quarantine_row(...)` wrapped by `to_quarantine(...)`, which routes it to the table `quarantine`
  of the source's dataset (`raw_<source>.quarantine`). dbt unions those into `marts.quarantine`.
- Types are a contract (`ingestion.contracts`): each resource passes its records through
  `guarded(..., TypeContract(table, hints, keys), ...)`, which quarantines a record whose value for a
  known column has another type (reason `field <column>: expected <type>, got <type>`); new columns
  evolve; every source sets `schema_contract=SCHEMA_CONTRACT` so that nothing becomes a variant column.
- Counting: `ingestion.runner` derives seen/loaded/quarantined/duplicates per object from dlt's
  normalize info and the quarantine rows, and writes them to `raw_ledgerlake.load_runs`.
- New or changed (`ObjectCounts.written`): sources re-read recent records every run (look-back
  windows, cursor overlaps) and dlt merges them, so `loaded` counts re-reads too. `guarded` hashes
  every record it passes (`content_hash`, into `RecordHashes`); after a successful load the runner
  compares them with the hashes of earlier loads (`raw_ledgerlake.record_hashes`, one row per
  source, object and record key) and stores the new ones (`stored_hashes`, `store_hashes`).
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import dlt
import pyarrow as pa
from dlt.common.json import json as dlt_json
from dlt.destinations.exceptions import DestinationUndefinedEntity
from dlt.sources.helpers.requests import Client
from requests import Response, Session

QUARANTINE_TABLE = "quarantine"
QUARANTINE_COLUMNS: dict[str, Any] = {
    "source": {"data_type": "text", "nullable": False},
    "object": {"data_type": "text", "nullable": False},
    "record_ref": {"data_type": "text", "nullable": False},
    "reason": {"data_type": "text", "nullable": False},
    "raw": {"data_type": "text", "nullable": True},
    "loaded_at": {"data_type": "timestamp", "nullable": False},
    "quarantine_id": {"data_type": "text", "nullable": False},
}


def quarantine_row(source: str, obj: str, record_ref: str, reason: str, raw: Any) -> dict[str, Any]:
    """One quarantine row. `raw` is kept as text (JSON for structured input).

    `quarantine_id` is a hash of source, object, ref, reason and raw, so re-loading the same bad
    input does not add a second row (the quarantine table is merged on it).
    """
    raw_text = raw if isinstance(raw, str) else json.dumps(raw, default=str, sort_keys=True)
    key = "\x1f".join([source, obj, str(record_ref), reason, raw_text or ""])
    return {
        "source": source,
        "object": obj,
        "record_ref": str(record_ref),
        "reason": reason,
        "raw": raw_text,
        "loaded_at": datetime.now(UTC),
        "quarantine_id": hashlib.sha256(key.encode()).hexdigest()[:32],
    }


def to_quarantine(row: dict[str, Any]) -> Any:
    """Route a quarantine row to the `quarantine` table from inside any resource.

    `create_table_variant=True` makes it a per-item variant: without it dlt re-points the whole
    resource at `quarantine`, and every later item of the resource would land there too.
    Note that the resource's own column hints are copied to the variant, so resource hints must not
    declare `nullable: False` (quarantine rows lack those fields).
    """
    return dlt.mark.with_hints(
        row,
        dlt.mark.make_hints(
            table_name=QUARANTINE_TABLE,
            write_disposition="merge",
            primary_key="quarantine_id",
            columns=QUARANTINE_COLUMNS,
        ),
        create_table_variant=True,
    )


@dataclass
class ObjectCounts:
    seen: int = 0
    loaded: int = 0
    quarantined: int = 0
    duplicates: int = 0
    # of `loaded`, the records that were new or whose content changed since the last load (None:
    # not measured for this object); `loaded - written` were re-read unchanged (look-back windows)
    written: int | None = None
    # sync lag, on the source's clock: when its server answered, and for the records that changed
    # there since the previous successful load, how many and how long (hours) they waited
    source_clock_at: datetime | None = None
    changed: int = 0
    lag_hours_sum: float = 0.0
    lag_hours_max: float | None = None


@dataclass
class SourceReport:
    """What one source's load did; `error` is set when the source failed (others still load)."""

    source: str
    objects: dict[str, ObjectCounts] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None

    def counts(self, obj: str) -> ObjectCounts:
        return self.objects.setdefault(obj, ObjectCounts())


@dataclass(frozen=True)
class Target:
    """Where raw data lands: a DuckDB file or a PostgreSQL database."""

    kind: str  # "duckdb" | "postgres"
    duckdb_path: Path | None = None
    pg_dsn: str | None = None
    pipelines_dir: Path = Path("data/.dlt")

    def destination(self) -> Any:
        if self.kind == "duckdb":
            assert self.duckdb_path is not None
            return dlt.destinations.duckdb(credentials=str(self.duckdb_path))
        return dlt.destinations.postgres(credentials=self.pg_dsn)


class SourceClocks:
    """The latest time each source's server reported in its HTTP `Date` header during a load.

    Sync lag is measured on the source's own clock (when the record changed there, and when we
    read it), never against this machine's clock: a vendor's server stamps both, and so does the
    sandbox, whose clock is simulated."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: dict[str, datetime] = {}

    def observe(self, source: str, response: Response) -> None:
        stamp = response.headers.get("Date")
        if not stamp:
            return
        try:
            at = parsedate_to_datetime(stamp)
        except (TypeError, ValueError):
            return
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
        with self._lock:
            if source not in self._latest or at > self._latest[source]:
                self._latest[source] = at

    def take(self, source: str) -> datetime | None:
        """The latest `Date` seen from `source` since the last take (and forget it)."""
        with self._lock:
            return self._latest.pop(source, None)


source_clocks = SourceClocks()


def vendor_session(source: str, settings: ModuleType) -> Session:
    """dlt's retrying requests session (429/5xx with Retry-After, the source's timeouts and
    back-off from its `settings` module) that also records the server's clock for `source`."""
    session = Client(
        request_timeout=settings.TIMEOUT_SECONDS,
        raise_for_status=False,
        request_max_attempts=settings.MAX_ATTEMPTS,
        request_backoff_factor=settings.BACKOFF_FACTOR,
        request_max_retry_delay=settings.MAX_RETRY_DELAY,
    ).session
    # not a response hook: dlt's RESTClient passes its own `hooks`, which replace the session's
    send = session.send

    def send_and_observe(request: Any, **kwargs: Any) -> Response:
        response = send(request, **kwargs)
        source_clocks.observe(source, response)
        return response

    session.send = send_and_observe  # type: ignore[method-assign]
    return session


def make_pipeline(source_name: str, target: Target) -> dlt.Pipeline:
    """A dlt pipeline for one source, loading into dataset `raw_<source_name>`.

    The pipeline's local state lives beside the warehouse (`target.pipelines_dir`), so two
    warehouses never share incremental cursors.
    """
    return dlt.pipeline(
        pipeline_name=f"ledgerlake_{source_name}",
        destination=target.destination(),
        dataset_name=f"raw_{source_name}",
        pipelines_dir=str(target.pipelines_dir),
    )


# --- content hashes: which loaded records were new or changed -------------------------------------

RECORD_HASHES_TABLE = "record_hashes"
RECORD_HASHES_SCHEMA = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("object", pa.string(), nullable=False),
        pa.field("record_key", pa.string(), nullable=False),
        pa.field("content_hash", pa.string(), nullable=False),
    ]
)

_STORED_SCHEMA = pa.schema(
    [("object", pa.string()), ("record_key", pa.string()), ("stored_hash", pa.string())]
)


def content_hash(record: Any) -> str:
    """A stable hash of a record's content: canonical JSON (keys sorted at every level, dlt's
    encoding of dates, decimals, ...) through BLAKE2b-128. Lists keep their order."""
    return hashlib.blake2b(dlt_json.dumpb(record, sort_keys=True), digest_size=16).hexdigest()


@dataclass
class _Hashed:
    """The records of one object handed to dlt in a run: key, hash, and which row wins per key."""

    keys: list[str] = field(default_factory=list)
    hashes: list[str] = field(default_factory=list)
    ranks: list[Any] = field(default_factory=list)
    winner: dict[str, int] = field(default_factory=dict)  # key -> row of the version the merge keeps
    losers: set[int] = field(default_factory=set)

    def table(self, obj: str) -> pa.Table:
        """`object, record_key, content_hash, keep` (keep: the row is the key's surviving version)."""
        n = len(self.keys)
        keep = [i not in self.losers for i in range(n)] if self.losers else [True] * n
        return pa.table(
            {
                "object": pa.array([obj] * n, pa.string()),
                "record_key": pa.array(self.keys, pa.string()),
                "content_hash": pa.array(self.hashes, pa.string()),
                "keep": pa.array(keep, pa.bool_()),
            }
        )


def _wins(new: Any, old: Any, order: str | None) -> bool:
    """Whether a later row of a key replaces an earlier one in dlt's merge: by the table's
    `dedup_sort` column (`desc`: the highest value stays), else (or on a tie) the later row."""
    if order is None or old is None:
        return True
    if new is None:
        return False
    try:
        return bool(new >= old) if order == "desc" else bool(new <= old)
    except TypeError:
        return True


class RecordHashes:
    """Per run, the content hash of every record each source hands to dlt (thread-safe).

    `ingestion.contracts.guarded` adds each record that passes its contract; the runner takes a
    source's hashes after its load. `rank` is the record's value of its table's `dedup_sort` column
    (`order` "asc"/"desc"), which decides, as in dlt's merge, which of two rows of one key stays."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._objects: dict[tuple[str, str], _Hashed] = {}

    def add(
        self, source: str, obj: str, key: str, digest: str, rank: Any = None, order: str | None = None
    ) -> None:
        with self._lock:
            rows = self._objects.get((source, obj))
            if rows is None:
                rows = self._objects[(source, obj)] = _Hashed()
            i = len(rows.keys)
            rows.keys.append(key)
            rows.hashes.append(digest)
            rows.ranks.append(rank)
            before = rows.winner.get(key)
            if before is None:
                rows.winner[key] = i
            elif _wins(rank, rows.ranks[before], order):
                rows.losers.add(before)
                rows.winner[key] = i
            else:
                rows.losers.add(i)

    def take(self, source: str) -> dict[str, pa.Table]:
        """Per object of `source`, its hashed rows so far (see `_Hashed.table`); forgets them."""
        with self._lock:
            keys = [k for k in self._objects if k[0] == source]
            taken = {k[1]: self._objects.pop(k) for k in keys}
        return {obj: rows.table(obj) for obj, rows in taken.items()}


def stored_hashes(target: Target, source: str) -> pa.Table:
    """`object, record_key, stored_hash` of `source` from earlier loads (empty before the first)."""
    empty = _STORED_SCHEMA.empty_table()
    try:
        with make_pipeline("ledgerlake", target).sql_client() as client:
            table = client.make_qualified_table_name(RECORD_HASHES_TABLE)
            sql = f"select object, record_key, content_hash as stored_hash from {table} where source = "
            if target.kind == "duckdb":  # DuckDB's own Arrow export: no copy through DB-API rows
                import duckdb

                try:
                    chunks = [client.native_connection.sql(sql + "?", params=[source]).to_arrow_table()]
                except duckdb.CatalogException:
                    return empty
            else:
                with client.execute_query(sql + "%s", source) as cursor:
                    chunks = list(cursor.iter_arrow(100_000))
    except DestinationUndefinedEntity:
        return empty
    return pa.concat_tables([empty, *(c.select(_STORED_SCHEMA.names).cast(_STORED_SCHEMA) for c in chunks)])


def store_hashes(target: Target, rows: pa.Table) -> None:
    """Merge `rows` (`RECORD_HASHES_SCHEMA`) into `raw_ledgerlake.record_hashes`. Call it only after
    the records' own load succeeded: a stored hash makes the next run count the record unchanged."""
    if rows.num_rows == 0:
        return
    make_pipeline("ledgerlake", target).run(
        rows.select(RECORD_HASHES_SCHEMA.names).cast(RECORD_HASHES_SCHEMA),
        table_name=RECORD_HASHES_TABLE,
        write_disposition="merge",
        primary_key=("source", "object", "record_key"),
        # Arrow as parquet into DuckDB, as CSV (COPY) into PostgreSQL: no row-by-row inserts
        loader_file_format="parquet" if target.kind == "duckdb" else "csv",
    )

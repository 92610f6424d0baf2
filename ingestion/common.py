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

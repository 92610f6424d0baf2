"""The four steps — sandbox, ingest, build, forecast — and the run summary.

Nothing domain-specific lives here: each step calls into its package and reports counts.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingestion.common import SourceReport
from ingestion.runner import _one_line as one_line
from ledgerlake.config import Settings
from ledgerlake.errors import LedgerlakeError
from ledgerlake.status import RunStatus, TestOutcome, write_status

log = logging.getLogger(__name__)

SANDBOX_META = "sandbox.json"


@dataclass
class RunSummary:
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    steps: dict[str, float] = field(default_factory=dict)  # step -> seconds
    sources: list[SourceReport] = field(default_factory=list)
    marts: dict[str, int] = field(default_factory=dict)
    forecast: dict[str, Any] = field(default_factory=dict)
    build_failures: list[str] = field(default_factory=list)
    build_warnings: list[str] = field(default_factory=list)
    tests: list[tuple[str, str, str]] = field(default_factory=list)  # dbt tests not passing
    failed_step: str | None = None  # the step the run stopped at (or that failed and was skipped)
    failure_reason: str | None = None
    published_at: datetime | None = None

    def fail(self, step: str, reason: str) -> None:
        if self.failed_step is None:
            self.failed_step, self.failure_reason = step, " ".join(reason.split())

    @property
    def quarantined(self) -> int:
        return sum(c.quarantined for s in self.sources for c in s.objects.values())

    @property
    def written(self) -> int:
        """Records that were new or changed (an object that does not measure it counts all loaded)."""
        return sum(
            c.loaded if c.written is None else c.written for s in self.sources for c in s.objects.values()
        )

    @property
    def failed_sources(self) -> list[SourceReport]:
        return [s for s in self.sources if s.error]

    def exit_code(self) -> int:
        if self.failed_sources or self.build_failures or self.failed_step:
            return 2
        return 1 if self.quarantined else 0

    def status(self, command: str) -> RunStatus:
        """This run as the status file records it (ledgerlake/status.py)."""
        failed_step, reason = self.failed_step, self.failure_reason
        if failed_step is None and self.failed_sources:
            s = self.failed_sources[0]
            failed_step, reason = f"ingest {s.source}", s.error
        return RunStatus(
            run_id=self.run_id,
            command=command,
            started_at=self.started_at.isoformat(timespec="seconds"),
            finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
            ok=failed_step is None,
            failed_step=failed_step,
            reason=reason,
            published_at=self.published_at.isoformat(timespec="seconds") if self.published_at else None,
            tests=[TestOutcome(node, status, message) for node, status, message in self.tests],
        )


def record_status(settings: Settings, summary: RunSummary, command: str) -> None:
    """Write the run's outcome beside the warehouse, for the app's "last run" line."""
    write_status(settings.status_path, summary.status(command))


@contextmanager
def timed(summary: RunSummary, step: str) -> Iterator[None]:
    t0 = time.perf_counter()
    try:
        yield
    finally:
        summary.steps[step] = summary.steps.get(step, 0.0) + time.perf_counter() - t0


# --- sandbox -------------------------------------------------------------------------------------


def ensure_sandbox(sandbox_dir: Path, seed: int, scale: float) -> dict[str, Any]:
    """Generate the sandbox unless one with the same seed and scale is already there.

    An existing sandbox is kept as it is (it may have been moved on with `sandbox advance`).
    """
    import json

    from sandbox.generate import generate

    meta_path = sandbox_dir / SANDBOX_META
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("seed") == seed and float(meta.get("scale", -1)) == float(scale):
            return meta
        log.info(
            "sandbox at %s has seed/scale %s/%s; regenerating",
            sandbox_dir,
            meta.get("seed"),
            meta.get("scale"),
        )
    generate(seed=seed, scale=scale, out=sandbox_dir)
    return json.loads(meta_path.read_text())


def configure_sources_for(base_url: str) -> list[str]:
    """Point every source the user has not configured at the sandbox; returns those pointed."""
    from sandbox.credentials import SOURCE_DEFAULTS

    pointed = []
    for source, defaults in SOURCE_DEFAULTS.items():
        prefix = f"SOURCES__{source.upper()}__"
        if os.environ.get(prefix + "BASE_URL"):
            continue
        os.environ[prefix + "BASE_URL"] = base_url
        for key, value in defaults.items():
            os.environ.setdefault(prefix + key.upper(), value)
        pointed.append(source)
    return pointed


# --- ingest --------------------------------------------------------------------------------------


def ingest_api(settings: Settings, names: list[str] | None, summary: RunSummary) -> None:
    from ingestion.runner import SOURCES, run_api_sources

    names = names or list(SOURCES)
    unknown = [n for n in names if n not in SOURCES]
    if unknown:
        raise LedgerlakeError(f"unknown source(s) {', '.join(unknown)}: choose from {', '.join(SOURCES)}")
    with timed(summary, "ingest"):
        reports = run_api_sources(names, settings.ingest_target(), record=False)
    summary.sources.extend(reports)


def ingest_files(settings: Settings, paths: list[Path], summary: RunSummary) -> None:
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise LedgerlakeError(f"no such file or folder: {', '.join(missing)}")
    from ingestion.files import load_files

    with timed(summary, "ingest files"):
        summary.sources.append(load_files(paths, settings.ingest_target()))


def record_load_runs(settings: Settings, summary: RunSummary) -> None:
    from ingestion.runner import record_load_runs as write_load_runs

    try:
        write_load_runs(summary.sources, settings.ingest_target(), summary.run_id, summary.started_at)
    except Exception as exc:  # noqa: BLE001 - dlt wraps the target's error in PipelineStepFailed
        raise LedgerlakeError(
            f"could not record the load counts in raw_ledgerlake.load_runs ({target_name(settings)}): "
            + one_line(exc)
        ) from None


def target_name(settings: Settings) -> str:
    if settings.target == "duckdb":
        return f"DuckDB {settings.warehouse_path}"
    from ledgerlake.config import mask_dsn

    return f"PostgreSQL {mask_dsn(settings.pg_dsn or '')}"


def check_target(settings: Settings) -> None:
    """Fail early, with one line, when the PostgreSQL target cannot be reached."""
    if settings.target == "postgres":
        settings.warehouse().scalar("select 1")


# --- build, forecast, publish --------------------------------------------------------------------


def build(settings: Settings, summary: RunSummary) -> None:
    from ledgerlake.dbt import run_dbt

    with timed(summary, "build"):
        result = run_dbt(settings, "build")
    summary.build_failures = result.failures
    summary.build_warnings = result.warnings
    summary.tests = result.tests
    if result.failures:
        summary.fail("build", f"{len(result.failures)} dbt node(s) failed, first: {result.failures[0]}")
    summary.marts = mart_counts(settings)


def mart_counts(settings: Settings) -> dict[str, int]:
    wh = settings.warehouse()
    tables = wh.query(
        "select table_name from information_schema.tables where table_schema = 'marts' order by table_name"
    )["table_name"].to_list()
    return {t: int(wh.scalar(f"select count(*) from marts.{t}")) for t in tables}


def forecast(settings: Settings, summary: RunSummary) -> None:
    import forecasts
    from forecasts.anomalies import run_anomalies
    from forecasts.categorise import run_categorise

    wh = settings.warehouse()
    with timed(summary, "forecast"):
        summary.forecast = forecasts.run(
            wh,
            horizon=settings.company.horizon_days,
            functional_currency=settings.company.functional_currency,
        )
    with timed(summary, "anomalies"):
        anomalies = run_anomalies(wh)
    with timed(summary, "categorise"):
        categories = run_categorise(wh)
    summary.forecast |= {
        f"anomalies_{k}": v for k, v in anomalies.items() if isinstance(v, int | float | str)
    }
    summary.forecast |= {
        f"categorise_{k}": v for k, v in categories.items() if isinstance(v, int | float | str)
    }
    summary.forecast["anomalies_flags"] = sum((anomalies.get("flags_by_kind") or {}).values())
    summary.marts = mart_counts(settings)


def publish_snapshot(settings: Settings, summary: RunSummary | None = None) -> Path | None:
    """Copy the DuckDB warehouse to the snapshot the app reads, atomically (docs/architecture.md)."""
    if settings.target != "duckdb":
        return None
    import duckdb

    snap = settings.snapshot_path
    tmp = snap.with_name(snap.name + ".tmp")
    tmp.unlink(missing_ok=True)
    t0 = time.perf_counter()
    con = duckdb.connect(str(settings.warehouse_path))
    try:
        con.execute(f"attach {sql_string(str(tmp))} as snap")
        con.execute(f"copy from database {sql_identifier(_catalog(con))} to snap")
        con.execute("detach snap")
    finally:
        con.close()
    os.replace(tmp, snap)
    if summary is not None:
        summary.steps["publish"] = time.perf_counter() - t0
        summary.published_at = datetime.now(UTC)
    return snap


def sql_string(value: str) -> str:
    """A SQL string literal (for statements that take no parameters, such as ATTACH)."""
    return "'" + value.replace("'", "''") + "'"


def sql_identifier(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def _catalog(con: Any) -> str:
    return con.execute("select current_database()").fetchone()[0]


def run_all(
    settings: Settings,
    sandbox_dir: Path,
    seed: int,
    scale: float,
    progress: Callable[[str], None] = lambda _s: None,
    summary: RunSummary | None = None,
) -> RunSummary:
    """sandbox -> ingest (APIs, then the sandbox's statement files) -> build -> forecast -> publish."""
    from sandbox.server import serve_in_thread

    summary = summary if summary is not None else RunSummary()
    progress("sandbox")
    with timed(summary, "sandbox"):
        ensure_sandbox(sandbox_dir, seed, scale)
    progress("ingest")
    with serve_in_thread(sandbox_dir) as base_url:
        configure_sources_for(base_url)
        ingest_api(settings, None, summary)
    exports = sandbox_dir / "exports" / "bank"
    if exports.exists():
        progress("ingest files")
        ingest_files(settings, [exports], summary)
    legacy = sandbox_dir / "exports" / "legacy"
    if legacy.exists():
        from ingestion.legacy import load_legacy

        progress("ingest legacy")
        with timed(summary, "ingest legacy"):
            summary.sources.append(load_legacy([legacy], settings.ingest_target()))
    record_load_runs(settings, summary)
    build_forecast_publish(settings, summary, progress)
    return summary


def build_forecast_publish(
    settings: Settings, summary: RunSummary, progress: Callable[[str], None] = lambda _s: None
) -> None:
    """build -> forecast -> publish. A dbt error stops before the forecast and publishes nothing (the
    marts may be half rebuilt); a failing forecast is recorded and the built marts still publish, so
    the books stay current (the app says the forecast is stale)."""
    progress("build")
    build(settings, summary)
    if summary.build_failures:
        return
    progress("forecast")
    try:
        forecast(settings, summary)
    except LedgerlakeError as exc:
        summary.fail("forecast", str(exc))
    except Exception as exc:  # noqa: BLE001 - a forecast bug must not freeze the books
        log.exception("the forecast step failed")
        summary.fail("forecast", f"{type(exc).__name__}: {one_line(exc)}")
    progress("publish")
    publish_snapshot(settings, summary)

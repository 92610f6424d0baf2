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
from ledgerlake.config import Settings
from ledgerlake.errors import LedgerlakeError

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

    @property
    def quarantined(self) -> int:
        return sum(c.quarantined for s in self.sources for c in s.objects.values())

    @property
    def failed_sources(self) -> list[SourceReport]:
        return [s for s in self.sources if s.error]

    def exit_code(self) -> int:
        if self.failed_sources or self.build_failures:
            return 2
        return 1 if self.quarantined else 0


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

    write_load_runs(summary.sources, settings.ingest_target(), summary.run_id, summary.started_at)


# --- build, forecast, publish --------------------------------------------------------------------


def build(settings: Settings, summary: RunSummary) -> None:
    from ledgerlake.dbt import run_dbt

    with timed(summary, "build"):
        result = run_dbt(settings, "build")
    summary.build_failures = result.failures
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
        con.execute(f"attach '{tmp}' as snap")
        con.execute("copy from database " + _catalog(con) + " to snap")
        con.execute("detach snap")
    finally:
        con.close()
    os.replace(tmp, snap)
    if summary is not None:
        summary.steps["publish"] = time.perf_counter() - t0
    return snap


def _catalog(con: Any) -> str:
    return con.execute("select current_database()").fetchone()[0]


def run_all(
    settings: Settings,
    sandbox_dir: Path,
    seed: int,
    scale: float,
    progress: Callable[[str], None] = lambda _s: None,
) -> RunSummary:
    """sandbox -> ingest (APIs, then the sandbox's statement files) -> build -> forecast -> publish."""
    from sandbox.server import serve_in_thread

    summary = RunSummary()
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
    progress("build")
    build(settings, summary)
    if summary.build_failures:
        return summary
    progress("forecast")
    forecast(settings, summary)
    progress("publish")
    publish_snapshot(settings, summary)
    return summary

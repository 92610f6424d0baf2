"""Runs the dbt project against the chosen target, in-process through dbt's programmatic runner."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from ledgerlake.config import Settings
from ledgerlake.errors import LedgerlakeError

PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt_project"


@dataclass
class BuildResult:
    ok: bool
    nodes: dict[str, str] = field(default_factory=dict)  # unique_id -> status
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # tests at severity warn that found rows
    tests: list[tuple[str, str, str]] = field(default_factory=list)  # (node, status, message), not passing
    rows: dict[str, int] = field(default_factory=dict)  # mart -> rows


def dbt_env(settings: Settings) -> dict[str, str]:
    """The environment variables profiles.yml reads."""
    env = {"LEDGERLAKE_TARGET": settings.target, "LEDGERLAKE_WAREHOUSE": str(settings.warehouse_path)}
    env["LEDGERLAKE_FUNCTIONAL_CURRENCY"] = settings.company.functional_currency
    if settings.target == "postgres":
        p = urlparse(settings.pg_dsn or "")
        env |= {
            "LEDGERLAKE_PG_HOST": p.hostname or "127.0.0.1",
            "LEDGERLAKE_PG_PORT": str(p.port or 5432),
            "LEDGERLAKE_PG_USER": unquote(p.username or "postgres"),
            "LEDGERLAKE_PG_PASSWORD": unquote(p.password or ""),
            "LEDGERLAKE_PG_DBNAME": p.path.strip("/"),
        }
    return env


def dbt_vars(settings: Settings) -> dict[str, object]:
    """Company settings from ledgerlake.toml, as dbt vars (the KPI and scorecard models read them)."""
    c = settings.company
    return {
        "functional_currency": c.functional_currency,
        "go_live_date": c.go_live_date.isoformat(),
        "baseline_days": c.baseline_days,
        "measurement_days": c.measurement_days,
        "kpi_targets": {k: {"kind": t.kind, "value": t.value} for k, t in sorted(c.kpi_targets.items())},
    }


def dbt_args(settings: Settings, command: str, *extra: str) -> list[str]:
    work = settings.dbt_dir
    return [
        *command.split(),  # "build", or e.g. "docs generate"
        "--project-dir", str(PROJECT_DIR),
        "--profiles-dir", str(PROJECT_DIR),
        "--target", settings.target,
        "--target-path", str(work / "target"),
        "--log-path", str(work / "logs"),
        "--quiet",
        "--no-use-colors",
        "--vars", json.dumps(dbt_vars(settings)),
        *extra,
    ]  # fmt: skip


def run_dbt(settings: Settings, command: str = "build", *extra: str) -> BuildResult:
    """`dbt build` (or another command); raises LedgerlakeError naming the failing nodes."""
    from dbt.cli.main import dbtRunner

    os.environ.update(dbt_env(settings))
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    res = dbtRunner().invoke(dbt_args(settings, command, *extra))
    result = BuildResult(ok=bool(res.success))
    if res.exception is not None:
        release_duckdb()
        raise LedgerlakeError(f"dbt {command} failed: {' '.join(str(res.exception).split())}")
    for r in getattr(res.result, "results", None) or []:
        status = str(getattr(r.status, "value", r.status)).lower()
        result.nodes[r.node.unique_id] = status
        message = " ".join((r.message or "").split())[:300]
        if status in ("error", "fail"):
            result.failures.append(f"{r.node.unique_id}: {message}")
        elif status == "warn":
            result.warnings.append(f"{r.node.unique_id}: {message}")
        if status in ("error", "fail", "warn"):  # failing tests, warning tests and erroring models
            result.tests.append((r.node.unique_id, status, message))
    release_duckdb()
    return result


def release_duckdb() -> None:
    """Close the DuckDB database dbt-duckdb keeps open for the life of the process.

    dbt-duckdb holds one process-wide connection (its "environment") after an in-process invocation;
    left open, it keeps the warehouse file locked until the process exits, so a long-lived process
    (the demo serving the app, `sync --every`) would shut every other command out.
    """
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # the adapter is not installed: nothing is open
        return
    with DuckDBConnectionManager._LOCK:
        env = DuckDBConnectionManager._ENV
        DuckDBConnectionManager._ENV = None
    if env is not None:
        try:
            env.close()
        except Exception:  # noqa: BLE001 - closing is best effort; the process exit closes it anyway
            pass

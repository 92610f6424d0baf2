"""Settings: `ledgerlake.toml` for the company, environment/CLI for where the warehouse is.

Precedence for the warehouse location: CLI flag > environment (`LEDGERLAKE_WAREHOUSE`,
`LEDGERLAKE_TARGET`, `LEDGERLAKE_PG_DSN`) > default (`data/ledgerlake.duckdb`, DuckDB).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ingestion.common import Target
from ledgerlake.errors import LedgerlakeError
from ledgerlake.warehouse import Warehouse

DEFAULT_WAREHOUSE = Path("data/ledgerlake.duckdb")
DEFAULT_CONFIG = Path("ledgerlake.toml")
TARGETS = ("duckdb", "postgres")


@dataclass(frozen=True)
class KpiTarget:
    kind: str  # "relative" | "absolute"
    value: float


@dataclass(frozen=True)
class Company:
    name: str = "Sandbox Trading Co."
    functional_currency: str = "USD"
    go_live_date: date = date(2025, 7, 1)
    baseline_days: int = 90
    measurement_days: int = 90
    kpi_targets: dict[str, KpiTarget] = field(default_factory=dict)
    horizon_days: int = 30


@dataclass(frozen=True)
class Settings:
    target: str
    warehouse_path: Path
    pg_dsn: str | None
    company: Company
    config_path: Path | None

    @property
    def snapshot_path(self) -> Path:
        """The published copy of the DuckDB warehouse that the app reads (see docs/architecture.md)."""
        return self.warehouse_path.with_name(self.warehouse_path.stem + ".snapshot.duckdb")

    @property
    def pipelines_dir(self) -> Path:
        if self.target == "duckdb":
            return self.warehouse_path.with_name(self.warehouse_path.name + ".dlt")
        parsed = urlparse(self.pg_dsn or "")
        key = f"{parsed.hostname}_{parsed.port}_{parsed.path.strip('/')}".replace("/", "_")
        return self.warehouse_path.parent / f".dlt-postgres-{key}"

    @property
    def dbt_dir(self) -> Path:
        """dbt's target/ (manifest, docs) and logs/ for this warehouse."""
        if self.target == "duckdb":
            return self.warehouse_path.with_name(self.warehouse_path.name + ".dbt")
        return self.pipelines_dir.with_name(self.pipelines_dir.name.replace(".dlt-", ".dbt-"))

    def ingest_target(self) -> Target:
        return Target(
            kind=self.target,
            duckdb_path=self.warehouse_path if self.target == "duckdb" else None,
            pg_dsn=self.pg_dsn,
            pipelines_dir=self.pipelines_dir,
        )

    def warehouse(self, read_only: bool = False) -> Warehouse:
        if self.target == "duckdb":
            return Warehouse("duckdb", duckdb_path=self.warehouse_path, read_only=read_only)
        return Warehouse("postgres", pg_dsn=self.pg_dsn, read_only=read_only)


def _field(table: dict[str, Any], key: str, kind: type, where: str, default: Any) -> Any:
    value = table.get(key, default)
    if kind is date and isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError as exc:
            raise LedgerlakeError(f"{where}.{key}: '{value}' is not a date (YYYY-MM-DD)") from exc
    if kind is int and isinstance(value, bool) or not isinstance(value, kind):
        raise LedgerlakeError(f"{where}.{key}: expected {kind.__name__}, got {value!r}")
    return value


def load_company(path: Path | None) -> Company:
    if path is None or not path.exists():
        return Company()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise LedgerlakeError(f"{path}: not valid TOML: {exc}") from exc
    company = data.get("company", {})
    rollout = data.get("rollout", {})
    forecast = data.get("forecast", {})
    targets: dict[str, KpiTarget] = {}
    for kpi, spec in data.get("kpi_targets", {}).items():
        if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in ("relative", "absolute"):
            raise LedgerlakeError(
                f"{path}: kpi_targets.{kpi} must be {{ relative = x }} or {{ absolute = x }}, got {spec!r}"
            )
        kind, value = next(iter(spec.items()))
        if not isinstance(value, int | float):
            raise LedgerlakeError(f"{path}: kpi_targets.{kpi}.{kind} must be a number, got {value!r}")
        targets[kpi] = KpiTarget(kind, float(value))
    currency = _field(company, "functional_currency", str, f"{path}: company", "USD")
    if len(currency) != 3 or not currency.isalpha():
        raise LedgerlakeError(
            f"{path}: company.functional_currency must be an ISO 4217 code, got {currency!r}"
        )
    return Company(
        name=_field(company, "name", str, f"{path}: company", "Sandbox Trading Co."),
        functional_currency=currency.upper(),
        go_live_date=_field(rollout, "go_live_date", date, f"{path}: rollout", "2025-07-01"),
        baseline_days=_field(rollout, "baseline_days", int, f"{path}: rollout", 90),
        measurement_days=_field(rollout, "measurement_days", int, f"{path}: rollout", 90),
        kpi_targets=targets,
        horizon_days=_field(forecast, "horizon_days", int, f"{path}: forecast", 30),
    )


def load_settings(
    warehouse: Path | None = None,
    target: str | None = None,
    config: Path | None = None,
) -> Settings:
    target = target or os.environ.get("LEDGERLAKE_TARGET") or "duckdb"
    if target not in TARGETS:
        raise LedgerlakeError(
            f"target '{target}' is unknown (--target / LEDGERLAKE_TARGET): use duckdb or postgres"
        )
    path = warehouse or Path(os.environ.get("LEDGERLAKE_WAREHOUSE") or DEFAULT_WAREHOUSE)
    pg_dsn = os.environ.get("LEDGERLAKE_PG_DSN")
    if target == "postgres":
        if not pg_dsn:
            raise LedgerlakeError(
                "target postgres needs LEDGERLAKE_PG_DSN, e.g. postgresql://user:pass@127.0.0.1:5432/ledgerlake"
            )
        parsed = urlparse(pg_dsn)
        if (
            parsed.scheme not in ("postgresql", "postgres")
            or not parsed.hostname
            or not parsed.path.strip("/")
        ):
            raise LedgerlakeError(
                f"LEDGERLAKE_PG_DSN '{pg_dsn}' is not a postgresql://user:pass@host:port/dbname URL"
            )
        if not parsed.password:
            raise LedgerlakeError(
                "LEDGERLAKE_PG_DSN has no password: give one (postgresql://user:pass@host:port/dbname); "
                "the loader requires it even where the server trusts the connection"
            )
    config_path = config or Path(os.environ.get("LEDGERLAKE_CONFIG") or DEFAULT_CONFIG)
    if config is not None and not config.exists():
        raise LedgerlakeError(f"config file {config} does not exist")
    return Settings(
        target=target,
        warehouse_path=path.resolve(),
        pg_dsn=pg_dsn,
        company=load_company(config_path),
        config_path=config_path if config_path.exists() else None,
    )

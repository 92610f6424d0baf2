"""Settings: `ledgerlake.toml` for the company, environment/CLI for where the warehouse is.

Precedence for the warehouse location: CLI flag > environment (`LEDGERLAKE_WAREHOUSE`,
`LEDGERLAKE_TARGET`, `LEDGERLAKE_PG_DSN`) > default (`data/ledgerlake.duckdb`, DuckDB).
"""

from __future__ import annotations

import difflib
import math
import os
import tomllib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ingestion.common import Target
from ledgerlake.currencies import CURRENCIES
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

    @property
    def lock_path(self) -> Path:
        """The writers' lock (ledgerlake/lock.py): one per warehouse."""
        if self.target == "duckdb":
            return self.warehouse_path.with_name(self.warehouse_path.name + ".lock")
        return self.pipelines_dir.with_name(self.pipelines_dir.name.replace(".dlt-", ".lock-"))

    @property
    def status_path(self) -> Path:
        """The last run's outcome (ledgerlake/status.py), which the app shows on every page."""
        if self.target == "duckdb":
            return self.warehouse_path.with_name(self.warehouse_path.stem + ".status.json")
        return self.pipelines_dir.with_name(self.pipelines_dir.name.replace(".dlt-", ".status-") + ".json")

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


# What ledgerlake.toml may say: section -> keys. A key not listed here is a typo, and an error.
KNOWN_KEYS: dict[str, tuple[str, ...]] = {
    "company": ("name", "functional_currency"),
    "rollout": ("go_live_date", "baseline_days", "measurement_days"),
    "kpi_targets": (),  # keys are KPI names, checked against KPI_NAMES
    "forecast": ("horizon_days",),
}
KPI_NAMES = (
    "manual_entry_share", "manual_entry_hours", "invoice_error_rate", "close_duration_days",
    "duplicate_payments_count", "duplicate_payments_value", "time_to_invoice_days", "sync_lag_hours",
    "unreconciled_items_count", "unreconciled_items_value", "auto_match_rate", "audit_trail_coverage",
    "continuous_close_share",
)  # fmt: skip
MAX_HORIZON_DAYS = 366


def _field(table: dict[str, Any], key: str, kind: type, where: str, default: Any) -> Any:
    value = table.get(key, default)
    if kind is date and isinstance(value, date):
        return value  # TOML's own date literal: go_live_date = 2025-07-02
    if kind is date and isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError as exc:
            raise LedgerlakeError(f"{where}.{key}: '{value}' is not a date (YYYY-MM-DD)") from exc
    if kind is int and isinstance(value, bool) or not isinstance(value, kind):
        raise LedgerlakeError(f"{where}.{key}: expected {kind.__name__}, got {value!r}")
    return value


def _days(table: dict[str, Any], key: str, where: str, default: int, low: int, high: int) -> int:
    value = _field(table, key, int, where, default)
    if not low <= value <= high:
        raise LedgerlakeError(
            f"{where}.{key}: must be a whole number of days from {low} to {high}, got {value}"
        )
    return value


def _check_keys(path: Path, data: dict[str, Any]) -> None:
    """Unknown sections and keys are typos: name them and what is known, never fall back silently."""
    for section, value in data.items():
        if section not in KNOWN_KEYS:
            raise LedgerlakeError(
                f"{path}: unknown section [{section}]; known sections: {', '.join(KNOWN_KEYS)}"
            )
        if not isinstance(value, dict):
            raise LedgerlakeError(f"{path}: [{section}] must be a table of keys, got {value!r}")
        known = KPI_NAMES if section == "kpi_targets" else KNOWN_KEYS[section]
        for key in value:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise LedgerlakeError(
                    f"{path}: unknown key {section}.{key}{hint}; known keys of [{section}]: {', '.join(known)}"
                )


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise LedgerlakeError(f"{path}: cannot read the config file ({exc.strerror})") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LedgerlakeError(
            f"{path}: not UTF-8 text (byte {exc.start} is 0x{raw[exc.start]:02x}); save the file as UTF-8"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LedgerlakeError(f"{path}: not valid TOML: {exc}") from None


def load_company(path: Path | None) -> Company:
    if path is None or not path.exists():
        return Company()
    if path.is_dir():
        raise LedgerlakeError(f"{path}: is a folder, not a ledgerlake.toml file")
    data = _read_toml(path)
    _check_keys(path, data)
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
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise LedgerlakeError(f"{path}: kpi_targets.{kpi}.{kind} must be a number, got {value!r}")
        targets[kpi] = KpiTarget(kind, float(value))
    currency = _field(company, "functional_currency", str, f"{path}: company", "USD")
    if currency.upper() not in CURRENCIES:
        raise LedgerlakeError(
            f"{path}: company.functional_currency must be an ISO 4217 currency code (USD, EUR, GBP, ...), "
            f"got {currency!r}"
        )
    where = f"{path}: rollout"
    return Company(
        name=_field(company, "name", str, f"{path}: company", "Sandbox Trading Co."),
        functional_currency=currency.upper(),
        go_live_date=_field(rollout, "go_live_date", date, where, "2025-07-01"),
        baseline_days=_days(rollout, "baseline_days", where, 90, 1, 3660),
        measurement_days=_days(rollout, "measurement_days", where, 90, 1, 3660),
        kpi_targets=targets,
        horizon_days=_days(forecast, "horizon_days", f"{path}: forecast", 30, 1, MAX_HORIZON_DAYS),
    )


def mask_dsn(dsn: str) -> str:
    """The DSN with its password replaced by ***, for messages."""
    try:
        parsed = urlparse(dsn)
    except ValueError:
        return "<unparseable DSN>"
    if parsed.password is None:
        return dsn
    netloc = parsed.netloc.replace(":" + parsed.password + "@", ":***@", 1)
    return parsed._replace(netloc=netloc).geturl()


def check_pg_dsn(pg_dsn: str) -> None:
    """A clear error for a LEDGERLAKE_PG_DSN that cannot work; the password is never shown."""
    shown = mask_dsn(pg_dsn)
    shape = "postgresql://user:pass@host:port/dbname"
    try:
        parsed = urlparse(pg_dsn)
        port = parsed.port
    except ValueError as exc:
        given = urlparse(pg_dsn).netloc.rpartition("@")[2].rpartition(":")[2]
        if given.isdigit():
            raise LedgerlakeError(
                f"LEDGERLAKE_PG_DSN '{shown}': port {given} is out of range (1-65535)"
            ) from None
        raise LedgerlakeError(f"LEDGERLAKE_PG_DSN '{shown}' is not a {shape} URL: {exc}") from None
    if parsed.scheme not in ("postgresql", "postgres") or not parsed.hostname or not parsed.path.strip("/"):
        raise LedgerlakeError(f"LEDGERLAKE_PG_DSN '{shown}' is not a {shape} URL")
    if port is not None and not 1 <= port <= 65535:
        raise LedgerlakeError(f"LEDGERLAKE_PG_DSN '{shown}': port {port} is out of range (1-65535)")
    if not parsed.password:
        raise LedgerlakeError(
            f"LEDGERLAKE_PG_DSN has no password: give one ({shape}); "
            "the loader requires it even where the server trusts the connection"
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
        check_pg_dsn(pg_dsn)
    unsafe = sorted(set("'\"`") & set(str(path.resolve())))
    if unsafe:
        # ledgerlake quotes paths in its own SQL, but dlt's DuckDB loader (parquet file paths) and
        # dbt-duckdb (the catalog, named after the file) splice them into SQL unquoted
        raise LedgerlakeError(
            f"warehouse path {path.resolve()} contains {' '.join(unsafe)}: the loaders (dlt, dbt-duckdb) "
            "cannot quote it in SQL; choose a path without quotes (--warehouse / LEDGERLAKE_WAREHOUSE)"
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

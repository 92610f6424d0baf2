from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.postgres import fresh_database, postgres_server

ROOT = Path(__file__).resolve().parent.parent
# One small sandbox for the end-to-end, app and browser tests: big enough for a year of daily cash
# (the forecast's backtest needs history), small enough to run in well under a minute.
E2E_SEED = 7
E2E_SCALE = 0.1


@pytest.fixture(scope="session")
def pg_admin_dsn() -> Iterator[str]:
    """A running PostgreSQL server for the whole session (throwaway cluster or LEDGERLAKE_PG_DSN)."""
    with postgres_server() as dsn:
        yield dsn


@pytest.fixture
def pg_dsn(pg_admin_dsn: str) -> str:
    """A fresh, empty database on the session's server."""
    return fresh_database(pg_admin_dsn)


@dataclass(frozen=True)
class Run:
    warehouse: Path
    sandbox: Path
    returncode: int
    stdout: str
    stderr: str

    @property
    def snapshot(self) -> Path:
        return self.warehouse.with_name(self.warehouse.stem + ".snapshot.duckdb")

    @property
    def truth(self) -> Path:
        return self.sandbox / "truth"


def ledgerlake_cli(
    *args: str, env: dict[str, str] | None = None, timeout: int = 600
) -> subprocess.CompletedProcess:
    """Runs the real CLI in a subprocess, with no SOURCES__* from the caller's environment."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "LEDGERLAKE_"))}
    return subprocess.run(
        [sys.executable, "-m", "ledgerlake.cli", *args],
        capture_output=True, text=True, cwd=ROOT, env=clean | (env or {}), timeout=timeout,
    )  # fmt: skip


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """`ledgerlake run` on a fresh sandbox into a fresh DuckDB file, once per test session."""
    base = tmp_path_factory.mktemp("e2e")
    warehouse, sandbox = base / "ledgerlake.duckdb", base / "sandbox"
    res = ledgerlake_cli(
        "run", "--warehouse", str(warehouse), "--sandbox", str(sandbox),
        "--seed", str(E2E_SEED), "--scale", str(E2E_SCALE),
    )  # fmt: skip
    return Run(warehouse, sandbox, res.returncode, res.stdout, res.stderr)


@dataclass(frozen=True)
class PostgresRun:
    dsn: str
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture(scope="session")
def demo_run_postgres(
    demo_run: Run, pg_admin_dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> PostgresRun:
    """The same `ledgerlake run` as `demo_run` (same sandbox, seed and scale) into a fresh PostgreSQL
    database, once per session: the tests comparing the engines share one PostgreSQL build."""
    dsn = fresh_database(pg_admin_dsn)
    res = ledgerlake_cli(
        "run", "--target", "postgres", "--warehouse", str(tmp_path_factory.mktemp("pg") / "unused.duckdb"),
        "--sandbox", str(demo_run.sandbox), "--seed", str(E2E_SEED), "--scale", str(E2E_SCALE),
        env={"LEDGERLAKE_PG_DSN": dsn},
    )  # fmt: skip
    return PostgresRun(dsn, res.returncode, res.stdout, res.stderr)

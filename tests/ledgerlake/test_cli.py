"""The CLI's user errors: one line on stderr, exit 2, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def ledgerlake(
    *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess:
    base = {"PATH": "/usr/bin:/bin", "HOME": str(cwd)}
    return subprocess.run(
        [sys.executable, "-m", "ledgerlake.cli", *args],
        capture_output=True, text=True, env=base | (env or {}), cwd=cwd, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("args", "env", "needle"),
    [
        (["build", "--target", "sqlite"], {}, "target 'sqlite' is unknown"),
        (["run", "--target", "postgres"], {}, "needs LEDGERLAKE_PG_DSN"),
        (
            ["ingest", "files", "/nonexistent/statement.xml"],
            {},
            "no such file or folder: /nonexistent/statement.xml",
        ),
        (["sandbox", "serve", "--data", "/nonexistent"], {}, "/nonexistent is not a sandbox folder"),
        (["ingest", "salesforce"], {}, "unknown source(s) salesforce"),
        (
            ["build", "--config", "/nonexistent/ledgerlake.toml"],
            {},
            "config file /nonexistent/ledgerlake.toml",
        ),
    ],
)
def test_user_errors_are_one_line_exit_2(
    args: list[str], env: dict[str, str], needle: str, tmp_path: Path
) -> None:
    res = ledgerlake(*args, env={"LEDGERLAKE_WAREHOUSE": str(tmp_path / "w.duckdb")} | env)
    assert res.returncode == 2, res.stderr
    assert needle in res.stderr
    assert "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_bad_toml_in_working_directory_is_named(tmp_path: Path) -> None:
    (tmp_path / "ledgerlake.toml").write_text("[company]\nfunctional_currency = 12\n")
    res = ledgerlake("build", cwd=tmp_path, env={"PYTHONPATH": str(ROOT)})
    assert res.returncode == 2
    assert "ledgerlake.toml: company.functional_currency: expected str, got 12" in res.stderr


def test_usage_errors_exit_2() -> None:
    res = ledgerlake("run", "--scale", "many")
    assert res.returncode == 2
    assert "Invalid value for '--scale'" in res.stderr


def test_quarantined_input_exits_1_and_says_how_much(tmp_path: Path) -> None:
    bad = ROOT / "tests" / "fixtures" / "real" / "bank_ofx" / "fail_date_missing.ofx"
    res = ledgerlake("ingest", "files", str(bad), env={"LEDGERLAKE_WAREHOUSE": str(tmp_path / "w.duckdb")})
    assert res.returncode == 1, res.stdout + res.stderr
    assert "quarantined: see raw_bank_files.quarantine" in res.stdout  # where the rows are now
    again = ledgerlake("ingest", "files", str(bad), env={"LEDGERLAKE_WAREHOUSE": str(tmp_path / "w.duckdb")})
    assert again.returncode == 1  # still quarantined, and nothing loaded twice

"""marts.quarantine: every quarantined input once, never dlt's `_staging` copies, ids unique by construction.

A real load of statement files into a DuckDB file (a folder of real statements, then a second file with a
line that lacks its amount), so that dlt's merge leaves `raw_bank_files_staging.quarantine` beside
`raw_bank_files.quarantine`; then `dbt build --select quarantine` with its tests (~5 s).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import duckdb
import pytest

from ingestion.common import Target
from ingestion.files import load_files
from ledgerlake.config import load_settings
from ledgerlake.dbt import run_dbt
from tests.conftest import ROOT

REAL = ROOT / "tests" / "fixtures" / "real"


def _query(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db)) as con:  # read-write: dbt-duckdb may still hold this process's handle
        return con.execute(sql).fetchall()


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("quarantine")
    warehouse = base / "w.duckdb"
    bad = base / "bad.ofx"
    text = (REAL / "bank_ofx" / "checking.ofx").read_text(encoding="latin-1")
    bad.write_text(re.sub(r"<TRNAMT>[^<\n]*(</TRNAMT>)?\s*", "", text, count=1), encoding="latin-1")
    target = Target("duckdb", warehouse, pipelines_dir=base / ".dlt")
    saved = dict(os.environ)
    try:
        first = load_files([REAL / "bank_ofx", REAL / "bank_csv", REAL / "bank_mt940"], target)
        second = load_files([bad], target)
        assert first.error is None and second.error is None
        assert sum(c.quarantined for c in second.objects.values()) == 1
        result = run_dbt(
            load_settings(warehouse=warehouse, target="duckdb"), "build", "--select", "quarantine"
        )
        assert not result.failures, result.failures
        assert any(uid.startswith("test.ledgerlake.unique_quarantine_quarantine_id") for uid in result.nodes)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return warehouse


def test_the_staging_schema_of_dlt_exists_and_is_not_read(loaded: Path) -> None:
    [(staged,)] = _query(loaded, "select count(*) from raw_bank_files_staging.quarantine")
    assert staged >= 1  # the copy that was read twice before
    [(raw,)] = _query(loaded, "select count(*) from raw_bank_files.quarantine")
    [(mart,)] = _query(loaded, "select count(*) from marts.quarantine")
    assert mart == raw > 1


def test_quarantine_ids_are_unique_and_every_row_has_a_reason(loaded: Path) -> None:
    [(rows, ids, reasons)] = _query(
        loaded, "select count(*), count(distinct quarantine_id), count(reason) from marts.quarantine"
    )
    assert rows == ids == reasons


def test_the_line_without_an_amount_is_named_with_its_file(loaded: Path) -> None:
    rows = _query(loaded, "select record_ref, reason from marts.quarantine where record_ref like 'bad.ofx%'")
    assert len(rows) == 1
    assert "TRNAMT" in rows[0][1]

"""The warehouse while it loads (docs/architecture.md): the app reads only the published snapshot, so a
run writing the working file and publishing new snapshots never blocks or breaks it, and the app sees
each publish."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from ledgerlake.config import load_settings
from ledgerlake.orchestrate import publish_snapshot
from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "app"))  # as `streamlit run app/app.py` does
import queries  # noqa: E402

ROUNDS = 5

WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    import duckdb

    from ledgerlake.config import load_settings
    from ledgerlake.orchestrate import publish_snapshot

    path, rounds = Path(sys.argv[1]), int(sys.argv[2])
    settings = load_settings(warehouse=path, target="duckdb")
    for i in range(1, rounds + 1):
        con = duckdb.connect(str(path))
        con.execute("create or replace table marts.counter as select -1 as v")  # never published
        con.execute("create or replace table marts.ballast as select range as a, random() as b from range(300000)")
        con.execute(f"create or replace table marts.counter as select {i} as v")
        con.close()
        publish_snapshot(settings)
    """
)


def _working_file(path: Path) -> None:
    con = duckdb.connect(str(path))
    con.execute("create schema marts; create table marts.counter as select 0 as v")
    con.close()
    publish_snapshot(load_settings(warehouse=path, target="duckdb"))


def test_app_reads_the_snapshot_while_a_run_writes_and_publishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse = tmp_path / "ledgerlake.duckdb"
    _working_file(warehouse)
    monkeypatch.setenv("LEDGERLAKE_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("LEDGERLAKE_TARGET", "duckdb")
    assert queries.warehouse().duckdb_path == warehouse.with_name("ledgerlake.snapshot.duckdb")

    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(warehouse), str(ROUNDS)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    seen: list[int] = []
    deadline = time.time() + 120
    while writer.poll() is None and time.time() < deadline:
        queries._query.clear()  # every read opens the snapshot, as after a publish
        seen.append(int(queries.query("select v from marts.counter")["v"][0]))
    _, err = writer.communicate(timeout=60)
    print(f"{len(seen)} reads, values {sorted(set(seen))}")

    assert writer.returncode == 0, err[-3000:]
    assert len(seen) > ROUNDS, "the reader should have read many times while the writer ran"
    assert len(set(seen)) >= 2, "the reader should have seen a publish while the writer ran"
    assert -1 not in seen, "the app saw a table state that was never published"
    assert seen == sorted(seen), "a read went back to an older snapshot"
    assert queries.query("select v from marts.counter")["v"][0] == ROUNDS  # the new data, after publish
    assert not queries.has_table("marts", "no_such_table")

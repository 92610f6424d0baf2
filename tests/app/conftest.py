from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from tests.conftest import ROOT, Run


def snapshot_query(run: Run, sql: str) -> list[tuple]:
    """Ask the snapshot directly, not through the app: what the app's numbers are checked against."""
    con = duckdb.connect(str(run.snapshot), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _published_marts(run: Run) -> set[str]:
    if not run.snapshot.exists():
        return set()
    con = duckdb.connect(str(run.snapshot), read_only=True)
    try:
        rows = con.execute("select table_name from information_schema.tables where table_schema = 'marts'")
        return {r[0] for r in rows.fetchall()}
    finally:
        con.close()


@pytest.fixture(scope="session")
def app_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The warehouse the app tests read: the end-to-end `ledgerlake run` (tests/conftest.py::demo_run).

    When that run cannot publish the marts the app needs, the app tests fail with its output: the
    app is tested on what the pipeline really builds, never on a stand-in.
    LEDGERLAKE_APP_TESTS_WAREHOUSE=PATH tries the app on a warehouse you built (its snapshot is read)."""
    given = os.environ.get("LEDGERLAKE_APP_TESTS_WAREHOUSE")
    if given:
        path = Path(given).resolve()
        return Run(path, path.parent / "sandbox", 0, "", "")
    run: Run = request.getfixturevalue("demo_run")
    missing = {"fct_bank_transactions", "fct_cash_forecast", "load_runs"} - _published_marts(run)
    if run.returncode in (0, 1) and not missing:
        return run
    problem = f"ledgerlake run exited {run.returncode}, marts missing from its snapshot: {sorted(missing)}"
    pytest.fail(f"{problem}\n{run.stdout[-2000:]}\n{run.stderr[-3000:]}")


@pytest.fixture
def app_env(app_run: Run, monkeypatch: pytest.MonkeyPatch) -> Run:
    """Point the app (run in this process by AppTest) at the test warehouse."""
    monkeypatch.setenv("LEDGERLAKE_WAREHOUSE", str(app_run.warehouse))
    monkeypatch.setenv("LEDGERLAKE_TARGET", "duckdb")
    monkeypatch.chdir(ROOT)
    return app_run


@pytest.fixture(scope="session")
def served_app(app_run: Run) -> Iterator[str]:
    """`streamlit run app/app.py` on a free port against the test warehouse; yields its URL."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGERLAKE_")}
    env |= {"LEDGERLAKE_WAREHOUSE": str(app_run.warehouse), "LEDGERLAKE_TARGET": "duckdb"}
    log = open(app_run.warehouse.parent / "streamlit.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app" / "app.py"),
         "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.read().decode().strip() == "ok":
                        break
            except OSError:
                time.sleep(0.5)
        else:
            raise RuntimeError(f"streamlit did not come up: {Path(log.name).read_text()[-2000:]}")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    if not Path("/usr/bin/chromium").exists():
        pytest.fail("Chromium is missing: run scripts/system-deps.sh (apt-get install chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        yield b
        b.close()

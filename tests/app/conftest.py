from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, Run


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def app_env(demo_run: Run, monkeypatch: pytest.MonkeyPatch) -> Run:
    """Point the app (run in this process by AppTest) at the end-to-end run's warehouse."""
    assert demo_run.returncode in (0, 1), demo_run.stderr[-3000:]
    monkeypatch.setenv("LEDGERLAKE_WAREHOUSE", str(demo_run.warehouse))
    monkeypatch.setenv("LEDGERLAKE_TARGET", "duckdb")
    monkeypatch.chdir(ROOT)
    return demo_run


@pytest.fixture(scope="session")
def served_app(demo_run: Run) -> Iterator[str]:
    """`streamlit run app/app.py` on a free port against the end-to-end warehouse; yields its URL."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGERLAKE_")}
    env |= {"LEDGERLAKE_WAREHOUSE": str(demo_run.warehouse), "LEDGERLAKE_TARGET": "duckdb"}
    log = open(demo_run.warehouse.parent / "streamlit.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app" / "app.py"),
         "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false"],
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

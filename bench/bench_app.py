"""Page timing of the Streamlit app: warm p50/p95 per page, in a real headless Chromium.

    python bench/bench_app.py [--scale 1] [--seed 42] [--loads 6] [--warehouse PATH]

Builds a warehouse with `ledgerlake run` (unless --warehouse names one), serves the app on a free
port, opens every page of the navigation `--loads` times (the first load is the cold one and is not
in the warm numbers) and times each load until Streamlit's status widget is gone. Prints a table and
writes bench/results/app.json. Numbers, not verdicts (the issue's goal: warm p95 < 1 s per page).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(warehouse: Path, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGERLAKE_")}
    env |= {"LEDGERLAKE_WAREHOUSE": str(warehouse), "LEDGERLAKE_TARGET": "duckdb"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app" / "app.py"), "--server.port", str(port),
         "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(120):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.read().decode().strip() == "ok":
                    return proc
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    raise RuntimeError("streamlit did not come up")


def _time_page(page, url: str) -> float:  # noqa: ANN001 - a Playwright page
    t0 = time.perf_counter()
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector('[data-testid="stSidebarNav"], [data-testid="stSidebar"]', timeout=60_000)
    page.wait_for_timeout(50)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000, polling=25
    )
    return time.perf_counter() - t0


def measure(warehouse: Path, loads: int) -> dict[str, dict[str, float]]:
    from playwright.sync_api import sync_playwright

    port = _free_port()
    proc = _serve(warehouse, port)
    base = f"http://127.0.0.1:{port}"
    results: dict[str, dict[str, float]] = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            _time_page(page, base + "/")
            links = page.eval_on_selector_all(
                '[data-testid="stSidebarNavLink"]', "els => els.map(e => e.getAttribute('href'))"
            )
            paths = sorted({"/" + (h or "").split("/")[-1] for h in links})
            for path in paths:
                times = [_time_page(page, base + path) for _ in range(loads)]
                warm = sorted(times[1:]) or times
                p95 = warm[min(len(warm) - 1, round(0.95 * (len(warm) - 1)))]
                results[path] = {
                    "cold_s": round(times[0], 3),
                    "warm_p50_s": round(statistics.median(warm), 3),
                    "warm_p95_s": round(p95, 3),
                }
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    return results


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--loads", type=int, default=6)
    ap.add_argument("--warehouse", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ll-bench-app-") as tmp:
        warehouse = args.warehouse
        if warehouse is None:
            warehouse = Path(tmp) / "ll.duckdb"
            run = subprocess.run(
                [sys.executable, "-m", "ledgerlake.cli", "run", "--warehouse", str(warehouse), "--sandbox",
                 str(Path(tmp) / "sandbox"), "--scale", str(args.scale), "--seed", str(args.seed)],
                cwd=ROOT, capture_output=True, text=True,
            )  # fmt: skip
            if run.returncode not in (0, 1):
                print(run.stdout[-2000:], run.stderr[-2000:], file=sys.stderr)
                return 1
        results = measure(warehouse, args.loads)
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {"scale": args.scale, "seed": args.seed, "loads": args.loads, "pages": results}
    (RESULTS / "app.json").write_text(json.dumps(payload, indent=2) + "\n")
    print(f"{'page':<28}{'cold s':>8}{'warm p50':>10}{'warm p95':>10}")
    for path, r in results.items():
        print(f"{path:<28}{r['cold_s']:>8.2f}{r['warm_p50_s']:>10.2f}{r['warm_p95_s']:>10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

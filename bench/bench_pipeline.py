"""The whole job at a chosen scale: time per step, rows per mart, and the accuracy against the truth.

    python bench/bench_pipeline.py [--scale 1] [--seed 42]

Prints a table and writes bench/results/pipeline.json. Numbers, not verdicts.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ledgerlake.cli", *args], capture_output=True, text=True, cwd=ROOT
    )


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ll-bench-") as tmp:
        wh, sbx = Path(tmp) / "ll.duckdb", Path(tmp) / "sandbox"
        t0 = time.perf_counter()
        run = _cli("run", "--warehouse", str(wh), "--sandbox", str(sbx), "--scale", str(args.scale),
                   "--seed", str(args.seed))  # fmt: skip
        total = time.perf_counter() - t0
        if run.returncode not in (0, 1):
            print(run.stdout[-3000:], run.stderr[-3000:], file=sys.stderr)
            return 1
        # the summary's "steps:" line may wrap in a narrow terminal: read up to the next section
        step_text = " ".join(run.stdout.split("steps:")[-1].split("forecast:")[0].split())
        steps = dict(re.findall(r"([a-z][a-z ]*?) ([\d.]+)s", step_text))
        ev = _cli("eval", "--truth", str(sbx / "truth"), "--warehouse", str(wh), "--json")
        metrics = json.loads(ev.stdout) if ev.returncode == 0 else {"error": ev.stderr.strip()}
        records = json.loads((sbx / "truth" / "summary.json").read_text()).get("records_total")
    result = {
        "scale": args.scale,
        "seed": args.seed,
        "exit_code": run.returncode,
        "source_records": records,
        "seconds_total": round(total, 1),
        "seconds_by_step": {k.strip(): float(v) for k, v in steps.items()},
        "eval": metrics,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "pipeline.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"scale {args.scale}, seed {args.seed}: {records} source records, exit {run.returncode}")
    print(f"{'step':<16}{'seconds':>10}")
    for k, v in result["seconds_by_step"].items():
        print(f"{k:<16}{v:>10.1f}")
    print(f"{'total':<16}{total:>10.1f}")
    for layer, values in metrics.items():
        if isinstance(values, dict):
            flat = {k: v for k, v in values.items() if not isinstance(v, dict)}
            if not flat:  # a layer measured per part (payout_members: per processor): one level down
                flat = {
                    f"{part}.{k}": v
                    for part, sub in values.items()
                    if isinstance(sub, dict)
                    for k, v in sub.items()
                    if not isinstance(v, dict)
                }
            print(f"{layer:<16}" + ", ".join(f"{k}={v}" for k, v in flat.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

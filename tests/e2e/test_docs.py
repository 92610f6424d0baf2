"""`dbt docs generate` works and every column of every mart has a description (the analysts' schema
browser in the app reads them)."""

from __future__ import annotations

import json
import subprocess
import sys

from ledgerlake.config import load_settings
from tests.conftest import ROOT, Run

GENERATE = (
    "import sys; from pathlib import Path; from ledgerlake.config import load_settings; "
    "from ledgerlake.dbt import run_dbt; "
    "sys.exit(0 if run_dbt(load_settings(warehouse=Path(sys.argv[1])), 'docs generate').ok else 1)"
)


def test_every_mart_column_is_described(demo_run: Run) -> None:
    assert demo_run.returncode == 0, demo_run.stderr[-2000:]
    # in a subprocess: dbt's runner sets process-wide state this test session should not inherit
    res = subprocess.run(
        [sys.executable, "-c", GENERATE, str(demo_run.warehouse)], cwd=ROOT, capture_output=True, text=True
    )
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    settings = load_settings(warehouse=demo_run.warehouse)
    target = settings.dbt_dir / "target"
    manifest = json.loads((target / "manifest.json").read_text())
    catalog = json.loads((target / "catalog.json").read_text())
    missing = []
    marts = [
        (uid, n)
        for uid, n in manifest["nodes"].items()
        if n["resource_type"] == "model" and n["schema"] == "marts"
    ]
    assert len(marts) > 25
    for uid, node in marts:
        if not node.get("description"):
            missing.append(f"{node['name']} (model)")
        for column in catalog["nodes"].get(uid, {}).get("columns", {}):
            if not (node["columns"].get(column) or node["columns"].get(column.lower()) or {}).get(
                "description"
            ):
                missing.append(f"{node['name']}.{column}")
    assert missing == []

"""`dbt docs generate` works and every column of every mart has a description (the analysts' schema
browser in the app reads them)."""

from __future__ import annotations

import json

from ledgerlake.config import load_settings
from ledgerlake.dbt import run_dbt
from tests.conftest import Run


def test_every_mart_column_is_described(demo_run: Run) -> None:
    assert demo_run.returncode == 0, demo_run.stderr[-2000:]
    settings = load_settings(warehouse=demo_run.warehouse)
    assert run_dbt(settings, "docs generate").ok
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

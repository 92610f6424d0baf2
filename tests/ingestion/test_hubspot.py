"""The HubSpot dlt source against the HTTP sandbox (with faults on), into a temporary DuckDB file."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest

from ingestion.common import Target
from ingestion.runner import run_api_sources
from sandbox.advance import advance
from sandbox.credentials import HUBSPOT_API_KEY
from sandbox.generate import generate
from sandbox.server import serve_in_thread

FAULTS = "429=0.04,500=0.03,503=0.02,slow=0.01,dup_page=0.2"
OBJECTS = {
    "companies": "hs_lastmodifieddate",
    "contacts": "lastmodifieddate",
    "deals": "hs_lastmodifieddate",
    "line_items": "hs_lastmodifieddate",
}


@pytest.fixture(scope="module")
def sandbox_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("hubspot_sandbox")
    generate(seed=13, scale=0.1, out=out)
    return out


@pytest.fixture(autouse=True)
def _dlt_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
    monkeypatch.setenv("SOURCES__HUBSPOT__API_KEY", HUBSPOT_API_KEY)


def _target(tmp_path: Path) -> Target:
    return Target("duckdb", tmp_path / "w.duckdb", pipelines_dir=tmp_path / ".dlt")


def _stored(root: Path, name: str) -> list[dict]:
    return [json.loads(x) for x in (root / "state/hubspot" / f"{name}.jsonl").read_text().splitlines()]


def _rows(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def _pairs(root: Path, key: str = "companies") -> list[tuple[str, str]]:
    return sorted(
        (d["id"], a["id"]) for d in _stored(root, "deals") for a in d["associations"][key]["results"]
    )


def _stage_dates(root: Path) -> list[tuple[str, str, int]]:
    return sorted(
        (d["id"], k, _ms(v))
        for d in _stored(root, "deals")
        for k, v in d["properties"].items()
        if k.startswith("hs_v2_date_")
    )


def _loaded_stage_dates(db: Path) -> list[tuple[str, str, int]]:
    columns = [
        c
        for (c,) in _rows(
            db,
            "select column_name from information_schema.columns where table_schema = 'raw_hubspot' "
            "and table_name = 'deals' and column_name like 'properties__hs_v2_date_%'",
        )
    ]
    types = _rows(
        db,
        "select distinct data_type from information_schema.columns where table_schema = 'raw_hubspot' "
        "and table_name = 'deals' and column_name like 'properties__hs_v2_date_%'",
    )
    assert types == [("TIMESTAMP WITH TIME ZONE",)] and len(columns) == 14  # 7 stages, entered/exited
    out = []
    for c in columns:
        rows = _rows(db, f"select id, epoch_ms({c}) from raw_hubspot.deals where {c} is not null")
        out += [(i, c.removeprefix("properties__"), ms) for i, ms in rows]
    return sorted(out)


def test_load_equals_sandbox_and_second_run_adds_nothing(
    sandbox_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ingestion.hubspot.settings.LIST_LIMIT", 10)  # many pages, so dup_page can fire
    target = _target(tmp_path)
    with serve_in_thread(sandbox_dir, faults=FAULTS) as url:
        monkeypatch.setenv("SOURCES__HUBSPOT__BASE_URL", url)
        [first] = run_api_sources(["hubspot"], target)
        [second] = run_api_sources(["hubspot"], target)
    assert first.error is None and second.error is None
    for name, modified in OBJECTS.items():
        stored = _stored(sandbox_dir, name)
        # dlt types the ISO date-time strings as timestamps
        loaded = _rows(
            target.duckdb_path,
            f"select id, epoch_ms(properties__{modified}) from raw_hubspot.{name} order by id",
        )
        assert loaded == sorted((o["id"], _ms(o["properties"][modified])) for o in stored), name
        counts = first.objects[name]
        assert counts.loaded == len(stored) and counts.seen == counts.loaded + counts.duplicates
        assert second.objects[name].loaded == 0
    assert sum(first.objects[n].duplicates for n in OBJECTS) > 0, "dup_page faults should have been skipped"
    amounts = _rows(
        target.duckdb_path,
        "select id, properties__amount, properties__dealstage from raw_hubspot.deals order by id",
    )
    assert amounts == sorted(
        (d["id"], d["properties"]["amount"], d["properties"]["dealstage"])
        for d in _stored(sandbox_dir, "deals")
    )
    links = _rows(
        target.duckdb_path, "select deal_id, company_id from raw_hubspot.deals_companies order by 1, 2"
    )
    assert links == _pairs(sandbox_dir) and second.objects["deals_companies"].loaded == 0
    items = _rows(
        target.duckdb_path, "select deal_id, line_item_id from raw_hubspot.deals_line_items order by 1, 2"
    )
    assert items == _pairs(sandbox_dir, "line items") and second.objects["deals_line_items"].loaded == 0
    assert first.objects["deals_line_items"].loaded == len(items) > 0
    assert _loaded_stage_dates(target.duckdb_path) == _stage_dates(sandbox_dir)
    records = pl.read_parquet(sandbox_dir / "truth/records.parquet").filter(pl.col("source") == "hubspot")
    for (obj,), group in records.group_by(["object"]):
        raw = {i for (i,) in _rows(target.duckdb_path, f"select id from raw_hubspot.{obj}")}
        assert set(group["record_id"]) == raw, obj


def test_advance_then_search_loads_the_changes(sandbox_dir: Path, tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "sbx"
    shutil.copytree(sandbox_dir, root)
    before = {n: {o["id"]: o["properties"][m] for o in _stored(root, n)} for n, m in OBJECTS.items()}
    target = _target(tmp_path)
    with serve_in_thread(root, faults="429=0.05") as url:
        monkeypatch.setenv("SOURCES__HUBSPOT__BASE_URL", url)
        run_api_sources(["hubspot"], target, record=False)
        advance(root, 30)
        [second] = run_api_sources(["hubspot"], target, record=False)
    assert second.error is None
    for name, modified in OBJECTS.items():
        after = {o["id"]: o["properties"][modified] for o in _stored(root, name)}
        changed = {i for i, t in after.items() if before[name].get(i) != t}
        loaded = dict(
            _rows(target.duckdb_path, f"select id, epoch_ms(properties__{modified}) from raw_hubspot.{name}")
        )
        assert loaded == {i: _ms(t) for i, t in after.items()}, name
        assert second.objects[name].loaded == len(changed) > 0 or name != "deals", name
    links = _rows(
        target.duckdb_path, "select deal_id, company_id from raw_hubspot.deals_companies order by 1, 2"
    )
    assert links == _pairs(root)
    items = _rows(
        target.duckdb_path, "select deal_id, line_item_id from raw_hubspot.deals_line_items order by 1, 2"
    )
    assert items == _pairs(root, "line items")
    # deals that moved on gained stage dates (an exit from the old stage, an entry into the new one)
    assert _loaded_stage_dates(target.duckdb_path) == _stage_dates(root)


def test_search_cap_falls_back_to_the_list(sandbox_dir: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("ingestion.hubspot.settings.SEARCH_CAP", 3)
    root = tmp_path / "sbx"
    shutil.copytree(sandbox_dir, root)
    target = _target(tmp_path)
    with serve_in_thread(root) as url:
        monkeypatch.setenv("SOURCES__HUBSPOT__BASE_URL", url)
        run_api_sources(["hubspot"], target, record=False)
        advance(root, 30)
        [second] = run_api_sources(["hubspot"], target, record=False)
    assert second.error is None
    # the list re-reads everything; only the changed deals are new to the warehouse
    assert second.objects["deals"].seen == len(_stored(root, "deals"))
    loaded = dict(_rows(target.duckdb_path, "select id, properties__dealstage from raw_hubspot.deals"))
    assert loaded == {d["id"]: d["properties"]["dealstage"] for d in _stored(root, "deals")}


def test_bad_records_are_quarantined_not_dropped(sandbox_dir: Path, tmp_path: Path, monkeypatch) -> None:
    broken = tmp_path / "sandbox"
    shutil.copytree(sandbox_dir, broken)
    path = broken / "state/hubspot/companies.jsonl"
    lines = path.read_text().splitlines()
    bad = json.loads(lines[0])
    bad["properties"]["hs_lastmodifieddate"] = "yesterday"
    path.write_text("\n".join([json.dumps(bad), *lines[1:]]) + "\n")
    target = _target(tmp_path)
    with serve_in_thread(broken) as url:
        monkeypatch.setenv("SOURCES__HUBSPOT__BASE_URL", url)
        [report] = run_api_sources(["hubspot"], target, record=False)
    assert report.error is None and report.objects["companies"].quarantined == 1
    rows = _rows(target.duckdb_path, "select object, record_ref, reason from raw_hubspot.quarantine")
    assert rows == [
        ("companies", bad["id"], "field properties.hs_lastmodifieddate: missing or not a date-time")
    ]


def test_wrong_token_fails_with_hubspot_category(sandbox_dir: Path, tmp_path: Path, monkeypatch) -> None:
    with serve_in_thread(sandbox_dir) as url:
        monkeypatch.setenv("SOURCES__HUBSPOT__BASE_URL", url)
        monkeypatch.setenv("SOURCES__HUBSPOT__API_KEY", "pat-wrong")
        [report] = run_api_sources(["hubspot"], _target(tmp_path), record=False)
    assert report.error is not None and "\n" not in report.error
    assert (
        f"{url}/crm/v3/objects/" in report.error
        and "401" in report.error
        and "INVALID_AUTHENTICATION" in report.error
    )

"""The QuickBooks dlt source against the HTTP sandbox (with faults on), into a temporary DuckDB file."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest

from ingestion.common import Target
from ingestion.quickbooks.settings import ENTITIES, table_name
from ingestion.runner import run_api_sources
from sandbox.advance import advance
from sandbox.credentials import SOURCE_DEFAULTS
from sandbox.generate import generate
from sandbox.server import serve_in_thread

FAULTS = "429=0.04,500=0.03,503=0.02,slow=0.01"


@pytest.fixture(scope="module")
def sandbox_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("qbo_sandbox")
    generate(seed=11, scale=0.05, out=out)
    return out


@pytest.fixture(autouse=True)
def _dlt_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
    for key, value in SOURCE_DEFAULTS["quickbooks"].items():
        monkeypatch.setenv(f"SOURCES__QUICKBOOKS__{key.upper()}", value)


def _target(tmp_path: Path) -> Target:
    return Target("duckdb", tmp_path / "w.duckdb", pipelines_dir=tmp_path / ".dlt")


def _stored(root: Path, entity: str) -> list[dict]:
    return [json.loads(x) for x in (root / "state/quickbooks" / f"{entity}.jsonl").read_text().splitlines()]


def _rows(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def _touch(root: Path) -> None:
    """Make a running server reload the folder (it watches sandbox.json)."""
    meta = root / "sandbox.json"
    stat = meta.stat()
    os.utime(meta, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def test_load_equals_sandbox_and_second_run_adds_nothing(
    sandbox_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = _target(tmp_path)
    with serve_in_thread(sandbox_dir, faults=FAULTS) as url:
        monkeypatch.setenv("SOURCES__QUICKBOOKS__BASE_URL", url)
        [first] = run_api_sources(["quickbooks"], target)
        [second] = run_api_sources(["quickbooks"], target)
    assert first.error is None and second.error is None
    for entity in ENTITIES:
        table = table_name(entity)
        stored = _stored(sandbox_dir, entity)
        loaded = _rows(
            target.duckdb_path, f"select id, sync_token, _is_deleted from raw_quickbooks.{table} order by id"
        )
        assert loaded == sorted((o["Id"], o["SyncToken"], False) for o in stored), entity
        counts = first.objects[table]
        assert counts.loaded == len(stored) and counts.seen == counts.loaded + counts.duplicates
        assert second.objects[table].loaded == 0, entity
    amounts = _rows(
        target.duckdb_path, "select doc_number, total_amt from raw_quickbooks.invoice order by id"
    )
    assert amounts == [
        (o["DocNumber"], o["TotalAmt"])
        for o in sorted(_stored(sandbox_dir, "Invoice"), key=lambda o: o["Id"])
    ]
    records = pl.read_parquet(sandbox_dir / "truth/records.parquet").filter(pl.col("source") == "quickbooks")
    for (obj,), group in records.group_by(["object"]):
        raw = {i for (i,) in _rows(target.duckdb_path, f"select id from raw_quickbooks.{obj}")}
        assert set(group["record_id"]) == raw, obj
    lines = _rows(target.duckdb_path, "select count(*) from raw_quickbooks.journal_entry__line")[0][0]
    assert lines == sum(len(je["Line"]) for je in _stored(sandbox_dir, "JournalEntry"))


def test_advance_loads_new_and_changed_records_and_flags_deletions(
    sandbox_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "sbx"
    shutil.copytree(sandbox_dir, root)
    before = {e: {o["Id"]: o["MetaData"]["LastUpdatedTime"] for o in _stored(root, e)} for e in ENTITIES}
    target = _target(tmp_path)
    with serve_in_thread(root, faults="429=0.05") as url:
        monkeypatch.setenv("SOURCES__QUICKBOOKS__BASE_URL", url)
        run_api_sources(["quickbooks"], target, record=False)
        advance(root, 20)
        [second] = run_api_sources(["quickbooks"], target, record=False)
        assert second.error is None
        for entity in ENTITIES:
            after = {o["Id"]: o["MetaData"]["LastUpdatedTime"] for o in _stored(root, entity)}
            changed = {i for i, t in after.items() if before[entity].get(i) != t}
            table = table_name(entity)
            loaded = {i for (i,) in _rows(target.duckdb_path, f"select id from raw_quickbooks.{table}")}
            assert loaded == set(after) | set(before[entity]), entity
            assert second.objects[table].loaded == len(changed), entity
        # a bill deleted in QuickBooks: CDC reports it, the raw row stays, flagged
        bills = _stored(root, "Bill")
        gone = bills.pop(0)
        (root / "state/quickbooks/Bill.jsonl").write_text("".join(json.dumps(b) + "\n" for b in bills))
        as_of = json.loads((root / "sandbox.json").read_text())["as_of"]
        deleted = {
            "entity": "Bill",
            "object": {
                "domain": "QBO",
                "status": "Deleted",
                "Id": gone["Id"],
                "MetaData": {"LastUpdatedTime": f"{as_of}T23:59:00-00:00"},
            },
        }
        with (root / "state/quickbooks/deleted.jsonl").open("a") as fh:
            fh.write(json.dumps(deleted) + "\n")
        _touch(root)
        [third] = run_api_sources(["quickbooks"], target, record=False)
    assert third.error is None and third.objects["bill"].loaded == 1
    flagged = _rows(target.duckdb_path, "select id from raw_quickbooks.bill where _is_deleted")
    assert flagged == [(gone["Id"],)]
    total = _rows(target.duckdb_path, "select count(*) from raw_quickbooks.bill")[0][0]
    assert total == len(bills) + 1


def test_bad_records_are_quarantined_not_dropped(sandbox_dir: Path, tmp_path: Path, monkeypatch) -> None:
    broken = tmp_path / "sandbox"
    shutil.copytree(sandbox_dir, broken)
    path = broken / "state/quickbooks/Invoice.jsonl"
    lines = path.read_text().splitlines()
    no_id, bad_amount = json.loads(lines[0]), json.loads(lines[1])
    del no_id["Id"]
    bad_amount["TotalAmt"] = "12.00"
    path.write_text("\n".join([json.dumps(no_id), json.dumps(bad_amount), *lines[2:]]) + "\n")
    target = _target(tmp_path)
    with serve_in_thread(broken) as url:
        monkeypatch.setenv("SOURCES__QUICKBOOKS__BASE_URL", url)
        [report] = run_api_sources(["quickbooks"], target, record=False)
    assert report.error is None and report.objects["invoice"].quarantined == 2
    quarantined = _rows(
        target.duckdb_path, "select object, record_ref, reason from raw_quickbooks.quarantine order by 2"
    )
    assert quarantined == sorted(
        [
            ("invoice", "?", "missing key field Id"),
            ("invoice", bad_amount["Id"], "field TotalAmt: expected a number, got str"),
        ],
        key=lambda r: r[1],
    )
    assert _rows(target.duckdb_path, "select count(*) from raw_quickbooks.invoice")[0][0] == len(lines) - 2


def test_wrong_token_fails_with_one_line_naming_the_url(
    sandbox_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    with serve_in_thread(sandbox_dir) as url:
        monkeypatch.setenv("SOURCES__QUICKBOOKS__BASE_URL", url)
        monkeypatch.setenv("SOURCES__QUICKBOOKS__API_KEY", "wrong")
        [report] = run_api_sources(["quickbooks"], _target(tmp_path), record=False)
    assert report.error is not None and "\n" not in report.error
    assert (
        f"{url}/v3/company/" in report.error
        and "401" in report.error
        and "AuthenticationFailed" in report.error
    )


def test_reports_resource_is_optional(sandbox_dir: Path, tmp_path: Path, monkeypatch) -> None:
    target = _target(tmp_path)
    with serve_in_thread(sandbox_dir) as url:
        monkeypatch.setenv("SOURCES__QUICKBOOKS__BASE_URL", url)
        monkeypatch.setenv("SOURCES__QUICKBOOKS__WITH_REPORTS", "true")
        [report] = run_api_sources(["quickbooks"], target, record=False)
    assert report.error is None
    names = _rows(target.duckdb_path, "select report_name from raw_quickbooks.reports order by 1")
    assert names == [("BalanceSheet",), ("ProfitAndLoss",)]


def test_items_load_as_served_and_resolve_every_invoice_line(
    sandbox_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = _target(tmp_path)
    with serve_in_thread(sandbox_dir, faults="429=0.05") as url:
        monkeypatch.setenv("SOURCES__QUICKBOOKS__BASE_URL", url)
        [report] = run_api_sources(["quickbooks"], target, record=False)
    assert report.error is None
    loaded = _rows(
        target.duckdb_path,
        "select id, name, fully_qualified_name, type, active, taxable, unit_price, track_qty_on_hand,"
        " income_account_ref__value, income_account_ref__name, sync_token from raw_quickbooks.item order by id",
    )
    served = _stored(sandbox_dir, "Item")
    assert served
    assert loaded == [
        (
            o["Id"],
            o["Name"],
            o["FullyQualifiedName"],
            o["Type"],
            o["Active"],
            o["Taxable"],
            o["UnitPrice"],
            o["TrackQtyOnHand"],
            o["IncomeAccountRef"]["value"],
            o["IncomeAccountRef"]["name"],
            o["SyncToken"],
        )
        for o in sorted(served, key=lambda o: o["Id"])
    ]
    # in the warehouse: each invoice line -> its item -> an Income account
    unresolved = _rows(
        target.duckdb_path,
        """
        select l._dlt_id, a.account_type
        from raw_quickbooks.invoice__line l
        left join raw_quickbooks.item i on i.id = l.sales_item_line_detail__item_ref__value
        left join raw_quickbooks.account a on a.id = i.income_account_ref__value
        where l.detail_type = 'SalesItemLineDetail' and a.account_type is distinct from 'Income'
        """,
    )
    assert unresolved == []
    sales_lines = _rows(
        target.duckdb_path,
        "select count(*) from raw_quickbooks.invoice__line where detail_type = 'SalesItemLineDetail'",
    )[0][0]
    assert sales_lines == len(_stored(sandbox_dir, "Invoice")) > 0

"""The QuickBooks dlt source against the HTTP sandbox (with faults on), into a temporary DuckDB file."""

from __future__ import annotations

import json
import os
import shutil
from datetime import date, datetime
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


# Seed 36 at scale 0.05 deletes two hand-keyed twin bills in the 8 days after 2025-04-01 (before
# go-live): one keyed before that day (loaded by the first run, deleted before the second) and one
# keyed and deleted between the two runs (never loaded). The test checks both exist, so a change to the
# simulation that moves them fails loudly instead of testing nothing.
DELETING_SEED, DELETING_SCALE = 36, 0.05
FIRST_AS_OF, ADVANCE_DAYS = date(2025, 4, 1), 8
KEPT = "id, txn_date, total_amt, private_note, vendor_ref__value, sync_token, meta_data__create_time"


@pytest.fixture(scope="module")
def deleting_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("qbo_deleting")
    generate(seed=DELETING_SEED, scale=DELETING_SCALE, out=out, as_of=FIRST_AS_OF)
    return out


def _deleted_bills(root: Path) -> dict[str, str]:
    """Id -> CDC LastUpdatedTime of the bills the sandbox reports deleted."""
    lines = (root / "state/quickbooks/deleted.jsonl").read_text().splitlines()
    objs = [json.loads(x) for x in lines]
    return {
        o["object"]["Id"]: o["object"]["MetaData"]["LastUpdatedTime"] for o in objs if o["entity"] == "Bill"
    }


def _query(target: Target, sql: str) -> list[tuple]:
    if target.kind == "duckdb":
        return _rows(target.duckdb_path, sql)
    import psycopg2

    con = psycopg2.connect(target.pg_dsn)
    try:
        with con.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()
    finally:
        con.close()


def _bill_lines(target: Target, ids: set[str]) -> dict[str, list[tuple]]:
    rows = _query(
        target,
        "select b.id, l.amount, l.description, l.account_based_expense_line_detail__account_ref__value"
        " from raw_quickbooks.bill__line l join raw_quickbooks.bill b on l._dlt_parent_id = b._dlt_id"
        " order by b.id, l._dlt_list_idx",
    )
    out: dict[str, list[tuple]] = {}
    for bill_id, *line in rows:
        if bill_id in ids:
            out.setdefault(bill_id, []).append(tuple(line))
    return out


def _assert_counts_add_up(report) -> None:
    assert report.error is None
    for obj, c in report.objects.items():
        assert c.seen == c.loaded + c.quarantined + c.duplicates, (obj, c)


@pytest.mark.parametrize("kind", ["duckdb", "postgres"])
def test_deleted_bills_keep_their_last_known_version(
    kind: str,
    deleting_sandbox: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    root = tmp_path / "sbx"
    shutil.copytree(deleting_sandbox, root)
    if kind == "duckdb":
        target = _target(tmp_path)
    else:
        target = Target("postgres", pg_dsn=request.getfixturevalue("pg_dsn"), pipelines_dir=tmp_path / ".dlt")
    served_first = {o["Id"]: o for o in _stored(root, "Bill")}
    with serve_in_thread(root, faults="429=0.05") as url:
        monkeypatch.setenv("SOURCES__QUICKBOOKS__BASE_URL", url)
        [first] = run_api_sources(["quickbooks"], target, record=False)
        _assert_counts_add_up(first)
        advance(root, ADVANCE_DAYS)
        as_of = json.loads((root / "sandbox.json").read_text())["as_of"]
        deleted = {i: t for i, t in _deleted_bills(root).items() if t[:10] > FIRST_AS_OF.isoformat()}
        was_loaded = {i for i in deleted if i in served_first}
        never_loaded = set(deleted) - was_loaded
        assert was_loaded and never_loaded, deleted
        before = {r[0]: r for r in _query(target, f"select {KEPT} from raw_quickbooks.bill")}
        lines_before = _bill_lines(target, was_loaded)
        assert set(lines_before) == was_loaded
        # a bill new since the first run, read by the query and then deleted while the run goes on:
        # the query and CDC both report it in the same run, and the deletion must win
        raced = min((o for o in _stored(root, "Bill") if o["Id"] not in served_first), key=lambda o: o["Id"])
        raced_at = f"{as_of}T23:59:59-00:00"
        cdc_entry = {
            "domain": "QBO",
            "status": "Deleted",
            "Id": raced["Id"],
            "MetaData": {"LastUpdatedTime": raced_at},
        }
        with (root / "state/quickbooks/deleted.jsonl").open("a") as fh:
            fh.write(json.dumps({"entity": "Bill", "object": cdc_entry}) + "\n")
        _touch(root)
        [second] = run_api_sources(["quickbooks"], target, record=False)
        # both versions of the raced bill were in one load package: the deletion won the merge
        raced_row = _query(target, f"select _is_deleted from raw_quickbooks.bill where id = '{raced['Id']}'")
        assert raced_row == [(True,)]
        [third] = run_api_sources(["quickbooks"], target, record=False)
    _assert_counts_add_up(second)
    _assert_counts_add_up(third)
    assert second.objects["bill"].loaded >= len(deleted) + 1
    assert all(c.loaded == 0 for c in third.objects.values()), third.objects
    # the CDC window of the third run still holds the raced deletion: already loaded, a duplicate
    assert third.objects["bill"].duplicates >= 1 and third.objects["bill"].seen >= 1

    rows = {
        r[0]: r for r in _query(target, f"select {KEPT}, _is_deleted, _deleted_at from raw_quickbooks.bill")
    }
    for bill_id in was_loaded:
        *kept, is_deleted, deleted_at = rows[bill_id]
        served = served_first[bill_id]
        assert tuple(kept) == before[bill_id]
        assert kept[1:4] == [served["TxnDate"], served["TotalAmt"], served["PrivateNote"]]
        assert is_deleted is True and deleted_at == datetime.fromisoformat(deleted[bill_id])
    assert _bill_lines(target, was_loaded) == lines_before
    for bill_id in never_loaded:
        _, txn_date, total_amt, note, *_, is_deleted, deleted_at = rows[bill_id]
        assert (txn_date, total_amt, note, is_deleted) == (None, None, None, True)
        assert deleted_at == datetime.fromisoformat(deleted[bill_id])
    _, txn_date, total_amt, note, *_, is_deleted, deleted_at = rows[raced["Id"]]
    assert (txn_date, total_amt, note) == (raced["TxnDate"], raced["TotalAmt"], raced["PrivateNote"])
    assert is_deleted is True and deleted_at == datetime.fromisoformat(raced_at)
    assert _bill_lines(target, {raced["Id"]}) == {
        raced["Id"]: [
            (
                line["Amount"],
                line["Description"],
                line["AccountBasedExpenseLineDetail"]["AccountRef"]["value"],
            )
            for line in raced["Line"]
        ]
    }
    # re-emitted rows round-trip through the destination's types: no variant columns appear
    variants = _query(
        target,
        "select table_name, column_name from information_schema.columns"
        " where table_schema = 'raw_quickbooks' and column_name like '%\\_\\_v\\_%' escape '\\'",
    )
    assert variants == []
    flagged = {i for i, r in rows.items() if r[-2]}
    assert flagged == set(deleted) | {raced["Id"]}
    assert len(rows) == len({o["Id"] for o in _stored(root, "Bill")} | set(deleted))


def _tree(db: Path, table: str, record_id: str) -> dict[str, list[dict]]:
    """The rows of one record in `table` and its nested tables, without dlt's own columns."""
    with duckdb.connect(str(db), read_only=True) as con:
        names = [
            n
            for (n,) in con.execute(
                "select table_name from information_schema.tables where table_schema = 'raw_quickbooks'"
                " and (table_name = ? or table_name like ?) order by table_name",
                [table, f"{table}%"],
            ).fetchall()
            if n == table or n.startswith(table + "__")
        ]
        out: dict[str, list[dict]] = {}
        ids: dict[str, list[str]] = {}
        for name in names:  # parents sort before their children
            if name == table:
                sql, args = f"select * from raw_quickbooks.{name} where id = ?", [record_id]
            else:
                parent_ids = ids.get(name.rsplit("__", 1)[0], [])
                if not parent_ids:
                    continue
                marks = ",".join("?" * len(parent_ids))
                sql = f"select * from raw_quickbooks.{name} where _dlt_parent_id in ({marks})"
                sql, args = sql + " order by _dlt_parent_id, _dlt_list_idx", parent_ids
            cur = con.execute(sql, args)
            cols = [d[0] for d in cur.description]
            rows = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
            ids[name] = [r["_dlt_id"] for r in rows]
            out[name] = [{k: v for k, v in r.items() if not k.startswith("_dlt_")} for r in rows]
    return out


def test_deleted_payment_keeps_its_nested_lines_and_linked_transactions(
    sandbox_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "sbx"
    shutil.copytree(sandbox_dir, root)
    target = _target(tmp_path)
    with serve_in_thread(root) as url:
        monkeypatch.setenv("SOURCES__QUICKBOOKS__BASE_URL", url)
        run_api_sources(["quickbooks"], target, record=False)
        payments = _stored(root, "Payment")
        gone = next(p for p in payments if p["Line"] and p["Line"][0].get("LinkedTxn"))
        before = _tree(target.duckdb_path, "payment", gone["Id"])
        assert before["payment__line__linked_txn"], before
        kept = [p for p in payments if p["Id"] != gone["Id"]]
        (root / "state/quickbooks/Payment.jsonl").write_text("".join(json.dumps(p) + "\n" for p in kept))
        as_of = json.loads((root / "sandbox.json").read_text())["as_of"]
        deleted_at = f"{as_of}T23:59:30-00:00"
        cdc_entry = {
            "domain": "QBO",
            "status": "Deleted",
            "Id": gone["Id"],
            "MetaData": {"LastUpdatedTime": deleted_at},
        }
        with (root / "state/quickbooks/deleted.jsonl").open("a") as fh:
            fh.write(json.dumps({"entity": "Payment", "object": cdc_entry}) + "\n")
        _touch(root)
        [second] = run_api_sources(["quickbooks"], target, record=False)
        [third] = run_api_sources(["quickbooks"], target, record=False)
    _assert_counts_add_up(second)
    _assert_counts_add_up(third)
    assert second.objects["payment"].loaded == 1
    assert third.objects["payment"].loaded == 0 and third.objects["payment"].duplicates >= 1
    after = _tree(target.duckdb_path, "payment", gone["Id"])
    flags = {k: after["payment"][0].pop(k) for k in ("_is_deleted", "_deleted_at")}
    assert flags == {"_is_deleted": True, "_deleted_at": datetime.fromisoformat(deleted_at)}
    for name in before:
        before[name] = [
            {k: v for k, v in r.items() if k not in ("_is_deleted", "_deleted_at")} for r in before[name]
        ]
    assert after == before

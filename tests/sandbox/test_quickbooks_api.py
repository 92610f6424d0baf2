"""The QuickBooks Online v3 endpoints of the sandbox: query paging and filters, CDC, reports, auth, shapes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from starlette.testclient import TestClient

from sandbox.credentials import QUICKBOOKS_API_KEY, QUICKBOOKS_REALM_ID
from sandbox.server import create_app
from tests.sandbox.test_shape import shape_diff

AUTH = {"Authorization": f"Bearer {QUICKBOOKS_API_KEY}"}
BASE = f"/v3/company/{QUICKBOOKS_REALM_ID}"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "real" / "accounting_qbo_api"
# optional QBO fields the fixtures happen to fill: QBO omits them when empty
OPTIONAL = {
    "Bill": {
        "Line[].AccountBasedExpenseLineDetail.CustomerRef",
        "Line[].AccountBasedExpenseLineDetail.BillableStatus",
    },
    "Invoice": set(),
    "Vendor": set(),
    "Account": set(),
    "Customer": set(),
    "JournalEntry": set(),
}


@pytest.fixture(scope="module")
def client(small_sandbox: Path) -> TestClient:
    return TestClient(create_app(small_sandbox))


def _stored(root: Path, entity: str) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (root / "state/quickbooks" / f"{entity}.jsonl").read_text().splitlines()]


def _query(client: TestClient, q: str, **params: str) -> Any:
    resp = client.get(f"{BASE}/query", params={"query": q, "minorversion": "75", **params}, headers=AUTH)
    assert resp.status_code == 200, resp.text
    return resp.json()


def _strip_optional(real: Any, optional: set[str], path: str = "") -> Any:
    if isinstance(real, dict):
        return {
            k: _strip_optional(v, optional, f"{path}.{k}" if path else k)
            for k, v in real.items()
            if (f"{path}.{k}" if path else k) not in optional
        }
    if isinstance(real, list) and real:
        return [_strip_optional(real[0], optional, f"{path}[]")]
    return real


@pytest.mark.parametrize(
    ("fixture", "entity"),
    [
        ("qbo_invoice_create_response", "Invoice"),
        ("qbo_bill", "Bill"),
        ("qbo_vendor", "Vendor"),
        ("qbo_account", "Account"),
        ("qbo_customer_get", "Customer"),
        ("qbo_journal-entry", "JournalEntry"),
    ],
)
def test_entities_match_real_fixture(small_sandbox: Path, fixture: str, entity: str) -> None:
    body = json.loads((FIXTURES / f"{fixture}.json").read_text())
    real = next(v for k, v in body.items() if k.lower() == entity.lower())
    real = _strip_optional(real, OPTIONAL[entity])
    ours = _stored(small_sandbox, entity)
    assert ours
    for obj in ours[:5] + ours[-5:]:
        assert shape_diff(real, obj, set()) == [], obj["Id"]


def test_query_envelope_matches_fixture(client: TestClient) -> None:
    real = json.loads((FIXTURES / "qbo_query_SalesReceipt.json").read_text())
    ours = _query(client, "select * from Invoice STARTPOSITION 1 MAXRESULTS 3")
    assert set(ours) == set(real) and set(ours["QueryResponse"]) == {"Invoice", "startPosition", "maxResults"}
    assert ours["QueryResponse"]["maxResults"] == 3 and isinstance(ours["time"], str)


def test_report_shape_matches_fixture(client: TestClient) -> None:
    real = json.loads((FIXTURES / "qbo_report_ProfitAndLoss.json").read_text())
    ours = client.get(
        f"{BASE}/reports/ProfitAndLoss",
        params={"start_date": "2025-01-01", "end_date": "2025-12-31"},
        headers=AUTH,
    ).json()
    real["Header"].pop("Customer")  # that fixture is filtered to one customer
    assert shape_diff(real, ours, set()) == []
    assert [r["group"] for r in ours["Rows"]["Row"]] == [r["group"] for r in real["Rows"]["Row"]]


def test_startposition_paging_returns_every_entity_once_by_id(
    client: TestClient, small_sandbox: Path
) -> None:
    stored = _stored(small_sandbox, "Deposit")
    got, start = [], 1
    while True:
        page = _query(client, f"select * from Deposit STARTPOSITION {start} MAXRESULTS 50")["QueryResponse"]
        got += page.get("Deposit", [])
        if len(page.get("Deposit", [])) < 50:
            break
        start += 50
    assert [o["Id"] for o in got] == sorted((o["Id"] for o in stored), key=int) and len(stored) > 50


def test_last_updated_filter(client: TestClient, small_sandbox: Path) -> None:
    since = "2025-11-01T00:00:00-00:00"
    got = _query(client, f"select * from Invoice where MetaData.LastUpdatedTime >= '{since}' MAXRESULTS 1000")
    got_ids = {o["Id"] for o in got["QueryResponse"].get("Invoice", [])}
    want = {o["Id"] for o in _stored(small_sandbox, "Invoice") if o["MetaData"]["LastUpdatedTime"] >= since}
    assert got_ids == want and 0 < len(want) < len(_stored(small_sandbox, "Invoice"))


def test_bad_query_and_auth_errors_use_qbo_fault(client: TestClient) -> None:
    bad = client.get(f"{BASE}/query", params={"query": "select Id from"}, headers=AUTH)
    assert bad.status_code == 400 and bad.json()["Fault"]["type"] == "ValidationFault"
    denied = client.get(
        f"{BASE}/query", params={"query": "select * from Invoice"}, headers={"Authorization": "Bearer x"}
    )
    assert denied.status_code == 401
    err = denied.json()["Fault"]["Error"][0]
    assert denied.json()["Fault"]["type"] == "AUTHENTICATION" and err["code"] == "3200"
    other = client.get("/v3/company/123/query", params={"query": "select * from Invoice"}, headers=AUTH)
    assert other.status_code == 403


def test_cdc_reports_changes_and_deletions(small_sandbox: Path, tmp_path: Path) -> None:
    root = tmp_path / "sbx"
    shutil.copytree(small_sandbox, root)
    meta = json.loads((root / "sandbox.json").read_text())
    bills = _stored(root, "Bill")
    gone = bills.pop()
    (root / "state/quickbooks/Bill.jsonl").write_text("".join(json.dumps(b) + "\n" for b in bills))
    stamp = f"{meta['as_of']}T12:00:00-00:00"
    deleted = {
        "entity": "Bill",
        "object": {
            "domain": "QBO",
            "status": "Deleted",
            "Id": gone["Id"],
            "MetaData": {"LastUpdatedTime": stamp},
        },
    }
    with (root / "state/quickbooks/deleted.jsonl").open("a") as fh:
        fh.write(json.dumps(deleted) + "\n")
    client = TestClient(create_app(root))
    since = f"{meta['as_of']}T00:00:00-00:00"
    body = client.get(
        f"{BASE}/cdc", params={"entities": "Bill,Invoice", "changedSince": since}, headers=AUTH
    ).json()
    [block] = body["CDCResponse"]
    by_name = {
        next(k for k in r if k not in ("startPosition", "maxResults", "totalCount")): r
        for r in block["QueryResponse"]
    }
    assert {"Id": gone["Id"], "status": "Deleted"}.items() <= by_name["Bill"]["Bill"][-1].items()
    changed = {o["Id"] for o in by_name["Invoice"]["Invoice"]}
    assert changed == {o["Id"] for o in _stored(root, "Invoice") if o["MetaData"]["LastUpdatedTime"] >= since}
    too_old = client.get(
        f"{BASE}/cdc", params={"entities": "Bill", "changedSince": "2025-01-01T00:00:00Z"}, headers=AUTH
    )
    assert too_old.status_code == 400


def test_reports_sum_the_ledger(client: TestClient, small_sandbox: Path) -> None:
    pnl = pl.read_parquet(small_sandbox / "truth/pl_monthly.parquet").filter(
        pl.col("month") >= pl.date(2025, 4, 1)
    )
    body = client.get(
        f"{BASE}/reports/ProfitAndLoss",
        params={"start_date": "2025-04-01", "end_date": "2025-12-31", "accounting_method": "Accrual"},
        headers=AUTH,
    ).json()
    rows = {r["group"]: r for r in body["Rows"]["Row"]}
    income = float(rows["Income"]["Summary"]["ColData"][1]["value"])
    net = float(rows["NetIncome"]["Summary"]["ColData"][1]["value"])
    revenue = pnl.filter(pl.col("classification") == "Revenue")["amount"].sum()
    expense = pnl.filter(pl.col("classification") == "Expense")["amount"].sum()
    assert income == pytest.approx(revenue, abs=0.05) and net == pytest.approx(revenue - expense, abs=0.05)
    bs = client.get(f"{BASE}/reports/BalanceSheet", params={"end_date": "2025-12-31"}, headers=AUTH).json()
    totals = {r["group"]: float(r["Summary"]["ColData"][1]["value"]) for r in bs["Rows"]["Row"]}
    assert totals["TotalAssets"] == pytest.approx(totals["Liabilities"] + totals["Equity"], abs=0.05)


def test_references_point_at_served_entities(small_sandbox: Path) -> None:
    customers = {c["Id"] for c in _stored(small_sandbox, "Customer")}
    vendors = {v["Id"] for v in _stored(small_sandbox, "Vendor")}
    accounts = {a["Id"] for a in _stored(small_sandbox, "Account")}
    bills = {b["Id"] for b in _stored(small_sandbox, "Bill")}
    assert all(i["CustomerRef"]["value"] in customers for i in _stored(small_sandbox, "Invoice"))
    assert all(b["VendorRef"]["value"] in vendors for b in _stored(small_sandbox, "Bill"))
    for bp in _stored(small_sandbox, "BillPayment"):
        assert bp["VendorRef"]["value"] in vendors
        assert {t["TxnId"] for t in bp["Line"][0]["LinkedTxn"]} <= bills
    for je in _stored(small_sandbox, "JournalEntry"):
        assert {ln["JournalEntryLineDetail"]["AccountRef"]["value"] for ln in je["Line"]} <= accounts


def test_paid_invoices_link_their_payments(small_sandbox: Path) -> None:
    payments = {p["Id"]: p for p in _stored(small_sandbox, "Payment")}
    linked = 0
    for inv in _stored(small_sandbox, "Invoice"):
        paid = sum(payments[t["TxnId"]]["TotalAmt"] for t in inv["LinkedTxn"])
        assert round(inv["TotalAmt"] - paid, 2) == inv["Balance"] or inv["PrivateNote"] == "Voided"
        linked += len(inv["LinkedTxn"])
    assert linked == len(payments) > 0


# the QBO Item field behind each column that Fivetran's item seed fills (what dbt_quickbooks reads)
ITEM_SEED_FIELDS = {
    "id": "Id",
    "active": "Active",
    "name": "Name",
    "fully_qualified_name": "FullyQualifiedName",
    "income_account_id": "IncomeAccountRef",
    "purchase_cost": "PurchaseCost",
    "sync_token": "SyncToken",
    "taxable": "Taxable",
    "track_quantity_on_hand": "TrackQtyOnHand",
    "type": "Type",
    "unit_price": "UnitPrice",
    "created_at": "MetaData",
}
ITEM_SEED = FIXTURES.parent / "accounting_quickbooks_seeds" / "quickbooks_item_data.csv"


def test_invoice_lines_reference_served_items_with_an_income_account(
    client: TestClient, small_sandbox: Path
) -> None:
    items = {i["Id"]: i for i in _query(client, "select * from Item")["QueryResponse"]["Item"]}
    accounts = {
        a["Id"]: a
        for a in _query(client, "select * from Account MAXRESULTS 1000")["QueryResponse"]["Account"]
    }
    invoices = _stored(small_sandbox, "Invoice")
    item_of = {}  # invoice Id -> the item its sales line sells
    for inv in invoices:
        for ln in inv["Line"]:
            if ln["DetailType"] == "SalesItemLineDetail":
                ref = ln["SalesItemLineDetail"]["ItemRef"]
                item = items[ref["value"]]
                assert item["Name"] == ref["name"] and item["Active"] and item["Type"] == "Service"
                income = accounts[item["IncomeAccountRef"]["value"]]
                assert (
                    income["AccountType"] == "Income" and income["Name"] == item["IncomeAccountRef"]["name"]
                )
                item_of[f"Invoice:{inv['Id']}"] = item
    assert len(item_of) == len(invoices) > 0 and {i["Id"] for i in item_of.values()} == set(items)
    # the ledger posted each invoice's revenue to the income account of the item its line sells
    revenue = pl.read_parquet(small_sandbox / "truth/gl_lines.parquet").filter(
        pl.col("entry_id").str.starts_with("Invoice:") & (pl.col("credit") > 0)
    )
    assert revenue.height > 0
    for entry, account in revenue.select("entry_id", "account_id").iter_rows():
        assert item_of[entry]["IncomeAccountRef"]["value"] == account, entry
    # every field behind a column of Fivetran's item seed is on the wire
    assert set(ITEM_SEED_FIELDS) <= set(pl.read_csv(ITEM_SEED, infer_schema=False).columns)
    assert all(set(ITEM_SEED_FIELDS.values()) <= set(i) for i in items.values())
    records = pl.read_parquet(small_sandbox / "truth/records.parquet").filter(
        (pl.col("source") == "quickbooks") & (pl.col("object") == "item")
    )
    assert sorted(records["record_id"]) == sorted(items)


def test_item_is_a_query_and_cdc_entity(client: TestClient, small_sandbox: Path) -> None:
    assert _query(client, "select * from Item")["QueryResponse"]["Item"] == _stored(small_sandbox, "Item")
    as_of = json.loads((small_sandbox / "sandbox.json").read_text())["as_of"]
    body = client.get(
        f"{BASE}/cdc", params={"entities": "Item", "changedSince": f"{as_of}T00:00:00-00:00"}, headers=AUTH
    )
    assert body.status_code == 200
    [response] = body.json()["CDCResponse"][0]["QueryResponse"]
    assert response["Item"] == [] and response["totalCount"] == 0  # items were set up with the books


def test_item_query_without_an_item_file_is_empty_not_an_error(small_sandbox: Path, tmp_path: Path) -> None:
    root = tmp_path / "sbx"
    shutil.copytree(small_sandbox, root)
    (root / "state/quickbooks/Item.jsonl").unlink()  # a sandbox generated before items were served
    body = _query(TestClient(create_app(root)), "select * from Item")
    assert body["QueryResponse"] == {}

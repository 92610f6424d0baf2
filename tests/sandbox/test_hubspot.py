"""The simulated CRM and its HubSpot CRM v3 endpoints: pipeline, deals -> invoices, paging, search, PATCH."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from starlette.testclient import TestClient

from sandbox.advance import advance
from sandbox.company.crm import OPEN_STAGES, STAGE_PROBABILITY
from sandbox.credentials import HUBSPOT_API_KEY
from sandbox.server import create_app
from tests.sandbox.test_shape import shape_diff

AUTH = {"Authorization": f"Bearer {HUBSPOT_API_KEY}"}
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "real" / "crm_hubspot_api"


@pytest.fixture
def client(small_sandbox: Path) -> TestClient:
    return TestClient(create_app(small_sandbox))


def _stored(root: Path, name: str) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (root / "state/hubspot" / f"{name}.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("name", ["deals", "companies", "contacts"])
def test_objects_match_real_fixture(client: TestClient, name: str) -> None:
    real = json.loads((FIXTURES / f"hubspot_{name}_data.json").read_text())
    ours = client.get(f"/crm/v3/objects/{name}", params={"limit": 5}, headers=AUTH).json()
    assert ours["results"]
    assert shape_diff(real["results"][0], ours["results"][0], set()) == []
    for obj in ours["results"]:
        assert all(v is None or isinstance(v, str) for v in obj["properties"].values())


def test_list_paging_with_after_returns_everything_once(client: TestClient, small_sandbox: Path) -> None:
    ids, after = [], None
    while True:
        params = {"limit": 7, **({"after": after} if after else {})}
        body = client.get("/crm/v3/objects/deals", params=params, headers=AUTH).json()
        ids += [d["id"] for d in body["results"]]
        after = body.get("paging", {}).get("next", {}).get("after")
        if not after:
            break
    assert ids == [d["id"] for d in _stored(small_sandbox, "deals")] and len(ids) > 7
    assert client.get("/crm/v3/objects/deals", params={"limit": 101}, headers=AUTH).status_code == 400
    archived = client.get("/crm/v3/objects/deals", params={"archived": "true"}, headers=AUTH).json()
    assert archived["results"] == []


def test_properties_and_associations(client: TestClient, small_sandbox: Path) -> None:
    params = {"limit": 3, "properties": "amount,dealstage", "associations": "companies"}
    body = client.get("/crm/v3/objects/deals", params=params, headers=AUTH).json()
    companies = {c["id"] for c in _stored(small_sandbox, "companies")}
    for deal in body["results"]:
        assert set(deal["properties"]) == {
            "amount",
            "dealstage",
            "createdate",
            "hs_lastmodifieddate",
            "hs_object_id",
        }
        [link] = deal["associations"]["companies"]["results"]
        assert link["type"] == "deal_to_company" and link["id"] in companies


def test_search_on_last_modified(client: TestClient, small_sandbox: Path) -> None:
    since = "2025-10-01T00:00:00.000Z"
    want = sorted(
        (d["properties"]["hs_lastmodifieddate"], d["id"])
        for d in _stored(small_sandbox, "deals")
        if d["properties"]["hs_lastmodifieddate"] >= since
    )
    got, after = [], None
    while True:
        body = {
            "filterGroups": [
                {"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": since}]}
            ],
            "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
            "limit": 4,
            **({"after": after} if after else {}),
        }
        page = client.post("/crm/v3/objects/deals/search", json=body, headers=AUTH).json()
        assert page["total"] == len(want)
        got += [(d["properties"]["hs_lastmodifieddate"], d["id"]) for d in page["results"]]
        after = page.get("paging", {}).get("next", {}).get("after")
        if not after:
            break
    assert [g[0] for g in got] == [w[0] for w in want] and 0 < len(want)
    over = client.post("/crm/v3/objects/deals/search", json={"limit": 200, "after": 9900}, headers=AUTH)
    assert over.status_code == 400 and over.json()["category"] == "VALIDATION_ERROR"
    assert client.post("/crm/v3/objects/deals/search", json={"limit": 201}, headers=AUTH).status_code == 400


def test_patch_updates_properties_and_last_modified(client: TestClient, small_sandbox: Path) -> None:
    deal = _stored(small_sandbox, "deals")[0]
    resp = client.patch(
        f"/crm/v3/objects/deals/{deal['id']}", json={"properties": {"amount": "1234.5"}}, headers=AUTH
    )
    assert resp.status_code == 200 and resp.json()["properties"]["amount"] == "1234.5"
    listed = client.get("/crm/v3/objects/deals", params={"limit": 1}, headers=AUTH).json()["results"][0]
    assert listed["properties"]["amount"] == "1234.5"
    assert listed["properties"]["hs_lastmodifieddate"] > deal["properties"]["hs_lastmodifieddate"]
    # stamped with the sandbox's clock (its HTTP Date), not this machine's: changes never run backwards
    stamped = parsedate_to_datetime(resp.headers["date"]).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert listed["properties"]["hs_lastmodifieddate"] == listed["updatedAt"] == stamped
    assert client.patch("/crm/v3/objects/deals/1", json={"properties": {}}, headers=AUTH).status_code == 404


def test_wrong_token_gets_hubspot_error_body(client: TestClient) -> None:
    resp = client.get("/crm/v3/objects/deals", headers={"Authorization": "Bearer nope"})
    assert resp.status_code == 401
    assert set(resp.json()) == {"status", "message", "correlationId", "category"}
    assert resp.json()["category"] == "INVALID_AUTHENTICATION"


def test_won_deals_become_the_invoices(small_sandbox: Path) -> None:
    deals = pl.read_parquet(small_sandbox / "truth/crm_deals.parquet")
    matches = pl.read_parquet(small_sandbox / "truth/deal_invoice_matches.parquet")
    receivables = pl.read_parquet(small_sandbox / "truth/receivables.parquet")
    defects = pl.read_parquet(small_sandbox / "truth/defects.parquet")
    won = deals.filter(pl.col("dealstage") == "closedwon")
    assert set(matches["deal_id"]) <= set(won["deal_id"])
    m = matches.join(receivables.select("invoice_number", "amount"), on="invoice_number")
    assert (m["invoice_amount"] == m["amount"]).all()
    differs = set(defects.filter(pl.col("defect_type") == "invoice_amount_differs_from_deal")["record_ids"])
    for deal_id, number, deal_amount, amount in m.select(
        "deal_id", "invoice_number", "deal_amount", "amount"
    ).iter_rows():
        assert (deal_amount != amount) == (f"{deal_id},{number}" in differs)
    not_invoiced = set(defects.filter(pl.col("defect_type") == "won_deal_not_invoiced")["record_ids"])
    assert not_invoiced and not_invoiced <= set(won.filter(pl.col("invoice_number").is_null())["deal_id"])


def test_open_pipeline_at_as_of(small_sandbox: Path) -> None:
    deals = _stored(small_sandbox, "deals")
    open_deals = [d for d in deals if d["properties"]["dealstage"] in OPEN_STAGES]
    assert open_deals and all(d["properties"]["closedate"] > "2025-12-31" for d in open_deals)
    for d in deals:
        assert (
            float(d["properties"]["hs_deal_stage_probability"])
            == STAGE_PROBABILITY[d["properties"]["dealstage"]]
        )
    history = pl.read_parquet(small_sandbox / "truth/deal_stage_history.parquet")
    won = history.filter(pl.col("stage") == "closedwon")["deal_id"]
    per_deal = history.filter(pl.col("deal_id").is_in(won.implode())).group_by("deal_id").len()
    assert (per_deal["len"] == len(OPEN_STAGES) + 1).all()


def _list_all(client: TestClient, name: str, **params: Any) -> list[dict[str, Any]]:
    out, after = [], None
    while True:
        query = {"limit": 7, **params, **({"after": after} if after else {})}
        body = client.get(f"/crm/v3/objects/{name}", params=query, headers=AUTH).json()
        out += body["results"]
        after = body.get("paging", {}).get("next", {}).get("after")
        if not after:
            return out


def test_line_items_list_pages_in_products_shape(client: TestClient, small_sandbox: Path) -> None:
    """No real line item fixture exists; a line item is an instance of a product, with the same CRM v3
    envelope and `name`/`price` properties, so the real products response is the shape to match."""
    items = _list_all(client, "line_items")
    assert [i["id"] for i in items] == [i["id"] for i in _stored(small_sandbox, "line_items")]
    real = json.loads((FIXTURES / "hubspot_products_data.json").read_text())["results"][0]
    real["properties"].pop("description")  # a product's text; the sandbox's line items have none
    for item in items[:20]:
        assert shape_diff(real, item, set()) == [], item["id"]
        assert all(isinstance(v, str) for v in item["properties"].values())
        assert item["properties"]["hs_object_id"] == item["id"]
    some = client.get(
        "/crm/v3/objects/line_items", params={"limit": 2, "properties": "amount"}, headers=AUTH
    ).json()["results"]
    assert {frozenset(i["properties"]) for i in some} == {
        frozenset({"amount", "createdate", "hs_lastmodifieddate", "hs_object_id"})
    }


def test_deal_line_items_sum_to_the_deal_amount(client: TestClient, small_sandbox: Path) -> None:
    items = {i["id"]: i for i in _list_all(client, "line_items", associations="deals")}
    deals = _list_all(client, "deals", associations="line_items", properties="amount,deal_currency_code")
    seen: list[str] = []
    for deal in deals:
        # HubSpot's v3 answer files `associations=line_items` under "line items" (with a space)
        links = deal["associations"]["line items"]["results"]
        assert 1 <= len(links) <= 4 and {x["type"] for x in links} == {"deal_to_line_item"}
        lines = [items[x["id"]]["properties"] for x in links]
        amounts = [Decimal(p["amount"]) for p in lines]
        assert sum(amounts) == Decimal(deal["properties"]["amount"]), deal["id"]
        assert all(a > 0 for a in amounts)
        assert all(Decimal(p["price"]) * int(p["quantity"]) == Decimal(p["amount"]) for p in lines)
        assert {p["hs_line_item_currency_code"] for p in lines} == {deal["properties"]["deal_currency_code"]}
        for x in links:
            [back] = items[x["id"]]["associations"]["deals"]["results"]
            assert back == {"id": deal["id"], "type": "line_item_to_deal"}
        seen += [x["id"] for x in links]
    assert sorted(seen) == sorted(items) and len(seen) > len(deals)  # every line item on one deal


def test_deal_stage_dates_follow_the_stage_history(small_sandbox: Path) -> None:
    history = pl.read_parquet(small_sandbox / "truth/deal_stage_history.parquet")
    fmt = "%Y-%m-%dT%H:%M:%S.000Z"
    want: dict[str, dict[str, str]] = {}
    for deal_id, stage, entered, exited in history.iter_rows():
        props = want.setdefault(deal_id, {})
        props[f"hs_v2_date_entered_{stage}"] = entered.strftime(fmt)
        if exited is not None:
            props[f"hs_v2_date_exited_{stage}"] = exited.strftime(fmt)
    deals = _stored(small_sandbox, "deals")
    assert len(want) == len(deals)
    for deal in deals:
        p = deal["properties"]
        got = {k: v for k, v in p.items() if k.startswith("hs_v2_date_")}
        assert got == want[deal["id"]], deal["id"]
        stage = p["dealstage"]
        # in its current stage and not out of it; its last change is entering that stage
        assert f"hs_v2_date_exited_{stage}" not in p
        assert p[f"hs_v2_date_entered_{stage}"] == p["hs_lastmodifieddate"] == max(got.values())
        entered = sorted((v, k) for k, v in got.items() if "_entered_" in k)
        assert [k.removeprefix("hs_v2_date_entered_") for _, k in entered][:-1] == list(
            OPEN_STAGES[: len(entered) - 1]
        )


def test_advance_keeps_line_items_and_adds_new_deals_ones(small_sandbox: Path, tmp_path: Path) -> None:
    root = tmp_path / "sbx"
    shutil.copytree(small_sandbox, root)
    before = {i["id"]: i for i in _stored(root, "line_items")}
    advance(root, 60)
    after = {i["id"]: i for i in _stored(root, "line_items")}
    assert all(after[k] == v for k, v in before.items())  # line items never change
    new_deals = {d["id"] for d in _stored(root, "deals")} - {d["id"] for d in _stored(small_sandbox, "deals")}
    new_lines = {i["associations"]["deals"]["results"][0]["id"] for k, i in after.items() if k not in before}
    assert new_deals and new_lines == new_deals

"""The simulated CRM and its HubSpot CRM v3 endpoints: pipeline, deals -> invoices, paging, search, PATCH."""

from __future__ import annotations

import json
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from starlette.testclient import TestClient

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

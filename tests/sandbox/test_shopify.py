"""Shopify in the sandbox: the simulation's money, the wire shape against the real fixtures, and the
Admin REST endpoint's paging, filters, auth and errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import polars as pl
import pytest
from starlette.testclient import TestClient

from sandbox.credentials import SHOPIFY_API_KEY, SHOPIFY_API_VERSION
from sandbox.server import create_app
from tests.sandbox.test_shape import shape_diff

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "real" / "payments_shopify"
AUTH = {"X-Shopify-Access-Token": SHOPIFY_API_KEY}
BASE = f"/admin/api/{SHOPIFY_API_VERSION}"
# fields the fixtures fill that Shopify documents as nullable / absent for web orders without them
NULLABLE_ORDER = {
    "phone", "browser_ip", "client_details", "landing_site", "landing_site_ref", "reference", "referring_site",
    "source_identifier", "cart_token", "checkout_token", "app_id", "fulfillment_status", "customer.phone",
    "customer.last_order_id", "customer.last_order_name", "billing_address.phone", "shipping_address.phone",
    "billing_address.latitude", "billing_address.longitude", "shipping_address.latitude",
    "shipping_address.longitude", "line_items[].variant_title", "line_items[].fulfillment_status",
    "customer.default_address.phone",
    "payment_details.credit_card_bin", "closed_at",
}  # fmt: skip
NULLABLE_CUSTOMER = {
    "default_address.phone",
    "addresses[].phone",
    "phone",
    "last_order_id",
    "last_order_name",
}
NULLABLE_REFUND = {
    "user_id",
    "note",
    "refund_line_items[].line_item.variant_title",
    "transactions[].authorization",
}


def _stored(root: Path, name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (root / "state/shopify" / f"{name}.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def client(small_sandbox: Path) -> TestClient:
    return TestClient(create_app(small_sandbox))


def _walk(client: TestClient, name: str, **params: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    url: str | None = f"{BASE}/{name}.json"
    query: dict[str, Any] | None = params
    while url:
        resp = client.get(url, params=query, headers=AUTH)
        assert resp.status_code == 200, resp.text
        out += resp.json()[name]
        nxt = [p for p in resp.headers.get("link", "").split(", ") if p.endswith('rel="next"')]
        url = nxt[0][1 : nxt[0].index(">")] if nxt else None
        query = None
    return out


# --- the simulation -------------------------------------------------------------------------------


def test_order_totals_add_up_in_both_currencies(small_sandbox: Path) -> None:
    for o in _stored(small_sandbox, "orders"):
        for which in ("shop_money", "presentment_money"):
            amount = {k: float(o[f"{k}_set"][which]["amount"]) for k in (
                "total_line_items_price", "total_discounts", "subtotal_price", "total_tax", "total_shipping_price",
                "total_price")}  # fmt: skip
            assert amount["subtotal_price"] == pytest.approx(
                amount["total_line_items_price"] - amount["total_discounts"]
            )
            assert amount["total_price"] == pytest.approx(
                amount["subtotal_price"] + amount["total_tax"] + amount["total_shipping_price"]
            )
        lines = sum(float(li["price"]) * li["quantity"] for li in o["line_items"])
        assert float(o["total_line_items_price"]) == pytest.approx(lines)
        tax = sum(float(t["price"]) for li in o["line_items"] for t in li["tax_lines"])
        assert float(o["total_tax"]) == pytest.approx(tax)
        assert (
            o["currency"] == "USD"
            and o["total_price_set"]["presentment_money"]["currency_code"] == o["presentment_currency"]
        )


def test_refunds_nest_and_set_financial_status(small_sandbox: Path) -> None:
    orders = {o["id"]: o for o in _stored(small_sandbox, "orders")}
    truth = pl.read_parquet(small_sandbox / "truth/shopify_orders.parquet")
    assert set(truth["presentment_currency"]) == {"USD", "EUR", "GBP"}
    refunded = [o for o in orders.values() if o["refunds"]]
    assert refunded and any(o["financial_status"] == "partially_refunded" for o in refunded)
    for o in refunded:
        [refund] = o["refunds"]
        [txn] = refund["transactions"]
        assert (
            txn["kind"] == "refund"
            and txn["gateway"] == "shopify_payments"
            and txn["currency"] == o["presentment_currency"]
        )
        net = float(o["total_price_set"]["presentment_money"]["amount"]) - float(txn["amount"])
        assert float(o["current_total_price_set"]["presentment_money"]["amount"]) == pytest.approx(net)
        if o["financial_status"] == "refunded":
            assert net == pytest.approx(0)
        assert o["updated_at"] >= refund["created_at"]
    for row in truth.iter_rows(named=True):
        o = orders[row["order_id"]]
        current = float(o["current_total_price"])
        assert current == pytest.approx(row["net_total"]) and row["financial_status"] == o["financial_status"]


def test_defects_are_in_the_truth_and_on_the_wire(small_sandbox: Path) -> None:
    defects = pl.read_parquet(small_sandbox / "truth/defects.parquet")
    stored = _stored(small_sandbox, "orders")
    ids = [o["id"] for o in stored]
    dups = defects.filter(pl.col("defect_type") == "shopify_duplicate_order_row")["record_ids"].to_list()
    assert sorted(int(i) for i in dups) == sorted(i for i in set(ids) if ids.count(i) == 2)
    edited = defects.filter(pl.col("defect_type") == "shopify_order_edited")["record_ids"].to_list()
    by_id = {o["id"]: o for o in stored}
    assert edited and all(by_id[int(i)]["tags"] == "edited" and by_id[int(i)]["updated_at"] > by_id[int(i)]["created_at"]
                          for i in edited)  # fmt: skip
    not_booked = defects.filter(pl.col("defect_type") == "shopify_refund_not_booked")["record_ids"].to_list()
    for ref in not_booked:
        order_id, refund_id = map(int, ref.split(","))
        assert [r["id"] for r in by_id[order_id]["refunds"]] == [refund_id]
    records = pl.read_parquet(small_sandbox / "truth/records.parquet").filter(pl.col("source") == "shopify")
    assert sorted(records.filter(pl.col("object") == "orders")["record_id"].to_list()) == sorted(
        str(i) for i in set(ids)
    )


def test_customers_carry_the_registry_key(small_sandbox: Path) -> None:
    customers = _stored(small_sandbox, "customers")
    keys = {c["tags"].removeprefix("customer_key:") for c in customers}
    registry_b2c = set(pl.read_parquet(small_sandbox / "truth/shopify_orders.parquet")["customer_key"])
    assert keys == registry_b2c
    orders = _stored(small_sandbox, "orders")
    assert {o["customer"]["id"] for o in orders} == {c["id"] for c in customers}


def test_ledger_frame_has_the_interface_columns(small_sandbox: Path) -> None:
    from sandbox.company.clock import Clock
    from sandbox.company.registry import Registry
    from sandbox.company.shop import ledger_orders, simulate_shop

    reg = Registry(1, Clock.for_year())
    reg.make_customers(200)
    fx = pl.DataFrame({"date": pl.date_range(reg.clock.start, reg.clock.horizon, eager=True)}).with_columns(
        eurusd=pl.lit(1.1)
    )
    orders = ledger_orders(simulate_shop(reg, fx, 0.05))
    need = {"order_id", "order_number", "day", "currency", "total_price", "subtotal_price", "total_tax",
            "total_discounts", "shipping", "refunded_amount", "customer_key", "financial_status"}  # fmt: skip
    assert need <= set(orders.columns)
    lost = orders.filter(~pl.col("refund_booked") & pl.col("refund_id").is_not_null())
    assert lost.height == 0 or (lost["refunded_amount"] == 0).all()


# --- the wire shape -------------------------------------------------------------------------------


def test_orders_match_the_real_fixtures(small_sandbox: Path) -> None:
    list_real = json.loads((FIXTURES / "shopify_orders.json").read_text())["orders"][0]
    one_real = json.loads((FIXTURES / "shopify_order.json").read_text())["order"]
    orders = _stored(small_sandbox, "orders")
    sample = (
        orders[:5] + [o for o in orders if o["refunds"]][:3] + [o for o in orders if o["discount_codes"]][:3]
    )
    for ours in sample:
        assert shape_diff(list_real, ours, NULLABLE_ORDER) == [], ours["id"]
        assert shape_diff(one_real, ours, NULLABLE_ORDER) == [], ours["id"]


def test_refunds_and_customers_match_the_real_fixtures(small_sandbox: Path) -> None:
    refund_real = json.loads((FIXTURES / "shopify_refund.json").read_text())["refund"]
    customer_real = json.loads((FIXTURES / "shopify_customer.json").read_text())["customer"]
    refunds = [r for o in _stored(small_sandbox, "orders") for r in o["refunds"]]
    assert refunds
    for ours in refunds[:5]:
        assert shape_diff(refund_real, ours, NULLABLE_REFUND) == []
    for ours in _stored(small_sandbox, "customers")[:5]:
        assert shape_diff(customer_real, ours, NULLABLE_CUSTOMER) == []


# --- the HTTP API ---------------------------------------------------------------------------------


def test_paging_by_link_header_returns_every_order_newest_first(
    client: TestClient, small_sandbox: Path
) -> None:
    got = _walk(client, "orders", status="any", limit=37)
    stored = _stored(small_sandbox, "orders")
    assert sorted(o["id"] for o in got) == sorted(o["id"] for o in stored)  # duplicates served as stored
    assert [o["id"] for o in got] == sorted((o["id"] for o in got), reverse=True)


def test_status_default_is_open_and_since_id_ascends(client: TestClient, small_sandbox: Path) -> None:
    stored = _stored(small_sandbox, "orders")
    open_ids = {o["id"] for o in stored if o["closed_at"] is None}
    assert {o["id"] for o in _walk(client, "orders")} == open_ids
    pivot = sorted({o["id"] for o in stored})[10]
    got = [o["id"] for o in _walk(client, "orders", status="any", since_id=pivot, limit=250)]
    assert (
        got == sorted(got)
        and min(got) > pivot
        and len(set(got)) == len({o["id"] for o in stored if o["id"] > pivot})
    )


def test_updated_and_created_filters(client: TestClient, small_sandbox: Path) -> None:
    stored = _stored(small_sandbox, "orders")
    edge = sorted(o["updated_at"] for o in stored)[len(stored) // 2]
    got = _walk(client, "orders", status="any", updated_at_min=edge, limit=250)
    assert {o["id"] for o in got} == {o["id"] for o in stored if o["updated_at"] >= edge}
    got = _walk(client, "orders", status="any", created_at_max="2025-03-31T23:59:59-05:00", limit=250)
    assert got and all(o["created_at"] <= "2025-03-31T23:59:59-05:00" for o in got)


def test_fields_limit_and_page_info_rules(client: TestClient) -> None:
    resp = client.get(
        f"{BASE}/orders.json", params={"status": "any", "limit": 3, "fields": "id,total_price"}, headers=AUTH
    )
    assert [set(o) for o in resp.json()["orders"]] == [{"id", "total_price"}] * 3
    link = resp.headers["link"]
    token = parse_qs(urlparse(link[1 : link.index(">")]).query)["page_info"][0]
    bad = client.get(f"{BASE}/orders.json", params={"page_info": token, "status": "any"}, headers=AUTH)
    assert bad.status_code == 400 and "page_info" in bad.json()["errors"]
    ok = client.get(f"{BASE}/orders.json", params={"page_info": token, "limit": 3}, headers=AUTH)
    assert ok.status_code == 200 and 'rel="previous"' in ok.headers["link"]
    assert client.get(f"{BASE}/orders.json", params={"page_info": "garbage"}, headers=AUTH).status_code == 400
    assert client.get(f"{BASE}/orders.json", params={"limit": 251}, headers=AUTH).status_code == 400
    assert (
        client.get(f"{BASE}/orders.json", params={"updated_at_min": "yesterday"}, headers=AUTH).status_code
        == 400
    )


def test_auth_and_versions(client: TestClient) -> None:
    resp = client.get(f"{BASE}/orders.json", headers={"X-Shopify-Access-Token": "shpat_wrong"})
    assert resp.status_code == 401
    assert resp.json() == {
        "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"
    }
    assert client.get(f"{BASE}/customers.json").status_code == 401
    assert client.get("/admin/api/2025-10/customers.json", headers=AUTH).status_code == 200
    assert client.get("/admin/api/latest/customers.json", headers=AUTH).status_code == 404


def test_429_has_retry_after_and_shopify_body(small_sandbox: Path) -> None:
    faulty = TestClient(create_app(small_sandbox, faults="429=1.0"))
    resp = faulty.get(f"{BASE}/orders.json", headers=AUTH)
    assert resp.status_code == 429 and resp.headers["retry-after"] == "1"
    assert "Exceeded 2 calls per second" in resp.json()["errors"]

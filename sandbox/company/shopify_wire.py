"""Shopify frames -> Shopify Admin REST JSON (orders with line items, tax lines, discounts, shipping
lines and nested refunds; customers), in the field names and string money of the real API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import polars as pl

from sandbox.company.shop import GATEWAY, LOCAL_OFFSET_SECONDS, SHOP_CURRENCY, ShopData

SHOP_DOMAIN = "ledgerlake-demo.myshopify.com"
_TZ = timezone(timedelta(seconds=LOCAL_OFFSET_SECONDS))
_ADDRESSES = {
    "US": ("350 Fifth Avenue", "New York", "New York", "NY", "United States", "US", "10118"),
    "DE": ("Friedrichstrasse 68", "Berlin", "Berlin", "BE", "Germany", "DE", "10117"),
    "GB": ("221B Baker Street", "London", "England", "ENG", "United Kingdom", "GB", "NW1 6XE"),
}


def shopify_time(unix: int | None) -> str | None:
    """Unix seconds -> `2025-03-04T10:22:31-05:00` (the shop's timezone), as Shopify writes times."""
    if unix is None:
        return None
    return datetime.fromtimestamp(int(unix), UTC).astimezone(_TZ).isoformat()


def money(value: float) -> str:
    return f"{value:.2f}"


def money_set(shop: float, presentment: float, currency: str) -> dict[str, Any]:
    return {
        "shop_money": {"amount": money(shop), "currency_code": SHOP_CURRENCY},
        "presentment_money": {"amount": money(presentment), "currency_code": currency},
    }


def _names(full: str) -> tuple[str, str]:
    first, _, last = full.partition(" ")
    return first, last


def _address(name: str, market: str, phone: str | None = None) -> dict[str, Any]:
    street, city, province, code, country, cc, zip_code = _ADDRESSES[market]
    first, last = _names(name)
    return {
        "first_name": first,
        "address1": street,
        "phone": phone,
        "city": city,
        "zip": zip_code,
        "province": province,
        "country": country,
        "last_name": last,
        "address2": "",
        "company": None,
        "latitude": None,
        "longitude": None,
        "name": name,
        "country_code": cc,
        "province_code": code,
    }


def _tax_line(title: str, rate: float, shop: float, pres: float, cur: str) -> dict[str, Any]:
    return {"price": money(shop), "rate": rate, "title": title, "price_set": money_set(shop, pres, cur)}


def _line_item(li: dict[str, Any], o: dict[str, Any]) -> dict[str, Any]:
    cur = o["presentment_currency"]
    allocations = (
        [
            {
                "amount": money(li["discount"]),
                "amount_set": money_set(li["discount"], li["p_discount"], cur),
                "discount_application_index": 0,
            }
        ]
        if o["discount_code"]
        else []
    )
    return {
        "id": li["line_item_id"],
        "admin_graphql_api_id": f"gid://shopify/LineItem/{li['line_item_id']}",
        "fulfillable_quantity": 0,
        "fulfillment_service": "manual",
        "fulfillment_status": "fulfilled",
        "gift_card": False,
        "grams": 400,
        "name": li["title"],
        "price": money(li["price"]),
        "price_set": money_set(li["price"], li["p_price"], cur),
        "product_exists": True,
        "product_id": li["product_id"],
        "properties": [],
        "quantity": li["quantity"],
        "requires_shipping": True,
        "sku": li["sku"],
        "taxable": True,
        "title": li["title"],
        "total_discount": "0.00",
        "total_discount_set": money_set(0.0, 0.0, cur),
        "variant_id": li["variant_id"],
        "variant_inventory_management": "shopify",
        "variant_title": None,
        "vendor": "Ledgerlake Goods",
        "tax_lines": [_tax_line(o["tax_title"], o["tax_rate"], li["tax"], li["p_tax"], cur)],
        "discount_allocations": allocations,
    }


def _transaction(o: dict[str, Any], kind: str) -> dict[str, Any]:
    refund = kind == "refund"
    txn_id = o["refund_transaction_id"] if refund else o["sale_transaction_id"]
    return {
        "id": txn_id,
        "order_id": o["order_id"],
        "kind": kind,
        "gateway": GATEWAY,
        "status": "success",
        "message": None,
        "created_at": shopify_time(o["refund_created"] if refund else o["created"]),
        "test": False,
        "authorization": None if refund else f"ch_{txn_id}",
        "location_id": None,
        "user_id": None,
        "parent_id": o["sale_transaction_id"] if refund else None,
        "processed_at": shopify_time(o["refund_created"] if refund else o["created"]),
        "device_id": None,
        "error_code": None,
        "source_name": "web",
        "receipt": {},
        "amount": money(o["p_refund_amount"] if refund else o["p_total_price"]),
        "currency": o["presentment_currency"],
        "admin_graphql_api_id": f"gid://shopify/OrderTransaction/{txn_id}",
    }


def _refund(o: dict[str, Any], lines: list[dict[str, Any]]) -> dict[str, Any]:
    cur = o["presentment_currency"]
    full = o["refund_kind"] == "full"
    items = [li for li in lines if full or li["position"] == 0]
    refund_items = [
        {
            "id": li["line_item_id"] + 1,
            "quantity": li["quantity"],
            "line_item_id": li["line_item_id"],
            "location_id": None,
            "restock_type": "return",
            "subtotal": round(li["price"] * li["quantity"] - li["discount"], 2),
            "subtotal_set": money_set(
                li["price"] * li["quantity"] - li["discount"],
                li["p_price"] * li["quantity"] - li["p_discount"],
                cur,
            ),
            "total_tax": li["tax"],
            "total_tax_set": money_set(li["tax"], li["p_tax"], cur),
            "line_item": _line_item(li, o),
        }
        for li in items
    ]
    adjustments = (
        [
            {
                "id": o["refund_id"] + 7,
                "order_id": o["order_id"],
                "refund_id": o["refund_id"],
                "amount": money(-o["shipping"]),
                "amount_set": money_set(-o["shipping"], -o["p_shipping"], cur),
                "tax_amount": "0.00",
                "tax_amount_set": money_set(0.0, 0.0, cur),
                "kind": "shipping_refund",
                "reason": "Shipping refund",
            }
        ]
        if full and o["shipping"] > 0
        else []
    )
    return {
        "id": o["refund_id"],
        "order_id": o["order_id"],
        "created_at": shopify_time(o["refund_created"]),
        "note": "Returned by customer" if full else "One item returned",
        "user_id": None,
        "processed_at": shopify_time(o["refund_created"]),
        "restock": True,
        "admin_graphql_api_id": f"gid://shopify/Refund/{o['refund_id']}",
        "refund_line_items": refund_items,
        "transactions": [_transaction(o, "refund")],
        "order_adjustments": adjustments,
    }


def _sets(o: dict[str, Any]) -> dict[str, Any]:
    cur = o["presentment_currency"]
    refunded, p_refunded = (o["refund_amount"], o["p_refund_amount"]) if o["refund_visible"] else (0.0, 0.0)
    current_total, p_current_total = o["total_price"] - refunded, o["p_total_price"] - p_refunded
    return {
        "current_total_price": money(current_total),
        "current_total_price_set": money_set(current_total, p_current_total, cur),
        "subtotal_price_set": money_set(o["subtotal_price"], o["p_subtotal_price"], cur),
        "total_discounts_set": money_set(o["total_discounts"], o["p_total_discounts"], cur),
        "total_line_items_price_set": money_set(
            o["total_line_items_price"], o["p_total_line_items_price"], cur
        ),
        "total_price_set": money_set(o["total_price"], o["p_total_price"], cur),
        "total_shipping_price_set": money_set(o["shipping"], o["p_shipping"], cur),
        "total_tax_set": money_set(o["total_tax"], o["p_total_tax"], cur),
    }


def order_object(
    o: dict[str, Any], lines: list[dict[str, Any]], as_of_unix: int, customer: dict[str, Any]
) -> dict[str, Any]:
    """One order as `GET /admin/api/{version}/orders.json` returns it (`customer`: the customer object)."""
    cur = o["presentment_currency"]
    edited = o["edit_visible"]
    token = f"{o['order_id']:x}".rjust(32, "0")
    discount_codes = (
        [{"code": o["discount_code"], "amount": money(o["total_discounts"]), "type": "percentage"}]
        if o["discount_code"]
        else []
    )
    applications = (
        [
            {
                "type": "discount_code",
                "value": f"{float(o['discount_pct']):.1f}",
                "value_type": "percentage",
                "allocation_method": "across",
                "target_selection": "all",
                "target_type": "line_item",
                "code": o["discount_code"],
            }
        ]
        if o["discount_code"]
        else []
    )
    closed = o["created"] + 3 * 86400
    shipping_title = "Standard Shipping" if o["shipping"] > 0 else "Free Shipping"
    return {
        "id": o["order_id"],
        "admin_graphql_api_id": f"gid://shopify/Order/{o['order_id']}",
        "app_id": 580111,
        "browser_ip": None,
        "buyer_accepts_marketing": False,
        "cancel_reason": None,
        "cancelled_at": None,
        "cart_token": None,
        "checkout_id": o["order_id"] + 5,
        "checkout_token": token,
        "client_details": None,
        "closed_at": shopify_time(closed) if closed <= as_of_unix else None,
        "confirmed": True,
        "contact_email": o["email"],
        "created_at": shopify_time(o["created"]),
        "currency": SHOP_CURRENCY,
        "customer_locale": {"USD": "en-US", "EUR": "de-DE", "GBP": "en-GB"}[cur],
        "device_id": None,
        "email": o["email"],
        "financial_status": o["financial_status"],
        "fulfillment_status": "fulfilled",
        "fulfillments": [],
        "gateway": GATEWAY,
        "landing_site": "/",
        "landing_site_ref": None,
        "location_id": None,
        "name": o["name"],
        "note": "Customer asked to change the delivery address" if edited else None,
        "note_attributes": [],
        "number": o["order_number"] - 1000,
        "order_number": o["order_number"],
        "order_status_url": f"https://{SHOP_DOMAIN}/orders/{token}/authenticate",
        "payment_details": {
            "avs_result_code": None,
            "credit_card_bin": None,
            "cvv_result_code": None,
            "credit_card_number": f"•••• •••• •••• {o['order_id'] % 10000:04d}",
            "credit_card_company": ("Visa", "Mastercard", "American Express")[o["order_id"] % 3],
        },
        "payment_gateway_names": [GATEWAY],
        "phone": None,
        "presentment_currency": cur,
        "processed_at": shopify_time(o["created"]),
        "processing_method": "direct",
        "reference": None,
        "referring_site": None,
        "source": None,
        "source_identifier": None,
        "source_name": "web",
        "source_url": None,
        "subtotal_price": money(o["subtotal_price"]),
        "tags": "edited" if edited else "",
        "taxes_included": False,
        "test": False,
        "token": token,
        "total_discounts": money(o["total_discounts"]),
        "total_line_items_price": money(o["total_line_items_price"]),
        "total_outstanding": "0.00",
        "total_price": money(o["total_price"]),
        "total_price_usd": money(o["total_price"]),
        "total_tax": money(o["total_tax"]),
        "total_tip_received": "0.00",
        "total_weight": 400 * sum(li["quantity"] for li in lines),
        "updated_at": shopify_time(o["updated_at"]),
        "user_id": None,
        **_sets(o),
        "billing_address": _address(o["customer_name"], o["market"]),
        "shipping_address": _address(o["customer_name"], o["market"]),
        "customer": {k: v for k, v in customer.items() if k != "addresses"},
        "discount_applications": applications,
        "discount_codes": discount_codes,
        "line_items": [_line_item(li, o) for li in lines],
        "refunds": [_refund(o, lines)] if o["refund_visible"] else [],
        "shipping_lines": [
            {
                "id": o["order_id"] + 3,
                "code": shipping_title,
                "discounted_price": money(o["shipping"]),
                "price": money(o["shipping"]),
                "price_set": money_set(o["shipping"], o["p_shipping"], cur),
                "source": "shopify",
                "title": shipping_title,
                "tax_lines": [],
            }
        ],
        "tax_lines": [_tax_line(o["tax_title"], o["tax_rate"], o["total_tax"], o["p_total_tax"], cur)],
    }


def customer_object(c: dict[str, Any], stats: dict[str, Any]) -> dict[str, Any]:
    """One customer as `GET /admin/api/{version}/customers.json` returns it (key in `tags`)."""
    first, last = _names(c["name"])
    address = _address(c["name"], c["market"])
    default_address = {
        "id": c["customer_id"] + 11,
        "customer_id": c["customer_id"],
        **{k: v for k, v in address.items() if k not in ("latitude", "longitude")},
        "country_name": address["country"],
        "default": True,
    }
    return {
        "id": c["customer_id"],
        "email": c["email"],
        "accepts_marketing": False,
        "addresses": [default_address],
        "created_at": shopify_time(c["created"]),
        "updated_at": shopify_time(stats["updated_at"]),
        "first_name": first,
        "last_name": last,
        "orders_count": stats["orders_count"],
        "state": "enabled",
        "total_spent": money(stats["total_spent"]),
        "last_order_id": stats["last_order_id"],
        "note": None,
        "verified_email": True,
        "multipass_identifier": None,
        "tax_exempt": False,
        "phone": None,
        "tags": f"customer_key:{c['customer_key']}",
        "last_order_name": stats["last_order_name"],
        "currency": SHOP_CURRENCY,
        "accepts_marketing_updated_at": shopify_time(c["created"]),
        "marketing_opt_in_level": None,
        "tax_exemptions": [],
        "admin_graphql_api_id": f"gid://shopify/Customer/{c['customer_id']}",
        "default_address": default_address,
    }


def shopify_objects(shop: ShopData, as_of_unix: int) -> dict[str, list[dict[str, Any]]]:
    """`orders` (oldest first; a duplicated order appears twice) and `customers`, as wire JSON.

    An order is closed 3 days after it was placed; orders placed in the last 3 days before the cut
    are still open."""
    lines_by_order: dict[int, list[dict[str, Any]]] = {}
    for li in shop.line_items.sort("order_id", "position").iter_rows(named=True):
        lines_by_order.setdefault(li["order_id"], []).append(li)
    stats = (
        shop.orders.sort("created")
        .group_by("customer_id")
        .agg(
            orders_count=pl.len(),
            total_spent=(pl.col("total_price") - pl.col("refunded_amount")).sum().round(2),
            last_order_id=pl.col("order_id").last(),
            last_order_name=pl.col("name").last(),
            updated_at=pl.col("created").max(),
        )
    )
    by_id = {row["customer_id"]: row for row in stats.iter_rows(named=True)}
    customers = {
        c["customer_id"]: customer_object(c, by_id[c["customer_id"]])
        for c in shop.customers.iter_rows(named=True)
    }
    orders: list[dict[str, Any]] = []
    for o in shop.orders.sort("order_id").iter_rows(named=True):
        obj = order_object(o, lines_by_order.get(o["order_id"], []), as_of_unix, customers[o["customer_id"]])
        orders.extend([obj, obj] if o["duplicated"] else [obj])
    return {"orders": orders, "customers": list(customers.values())}

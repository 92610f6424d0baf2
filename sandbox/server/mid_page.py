"""The `mid_page_update` fault: a record changes at the source while a client pages through a list.

When the fault is drawn for a request for a list's *next* page — it presents a continuation: Stripe
`starting_after`, Shopify `page_info`, HubSpot `after` (list or search), QuickBooks `STARTPOSITION` > 1
— one record of that API is changed in the served state before the page is built, as a user or
another system would change it at that moment. The change is real: every later request, of this
walk or any other, sees it (in memory, until the sandbox reloads after `advance`). Its time is the
sandbox's now (the end of the `as_of` day, the clock of the HTTP `Date` header).

Half of the time the record is one of the walk's earlier pages (the client holds its old version;
where the list is ordered by the modification time it moves behind the client, shifting the records
after it one place forward), otherwise any record of the object. A record is changed at most once.

What changes, per API (the vendor's own shape, and what the vendor would emit with it):
- Stripe (any list walk): a charge not yet refunded or disputed is refunded in full — `refunded`,
  `amount_refunded`, `refunds.data` on the charge; a new refund (`/v1/refunds`), its `refund` balance
  transaction (available at once) and a `charge.refunded` event (`/v1/events`, `data.object` = the
  charge after the refund), all created now.
- Shopify (orders): a `paid` order is refunded in full — `financial_status: refunded`, a refund with
  every line item, the shipping refund (if any) and one `refund` transaction, `current_total_price`
  0, `updated_at` now.
- QuickBooks (Invoice, Bill): the due date moves 7–30 days later (new terms agreed) — `DueDate`,
  `SyncToken` + 1, `MetaData.LastUpdatedTime` now.
- HubSpot (deals): an open deal moves to its next stage (`dealstage`, `hs_deal_stage_probability`;
  from `contractsent` to `closedwon`, with `hs_is_closed*` and `closedate`), a closed one gets a
  corrected `amount` (±5–20%); `hs_lastmodifieddate` and `updatedAt` now.
Other objects of these APIs, and the bank feed, are not changed by this fault.
"""

from __future__ import annotations

import json
import random
import string
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from starlette.requests import Request

from sandbox.company.shopify_wire import money_set, shopify_time
from sandbox.server import hubspot_api, quickbooks_api, shopify_api
from sandbox.server.store import SandboxState

T = TypeVar("T")
_ALPHABET = string.ascii_letters + string.digits
MAX_TRIES = 40  # records tried for eligibility before the fault gives up on this request
DEAL_STAGES = (
    ("appointmentscheduled", "0.2"),
    ("qualifiedtobuy", "0.4"),
    ("presentationscheduled", "0.6"),
    ("decisionmakerboughtin", "0.8"),
    ("contractsent", "0.9"),
    ("closedwon", "1.0"),
)
DUE_DATE_ENTITIES = ("Invoice", "Bill")
# Shopify ids of what a mid-page refund creates: the order's id plus these (outside the generator's ranges)
REFUND_ID_OFFSET = 4_490_000_000_000
REFUND_TXN_ID_OFFSET = 2_590_000_000_000


class MidPageUpdates:
    """The seeded draw of which record changes, and the log of the changes made."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(f"mid_page_update:{seed}")
        self.changed: set[tuple[str, str, str]] = set()  # (api, object, id)
        self.log: list[dict[str, str]] = []

    def _token(self, n: int) -> str:
        return "".join(self.rng.choice(_ALPHABET) for _ in range(n))

    def _pick(self, earlier: list[T], every: list[T], eligible: Callable[[T], bool]) -> T | None:
        """A seeded pick: half of the time among `earlier` (the walk's pages already served),
        otherwise among `every`; the first eligible of up to `MAX_TRIES` tries."""
        pool = earlier if earlier and self.rng.random() < 0.5 else every
        for _ in range(min(MAX_TRIES, len(pool))):
            item = self.rng.choice(pool)
            if eligible(item):
                return item
        return None

    def _record(self, api: str, obj: str, oid: str, change: str) -> dict[str, str]:
        self.changed.add((api, obj, oid))
        entry = {"api": api, "object": obj, "id": oid, "change": change}
        self.log.append(entry)
        return entry

    # --- Stripe -------------------------------------------------------------------------------

    def stripe(self, state: SandboxState, request: Request, name: str, now: datetime) -> dict | None:
        after = request.query_params.get("starting_after")
        charges = state.stripe.get("charges")
        if (
            not after
            or charges is None
            or not {"refunds", "balance_transactions", "events"} <= set(state.stripe)
        ):
            return None
        every = list(range(len(charges.ids)))
        earlier = (
            every[: charges.position[after] + 1] if name == "charges" and after in charges.position else []
        )

        def eligible(i: int) -> bool:
            if ("stripe", "charges", charges.ids[i]) in self.changed:
                return False
            c = json.loads(charges.json[i])
            return (
                c.get("status") == "succeeded"
                and not c.get("refunded")
                and c.get("amount_refunded") == 0
                and not c.get("disputed")
                and type(c.get("amount")) is int
            )

        i = self._pick(earlier, every, eligible)
        if i is None:
            return None
        charge = json.loads(charges.json[i])
        ts = int(now.timestamp())
        refund_id, txn_id, event_id = (
            f"re_{self._token(24)}",
            f"txn_{self._token(24)}",
            f"evt_{self._token(24)}",
        )
        amount = charge["amount"]
        refund = {
            "amount": amount, "balance_transaction": txn_id, "charge": charge["id"], "created": ts,
            "currency": charge["currency"],
            "destination_details": {
                "card": {"reference": self._token(12), "reference_status": "pending",
                         "reference_type": "acquirer_reference_number", "type": "refund"},
                "type": "card",
            },
            "id": refund_id, "metadata": {}, "object": "refund", "payment_intent": charge.get("payment_intent"),
            "reason": "requested_by_customer", "receipt_number": None, "source_transfer_reversal": None,
            "status": "succeeded", "transfer_reversal": None, "customer": charge.get("customer"),
            "customer_account": None, "payment_method": charge.get("payment_method"),
        }  # fmt: skip
        txn = {
            "amount": -amount, "available_on": ts, "created": ts, "currency": charge["currency"],
            "description": "REFUND FOR CHARGE", "exchange_rate": None, "fee": 0, "fee_details": [],
            "id": txn_id, "net": -amount, "object": "balance_transaction", "reporting_category": "refund",
            "source": refund_id, "status": "available", "type": "refund", "balance_type": "payments",
        }  # fmt: skip
        refunds = charge.get("refunds") if isinstance(charge.get("refunds"), dict) else {"data": []}
        charge.update(
            refunded=True,
            amount_refunded=amount,
            refunds={**refunds, "data": [refund, *refunds.get("data", [])]},
        )
        event = {
            "api_version": "2024-06-20", "created": ts, "data": {"object": charge}, "id": event_id,
            "livemode": False, "object": "event", "pending_webhooks": 0,
            "request": {"id": None, "idempotency_key": None}, "type": "charge.refunded",
        }  # fmt: skip
        charges.replace(i, json.dumps(charge))
        state.stripe["refunds"].insert(ts, refund_id, json.dumps(refund))
        state.stripe["balance_transactions"].insert(ts, txn_id, json.dumps(txn))
        state.stripe["events"].insert(ts, event_id, json.dumps(event))
        return self._record("stripe", "charges", charge["id"], f"refunded in full ({refund_id}, {event_id})")

    # --- Shopify ------------------------------------------------------------------------------

    def shopify(self, lists: dict[str, Any], request: Request, name: str, now: datetime) -> dict | None:
        token = request.query_params.get("page_info")
        objs = lists.get(name)
        if not token or name != "orders" or objs is None:
            return None
        try:
            filters, offset = shopify_api.decode_page_info(token)
            matched = shopify_api.matching(objs, filters)
        except shopify_api.BadParam:
            return None

        def eligible(i: int) -> bool:  # an id stored twice (a duplicated row) is left alone
            twice = objs.ids[max(0, i - 1) : i + 2].count(objs.ids[i]) > 1
            return (
                objs.financial[i] == "paid"
                and not twice
                and ("shopify", name, str(objs.ids[i])) not in self.changed
            )

        i = self._pick(matched[:offset], list(range(len(objs.ids))), eligible)
        if i is None:
            return None
        order = json.loads(objs.json[i])
        if order.get("cancelled_at") or not isinstance(order.get("line_items"), list):
            return None
        at = shopify_time(int(now.timestamp()))
        order.update(_shopify_full_refund(order, at))
        objs.json[i] = json.dumps(order, ensure_ascii=False)
        objs.updated[i] = now.timestamp()
        objs.financial[i] = "refunded"
        return self._record(
            "shopify", name, str(order["id"]), f"refunded in full ({order['refunds'][-1]['id']})"
        )

    # --- QuickBooks ---------------------------------------------------------------------------

    def quickbooks(self, qbo: quickbooks_api.QboState, request: Request, now: datetime) -> dict | None:
        m = quickbooks_api.QUERY_RE.match(request.query_params.get("query", ""))
        if m is None or int(m["start"] or 1) <= 1:
            return None
        name = next((e for e in DUE_DATE_ENTITIES if e.lower() == m["entity"].lower()), None)
        if name is None or name not in qbo.entities:
            return None
        entity = qbo.entities[name]
        try:
            ts = quickbooks_api.parse_time(m["ts"]) if m["ts"] else None
        except ValueError:
            return None
        every = list(range(len(entity.ids)))
        earlier = quickbooks_api.select(entity, m["op"], ts)[: int(m["start"]) - 1]

        def eligible(i: int) -> bool:
            return (
                "quickbooks",
                name,
                str(entity.ids[i]),
            ) not in self.changed and '"DueDate"' in entity.json[i]

        i = self._pick(earlier, every, eligible)
        if i is None:
            return None
        obj = json.loads(entity.json[i])
        try:
            due = date.fromisoformat(str(obj["DueDate"])) + timedelta(days=self.rng.randint(7, 30))
            sync = int(obj.get("SyncToken", "0")) + 1
        except (ValueError, TypeError):
            return None
        obj["DueDate"] = due.isoformat()
        obj["SyncToken"] = str(sync)
        obj["MetaData"] = {
            **obj.get("MetaData", {}),
            "LastUpdatedTime": now.strftime("%Y-%m-%dT%H:%M:%S-00:00"),
        }
        entity.json[i] = json.dumps(obj)
        entity.updated[i] = now.timestamp()
        return self._record("quickbooks", name, str(obj["Id"]), f"DueDate -> {obj['DueDate']}")

    # --- HubSpot ------------------------------------------------------------------------------

    async def hubspot(
        self, hs: hubspot_api.HubspotState, lock: Any, request: Request, now: datetime
    ) -> dict | None:
        name = request.path_params.get("object")
        if name != "deals" or "object_id" in request.path_params or name not in hs.objects:
            return None
        rows = hs.objects[name]
        try:
            if request.method == "GET":
                offset = int(request.query_params.get("after", "0") or 0)
                walk = rows
            else:
                body = json.loads(await request.body() or b"{}")
                offset = int(body.get("after", 0) or 0)
                walk = hubspot_api.search_rows(hs, name, body)
        except (ValueError, TypeError, AttributeError):
            return None
        if offset <= 0:
            return None

        def eligible(obj: dict[str, Any]) -> bool:
            return ("hubspot", name, str(obj.get("id"))) not in self.changed and isinstance(
                obj.get("properties"), dict
            )

        with lock:
            deal = self._pick(walk[:offset], rows, eligible)
            if deal is None:
                return None
            change = _next_deal_state(deal["properties"], self.rng, now)
            stamp = now.strftime("%Y-%m-%dT%H:%M:%S.000Z")
            deal["properties"].update(change, hs_lastmodifieddate=stamp)
            deal["updatedAt"] = stamp
        return self._record(
            "hubspot", name, str(deal["id"]), ", ".join(f"{k} -> {v}" for k, v in change.items())
        )


def _next_deal_state(props: dict[str, Any], rng: random.Random, now: datetime) -> dict[str, str]:
    stages = [s for s, _ in DEAL_STAGES]
    stage = props.get("dealstage")
    if stage in stages[:-1]:
        nxt, prob = DEAL_STAGES[stages.index(stage) + 1]
        change = {"dealstage": nxt, "hs_deal_stage_probability": prob}
        if nxt == "closedwon":
            change |= {"hs_is_closed": "true", "hs_is_closed_won": "true",
                       "closedate": now.strftime("%Y-%m-%dT%H:%M:%S.000Z")}  # fmt: skip
        return change
    try:
        amount = float(props.get("amount") or 0)
    except ValueError:
        amount = 0.0
    factor = 1 + rng.choice((-1, 1)) * rng.uniform(0.05, 0.2)
    return {"amount": f"{amount * factor:.2f}"}


def _amount(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _pres(obj: dict[str, Any], key: str) -> float:
    return _amount(((obj.get(key) or {}).get("presentment_money") or {}).get("amount"))


def _shopify_full_refund(order: dict[str, Any], at: str | None) -> dict[str, Any]:
    """The fields of `order` after a full refund now (as `shopify_wire._refund` writes refunds)."""
    cur = order.get("presentment_currency") or order.get("currency")
    refund_id = int(order["id"]) + REFUND_ID_OFFSET
    items = []
    for li in order["line_items"]:
        qty = int(li.get("quantity") or 0)
        sub = round(_amount(li.get("price")) * qty - _amount(li.get("total_discount")), 2)
        p_sub = round(_pres(li, "price_set") * qty - _pres(li, "total_discount_set"), 2)
        tax = round(sum(_amount(t.get("price")) for t in li.get("tax_lines") or []), 2)
        p_tax = round(sum(_pres(t, "price_set") for t in li.get("tax_lines") or []), 2)
        items.append(
            {
                "id": int(li["id"]) + 1, "quantity": qty, "line_item_id": li["id"], "location_id": None,
                "restock_type": "return", "subtotal": sub, "subtotal_set": money_set(sub, p_sub, cur),
                "total_tax": tax, "total_tax_set": money_set(tax, p_tax, cur), "line_item": li,
            }
        )  # fmt: skip
    shipping = _amount(((order.get("total_shipping_price_set") or {}).get("shop_money") or {}).get("amount"))
    p_shipping = _pres(order, "total_shipping_price_set")
    adjustments = (
        [
            {
                "id": refund_id + 7, "order_id": order["id"], "refund_id": refund_id,
                "amount": f"{-shipping:.2f}", "amount_set": money_set(-shipping, -p_shipping, cur),
                "tax_amount": "0.00", "tax_amount_set": money_set(0.0, 0.0, cur),
                "kind": "shipping_refund", "reason": "Shipping refund",
            }
        ]
        if shipping > 0
        else []
    )  # fmt: skip
    txn_id = int(order["id"]) + REFUND_TXN_ID_OFFSET
    transaction = {
        "id": txn_id, "order_id": order["id"], "kind": "refund", "gateway": order.get("gateway"),
        "status": "success", "message": None, "created_at": at, "test": False, "authorization": None,
        "location_id": None, "user_id": None, "parent_id": None, "processed_at": at, "device_id": None,
        "error_code": None, "source_name": "web", "receipt": {},
        "amount": f"{_pres(order, 'total_price_set'):.2f}", "currency": cur,
        "admin_graphql_api_id": f"gid://shopify/OrderTransaction/{txn_id}",
    }  # fmt: skip
    refund = {
        "id": refund_id, "order_id": order["id"], "created_at": at, "note": "Refunded in full",
        "user_id": None, "processed_at": at, "restock": True,
        "admin_graphql_api_id": f"gid://shopify/Refund/{refund_id}",
        "refund_line_items": items, "transactions": [transaction], "order_adjustments": adjustments,
    }  # fmt: skip
    return {
        "financial_status": "refunded",
        "refunds": [*(order.get("refunds") or []), refund],
        "current_total_price": "0.00",
        "current_total_price_set": money_set(0.0, 0.0, cur),
        "updated_at": at,
    }


__all__ = ["MidPageUpdates"]

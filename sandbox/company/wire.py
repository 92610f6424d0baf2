"""Simulated rows -> the vendors' exact wire JSON objects (what the HTTP sandbox serves).

Stripe objects follow the real API objects key for key (see the fixtures in
`/work/shared/fixtures/real/payments_stripe/`); Plaid transactions follow the documented
`/transactions/sync` transaction object.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Any

import polars as pl

from sandbox.company.bank import BankData
from sandbox.company.registry import Registry
from sandbox.company.stripe import PAYOUT_DESCRIPTION, StripeData

API_VERSION = "2024-06-20"
EVENT_WINDOW_DAYS = 30  # Stripe keeps events for 30 days
NULL_ADDRESS = {
    "city": None,
    "country": None,
    "line1": None,
    "line2": None,
    "postal_code": None,
    "state": None,
}


def _suffix(obj_id: str) -> str:
    return obj_id.split("_", 1)[1]


def _card(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "amount_authorized": row["amount"],
        "brand": row["brand"],
        "checks": {"address_line1_check": None, "address_postal_code_check": "pass", "cvc_check": "pass"},
        "country": "US",
        "exp_month": row["exp_month"],
        "exp_year": row["exp_year"],
        "extended_authorization": {"status": "disabled"},
        "fingerprint": _suffix(row["id"])[:16],
        "funding": "credit",
        "incremental_authorization": {"status": "unavailable"},
        "installments": None,
        "last4": row["last4"],
        "mandate": None,
        "multicapture": {"status": "unavailable"},
        "network": row["brand"],
        "network_token": {"used": False},
        "overcapture": {"maximum_amount_capturable": row["amount"], "status": "unavailable"},
        "three_d_secure": None,
        "wallet": None,
        "authorization_code": "123456",
        "regulated_status": "unregulated",
        "network_transaction_id": _suffix(row["id"])[:15],
        "transaction_link_id": None,
    }


def refund_object(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "amount": row["amount"],
        "balance_transaction": row["balance_transaction"],
        "charge": row["charge"],
        "created": row["created"],
        "currency": "usd",
        "destination_details": {
            "card": {
                "reference": _suffix(row["id"])[:12],
                "reference_status": "available",
                "reference_type": "acquirer_reference_number",
                "type": "refund",
            },
            "type": "card",
        },
        "id": row["id"],
        "metadata": {},
        "object": "refund",
        "payment_intent": "pi_" + _suffix(row["charge"]),
        "reason": row["reason"],
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "succeeded",
        "transfer_reversal": None,
        "customer": row["customer"],
        "customer_account": None,
        "payment_method": "pm_" + _suffix(row["charge"]),
    }


def charge_object(row: dict[str, Any], refunds: list[dict[str, Any]]) -> dict[str, Any]:
    cid = row["id"]
    return {
        "amount": row["amount"],
        "amount_captured": row["amount"],
        "amount_refunded": row["amount_refunded"],
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": row["balance_transaction"],
        "billing_details": {
            "address": dict(NULL_ADDRESS),
            "email": row["email"],
            "name": row["billing_name"],
            "phone": None,
            "tax_id": None,
        },
        "calculated_statement_descriptor": "LEDGERLAKE CO",
        "captured": True,
        "created": row["created"],
        "currency": "usd",
        "customer": row["customer"],
        "description": f"Order {_suffix(cid)[:8].upper()}",
        "disputed": row["disputed"],
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "fraud_details": {},
        "id": cid,
        "livemode": False,
        "metadata": {},
        "object": "charge",
        "on_behalf_of": None,
        "outcome": {
            "advice_code": None,
            "network_advice_code": None,
            "network_decline_code": None,
            "network_status": "approved_by_network",
            "reason": None,
            "risk_level": "normal",
            "seller_message": "Payment complete.",
            "type": "authorized",
        },
        "paid": True,
        "payment_intent": "pi_" + _suffix(cid),
        "payment_method": "pm_" + _suffix(cid),
        "payment_method_details": {"card": _card(row), "type": "card"},
        "receipt_email": row["email"],
        "receipt_number": None,
        "receipt_url": f"https://pay.stripe.com/receipts/payment/{cid}",
        "refunded": row["amount_refunded"] >= row["amount"],
        "refunds": {
            "data": refunds,
            "has_more": False,
            "object": "list",
            "url": f"/v1/charges/{cid}/refunds",
        },
        "review": None,
        "shipping": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "succeeded",
        "transfer_data": None,
        "transfer_group": None,
        "source": None,
    }


def balance_transaction_object(row: dict[str, Any], as_of_unix: int) -> dict[str, Any]:
    fee_details = []
    if row["fee"]:
        kind = "Stripe processing fees" if row["type"] == "charge" else "Dispute fee"
        fee_details = [
            {
                "amount": row["fee"],
                "application": None,
                "currency": "usd",
                "description": kind,
                "type": "stripe_fee",
            }
        ]
    descriptions = {
        "charge": "Payment",
        "refund": "REFUND FOR CHARGE",
        "dispute": "Chargeback withdrawal",
        "dispute_reversal": "Chargeback reversal",
        "payout": PAYOUT_DESCRIPTION,
    }
    return {
        "amount": row["amount"],
        "available_on": row["available_on"],
        "created": row["created"],
        "currency": "usd",
        "description": descriptions[row["reporting_category"]],
        "exchange_rate": None,
        "fee": row["fee"],
        "fee_details": fee_details,
        "id": row["id"],
        "net": row["net"],
        "object": "balance_transaction",
        "reporting_category": row["reporting_category"],
        "source": row["source"],
        "status": "available" if row["available_on"] <= as_of_unix else "pending",
        "type": row["type"],
        "balance_type": "payments",
    }


def payout_object(row: dict[str, Any], destination: str) -> dict[str, Any]:
    paid = row["status"] == "paid"
    return {
        "amount": row["amount"],
        "application_fee": None,
        "application_fee_amount": None,
        "arrival_date": row["arrival_date"],
        "automatic": True,
        "balance_transaction": row["balance_transaction"],
        "created": row["created"],
        "currency": "usd",
        "description": PAYOUT_DESCRIPTION,
        "destination": destination,
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "id": row["id"],
        "livemode": False,
        "metadata": {},
        "method": "standard",
        "object": "payout",
        "original_payout": None,
        "reconciliation_status": "completed" if paid else "in_progress",
        "reversed_by": None,
        "source_type": "card",
        "statement_descriptor": None,
        "status": row["status"],
        "type": "bank_account",
        "trace_id": {
            "status": "supported" if paid else "pending",
            "value": _suffix(row["id"])[:15] if paid else None,
        },
        "payout_method": None,
    }


EVIDENCE_FIELDS = (
    "access_activity_log",
    "billing_address",
    "cancellation_policy",
    "cancellation_policy_disclosure",
    "cancellation_rebuttal",
    "customer_communication",
    "customer_email_address",
    "customer_name",
    "customer_purchase_ip",
    "customer_signature",
    "duplicate_charge_documentation",
    "duplicate_charge_explanation",
    "duplicate_charge_id",
    "product_description",
    "receipt",
    "refund_policy",
    "refund_policy_disclosure",
    "refund_refusal_explanation",
    "service_date",
    "service_documentation",
    "shipping_address",
    "shipping_carrier",
    "shipping_date",
    "shipping_documentation",
    "shipping_tracking_number",
    "uncategorized_file",
    "uncategorized_text",
)


def dispute_object(
    row: dict[str, Any], at: int, balance_transactions: list[dict[str, Any]]
) -> dict[str, Any]:
    """The dispute as it was at unix time `at` (>= its creation): status, evidence and the balance
    transactions (withdrawal, and for a won dispute the reinstatement) that existed by then."""
    responded = row["responded_at"] is not None and row["responded_at"] <= at
    if row["closed_at"] <= at:
        status = row["outcome"]
    else:
        status = "under_review" if responded else "needs_response"
    evidence: dict[str, Any] = dict.fromkeys(EVIDENCE_FIELDS)
    if responded:
        evidence |= {
            "customer_email_address": row["email"],
            "customer_name": row["billing_name"],
            "product_description": f"Order {_suffix(row['charge'])[:8].upper()}",
            "uncategorized_text": "Goods delivered as ordered; receipt and delivery confirmation attached.",
        }
    return {
        "amount": row["amount"],
        "balance_transactions": [bt for bt in balance_transactions if bt["created"] <= at],
        "charge": row["charge"],
        "created": row["created"],
        "currency": "usd",
        "evidence": evidence,
        "evidence_details": {
            "due_by": row["due_by"],
            "has_evidence": responded,
            "past_due": False,
            "submission_count": int(responded),
        },
        "id": row["id"],
        "is_charge_refundable": False,  # a chargeback: the funds are already withdrawn
        "livemode": False,
        "metadata": {},
        "object": "dispute",
        "payment_intent": "pi_" + _suffix(row["charge"]),
        "reason": row["reason"],
        "status": status,
    }


def _dispute_changes(row: dict[str, Any]) -> list[tuple[int, str]]:
    """(time, event type) of a dispute's changes: created, evidence submitted, closed."""
    changes = [(row["created"], "charge.dispute.created")]
    if row["responded_at"] is not None and row["responded_at"] < row["closed_at"]:
        changes.append((row["responded_at"], "charge.dispute.updated"))
    changes.append((row["closed_at"], "charge.dispute.closed"))
    return changes


def customer_object(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "address": {**NULL_ADDRESS, "country": row["country"]},
        "balance": 0,
        "created": row["created"],
        "currency": "usd",
        "default_source": None,
        "delinquent": False,
        "description": None,
        "discount": None,
        "email": row["email"],
        "id": row["id"],
        "invoice_prefix": _suffix(row["id"])[:8].upper(),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": {"customer_key": row["customer_key"]},
        "name": row["name"],
        "next_invoice_sequence": 1,
        "object": "customer",
        "phone": None,
        "preferred_locales": ["en-US"],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }


def _charge_at(charge: dict[str, Any], refund_id: str | None) -> dict[str, Any]:
    """The charge as it was right after refund `refund_id` (None: when it succeeded).

    Stripe's `data.object` is the object at the time of the event, so an event never changes once
    emitted; `charge["refunds"]["data"]` is newest first, so the state after a refund is that refund
    and the ones before it.
    """
    refunds = charge["refunds"]["data"]
    ids = [r["id"] for r in refunds]
    kept = refunds[ids.index(refund_id) :] if refund_id is not None else []
    refunded = sum(r["amount"] for r in kept)
    return {
        **charge,
        "amount_refunded": refunded,
        "refunded": refunded >= charge["amount"],
        "disputed": False,  # the simulation never disputes a refunded charge, nor one at creation
        "refunds": {**charge["refunds"], "data": kept},
    }


def _events(
    reg: Registry, objs: dict[str, list[dict[str, Any]]], disputes: pl.DataFrame
) -> list[dict[str, Any]]:
    since, until = reg.clock.as_of_unix() - EVENT_WINDOW_DAYS * 86400, reg.clock.as_of_unix()
    charges = {c["id"]: c for c in objs["charges"]}
    raw: list[tuple[int, str, dict[str, Any]]] = []
    raw += [
        (c["created"], "charge.succeeded", _charge_at(c, None))
        for c in objs["charges"]
        if c["created"] >= since
    ]
    raw += [
        (r["created"], "charge.refunded", _charge_at(charges[r["charge"]], r["id"]))
        for r in objs["refunds"]
        if r["created"] >= since
    ]
    raw += [
        (p["arrival_date"], "payout.paid", p)
        for p in objs["payouts"]
        if p["status"] == "paid" and since <= p["arrival_date"] <= reg.clock.as_of_unix()
    ]
    raw += [(c["created"], "customer.created", c) for c in objs["customers"] if c["created"] >= since]
    dispute_bts = _dispute_balance_transactions(objs)
    raw += [
        (at, kind, dispute_object(row, at, dispute_bts.get(row["id"], [])))
        for row in disputes.iter_rows(named=True)
        for at, kind in _dispute_changes(row)
        if since <= at <= until
    ]
    raw.sort(key=lambda e: (e[0], e[1], e[2]["id"]))
    ids = [reg.stable_id("evt_", f"{kind}:{obj['id']}:{created}") for created, kind, obj in raw]
    return [
        {
            "api_version": API_VERSION,
            "created": created,
            "data": {"object": obj},
            "id": eid,
            "livemode": False,
            "object": "event",
            "pending_webhooks": 0,
            "request": {"id": None, "idempotency_key": None},
            "type": kind,
        }
        for eid, (created, kind, obj) in zip(ids, raw, strict=True)
    ]


def stripe_objects(reg: Registry, data: StripeData) -> dict[str, list[dict[str, Any]]]:
    """All Stripe objects by list endpoint name, oldest first."""
    as_of = reg.clock.as_of_unix()
    refunds = [refund_object(r) for r in data.refunds.sort("created", "id").iter_rows(named=True)]
    by_charge: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in reversed(refunds):
        by_charge[r["charge"]].append(r)
    destination = reg.stable_id("ba_", f"payout-destination:{reg.seed}")
    objs = {
        "customers": [customer_object(r) for r in data.customers.sort("created", "id").iter_rows(named=True)],
        "charges": [charge_object(r, by_charge.get(r["id"], [])) for r in data.charges.iter_rows(named=True)],
        "refunds": refunds,
        "balance_transactions": [
            balance_transaction_object(r, as_of) for r in data.balance_transactions.iter_rows(named=True)
        ],
        "payouts": [payout_object(r, destination) for r in data.payouts.iter_rows(named=True)],
    }
    dispute_bts = _dispute_balance_transactions(objs)
    objs["disputes"] = [
        dispute_object(r, as_of, dispute_bts.get(r["id"], []))
        for r in data.disputes.sort("created", "id").iter_rows(named=True)
    ]
    objs["events"] = _events(reg, objs, data.disputes)
    return objs


def _dispute_balance_transactions(objs: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """{dispute id: its balance transaction objects, oldest first}."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for bt in objs["balance_transactions"]:
        if bt["reporting_category"] in ("dispute", "dispute_reversal"):
            out[bt["source"]].append(bt)
    return out


def payout_members(data: StripeData) -> dict[str, list[str]]:
    """{payout id: ids of its balance transactions}, what `GET /v1/balance_transactions?payout=`
    lists: the transactions the payout swept, then the payout's own `payout` transaction."""
    members: dict[str, list[str]] = {pid: [] for pid in data.payouts["id"]}
    swept = data.balance_transactions.filter(pl.col("payout").is_not_null()).sort("created", "id")
    for pid, txn in swept.select("payout", "id").iter_rows():
        members[pid].append(txn)
    for pid, own in data.payouts.select("id", "balance_transaction").iter_rows():
        members[pid].append(own)
    return members


# ---------------------------------------------------------------- Plaid
PFC = {
    "stripe_payout": ("TRANSFER_IN", "TRANSFER_IN_DEPOSIT"),
    "shopify_payout": ("TRANSFER_IN", "TRANSFER_IN_DEPOSIT"),
    "customer_payment": ("INCOME", "INCOME_OTHER_INCOME"),
    "payroll": ("TRANSFER_OUT", "TRANSFER_OUT_OTHER_TRANSFER_OUT"),
    "rent": ("RENT_AND_UTILITIES", "RENT_AND_UTILITIES_RENT"),
    "cloud_hosting": ("GENERAL_SERVICES", "GENERAL_SERVICES_OTHER_GENERAL_SERVICES"),
    "office_supplies": ("GENERAL_MERCHANDISE", "GENERAL_MERCHANDISE_ONLINE_MARKETPLACES"),
    "software": ("GENERAL_SERVICES", "GENERAL_SERVICES_OTHER_GENERAL_SERVICES"),
    "travel": ("TRAVEL", "TRAVEL_FLIGHTS"),
    "professional_services": ("GENERAL_SERVICES", "GENERAL_SERVICES_CONSULTING_AND_LEGAL"),
    "bank_fees": ("BANK_FEES", "BANK_FEES_OTHER_BANK_FEES"),
    "fx_transfer": ("TRANSFER_OUT", "TRANSFER_OUT_ACCOUNT_TRANSFER"),
}
PENDING_RATE = 0.05
ENRICH_LATER_RATE = 0.03


def plaid_transaction(row: dict[str, Any], day: date, pending: bool, merchant: str | None) -> dict[str, Any]:
    primary, detailed = PFC[row["category"]]
    amount = round(-row["amount"], 2)  # Plaid: positive = money out of the account
    counterparties = []
    if merchant:
        counterparties = [
            {
                "name": merchant,
                "type": "merchant",
                "website": None,
                "logo_url": None,
                "confidence_level": "HIGH",
                "entity_id": None,
                "phone_number": None,
            }
        ]
    return {
        "account_id": row["account_id"],
        "account_owner": None,
        "amount": amount,
        "iso_currency_code": row["currency"],
        "unofficial_currency_code": None,
        "category": None,
        "category_id": None,
        "check_number": None,
        "counterparties": counterparties,
        "date": day.isoformat(),
        "datetime": None,
        "authorized_date": (day - timedelta(days=1)).isoformat(),
        "authorized_datetime": None,
        "location": {
            "address": None,
            "city": None,
            "region": None,
            "postal_code": None,
            "country": None,
            "lat": None,
            "lon": None,
            "store_number": None,
        },
        "logo_url": None,
        "merchant_entity_id": None,
        "merchant_name": merchant,
        "name": row["name"],
        "payment_channel": row["channel"],
        "payment_meta": {
            "by_order_of": None,
            "payee": None,
            "payer": None,
            "payment_method": None,
            "payment_processor": None,
            "ppd_id": None,
            "reason": None,
            "reference_number": None,
        },
        "pending": pending,
        "pending_transaction_id": None,
        "personal_finance_category": {"primary": primary, "detailed": detailed, "confidence_level": "HIGH"},
        "personal_finance_category_icon_url": None,
        "transaction_code": None,
        "transaction_id": row["transaction_id"],
        "transaction_type": "place" if row["channel"] == "online" else "special",
        "website": None,
    }


def plaid_accounts(bank: BankData) -> list[dict[str, Any]]:
    last = bank.daily_balances.sort("date").group_by("account_id").agg(pl.col("balance").last())
    current = dict(last.iter_rows())
    return [
        {
            "account_id": r["account_id"],
            "balances": {
                "available": current[r["account_id"]],
                "current": current[r["account_id"]],
                "iso_currency_code": r["currency"],
                "limit": None,
                "unofficial_currency_code": None,
            },
            "mask": r["mask"],
            "name": r["name"],
            "official_name": r["name"],
            "persistent_account_id": None,
            "subtype": "checking",
            "type": "depository",
        }
        for r in bank.accounts.iter_rows(named=True)
    ]


def plaid_sync_log(reg: Registry, bank: BankData) -> list[dict[str, Any]]:
    """The ordered change log that `/transactions/sync` replays: added, modified, removed.

    Built from the whole simulated horizon (`bank` uncut) and then cut at `as_of`, so the log at a
    later `as_of` extends the earlier one: sync cursors (offsets) stay valid across `advance`.
    """
    ops: list[tuple[int, int, dict[str, Any]]] = []  # (day, order, op)
    lines = bank.lines.sort("day", "transaction_id")
    rng = reg.stream("plaid_sync_log")
    pending_ids = iter(reg.ids("", lines.height, 37, rng))
    draws = rng.random((lines.height, 2))
    for i, row in enumerate(lines.iter_rows(named=True)):
        day = reg.clock.start + timedelta(days=row["day"])
        later = row["merchant_name"] is not None and draws[i, 1] < ENRICH_LATER_RATE
        if row["channel"] == "online" and row["day"] > 0 and draws[i, 0] < PENDING_RATE:
            pend = plaid_transaction(
                {**row, "transaction_id": next(pending_ids)},
                day - timedelta(days=1),
                True,
                row["merchant_name"],
            )
            ops.append((row["day"] - 1, 0, {"op": "added", "transaction": pend}))
            ops.append(
                (
                    row["day"],
                    1,
                    {
                        "op": "removed",
                        "transaction": {
                            "transaction_id": pend["transaction_id"],
                            "account_id": row["account_id"],
                        },
                    },
                )
            )
            posted = plaid_transaction(row, day, False, row["merchant_name"])
            posted["pending_transaction_id"] = pend["transaction_id"]
            ops.append((row["day"], 2, {"op": "added", "transaction": posted}))
        elif later:
            ops.append(
                (row["day"], 2, {"op": "added", "transaction": plaid_transaction(row, day, False, None)})
            )
            ops.append(
                (
                    row["day"] + 1,
                    3,
                    {
                        "op": "modified",
                        "transaction": plaid_transaction(row, day, False, row["merchant_name"]),
                    },
                )
            )
        else:
            ops.append(
                (
                    row["day"],
                    2,
                    {"op": "added", "transaction": plaid_transaction(row, day, False, row["merchant_name"])},
                )
            )
    ops.sort(key=lambda o: (o[0], o[1]))
    last_day = reg.clock.n_days - 1
    return [{"seq": seq, "day": d, **op} for seq, (d, _, op) in enumerate(ops) if d <= last_day]

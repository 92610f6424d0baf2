"""The sandbox's wire objects against the real vendor shapes.

Stripe: every key of the real fixture object must be present in the sandbox object with the same
JSON type, recursively. A null in the fixture accepts any type; the sandbox may send null where the
fixture has a value only for fields that Stripe's API reference declares nullable (NULLABLE below).
Plaid: the documented fields of a `/transactions/sync` transaction and of an account.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "real" / "payments_stripe"

# Stripe API reference: "nullable" fields that the fixtures happen to fill (expandable/optional objects)
NULLABLE = {
    "charge": {
        "shipping",
        "source",
        "transfer_data",
        "payment_method_details.card.installments",
        "payment_method_details.card.three_d_secure",
        "payment_method_details.card.wallet",
        "payment_method_details.card.amount_authorized",
        "billing_details.name",
    },
    "customer": {"discount", "shipping", "invoice_settings.rendering_options", "email", "name"},
    "refund": set(),
    "balance_transaction": set(),
    "payout": {"trace_id.value"},
    "event": set(),
}
OBJECTS = {
    "charge": "charges",
    "customer": "customers",
    "refund": "refunds",
    "balance_transaction": "balance_transactions",
    "payout": "payouts",
    "event": "events",
}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", list: "array", dict: "object"}[type(value)]


def shape_diff(real: Any, ours: Any, nullable: set[str], path: str = "") -> list[str]:
    """Where `ours` lacks a key of `real` or has another JSON type (recursively)."""
    rt, ot = _json_type(real), _json_type(ours)
    if rt == "null" or (ot == "null" and path in nullable):
        return []
    if rt != ot:
        return [f"{path or '<root>'}: real {rt}, sandbox {ot}"]
    problems: list[str] = []
    if rt == "object":
        for key, value in real.items():
            sub = f"{path}.{key}" if path else key
            if key not in ours:
                problems.append(f"{sub}: missing in sandbox")
            else:
                problems += shape_diff(value, ours[key], nullable, sub)
    elif rt == "array" and real and ours:
        problems += shape_diff(real[0], ours[0], nullable, f"{path}[]")
    return problems


def _sandbox_objects(root: Path, name: str) -> list[dict[str, Any]]:
    return [
        json.loads(line) for line in (root / "state" / "stripe" / f"{name}.jsonl").read_text().splitlines()
    ]


@pytest.mark.parametrize("obj", sorted(OBJECTS))
def test_stripe_objects_match_real_fixture(small_sandbox: Path, obj: str) -> None:
    real = json.loads((FIXTURES / f"stripe_{obj}.json").read_text())
    objects = _sandbox_objects(small_sandbox, OBJECTS[obj])
    assert objects
    # the refunded and fee-bearing variants must match too, not just the first object
    sample = objects[:5] + [o for o in objects if o.get("refunds", {}).get("data")][:3]
    sample += [o for o in objects if o.get("fee_details")][:3]
    if obj == "event":  # data.object is any object; compare the envelope
        real = {k: v for k, v in real.items() if k != "data"} | {"data": {"object": {}}}
    for ours in sample:
        assert shape_diff(real, ours, NULLABLE[obj]) == [], ours["id"]
        assert ours["object"] == real["object"]


# No real dispute fixture is stored under tests/fixtures/real/: the reference is the example object of
# Stripe's API reference for the sandbox's API version ("The Dispute object",
# https://docs.stripe.com/api/disputes/object?api-version=2024-06-20), with its nullable
# `payment_intent` filled as the sandbox's card charges have one and one balance transaction listed.
_DISPUTE_EVIDENCE = dict.fromkeys(
    "access_activity_log billing_address cancellation_policy cancellation_policy_disclosure "
    "cancellation_rebuttal customer_communication customer_email_address customer_name "
    "customer_purchase_ip customer_signature duplicate_charge_documentation "
    "duplicate_charge_explanation duplicate_charge_id product_description receipt refund_policy "
    "refund_policy_disclosure refund_refusal_explanation service_date service_documentation "
    "shipping_address shipping_carrier shipping_date shipping_documentation shipping_tracking_number "
    "uncategorized_file uncategorized_text".split()
)
DOCUMENTED_DISPUTE: dict[str, Any] = {
    "id": "du_1MtJUT2eZvKYlo2CNaw2HvEv",
    "object": "dispute",
    "amount": 1000,
    "balance_transactions": [json.loads((FIXTURES / "stripe_balance_transaction.json").read_text())],
    "charge": "ch_1AZtxr2eZvKYlo2CJDX8whov",
    "created": 1680651737,
    "currency": "usd",
    "evidence": _DISPUTE_EVIDENCE,
    "evidence_details": {
        "due_by": 1682294399,
        "has_evidence": False,
        "past_due": False,
        "submission_count": 0,
    },
    "is_charge_refundable": True,
    "livemode": False,
    "metadata": {},
    "payment_intent": "pi_1AZtxr2eZvKYlo2CJDX8whov",
    "reason": "general",
    "status": "warning_needs_response",
}
DISPUTE_STATUSES = {
    "warning_needs_response", "warning_under_review", "warning_closed",
    "needs_response", "under_review", "won", "lost",
}  # fmt: skip


def test_stripe_disputes_match_the_documented_object(small_sandbox: Path) -> None:
    disputes = _sandbox_objects(small_sandbox, "disputes")
    assert disputes
    for ours in disputes:
        assert shape_diff(DOCUMENTED_DISPUTE, ours, set()) == [], ours["id"]
        assert set(ours) == set(DOCUMENTED_DISPUTE), ours["id"]  # no key Stripe does not send
        assert set(ours["evidence"]) == set(_DISPUTE_EVIDENCE)
        assert ours["status"] in DISPUTE_STATUSES
        assert all(shape_diff(DOCUMENTED_DISPUTE["balance_transactions"][0], b, set()) == []
                   for b in ours["balance_transactions"])  # fmt: skip
    events = _sandbox_objects(small_sandbox, "events")
    shown = [e["data"]["object"] for e in events if e["type"].startswith("charge.dispute.")]
    assert all(shape_diff(DOCUMENTED_DISPUTE, obj, set()) == [] for obj in shown)


def test_shape_diff_catches_missing_and_mistyped_keys() -> None:
    real = {"a": 1, "b": {"c": "x"}, "d": None}
    assert shape_diff(real, {"a": 1, "b": {"c": "y"}, "d": 5}, set()) == []
    assert shape_diff(real, {"a": "1", "b": {}, "d": None}, set()) == [
        "a: real number, sandbox string",
        "b.c: missing in sandbox",
    ]


# Plaid /transactions/sync transaction object (plaid.com/docs/api/products/transactions/#transactionssync)
PLAID_TRANSACTION_FIELDS = {
    "account_id": str,
    "amount": float,
    "iso_currency_code": (str, type(None)),
    "unofficial_currency_code": (str, type(None)),
    "category": (list, type(None)),
    "category_id": (str, type(None)),
    "check_number": (str, type(None)),
    "counterparties": list,
    "date": str,
    "datetime": (str, type(None)),
    "authorized_date": (str, type(None)),
    "authorized_datetime": (str, type(None)),
    "location": dict,
    "name": str,
    "merchant_name": (str, type(None)),
    "merchant_entity_id": (str, type(None)),
    "logo_url": (str, type(None)),
    "website": (str, type(None)),
    "payment_meta": dict,
    "payment_channel": str,
    "pending": bool,
    "pending_transaction_id": (str, type(None)),
    "account_owner": (str, type(None)),
    "transaction_id": str,
    "transaction_code": (str, type(None)),
    "transaction_type": str,
    "personal_finance_category": (dict, type(None)),
    "personal_finance_category_icon_url": (str, type(None)),
}
PLAID_LOCATION = {"address", "city", "region", "postal_code", "country", "lat", "lon", "store_number"}
PLAID_PAYMENT_META = {
    "by_order_of",
    "payee",
    "payer",
    "payment_method",
    "payment_processor",
    "ppd_id",
    "reason",
    "reference_number",
}
PLAID_ACCOUNT_FIELDS = {"account_id", "balances", "mask", "name", "official_name", "subtype", "type"}
PLAID_BALANCE_FIELDS = {"available", "current", "iso_currency_code", "limit", "unofficial_currency_code"}


def test_plaid_transactions_have_documented_fields(small_sandbox: Path) -> None:
    log = [
        json.loads(line)
        for line in (small_sandbox / "state/bank_feed/sync_log.jsonl").read_text().splitlines()
    ]
    assert {op["op"] for op in log} >= {"added", "modified"}
    for op in log:
        tx = op["transaction"]
        if op["op"] == "removed":
            assert set(tx) == {"transaction_id", "account_id"}
            continue
        for field, types in PLAID_TRANSACTION_FIELDS.items():
            assert isinstance(tx[field], types), (field, tx[field])
        assert set(tx["location"]) == PLAID_LOCATION and set(tx["payment_meta"]) == PLAID_PAYMENT_META
        assert tx["iso_currency_code"] in ("USD", "EUR")


def test_plaid_sign_convention(small_sandbox: Path) -> None:
    """Plaid: positive amount = money out. Stripe payouts come in, so they are negative."""
    log = [
        json.loads(line)
        for line in (small_sandbox / "state/bank_feed/sync_log.jsonl").read_text().splitlines()
    ]
    payouts = [
        op["transaction"] for op in log if op["op"] == "added" and "STRIPE" in op["transaction"]["name"]
    ]
    payroll = [
        op["transaction"] for op in log if op["op"] == "added" and "GUSTO" in op["transaction"]["name"]
    ]
    assert payouts and all(t["amount"] < 0 for t in payouts)
    assert payroll and all(t["amount"] > 0 for t in payroll)


def test_plaid_accounts_have_documented_fields(small_sandbox: Path) -> None:
    accounts = json.loads((small_sandbox / "state/bank_feed/accounts.json").read_text())
    assert [a["balances"]["iso_currency_code"] for a in accounts] == ["USD", "EUR"]
    for acc in accounts:
        assert PLAID_ACCOUNT_FIELDS <= set(acc) and PLAID_BALANCE_FIELDS <= set(acc["balances"])

"""Stripe endpoints and defaults."""

from __future__ import annotations

from typing import Any

API_PATH = "/v1"
PAGE_LIMIT = 100  # Stripe's maximum
# list endpoint -> integer money fields that must be integers (cents)
ENDPOINTS: dict[str, tuple[str, ...]] = {
    "customers": ("balance",),
    "charges": ("amount", "amount_refunded"),
    "refunds": ("amount",),
    "disputes": ("amount",),
    "balance_transactions": ("amount", "fee", "net"),
    "payouts": ("amount",),
    "events": (),
}
# events carry arbitrary objects in data.object: keep them as JSON instead of one column per field
JSON_NESTED = ("events",)
# lists whose objects change after creation and whose changes Stripe reports as events
# (`data.object` of that `object` type): their tables also take the events' snapshots
EVENT_OBJECTS: dict[str, str] = {
    "charges": "charge",
    "refunds": "refund",
    "disputes": "dispute",  # charge.dispute.created / updated / closed
    "payouts": "payout",
    "customers": "customer",
}
# the version of a row: the event's `created` for an event snapshot, the object's `created` for a
# list read; the merge keeps the highest per id (dlt `dedup_sort`)
VERSION_COLUMN = "_ll_version"
# events are re-read this far back from the newest one seen (events of one second can appear late);
# the ids of events already applied within the window are kept in state and skipped
EVENT_OVERLAP_SECONDS = 300
PAYOUT_MEMBERS = "payout_balance_transactions"
# list -> (field, value, time field): objects loaded with field == value change later without an
# event; they are re-listed until they do, and then versioned by the time field
REREAD_WHILE: dict[str, tuple[str, str, str]] = {
    "balance_transactions": ("status", "pending", "available_on")
}
MAX_ATTEMPTS = 6
BACKOFF_FACTOR = 0.2
MAX_RETRY_DELAY = 5.0
TIMEOUT_SECONDS = 30.0


def _text(*names: str) -> dict[str, dict[str, Any]]:
    return {n: {"data_type": "text"} for n in names}


def _json(*names: str) -> dict[str, dict[str, Any]]:
    return {n: {"data_type": "json"} for n in names}


def _bigint(*names: str) -> dict[str, dict[str, Any]]:
    return {n: {"data_type": "bigint"} for n in names}


_ADDRESS = ("city", "country", "line1", "line2", "postal_code", "state")
_REFUND = _text(
    "reason",
    "balance_transaction",
    "payment_intent",
    "customer",
    "charge",
    "receipt_number",
    "source_transfer_reversal",
    "transfer_reversal",
    "customer_account",
    "payment_method",
)

# Nullable fields that are often null in a whole load: typed up front so the destination always has
# the column (dlt does not create columns it could not type) and staging models can rely on them.
# Nullable *objects* are kept as JSON so a later non-null value does not spawn new columns.
COLUMN_HINTS: dict[str, dict[str, dict[str, Any]]] = {
    "customers": {
        **_text(
            "name",
            "email",
            "phone",
            "description",
            "default_source",
            "test_clock",
            "invoice_settings__default_payment_method",
            "invoice_settings__footer",
            *(f"address__{a}" for a in _ADDRESS),
        ),
        **_json(
            "discount", "shipping", "invoice_settings__custom_fields", "invoice_settings__rendering_options"
        ),
    },
    "charges": {
        **_text(
            "customer",
            "description",
            "failure_code",
            "failure_message",
            "payment_intent",
            "receipt_email",
            "receipt_number",
            "statement_descriptor",
            "statement_descriptor_suffix",
            "balance_transaction",
            "application",
            "application_fee",
            "failure_balance_transaction",
            "on_behalf_of",
            "source_transfer",
            "transfer_group",
            "review",
            "billing_details__phone",
            "billing_details__tax_id",
            "outcome__advice_code",
            "outcome__network_advice_code",
            "outcome__network_decline_code",
            "outcome__reason",
            "payment_method_details__card__checks__address_line1_check",
            "payment_method_details__card__mandate",
            "payment_method_details__card__transaction_link_id",
            *(f"billing_details__address__{a}" for a in _ADDRESS),
        ),
        **_bigint("amount", "amount_refunded", "application_fee_amount"),
        **_json(
            "shipping",
            "source",
            "transfer_data",
            "payment_method_details__card__installments",
            "payment_method_details__card__three_d_secure",
            "payment_method_details__card__wallet",
        ),
    },
    "refunds": _REFUND,
    # a dispute's evidence fills in later and its balance transactions grow (withdrawal, then a
    # reinstatement when won): kept as JSON, the transactions themselves are in balance_transactions
    "disputes": {
        **_text("charge", "payment_intent", "reason", "status", "currency"),
        **_bigint("amount", "evidence_details__due_by"),
        **_json("balance_transactions", "evidence", "metadata"),
    },
    "balance_transactions": {**_text("description", "source"), "exchange_rate": {"data_type": "double"}},
    "payouts": {
        **_text(
            "failure_code",
            "failure_message",
            "statement_descriptor",
            "original_payout",
            "reversed_by",
            "trace_id__value",
            "balance_transaction",
            "application_fee",
            "failure_balance_transaction",
            "payout_method",
        ),
        **_bigint("application_fee_amount"),
    },
    "events": {},
    PAYOUT_MEMBERS: {
        **_text("payout_id", "balance_transaction_id", "type", "currency"),
        **_bigint("amount", "fee", "net"),
    },
}

"""Shopify Admin REST endpoints and defaults."""

from __future__ import annotations

from typing import Any

API_PATH = "/admin/api/{version}"
DEFAULT_API_VERSION = "2024-01"
PAGE_LIMIT = 250  # Shopify's maximum
# resource -> the JSON key of its list in the response
ENDPOINTS: dict[str, str] = {"orders": "orders", "customers": "customers"}
# orders: status=any (Shopify returns only open orders by default)
EXTRA_PARAMS: dict[str, dict[str, Any]] = {"orders": {"status": "any"}, "customers": {}}
CURSOR = "updated_at"
# frozen key columns (primary key and cursor), checked by `ingestion.contracts.TypeContract`
KEYS: dict[str, str] = {"id": "bigint", CURSOR: "timestamp"}
INITIAL_CURSOR = "2000-01-01T00:00:00+00:00"
# re-read this many seconds before the last cursor: Shopify's updated_at can be written a moment
# after a record is visible, so a record updated at the very end of the last run is read again
OVERLAP_SECONDS = 3600.0
# orders -> child tables orders__line_items, orders__refunds, orders__refunds__refund_line_items,
# orders__refunds__transactions, orders__tax_lines, ...; deeper lists (a refunded line's tax_lines) stay JSON
MAX_TABLE_NESTING = 2
MAX_ATTEMPTS = 6
BACKOFF_FACTOR = 0.2
MAX_RETRY_DELAY = 5.0
TIMEOUT_SECONDS = 30.0


def _text(*names: str) -> dict[str, dict[str, Any]]:
    return {n: {"data_type": "text"} for n in names}


# often-null fields typed up front so the column always exists for staging
COLUMN_HINTS: dict[str, dict[str, dict[str, Any]]] = {
    "orders": _text(
        "note", "closed_at", "cancelled_at", "cancel_reason", "tags", "email", "financial_status"
    ),
    "customers": _text("note", "phone", "tags", "last_order_name", "email"),
    # Shopify Payments: money stays decimal text on the wire; ids that are null until a payout exists
    "payouts": {"date": {"data_type": "date"}},
    "balance_transactions": {
        **_text("payout_status", "adjustment_reason"),
        "payout_id": {"data_type": "bigint"},
        "source_order_id": {"data_type": "bigint"},
        "source_order_transaction_id": {"data_type": "bigint"},
    },
}

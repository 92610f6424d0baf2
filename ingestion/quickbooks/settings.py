"""QuickBooks Online endpoints and defaults."""

from __future__ import annotations

from typing import Any

API_PATH = "/v3/company/{realm_id}"
MINOR_VERSION = "75"
MAX_RESULTS = 1000  # QBO's maximum per query page
ENTITIES = (
    "Account",
    "Customer",
    "Vendor",
    "Item",  # products and services: an invoice line's ItemRef -> the Item's IncomeAccountRef
    "Invoice",
    "Payment",
    "Bill",
    "BillPayment",
    "Deposit",
    "JournalEntry",
)


def table_name(entity: str) -> str:
    """`BillPayment` -> `bill_payment`: the resource, table and count name of an entity."""
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(entity))


# Hints of every entity table. No `nullable: False`: dlt copies a resource's hints to the quarantine
# table its bad rows are routed to. `dedup_sort` on `_is_deleted`: when a record read in a run is
# deleted in the same run, both versions are in one load package and the deletion (true) must win
# the merge — QBO has no undelete, so a deleted version is always the newest.
COLUMN_HINTS: dict[str, dict[str, Any]] = {
    "_is_deleted": {"data_type": "bool", "dedup_sort": "desc"},
    "_deleted_at": {"data_type": "timestamp"},
    "PrivateNote": {"data_type": "text"},
}
# what `ingestion.contracts.TypeContract` checks besides the loaded schema: the hints and the cursor
CONTRACT_HINTS: dict[str, dict[str, Any]] = {
    **COLUMN_HINTS,
    "MetaData__LastUpdatedTime": {"data_type": "timestamp"},
}

# re-read records changed this long before the last cursor (late commits on the vendor side)
OVERLAP_SECONDS = 600
CDC_MAX_DAYS = 30
MAX_ATTEMPTS = 6
BACKOFF_FACTOR = 0.2
MAX_RETRY_DELAY = 5.0
TIMEOUT_SECONDS = 30.0

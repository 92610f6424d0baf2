"""Plaid-style bank feed endpoints and defaults."""

from __future__ import annotations

from typing import Any

SYNC_PATH = "/transactions/sync"
ACCOUNTS_PATH = "/accounts/get"
PAGE_COUNT = 500  # Plaid's maximum `count` per /transactions/sync call
MAX_ATTEMPTS = 6
BACKOFF_FACTOR = 0.2
MAX_RETRY_DELAY = 5.0
TIMEOUT_SECONDS = 30.0
# nested objects kept as JSON columns, so a transaction is one row (needed to re-flag removed ones)
JSON_COLUMNS = ("counterparties", "location", "payment_meta", "personal_finance_category", "category")
# No `nullable: False` here: dlt merges a resource's column hints into the tables that its items are
# routed to, including `quarantine`, whose rows lack these fields. The primary key is not-null anyway.
COLUMN_HINTS: dict[str, dict[str, Any]] = {
    "transaction_id": {"data_type": "text"},
    "account_id": {"data_type": "text"},
    "amount": {"data_type": "decimal", "precision": 18, "scale": 2},
    "iso_currency_code": {"data_type": "text"},
    "unofficial_currency_code": {"data_type": "text"},
    "date": {"data_type": "date"},
    "authorized_date": {"data_type": "date"},
    "datetime": {"data_type": "timestamp"},
    "authorized_datetime": {"data_type": "timestamp"},
    "name": {"data_type": "text"},
    "merchant_name": {"data_type": "text"},
    "merchant_entity_id": {"data_type": "text"},
    "payment_channel": {"data_type": "text"},
    "pending": {"data_type": "bool"},
    "pending_transaction_id": {"data_type": "text"},
    "transaction_code": {"data_type": "text"},
    "transaction_type": {"data_type": "text"},
    "check_number": {"data_type": "text"},
    "account_owner": {"data_type": "text"},
    "category_id": {"data_type": "text"},
    "logo_url": {"data_type": "text"},
    "website": {"data_type": "text"},
    "personal_finance_category_icon_url": {"data_type": "text"},
    "_is_deleted": {"data_type": "bool"},
    "_deleted_at": {"data_type": "timestamp"},
    **{name: {"data_type": "json"} for name in JSON_COLUMNS},
}
REQUIRED_TYPES: dict[str, tuple[type, ...]] = {
    "transaction_id": (str,),
    "account_id": (str,),
    "amount": (int, float),
    "date": (str,),
}
ACCOUNT_COLUMN_HINTS: dict[str, dict[str, Any]] = {
    "account_id": {"data_type": "text"},
    "balances__available": {"data_type": "decimal", "precision": 18, "scale": 2},
    "balances__current": {"data_type": "decimal", "precision": 18, "scale": 2},
    "balances__limit": {"data_type": "decimal", "precision": 18, "scale": 2},
    "balances__iso_currency_code": {"data_type": "text"},
    "balances__unofficial_currency_code": {"data_type": "text"},
    "mask": {"data_type": "text"},
    "name": {"data_type": "text"},
    "official_name": {"data_type": "text"},
    "persistent_account_id": {"data_type": "text"},
    "subtype": {"data_type": "text"},
    "type": {"data_type": "text"},
}

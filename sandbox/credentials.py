"""Credentials the sandbox accepts and the sources use by default.

They are the only place where the local sandbox and the pipeline's defaults meet; pointing a source
at a real vendor means setting SOURCES__<SOURCE>__BASE_URL / __API_KEY (see README), nothing else.
"""

from __future__ import annotations

STRIPE_API_KEY = "sk_test_ledgerlake_sandbox"
HUBSPOT_API_KEY = "pat-na1-ledgerlake-sandbox"
SHOPIFY_API_KEY = "shpat_ledgerlake_sandbox"
SHOPIFY_API_VERSION = "2024-01"
QUICKBOOKS_API_KEY = "qbo-ledgerlake-sandbox-token"
QUICKBOOKS_REALM_ID = "9341453050228317"
PLAID_CLIENT_ID = "ledgerlake-sandbox-client"
PLAID_SECRET = "ledgerlake-sandbox-secret"
PLAID_ACCESS_TOKEN = "access-sandbox-ledgerlake"

DEFAULT_PORT = 8765

# What ledgerlake puts into dlt's config (as environment variables) for a source that the user
# has not configured, when it runs against the sandbox. Keys are dlt's config names.
SOURCE_DEFAULTS: dict[str, dict[str, str]] = {
    "stripe": {"api_key": STRIPE_API_KEY},
    "hubspot": {"api_key": HUBSPOT_API_KEY},
    "shopify": {"api_key": SHOPIFY_API_KEY, "api_version": SHOPIFY_API_VERSION},
    "quickbooks": {"api_key": QUICKBOOKS_API_KEY, "realm_id": QUICKBOOKS_REALM_ID},
    "bank_feed": {
        "client_id": PLAID_CLIENT_ID,
        "secret": PLAID_SECRET,
        "access_token": PLAID_ACCESS_TOKEN,
    },
}

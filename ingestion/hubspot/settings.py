"""HubSpot CRM v3 endpoints and defaults."""

from __future__ import annotations

API_PATH = "/crm/v3/objects"
LIST_LIMIT = 100  # HubSpot's maximum for list endpoints
SEARCH_LIMIT = 200  # and for search
SEARCH_CAP = 10_000  # search never pages past 10,000 results: fall back to the full list
OVERLAP_MS = 10 * 60 * 1000
# object -> (properties to read, the property that holds the last modification time)
OBJECTS: dict[str, tuple[tuple[str, ...], str]] = {
    "companies": (("name", "domain", "country", "createdate", "hs_lastmodifieddate"), "hs_lastmodifieddate"),
    "contacts": (("email", "firstname", "lastname", "createdate", "lastmodifieddate"), "lastmodifieddate"),
    "deals": (
        (
            "dealname",
            "amount",
            "deal_currency_code",
            "dealstage",
            "pipeline",
            "closedate",
            "createdate",
            "hs_lastmodifieddate",
            "hs_deal_stage_probability",
            "hs_is_closed",
            "hs_is_closed_won",
        ),
        "hs_lastmodifieddate",
    ),
}
MAX_ATTEMPTS = 6
BACKOFF_FACTOR = 0.2
MAX_RETRY_DELAY = 5.0
TIMEOUT_SECONDS = 30.0

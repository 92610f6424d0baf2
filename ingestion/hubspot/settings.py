"""HubSpot CRM v3 endpoints and defaults."""

from __future__ import annotations

API_PATH = "/crm/v3/objects"
LIST_LIMIT = 100  # HubSpot's maximum for list endpoints
SEARCH_LIMIT = 200  # and for search
SEARCH_CAP = 10_000  # search never pages past 10,000 results: fall back to the full list
OVERLAP_MS = 10 * 60 * 1000
# The stage ids of HubSpot's default sales pipeline, in pipeline order. A deal's stage history comes as
# the properties `hs_v2_date_entered_<stage id>` / `hs_v2_date_exited_<stage id>`; a portal with its
# own pipelines adds its stage ids here (and in the dbt var `hubspot_deal_stages`).
DEAL_STAGES = (
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
    "closedwon",
    "closedlost",
)
STAGE_DATE_PROPERTIES = tuple(
    f"hs_v2_date_{event}_{stage}" for stage in DEAL_STAGES for event in ("entered", "exited")
)
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
            *STAGE_DATE_PROPERTIES,
        ),
        "hs_lastmodifieddate",
    ),
    "line_items": (
        (
            "name",
            "quantity",
            "price",
            "amount",
            "hs_product_id",
            "hs_sku",
            "hs_line_item_currency_code",
            "createdate",
            "hs_lastmodifieddate",
        ),
        "hs_lastmodifieddate",
    ),
}
# association tables read from the deals list with `associations=<type>`: table -> (the type asked
# for, the keys HubSpot files the results under (v3 answers `line_items` as "line items"), the column)
DEAL_ASSOCIATIONS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "deals_companies": ("companies", ("companies",), "company_id"),
    "deals_line_items": ("line_items", ("line items", "line_items"), "line_item_id"),
}
MAX_ATTEMPTS = 6
BACKOFF_FACTOR = 0.2
MAX_RETRY_DELAY = 5.0
TIMEOUT_SECONDS = 30.0

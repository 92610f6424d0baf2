"""dlt source for Shopify (Admin REST): orders (with line items, tax lines, discounts, shipping lines
and refunds) and customers; Shopify Payments payouts and balance transactions
(`ingestion.shopify.payments`, which documents how they are read incrementally).

Config (dlt convention): `SOURCES__SHOPIFY__BASE_URL` (the shop's host root, e.g.
https://{shop}.myshopify.com), `SOURCES__SHOPIFY__API_KEY` (an Admin API access token, sent as
`X-Shopify-Access-Token`) and `SOURCES__SHOPIFY__API_VERSION` (e.g. 2024-01).

Both resources merge on `id` and read incrementally on `updated_at` (`updated_at_min`), stepping back
`settings.OVERLAP_SECONDS` (dlt's incremental `lag`) so an edit written late is not missed; an edited
or refunded order is re-read because Shopify moves its `updated_at`. Orders are read with
`status=any`. Nested lists become child tables (`orders__line_items`, `orders__refunds`,
`orders__refunds__refund_line_items`, `orders__refunds__transactions`, `orders__tax_lines`,
`orders__discount_codes`, `orders__shipping_lines`, ...; deeper lists are JSON columns). Records
without an integer id or a valid `updated_at` go to `raw_shopify.quarantine`; a record served twice
in one run is counted as a duplicate and skipped.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import dlt
from dlt.sources import DltResource
from dlt.sources.helpers.rest_client import RESTClient

from ingestion.contracts import SCHEMA_CONTRACT, TypeContract, guarded
from ingestion.shopify import settings
from ingestion.shopify.helpers import SOURCE, RecordReader, make_client, merged_resource
from ingestion.shopify.payments import balance_transactions_resource, payouts_resource


def _objects(client: RESTClient, base_url: str, name: str, since: str) -> Iterator[Any]:
    reader = RecordReader(client, base_url, name, f"/{name}.json", settings.ENDPOINTS[name], settings.CURSOR)
    yield from reader.read({"updated_at_min": since, **settings.EXTRA_PARAMS[name]})


def _resource(client: RESTClient, base_url: str, name: str) -> DltResource:
    def objects(
        updated_at: dlt.sources.incremental[str] = dlt.sources.incremental(
            settings.CURSOR,
            initial_value=settings.INITIAL_CURSOR,
            lag=settings.OVERLAP_SECONDS,
            on_cursor_value_missing="include",
        ),
    ) -> Iterator[Any]:
        since = str(updated_at.start_value or settings.INITIAL_CURSOR)
        contract = TypeContract(
            name, settings.COLUMN_HINTS.get(name), settings.KEYS, max_nesting=settings.MAX_TABLE_NESTING
        )
        yield from guarded(
            _objects(client, base_url, name, since), contract, SOURCE, name, lambda r: r.get("id")
        )

    return merged_resource(objects, name)


@dlt.source(name="shopify", schema_contract=SCHEMA_CONTRACT)
def shopify_source(
    base_url: str = dlt.config.value,
    api_key: str = dlt.secrets.value,
    api_version: str = settings.DEFAULT_API_VERSION,
) -> Iterable[DltResource]:
    """The Shopify resources `orders`, `customers`, `payouts` and `balance_transactions`."""
    client = make_client(base_url, api_key, api_version)
    return [
        *(_resource(client, base_url, name) for name in settings.ENDPOINTS),
        payouts_resource(client, base_url),
        balance_transactions_resource(client, base_url),
    ]

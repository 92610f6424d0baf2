"""dlt source for Stripe: customers, charges, refunds, balance transactions, payouts, events.

Config (dlt convention): `SOURCES__STRIPE__BASE_URL` (host root, e.g. https://api.stripe.com) and
`SOURCES__STRIPE__API_KEY` (the secret key, sent as Bearer). Every resource merges on `id` and reads
incrementally on `created` (`created[gte]` from dlt state). Objects without an id or with wrong types
go to `raw_stripe.quarantine`; an object served twice in one run (a repeated page) is skipped.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import dlt
from dlt.sources import DltResource
from dlt.sources.helpers.rest_client import RESTClient

from ingestion.runner import counter
from ingestion.stripe import settings
from ingestion.stripe.helpers import check_record, iter_pages, make_client, quarantined

SOURCE = "stripe"


def _objects(client: RESTClient, base_url: str, name: str, since: int) -> Iterator[Any]:
    seen: set[str] = set()
    params = {"limit": settings.PAGE_LIMIT, "created[gte]": since}
    for page in iter_pages(client, f"/{name}", params, base_url):
        counter.add(SOURCE, name, seen=len(page))
        for record in page:
            reason = check_record(record, settings.ENDPOINTS[name])
            if reason is not None:
                counter.add(SOURCE, name, quarantined=1)
                ref = record.get("id") if isinstance(record, dict) else None
                yield quarantined(SOURCE, name, ref, reason, record)
                continue
            if record["id"] in seen:
                counter.add(SOURCE, name, duplicates=1)
                continue
            seen.add(record["id"])
            yield record


def _resource(client: RESTClient, base_url: str, name: str) -> DltResource:
    def objects(
        created: dlt.sources.incremental[int] = dlt.sources.incremental(
            "created", initial_value=0, on_cursor_value_missing="include"
        ),
    ) -> Iterator[Any]:
        yield from _objects(client, base_url, name, int(created.last_value or 0))

    return dlt.resource(
        objects,
        name=name,
        primary_key="id",
        write_disposition="merge",
        max_table_nesting=0 if name in settings.JSON_NESTED else None,
        columns=settings.COLUMN_HINTS.get(name),
    )


@dlt.source(name="stripe")
def stripe_source(
    base_url: str = dlt.config.value, api_key: str = dlt.secrets.value
) -> Iterable[DltResource]:
    """The Stripe resources, one per list endpoint in `settings.ENDPOINTS`."""
    client = make_client(base_url, api_key)
    return [_resource(client, base_url, name) for name in settings.ENDPOINTS]

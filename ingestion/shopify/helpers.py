"""Shopify paging (the `Link` header), auth, record checks and error messages."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import dlt
from dlt.sources import DltResource
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.auth import APIKeyAuth
from dlt.sources.helpers.rest_client.paginators import HeaderLinkPaginator
from requests import Response
from requests.exceptions import HTTPError, RequestException

from ingestion.common import quarantine_row, to_quarantine, vendor_session
from ingestion.runner import counter
from ingestion.shopify import settings
from ledgerlake.errors import LedgerlakeError

SOURCE = "shopify"


def make_client(base_url: str, api_key: str, api_version: str) -> RESTClient:
    """A client for `{base_url}/admin/api/{version}`; dlt's session retries 429/5xx honouring Retry-After."""
    session = vendor_session("shopify", settings)
    return RESTClient(
        base_url=base_url.rstrip("/") + settings.API_PATH.format(version=api_version),
        auth=APIKeyAuth(name="X-Shopify-Access-Token", api_key=api_key, location="header"),
        paginator=HeaderLinkPaginator(links_next_key="next"),
        session=session,
    )


def _error_detail(response: Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict) and "errors" in body:
        return str(body["errors"])[:300]
    return str(body)[:200]


def http_error_message(exc: RequestException, base_url: str) -> str:
    """One line naming the URL and what went wrong (Shopify's `errors` text when present)."""
    response = getattr(exc, "response", None)
    url = getattr(getattr(exc, "request", None), "url", None) or base_url
    if isinstance(exc, HTTPError) and response is not None:
        hint = " (check SOURCES__SHOPIFY__API_KEY)" if response.status_code == 401 else ""
        return f"shopify: GET {url} failed with HTTP {response.status_code}: {_error_detail(response)}{hint}"
    return f"shopify: cannot reach {url} ({type(exc).__name__}: {exc}); check SOURCES__SHOPIFY__BASE_URL"


def iter_pages(
    client: RESTClient, path: str, params: dict[str, Any], data_key: str, base_url: str
) -> Iterator[list[Any]]:
    """Pages of a list endpoint (`{"<data_key>": [...]}`), following `Link: <...>; rel="next"`."""
    try:
        yield from client.paginate(path, params=params, data_selector=data_key)
    except RequestException as exc:
        raise LedgerlakeError(http_error_message(exc, base_url)) from exc


def check_record(record: Any, field: str = settings.CURSOR) -> str | None:
    """Why a Shopify object can't be loaded (None if it can): an integer `id` and an ISO 8601 date or
    date-time in `field` (orders and customers: `updated_at`; payouts: `date`; balance transactions:
    `processed_at`)."""
    if not isinstance(record, dict):
        return f"expected a JSON object, got {type(record).__name__}"
    if type(record.get("id")) is not int:
        return f"missing key field id (got {type(record.get('id')).__name__})"
    value = record.get(field)
    if not isinstance(value, str):
        return f"field {field}: expected an ISO 8601 date-time, got {type(value).__name__}"
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return f"field {field}: expected an ISO 8601 date-time, got {value!r}"
    return None


class RecordReader:
    """One Shopify list's reads in one run: pages, counts, quarantine with a reason, and records read
    twice in the run (a page served again, a record re-read) counted as duplicates and loaded once."""

    def __init__(self, client: RESTClient, base_url: str, name: str, path: str, key: str, field: str) -> None:
        self.client, self.base_url, self.name = client, base_url, name
        self.path, self.key, self.field = path, key, field
        self.seen: set[int] = set()

    def read(self, params: dict[str, Any]) -> Iterator[Any]:
        pages = iter_pages(
            self.client, self.path, {"limit": settings.PAGE_LIMIT, **params}, self.key, self.base_url
        )
        for page in pages:
            counter.add(SOURCE, self.name, seen=len(page))
            for record in page:
                reason = check_record(record, self.field)
                if reason is not None:
                    counter.add(SOURCE, self.name, quarantined=1)
                    ref = record.get("id") if isinstance(record, dict) else None
                    yield quarantined(self.name, ref, reason, record)
                    continue
                if record["id"] in self.seen:
                    counter.add(SOURCE, self.name, duplicates=1)
                    continue
                self.seen.add(record["id"])
                yield record


def quarantined(obj: str, ref: Any, reason: str, raw: Any) -> Any:
    return to_quarantine(quarantine_row(SOURCE, obj, str(ref) if ref is not None else "?", reason, raw))


def merged_resource(reader: Callable[..., Iterator[Any]], name: str) -> DltResource:
    """A Shopify resource merged on the Shopify id, typed by the source's column hints."""
    return dlt.resource(
        reader,
        name=name,
        primary_key="id",
        write_disposition="merge",
        max_table_nesting=settings.MAX_TABLE_NESTING,
        columns=settings.COLUMN_HINTS.get(name),
    )

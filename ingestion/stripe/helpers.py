"""Stripe paging, auth, record checks and error messages."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.auth import BearerTokenAuth
from dlt.sources.helpers.rest_client.paginators import BasePaginator
from requests import Request, Response
from requests.exceptions import HTTPError, RequestException

from ingestion.common import quarantine_row, to_quarantine, vendor_session
from ingestion.stripe import settings
from ledgerlake.errors import LedgerlakeError


class StripeCursorPaginator(BasePaginator):
    """Stripe lists: `has_more` + `starting_after=<id of the last object on the page>`."""

    def __init__(self) -> None:
        super().__init__()
        self._starting_after: str | None = None

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        body = response.json()
        last = data[-1] if data else None
        self._has_next_page = bool(body.get("has_more")) and isinstance(last, dict) and "id" in last
        self._starting_after = last["id"] if self._has_next_page and isinstance(last, dict) else None

    def update_request(self, request: Request) -> None:
        if self._starting_after:
            request.params = {**(request.params or {}), "starting_after": self._starting_after}


def make_client(base_url: str, api_key: str) -> RESTClient:
    session = vendor_session("stripe", settings)
    return RESTClient(
        base_url=base_url.rstrip("/") + settings.API_PATH,
        auth=BearerTokenAuth(api_key),
        paginator=StripeCursorPaginator(),
        data_selector="data",
        session=session,
    )


def http_error_message(source: str, exc: RequestException, base_url: str) -> str:
    """One line naming the URL and what went wrong (Stripe's/Plaid's own message when present)."""
    response = getattr(exc, "response", None)
    url = getattr(getattr(exc, "request", None), "url", None) or base_url
    if isinstance(exc, HTTPError) and response is not None:
        detail = _error_detail(response)
        return f"{source}: {response.request.method} {url} failed with HTTP {response.status_code}: {detail}"
    return f"{source}: cannot reach {url} ({type(exc).__name__}: {exc}); check SOURCES__{source.upper()}__BASE_URL"


def _error_detail(response: Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("message"))
    if isinstance(body, dict) and "error_message" in body:
        return f"{body.get('error_code')}: {body.get('error_message')}"
    return str(body)[:200]


def check_record(record: Any, money_fields: tuple[str, ...]) -> str | None:
    """Why a Stripe object can't be loaded (None if it can)."""
    if not isinstance(record, dict):
        return f"expected a JSON object, got {type(record).__name__}"
    if not isinstance(record.get("id"), str) or not record["id"]:
        return "missing key field id"
    if type(record.get("created")) is not int:
        return f"field created: expected integer unix time, got {type(record.get('created')).__name__}"
    for name in money_fields:
        if name in record and type(record[name]) is not int:
            return f"field {name}: expected integer minor units, got {type(record[name]).__name__}"
    return None


def iter_pages(client: RESTClient, path: str, params: dict[str, Any], base_url: str) -> Iterator[list[Any]]:
    """Pages of a list endpoint; HTTP and connection errors become one-line LedgerlakeErrors."""
    try:
        yield from client.paginate(path, params=params)
    except RequestException as exc:
        raise LedgerlakeError(http_error_message("stripe", exc, base_url)) from exc


def quarantined(source: str, obj: str, ref: Any, reason: str, raw: Any) -> Any:
    """A quarantine row for one bad record (`ref` may be missing)."""
    return to_quarantine(quarantine_row(source, obj, str(ref) if ref else "?", reason, raw))

"""HubSpot: session with retries, list paging by `after`, search paging, record checks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from requests import Response, Session
from requests.exceptions import HTTPError, RequestException

from ingestion.common import vendor_session
from ingestion.hubspot import settings
from ledgerlake.errors import LedgerlakeError


def make_session(api_key: str) -> Session:
    session = vendor_session("hubspot", settings)
    session.headers.update({"Authorization": f"Bearer {api_key}"})
    return session


def _call(session: Session, method: str, url: str, **kwargs: Any) -> Any:
    try:
        resp: Response = session.request(method, url, **kwargs)
        resp.raise_for_status()
        return resp.json()
    except HTTPError as exc:
        r = exc.response
        try:
            body = r.json()
            detail = f"{body.get('category')}: {body.get('message')}" if isinstance(body, dict) else str(body)
        except ValueError:
            detail = r.text[:200]
        raise LedgerlakeError(
            f"hubspot: {method} {r.url} failed with HTTP {r.status_code}: {detail}"
        ) from exc
    except RequestException as exc:
        raise LedgerlakeError(
            f"hubspot: cannot reach {url} ({type(exc).__name__}); check SOURCES__HUBSPOT__BASE_URL"
        ) from exc


def list_pages(session: Session, url: str, params: dict[str, Any]) -> Iterator[list[Any]]:
    """A list endpoint page by page, following `paging.next.after`."""
    after: str | None = None
    while True:
        body = _call(session, "GET", url, params={**params, **({"after": after} if after else {})})
        yield body.get("results", [])
        after = ((body.get("paging") or {}).get("next") or {}).get("after")
        if not after:
            return


def search_pages(
    session: Session, url: str, prop: str, since_ms: int, props: tuple[str, ...]
) -> Iterator[list[Any]]:
    """Objects with `prop >= since_ms`, oldest change first; raises OverflowError past the 10,000 cap.

    Pages by the sort key, not by offset: each page asks again for `prop >=` the newest modification
    time read so far (`after` only steps over a page that is all at that one time). An offset walk
    over results sorted by modification time skips a record whenever a record it already read is
    modified meanwhile (that one moves to the end, every record after it one place forward); here a
    record modified during the walk comes again at its new place. Records at the boundary time come
    again too: the caller skips an id it has already read in the run.
    """
    low, after = since_ms, 0
    while True:
        body = {
            "filterGroups": [{"filters": [{"propertyName": prop, "operator": "GTE", "value": str(low)}]}],
            "sorts": [{"propertyName": prop, "direction": "ASCENDING"}],
            "properties": list(props),
            "limit": settings.SEARCH_LIMIT,
            "after": after,
        }
        page = _call(session, "POST", f"{url}/search", json=body)
        if int(page.get("total", 0)) > settings.SEARCH_CAP:
            raise OverflowError
        results = page.get("results", [])
        yield results
        if not results or not ((page.get("paging") or {}).get("next") or {}).get("after"):
            return
        times = [to_ms((r.get("properties") or {}).get(prop)) for r in results if isinstance(r, dict)]
        newest = max((t for t in times if t is not None), default=None)
        if newest is not None and newest > low:
            low, after = newest, 0
        else:  # a whole page at `low`: step over it
            after += len(results)


def to_ms(text: Any) -> int | None:
    try:
        return int(datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


def check_record(record: Any, modified: str) -> str | None:
    if not isinstance(record, dict):
        return f"expected a JSON object, got {type(record).__name__}"
    if not isinstance(record.get("id"), str) or not record["id"]:
        return "missing key field id"
    props = record.get("properties")
    if not isinstance(props, dict):
        return "field properties: expected an object"
    if to_ms(props.get(modified)) is None:
        return f"field properties.{modified}: missing or not a date-time"
    return None

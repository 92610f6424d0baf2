"""Plaid `/transactions/sync` paging, record checks and the lookup of previously loaded rows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import dlt
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.paginators import BasePaginator
from requests import Request, Response
from requests.exceptions import RequestException

from ingestion.bank_feed import settings
from ingestion.common import vendor_session
from ingestion.stripe.helpers import http_error_message
from ledgerlake.errors import LedgerlakeError


class SyncCursorPaginator(BasePaginator):
    """`/transactions/sync`: send `next_cursor` back in the JSON body while `has_more` is true."""

    def __init__(self) -> None:
        super().__init__()
        self.cursor: str | None = None

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        body = response.json()
        self.cursor = body.get("next_cursor")
        self._has_next_page = bool(body.get("has_more")) and bool(self.cursor)

    def update_request(self, request: Request) -> None:
        request.json = {**(request.json or {}), "cursor": self.cursor}


def make_client(base_url: str) -> RESTClient:
    session = vendor_session("bank_feed", settings)
    return RESTClient(base_url=base_url.rstrip("/"), session=session, data_selector="$")


def sync_pages(client: RESTClient, body: dict[str, Any], base_url: str) -> Iterator[dict[str, Any]]:
    """Each `/transactions/sync` response body, from `body["cursor"]` until `has_more` is false."""
    try:
        for page in client.paginate(
            settings.SYNC_PATH, method="post", json=body, paginator=SyncCursorPaginator()
        ):
            yield page.response.json()
    except RequestException as exc:
        raise LedgerlakeError(http_error_message("bank_feed", exc, base_url)) from exc


def post_once(client: RESTClient, path: str, body: dict[str, Any], base_url: str) -> dict[str, Any]:
    try:
        response = client.post(path, json=body)
        response.raise_for_status()
    except RequestException as exc:
        raise LedgerlakeError(http_error_message("bank_feed", exc, base_url)) from exc
    return response.json()


def check_transaction(record: Any) -> str | None:
    """Why a Plaid transaction can't be loaded (None if it can)."""
    if not isinstance(record, dict):
        return f"expected a JSON object, got {type(record).__name__}"
    if not isinstance(record.get("transaction_id"), str) or not record["transaction_id"]:
        return "missing key field transaction_id"
    for name, types in settings.REQUIRED_TYPES.items():
        value = record.get(name)
        if not isinstance(value, types) or isinstance(value, bool):
            expected = "/".join(t.__name__ for t in types)
            return f"field {name}: expected {expected}, got {type(value).__name__}"
    return None


def previously_loaded(table: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    """Rows of `table` already in the destination for these ids (empty on the first load)."""
    if not ids:
        return {}
    try:
        pipeline = dlt.current.pipeline()
        with pipeline.sql_client() as client:
            qualified = client.make_qualified_table_name(table)
            placeholders = ",".join(["%s"] * len(ids))
            sql = f"select * from {qualified} where transaction_id in ({placeholders})"
            with client.execute_query(sql, *ids) as cur:
                columns = [d[0] for d in cur.description]
                rows = cur.fetchall()
    except Exception:  # noqa: BLE001 - no destination table yet (first run): nothing to look up
        return {}
    out = {}
    for row in rows:
        rec = {k: v for k, v in zip(columns, row, strict=True) if not k.startswith("_dlt_")}
        for name in settings.JSON_COLUMNS:
            if isinstance(rec.get(name), str):
                rec[name] = json.loads(rec[name])
        out[rec["transaction_id"]] = rec
    return out

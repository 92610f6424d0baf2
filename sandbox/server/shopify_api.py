"""Shopify Admin REST over the sandbox state: `GET /admin/api/{version}/orders.json`,
`customers.json`, `shopify_payments/payouts.json` and `shopify_payments/balance/transactions.json`
with Shopify's filters, cursor paging (`page_info` in the `Link` header), auth and errors. Any
`20xx-xx` API version is accepted."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sandbox.credentials import SHOPIFY_API_KEY

OBJECTS = ("orders", "customers")
# Shopify Payments: stored name -> (path under /admin/api/{version}/, the list's JSON key)
PAYMENTS = {
    "payouts": ("shopify_payments/payouts", "payouts"),
    "balance_transactions": ("shopify_payments/balance/transactions", "transactions"),
}
VERSION = re.compile(r"^20\d\d-(0[1-9]|1[0-2])$")
DEFAULT_LIMIT = 50
MAX_LIMIT = 250
AUTH_ERROR = "[API] Invalid API key or access token (unrecognized login or wrong password)"
RATE_LIMIT_ERROR = (
    "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."
)
_FILTERS = {
    "orders": ("status", "financial_status", "since_id", "created_at_min", "created_at_max", "updated_at_min",
               "updated_at_max", "ids"),
    "customers": ("since_id", "created_at_min", "created_at_max", "updated_at_min", "updated_at_max", "ids"),
    "payouts": ("since_id", "last_id", "date_min", "date_max", "status"),
    "balance_transactions": ("since_id", "last_id", "test", "payout_id", "payout_status"),
}  # fmt: skip
_PAYOUT_STATUSES = ("scheduled", "in_transit", "paid", "failed", "cancelled")
_PAGE_PARAMS = ("limit", "fields", "page_info")
_STATUSES = ("open", "closed", "cancelled", "any")


@dataclass
class ShopifyList:
    """One Shopify resource: objects in ascending id (duplicates kept, as stored), JSON pre-serialised."""

    name: str
    ids: list[int] = field(default_factory=list)
    created: list[float] = field(default_factory=list)
    updated: list[float] = field(default_factory=list)
    status: list[str] = field(default_factory=list)
    financial: list[str] = field(default_factory=list)
    json: list[str] = field(default_factory=list)
    attrs: list[dict[str, str]] = field(default_factory=list)  # payouts/balance transactions: filter fields
    key: str = ""  # the list's JSON key (the name unless Shopify calls it otherwise)

    @property
    def json_key(self) -> str:
        return self.key or self.name

    @classmethod
    def from_jsonl(cls, name: str, path: Path) -> ShopifyList:
        rows = []
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                obj = json.loads(line)
                oid = obj.get("id") if type(obj.get("id")) is int else 0
                status = (
                    "cancelled" if obj.get("cancelled_at") else "closed" if obj.get("closed_at") else "open"
                )
                attrs = {
                    k: str(obj.get(k)).lower() if isinstance(obj.get(k), bool) else str(obj.get(k))
                    for k in ("date", "status", "test", "payout_id", "payout_status")
                    if k in obj
                }
                rows.append(
                    (
                        oid,
                        _ts(obj.get("created_at") or obj.get("processed_at")),
                        _ts(obj.get("updated_at")),
                        status,
                        str(obj.get("financial_status")),
                        line.rstrip("\n"),
                        attrs,
                    )
                )
        rows.sort(key=lambda r: r[0])
        out = cls(name, key=PAYMENTS[name][1] if name in PAYMENTS else "")
        for oid, created, updated, status, financial, text, attrs in rows:
            out.ids.append(oid)
            out.created.append(created)
            out.updated.append(updated)
            out.status.append(status)
            out.financial.append(financial)
            out.json.append(text)
            out.attrs.append(attrs)
        return out


def _ts(value: Any) -> float:
    """Unix seconds of an ISO time; a broken one sorts last, so `*_min` filters still serve it
    (the sandbox serves stored objects as they are, even broken ones, as the Stripe lists do)."""
    try:
        return datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        return float("inf")


def load_shopify(data_dir: Path) -> dict[str, ShopifyList]:
    folder = Path(data_dir) / "state" / "shopify"
    return {p.stem: ShopifyList.from_jsonl(p.stem, p) for p in sorted(folder.glob("*.jsonl"))}


def shopify_error(status: int, errors: Any) -> JSONResponse:
    return JSONResponse({"errors": errors}, status_code=status)


def check_auth(request: Request) -> JSONResponse | None:
    if request.headers.get("x-shopify-access-token") != SHOPIFY_API_KEY:
        return shopify_error(401, AUTH_ERROR)
    return None


class BadParam(ValueError):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


def _time_param(params: dict[str, str], name: str) -> float | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace(" ", "+").replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadParam(name, f"{name} must be an ISO 8601 date-time, got {raw!r}") from exc
    return parsed.timestamp()


def _int(params: dict[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isdigit():
        raise BadParam(name, f"{name} must be an integer, got {raw!r}")
    return int(raw)


def _payments_matches(objs: ShopifyList, params: dict[str, str]) -> list[int]:
    """Payouts (`date_min`/`date_max`, `status`) and balance transactions (`payout_id`,
    `payout_status`, `test`), both with `since_id`/`last_id`: newest first, ascending with since_id."""
    since, last = _int(params, "since_id"), _int(params, "last_id")
    status = params.get("status")
    if objs.name == "payouts" and status is not None and status not in _PAYOUT_STATUSES:
        raise BadParam("status", f"status must be one of {', '.join(_PAYOUT_STATUSES)}")
    for name in ("date_min", "date_max"):
        if params.get(name):
            try:
                if not re.fullmatch(r"\d{4}-\d\d-\d\d", params[name]):
                    raise ValueError(params[name])
                date.fromisoformat(params[name])
            except ValueError as exc:
                raise BadParam(name, f"{name} must be a date (YYYY-MM-DD), got {params[name]!r}") from exc
    if params.get("payout_id") is not None:
        _int(params, "payout_id")
    exact = {k: params[k] for k in ("status", "payout_id", "payout_status", "test") if params.get(k)}
    out = []
    for i, oid in enumerate(objs.ids):
        attrs = objs.attrs[i]
        if (since is not None and oid <= since) or (last is not None and oid >= last):
            continue
        if any(attrs.get(k) != v for k, v in exact.items()):
            continue
        day = attrs.get("date", "")
        if (params.get("date_min") and day < params["date_min"]) or (
            params.get("date_max") and day > params["date_max"]
        ):
            continue
        out.append(i)
    return out if since is not None else out[::-1]


def _matches(objs: ShopifyList, params: dict[str, str]) -> list[int]:
    """Indices of the objects matching the filters, in the order the API returns them."""
    if objs.name in PAYMENTS:
        return _payments_matches(objs, params)
    status = params.get("status", "open" if objs.name == "orders" else "any")
    if status not in _STATUSES:
        raise BadParam("status", f"status must be one of {', '.join(_STATUSES)}")
    financial = params.get("financial_status", "any")
    since = _int(params, "since_id")
    ids = {int(x) for x in params["ids"].split(",") if x.strip().isdigit()} if params.get("ids") else None
    bounds = {k: _time_param(params, k) for k in _FILTERS[objs.name] if k.endswith(("_min", "_max"))}
    out = []
    for i, oid in enumerate(objs.ids):
        if since is not None and oid <= since:
            continue
        if ids is not None and oid not in ids:
            continue
        if status != "any" and objs.status[i] != status:
            continue
        if financial != "any" and objs.financial[i] != financial:
            continue
        if not _in_bounds(objs.created[i], bounds.get("created_at_min"), bounds.get("created_at_max")):
            continue
        if not _in_bounds(objs.updated[i], bounds.get("updated_at_min"), bounds.get("updated_at_max")):
            continue
        out.append(i)
    return out if since is not None else out[::-1]  # since_id: ascending ids; otherwise newest first


matching = _matches  # for `mid_page`: the walk a page_info continues


def _in_bounds(value: float, lo: float | None, hi: float | None) -> bool:
    return (lo is None or value >= lo) and (hi is None or value <= hi)


def encode_page_info(filters: dict[str, str], offset: int) -> str:
    raw = json.dumps({"f": filters, "o": offset}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_page_info(token: str) -> tuple[dict[str, str], int]:
    try:
        body = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode())
        filters, offset = body["f"], int(body["o"])
        if not isinstance(filters, dict) or offset < 0:
            raise ValueError(token)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise BadParam("page_info", "Invalid value.") from exc
    return {str(k): str(v) for k, v in filters.items()}, offset


def _select(text: str, fields: list[str] | None) -> str:
    if not fields:
        return text
    obj = json.loads(text)
    return json.dumps({k: obj[k] for k in fields if k in obj}, separators=(",", ":"), ensure_ascii=False)


def _link(request: Request, limit: int, fields: str | None, token: str, rel: str) -> str:
    query = {"limit": limit, **({"fields": fields} if fields else {}), "page_info": token}
    return f'<{request.url.replace(query=urlencode(query))}>; rel="{rel}"'


def list_response(request: Request, objs: ShopifyList) -> Response:
    """A Shopify list: `{"<name>": [...]}` with `Link` rel next/previous while there is more."""
    params = dict(request.query_params)
    try:
        limit = _int(params, "limit")
        limit = DEFAULT_LIMIT if limit is None else limit
        if not 1 <= limit <= MAX_LIMIT:
            raise BadParam("limit", f"limit must be between 1 and {MAX_LIMIT}")
        offset = 0
        filters = {k: v for k, v in params.items() if k not in _PAGE_PARAMS}
        if "page_info" in params:
            if filters:
                raise BadParam(
                    "page_info", "page_info cannot be combined with parameters other than limit and fields"
                )
            filters, offset = decode_page_info(params["page_info"])
        unknown = sorted(set(filters) - set(_FILTERS[objs.name]) - {"order"})
        if unknown:
            raise BadParam(unknown[0], f"unknown parameter {unknown[0]}")
        matched = _matches(objs, filters)
    except BadParam as exc:
        return shopify_error(400, {exc.name: [str(exc)]})
    page = matched[offset : offset + limit]
    fields = params.get("fields")
    wanted = [f.strip() for f in fields.split(",") if f.strip()] if fields else None
    body = f'{{"{objs.json_key}":[{",".join(_select(objs.json[i], wanted) for i in page)}]}}'
    response = Response(body, media_type="application/json")
    links = []
    if offset > 0:
        links.append(
            _link(request, limit, fields, encode_page_info(filters, max(0, offset - limit)), "previous")
        )
    if offset + limit < len(matched):
        nxt = encode_page_info(filters, offset + limit)
        links.append(_link(request, limit, fields, nxt, "next"))
        request.state.continuation = nxt
    if links:
        response.headers["Link"] = ", ".join(links)
    return response


def handle(request: Request, lists: dict[str, ShopifyList], name: str) -> Response:
    """The whole endpoint: version check, auth, then the list."""
    if not VERSION.match(request.path_params.get("version", "")):
        return shopify_error(404, "Not Found")
    denied = check_auth(request)
    if denied is not None:
        return denied
    objs = lists.get(name)
    if objs is None:
        return shopify_error(404, "Not Found")
    return list_response(request, objs)

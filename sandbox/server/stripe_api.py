"""Stripe v1 list endpoints over the sandbox state, with Stripe's paging, filters, auth and errors."""

from __future__ import annotations

import base64
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sandbox.credentials import STRIPE_API_KEY
from sandbox.server.store import ObjectList

MAX_LIMIT = 100
DEFAULT_LIMIT = 10
SINGULAR = {
    "charges": "charge",
    "refunds": "refund",
    "disputes": "dispute",
    "balance_transactions": "balance_transaction",
    "payouts": "payout",
    "customers": "customer",
    "events": "event",
}


def stripe_error(
    status: int, message: str, err_type: str = "invalid_request_error", **extra: Any
) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": err_type, **extra}}, status_code=status)


def api_key_of(request: Request) -> str | None:
    """The secret key from `Authorization: Bearer <key>` or basic auth with the key as user."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value.strip()).decode().partition(":")[0]
        except (ValueError, UnicodeDecodeError):
            return None
    return None


def check_auth(request: Request) -> JSONResponse | None:
    key = api_key_of(request)
    if not key:
        return stripe_error(
            401,
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
        )
    if key != STRIPE_API_KEY:
        shown = key[:8] + "*" * max(0, len(key) - 12) + key[-4:] if len(key) > 12 else key[:3] + "***"
        return stripe_error(401, f"Invalid API Key provided: {shown}")
    return None


def _int_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if not raw.lstrip("-").isdigit():
        raise ValueError(name)
    return int(raw)


def _created_bounds(request: Request) -> tuple[int, int]:
    lo, hi = -(2**62), 2**62
    exact = _int_param(request, "created")
    if exact is not None:
        return exact, exact
    for name, adjust in (("created[gte]", 0), ("created[gt]", 1)):
        v = _int_param(request, name)
        if v is not None:
            lo = max(lo, v + adjust)
    for name, adjust in (("created[lte]", 0), ("created[lt]", -1)):
        v = _int_param(request, name)
        if v is not None:
            hi = min(hi, v + adjust)
    return lo, hi


def _page(objs: ObjectList, start: int, limit: int, lo: int) -> tuple[list[str], bool]:
    """Up to `limit` objects from index `start` whose created >= lo; plus has_more."""
    end = start
    n = len(objs.ids)
    while end < n and end - start < limit and objs.created[end] >= lo:
        end += 1
    has_more = end < n and objs.created[end] >= lo
    return objs.json[start:end], has_more


def _subset(objs: ObjectList, ids: list[str]) -> ObjectList:
    """The objects of `objs` with these ids, in the list's order (newest first)."""
    positions = sorted(objs.position[i] for i in ids if i in objs.position)
    out = ObjectList(
        objs.name,
        [objs.created[i] for i in positions],
        [objs.ids[i] for i in positions],
        [objs.json[i] for i in positions],
    )
    out.position = {oid: i for i, oid in enumerate(out.ids)}
    out.neg_created = [-c for c in out.created]
    return out


def _payout_filter(
    request: Request, objs: ObjectList, members: dict[str, list[str]] | None
) -> ObjectList | JSONResponse:
    """`?payout=po_...` on balance transactions: only those that automatic payout paid out."""
    payout = request.query_params.get("payout")
    if payout is None:
        return objs
    if objs.name != "balance_transactions":
        return stripe_error(400, "Received unknown parameter: payout", param="payout")
    if members is None or payout not in members:
        return stripe_error(400, f"No such payout: '{payout}'", code="resource_missing", param="payout")
    return _subset(objs, members[payout])


def list_response(
    request: Request, objs: ObjectList, payout_members: dict[str, list[str]] | None = None
) -> Response:
    """A Stripe list: newest first, `limit`, `starting_after`, `created[...]`, and `payout` on
    balance transactions (`payout_members`: payout id -> its balance transaction ids)."""
    filtered = _payout_filter(request, objs, payout_members)
    if isinstance(filtered, JSONResponse):
        return filtered
    objs = filtered
    try:
        limit = _int_param(request, "limit")
        lo, hi = _created_bounds(request)
    except ValueError as exc:
        return stripe_error(400, f"Invalid integer: {request.query_params.get(str(exc))}", param=str(exc))
    limit = DEFAULT_LIMIT if limit is None else limit
    if not 1 <= limit <= MAX_LIMIT:
        return stripe_error(400, f"Invalid limit: must be between 1 and {MAX_LIMIT}", param="limit")
    start = objs.first_at_or_before(hi)
    after = request.query_params.get("starting_after")
    if after:
        if after not in objs.position:
            return stripe_error(
                400,
                f"No such {SINGULAR[objs.name]}: '{after}'",
                code="resource_missing",
                param="starting_after",
            )
        start = max(start, objs.position[after] + 1)
    data, has_more = _page(objs, start, limit, lo)
    request.state.continuation = objs.ids[start + len(data) - 1] if has_more else None
    url = f"/v1/{objs.name}"
    more = "true" if has_more else "false"
    body = f'{{"object":"list","url":"{url}","has_more":{more},"data":[{",".join(data)}]}}'
    return Response(body, media_type="application/json")

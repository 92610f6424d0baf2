"""HubSpot CRM v3 over the sandbox state: object lists, search, PATCH, associations, Bearer auth, errors."""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sandbox.credentials import HUBSPOT_API_KEY
from sandbox.server.store import SandboxState

OBJECTS = ("companies", "contacts", "deals", "line_items")
MAX_LIST_LIMIT = 100
MAX_SEARCH_LIMIT = 200
SEARCH_RESULT_CAP = 10_000
ALWAYS = {
    "companies": ("createdate", "hs_lastmodifieddate", "hs_object_id"),
    "contacts": ("createdate", "lastmodifieddate", "hs_object_id"),
    "deals": ("createdate", "hs_lastmodifieddate", "hs_object_id"),
    "line_items": ("createdate", "hs_lastmodifieddate", "hs_object_id"),
}
# `associations=<object type>` -> the key HubSpot's v3 answer files them under (line items: with a space)
ASSOCIATION_KEYS = {
    "companies": "companies",
    "company": "companies",
    "contacts": "contacts",
    "contact": "contacts",
    "deals": "deals",
    "deal": "deals",
    "line_items": "line items",
    "line_item": "line items",
}


def hs_error(status: int, message: str, category: str, **extra: Any) -> JSONResponse:
    body = {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
        **extra,
    }
    return JSONResponse(body, status_code=status)


def check_auth(request: Request) -> Response | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or token.strip() != HUBSPOT_API_KEY:
        return hs_error(
            401,
            "Authentication credentials not found. This API supports OAuth 2.0 authentication "
            "and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
            "INVALID_AUTHENTICATION",
        )
    return None


@dataclass
class HubspotState:
    objects: dict[str, list[dict[str, Any]]]  # ordered by numeric id
    position: dict[str, dict[str, int]]

    @classmethod
    def load(cls, data_dir: Path) -> HubspotState:
        objects: dict[str, list[dict[str, Any]]] = {name: [] for name in OBJECTS}
        for path in sorted((data_dir / "state" / "hubspot").glob("*.jsonl")):
            with path.open(encoding="utf-8") as fh:
                objects[path.stem] = [json.loads(line) for line in fh]
        position = {k: {str(o.get("id")): i for i, o in enumerate(v)} for k, v in objects.items()}
        return cls(objects, position)


class HubspotStore:
    """HubSpot state for the holder's current sandbox state; PATCHes live in memory until it reloads."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.lock = threading.Lock()
        self._for: object | None = None
        self._state: HubspotState | None = None

    def get(self, state: SandboxState) -> HubspotState:
        with self.lock:
            if self._for is not state or self._state is None:
                self._state = HubspotState.load(self.data_dir)
                self._for = state
            return self._state


def _shape(name: str, obj: dict[str, Any], props: list[str] | None, assoc: list[str]) -> dict[str, Any]:
    if props is None:
        properties = obj["properties"]
    else:
        keep = [*props, *ALWAYS[name]]
        properties = {p: obj["properties"].get(p) for p in dict.fromkeys(keep)}
    out = {
        "id": obj["id"],
        "properties": properties,
        "createdAt": obj["createdAt"],
        "updatedAt": obj["updatedAt"],
        "archived": obj["archived"],
    }
    stored = obj.get("associations", {})
    keys = dict.fromkeys(ASSOCIATION_KEYS.get(a.strip().lower(), a) for a in assoc)
    links = {k: stored[k] for k in keys if k in stored}
    if links:
        out["associations"] = links
    return out


def _props(raw: Any) -> list[str] | None:
    if raw is None:
        return None
    items = raw if isinstance(raw, list) else str(raw).split(",")
    return [p.strip() for p in items if str(p).strip()]


def _page(
    request: Request, name: str, rows: list[dict[str, Any]], start: int, limit: int, props, assoc
) -> dict:
    chunk = rows[start : start + limit]
    body: dict[str, Any] = {"results": [_shape(name, o, props, assoc) for o in chunk]}
    if start + limit < len(rows):
        after = str(start + limit)
        request.state.continuation = after
        body["paging"] = {"next": {"after": after, "link": f"{request.url.path}?after={after}"}}
    return body


def list_objects(hs: HubspotState, request: Request) -> Response:
    name = request.path_params["object"]
    if name not in hs.objects:
        return hs_error(400, f"Unable to infer object type from: {name}", "VALIDATION_ERROR")
    q = request.query_params
    try:
        limit = int(q.get("limit", "10"))
        start = int(q.get("after", "0") or 0)
    except ValueError:
        return hs_error(400, "limit and after must be integers", "VALIDATION_ERROR")
    if not 1 <= limit <= MAX_LIST_LIMIT:
        return hs_error(400, f"limit must be between 1 and {MAX_LIST_LIMIT}", "VALIDATION_ERROR")
    archived = q.get("archived", "false").lower() == "true"
    rows = [] if archived else hs.objects[name]
    props = _props(",".join(q.getlist("properties"))) if "properties" in q else None
    assoc = [a for a in ",".join(q.getlist("associations")).split(",") if a]
    return JSONResponse(_page(request, name, rows, start, limit, props, assoc))


def _matches(obj: dict[str, Any], flt: dict[str, Any]) -> bool:
    value = obj["properties"].get(flt.get("propertyName"))
    op, target = flt.get("operator", "EQ"), flt.get("value")
    if op == "HAS_PROPERTY":
        return value is not None
    if value is None or target is None:
        return False
    a, b = _comparable(value), _comparable(target)
    return {"EQ": a == b, "NEQ": a != b, "GT": a > b, "GTE": a >= b, "LT": a < b, "LTE": a <= b}.get(
        op, False
    )


def _comparable(v: Any) -> Any:
    s = str(v)
    if s.isdigit():
        return int(s)  # epoch milliseconds, as HubSpot accepts for date properties
    try:
        return int(datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(UTC).timestamp() * 1000)
    except ValueError:
        return s


def search_rows(hs: HubspotState, name: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The objects a search body matches, in its `sorts` order (ties in id order)."""
    groups = body.get("filterGroups") or []
    rows = [
        o
        for o in hs.objects[name]
        if not groups or any(all(_matches(o, f) for f in g.get("filters", [])) for g in groups)
    ]
    for s in reversed(body.get("sorts") or []):
        key = s.get("propertyName", "hs_object_id")
        rows.sort(
            key=lambda o, k=key: _comparable(o["properties"].get(k) or 0),
            reverse=s.get("direction", "ASCENDING") == "DESCENDING",
        )
    return rows


async def search(hs: HubspotState, request: Request) -> Response:
    name = request.path_params["object"]
    if name not in hs.objects:
        return hs_error(400, f"Unable to infer object type from: {name}", "VALIDATION_ERROR")
    try:
        body = json.loads(await request.body() or b"{}")
        limit = int(body.get("limit", 10))
        start = int(body.get("after", 0) or 0)
    except (ValueError, TypeError, AttributeError):
        return hs_error(400, "Invalid input JSON on line 1", "VALIDATION_ERROR")
    if not 1 <= limit <= MAX_SEARCH_LIMIT:
        return hs_error(400, f"limit must be between 1 and {MAX_SEARCH_LIMIT}", "VALIDATION_ERROR")
    if start + limit > SEARCH_RESULT_CAP:
        return hs_error(
            400,
            "There was a problem with the request.",
            "VALIDATION_ERROR",
            subCategory="SEARCH_RESULT_LIMIT",
            context={"limit": [str(SEARCH_RESULT_CAP)]},
        )
    rows = search_rows(hs, name, body)
    page = _page(request, name, rows, start, limit, _props(body.get("properties")), [])
    return JSONResponse({"total": len(rows), **page})


async def patch(hs: HubspotState, lock: threading.Lock, request: Request, at: datetime) -> Response:
    """PATCH of an object's properties, stamped `at` (the sandbox's simulated now, as every other
    change the sandbox makes, so modification times never run backwards)."""
    name, oid = request.path_params["object"], request.path_params["object_id"]
    pos = hs.position.get(name, {}).get(oid)
    if pos is None:
        return hs_error(404, f"resource not found: {name} {oid}", "OBJECT_NOT_FOUND")
    try:
        props = json.loads(await request.body() or b"{}")["properties"]
        assert isinstance(props, dict)
    except (ValueError, KeyError, TypeError, AssertionError):
        return hs_error(400, 'Invalid input JSON: expected {"properties": {...}}', "VALIDATION_ERROR")
    now = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    with lock:
        obj = hs.objects[name][pos]
        obj["properties"].update({k: None if v is None else str(v) for k, v in props.items()})
        modified = "lastmodifieddate" if name == "contacts" else "hs_lastmodifieddate"
        obj["properties"][modified] = now
        obj["updatedAt"] = now
    return JSONResponse(_shape(name, obj, None, []))

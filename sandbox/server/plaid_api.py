"""Plaid-style `/transactions/sync` and `/accounts/get` over the sandbox's change log."""

from __future__ import annotations

import json
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from sandbox.credentials import PLAID_ACCESS_TOKEN, PLAID_CLIENT_ID, PLAID_SECRET
from sandbox.server.store import SandboxState, decode_cursor, encode_cursor

MAX_COUNT = 500
DEFAULT_COUNT = 100


def plaid_error(status: int, error_type: str, code: str, message: str) -> JSONResponse:
    return JSONResponse(
        {
            "display_message": None,
            "documentation_url": f"https://plaid.com/docs/errors/{error_type.lower().replace('_', '-')}/",
            "error_code": code,
            "error_message": message,
            "error_type": error_type,
            "request_id": uuid.uuid4().hex[:15],
            "causes": [],
            "status": status,
            "suggested_action": None,
        },
        status_code=status,
    )


async def parse_body(request: Request) -> dict[str, Any] | JSONResponse:
    """The JSON body with valid credentials, or the Plaid error response to send."""
    try:
        body = json.loads(await request.body() or b"{}")
    except json.JSONDecodeError:
        return plaid_error(400, "INVALID_REQUEST", "INVALID_BODY", "body could not be parsed as JSON")
    if not isinstance(body, dict):
        return plaid_error(400, "INVALID_REQUEST", "INVALID_BODY", "body must be a JSON object")
    if body.get("client_id") != PLAID_CLIENT_ID or body.get("secret") != PLAID_SECRET:
        return plaid_error(400, "INVALID_INPUT", "INVALID_API_KEYS", "invalid client_id or secret provided")
    if body.get("access_token") != PLAID_ACCESS_TOKEN:
        return plaid_error(
            400,
            "INVALID_INPUT",
            "INVALID_ACCESS_TOKEN",
            "provided access token is in an invalid format. expected format: access-<environment>-<identifier>",
        )
    return body


def _item() -> dict[str, Any]:
    return {
        "item_id": "ledgerlake-sandbox-item",
        "institution_id": "ins_ledgerlake",
        "webhook": None,
        "available_products": [],
        "billed_products": ["transactions"],
        "consent_expiration_time": None,
        "error": None,
        "update_type": "background",
    }


def accounts_get(state: SandboxState) -> JSONResponse:
    return JSONResponse(
        {"accounts": state.plaid_accounts, "item": _item(), "request_id": uuid.uuid4().hex[:15]}
    )


def transactions_sync(state: SandboxState, body: dict[str, Any], request: Request) -> JSONResponse:
    offset = decode_cursor(str(body.get("cursor") or ""))
    if offset is None or offset > len(state.plaid_log):
        return plaid_error(400, "INVALID_REQUEST", "INVALID_FIELD", "cursor is not a valid sync cursor")
    count = body.get("count", DEFAULT_COUNT)
    if not isinstance(count, int) or not 1 <= count <= MAX_COUNT:
        return plaid_error(
            400, "INVALID_REQUEST", "INVALID_FIELD", f"count must be an integer in 1..{MAX_COUNT}"
        )
    ops = state.plaid_log[offset : offset + count]
    end = offset + len(ops)
    request.state.continuation = encode_cursor(end) if end < len(state.plaid_log) else None
    return JSONResponse(
        {
            "accounts": state.plaid_accounts,
            "added": [o["transaction"] for o in ops if o["op"] == "added"],
            "modified": [o["transaction"] for o in ops if o["op"] == "modified"],
            "removed": [o["transaction"] for o in ops if o["op"] == "removed"],
            "next_cursor": encode_cursor(end),
            "has_more": end < len(state.plaid_log),
            "request_id": uuid.uuid4().hex[:15],
            "transactions_update_status": "HISTORICAL_UPDATE_COMPLETE",
        }
    )

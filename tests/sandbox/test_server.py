from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from ledgerlake.errors import LedgerlakeError
from sandbox.credentials import PLAID_ACCESS_TOKEN, PLAID_CLIENT_ID, PLAID_SECRET, STRIPE_API_KEY
from sandbox.server import create_app, serve_in_thread
from sandbox.server.faults import FaultInjector, parse_faults

AUTH = {"Authorization": f"Bearer {STRIPE_API_KEY}"}
PLAID = {"client_id": PLAID_CLIENT_ID, "secret": PLAID_SECRET, "access_token": PLAID_ACCESS_TOKEN}


@pytest.fixture(scope="module")
def client(small_sandbox: Path) -> TestClient:
    return TestClient(create_app(small_sandbox))


def _stored(root: Path, name: str) -> list[dict]:
    return [json.loads(line) for line in (root / "state/stripe" / f"{name}.jsonl").read_text().splitlines()]


def _walk(client: TestClient, name: str, **params: object) -> list[dict]:
    out, after = [], None
    while True:
        query = {**params, **({"starting_after": after} if after else {})}
        body = client.get(f"/v1/{name}", params=query, headers=AUTH).json()
        assert body["object"] == "list" and body["url"] == f"/v1/{name}"
        out += body["data"]
        if not body["has_more"]:
            return out
        after = body["data"][-1]["id"]


def test_paging_returns_every_object_once_newest_first(client: TestClient, small_sandbox: Path) -> None:
    got = _walk(client, "charges", limit=37)
    stored = _stored(small_sandbox, "charges")
    assert sorted(c["id"] for c in got) == sorted(c["id"] for c in stored)
    created = [c["created"] for c in got]
    assert created == sorted(created, reverse=True)


def test_created_filters(client: TestClient, small_sandbox: Path) -> None:
    stored = _stored(small_sandbox, "balance_transactions")
    lo, hi = stored[len(stored) // 3]["created"], stored[2 * len(stored) // 3]["created"]
    got = _walk(client, "balance_transactions", limit=100, **{"created[gte]": lo, "created[lte]": hi})
    expected = {b["id"] for b in stored if lo <= b["created"] <= hi}
    assert {b["id"] for b in got} == expected and len(got) == len(expected)


def test_default_and_bad_limits(client: TestClient) -> None:
    assert len(client.get("/v1/payouts", headers=AUTH).json()["data"]) == 10
    bad = client.get("/v1/payouts", params={"limit": 101}, headers=AUTH)
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "limit"
    missing = client.get("/v1/payouts", params={"starting_after": "po_nope"}, headers=AUTH)
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "resource_missing"


def test_auth_wrong_key_is_401_with_stripe_error(client: TestClient) -> None:
    for headers in ({"Authorization": "Bearer sk_test_wrong_key_123456"}, {}):
        resp = client.get("/v1/charges", headers=headers)
        assert resp.status_code == 401
        err = resp.json()["error"]
        assert err["type"] == "invalid_request_error" and err["message"]


def test_basic_auth_with_key_as_user(client: TestClient) -> None:
    assert client.get("/v1/customers", auth=(STRIPE_API_KEY, "")).status_code == 200
    assert client.get("/v1/customers", auth=("sk_test_other", "")).status_code == 401


def test_plaid_sync_replays_the_log(client: TestClient, small_sandbox: Path) -> None:
    log = [
        json.loads(line)
        for line in (small_sandbox / "state/bank_feed/sync_log.jsonl").read_text().splitlines()
    ]
    cursor, ops = "", {"added": 0, "modified": 0, "removed": 0}
    while True:
        body = client.post("/transactions/sync", json={**PLAID, "cursor": cursor, "count": 90}).json()
        for key in ops:
            ops[key] += len(body[key])
        assert len(body["accounts"]) == 2
        cursor = body["next_cursor"]
        if not body["has_more"]:
            break
    assert ops == {k: sum(1 for o in log if o["op"] == k) for k in ops}
    again = client.post("/transactions/sync", json={**PLAID, "cursor": cursor}).json()
    assert again["added"] == [] and again["has_more"] is False and again["next_cursor"] == cursor


def test_plaid_bad_credentials(client: TestClient) -> None:
    resp = client.post("/transactions/sync", json={**PLAID, "secret": "nope"})
    assert resp.status_code == 400
    body = resp.json()
    assert body["error_type"] == "INVALID_INPUT" and body["error_code"] == "INVALID_API_KEYS"
    resp = client.post("/accounts/get", json={**PLAID, "access_token": "access-sandbox-other"})
    assert resp.json()["error_code"] == "INVALID_ACCESS_TOKEN"
    resp = client.post("/transactions/sync", json={**PLAID, "cursor": "garbage"})
    assert resp.status_code == 400 and resp.json()["error_code"] == "INVALID_FIELD"


def test_faults_429_has_retry_after(small_sandbox: Path) -> None:
    client = TestClient(create_app(small_sandbox, faults="429=1.0"))
    resp = client.get("/v1/charges", headers=AUTH)
    assert resp.status_code == 429 and int(resp.headers["Retry-After"]) >= 1
    assert resp.json()["error"]["code"] == "rate_limit"
    plaid = client.post("/transactions/sync", json=PLAID)
    assert plaid.status_code == 429 and plaid.json()["error_type"] == "RATE_LIMIT_EXCEEDED"


def test_faults_5xx(small_sandbox: Path) -> None:
    client = TestClient(create_app(small_sandbox, faults="500=0.5,503=0.5"))
    codes = {client.get("/v1/charges", headers=AUTH).status_code for _ in range(20)}
    assert codes == {500, 503}


def test_fault_dup_page_serves_previous_page_again(small_sandbox: Path) -> None:
    client = TestClient(create_app(small_sandbox, faults="dup_page=1.0"))
    first = client.get("/v1/charges", params={"limit": 5}, headers=AUTH).json()
    after = first["data"][-1]["id"]
    second = client.get("/v1/charges", params={"limit": 5, "starting_after": after}, headers=AUTH)
    assert second.json() == first
    # another walk (other filters, or a fresh start) never gets this page
    fresh = client.get("/v1/charges", params={"limit": 3}, headers=AUTH).json()
    assert [c["id"] for c in fresh["data"]] == [c["id"] for c in first["data"][:3]]
    other = client.get(
        "/v1/charges", params={"limit": 5, "starting_after": after, "created[gte]": 1}, headers=AUTH
    )
    assert other.json() != first
    plaid1 = client.post("/transactions/sync", json={**PLAID, "count": 4}).json()
    plaid2 = client.post(
        "/transactions/sync", json={**PLAID, "count": 4, "cursor": plaid1["next_cursor"]}
    ).json()
    assert plaid2["added"] == plaid1["added"] and plaid2["next_cursor"] == plaid1["next_cursor"]


def test_faults_are_seeded(small_sandbox: Path) -> None:
    draws = []
    for _ in range(2):
        inj = FaultInjector(parse_faults("429=0.2,500=0.1,slow=0.1,dup_page=0.1"), seed=3)
        draws.append([inj.draw() for _ in range(200)])
    assert draws[0] == draws[1]
    assert {d for d in draws[0]} == {None, "429", "500", "slow", "dup_page"}


@pytest.mark.parametrize("spec", ["teapot=0.1", "429=x", "429=1.5", "429=0.7,500=0.7"])
def test_bad_fault_spec_is_a_user_error(spec: str) -> None:
    with pytest.raises(LedgerlakeError, match="--faults"):
        parse_faults(spec)


def test_missing_sandbox_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(LedgerlakeError, match="sandbox.json"):
        create_app(tmp_path / "nowhere")


def test_serve_in_thread_picks_a_port_and_stops(small_sandbox: Path) -> None:
    with serve_in_thread(small_sandbox) as url:
        assert url.startswith("http://127.0.0.1:") and not url.endswith(":0")
        assert httpx.get(f"{url}/v1/payouts", headers=AUTH).status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/v1/payouts", headers=AUTH, timeout=2)

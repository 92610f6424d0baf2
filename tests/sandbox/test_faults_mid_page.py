"""The `mid_page_update` fault: a record changes at the source while a client pages through a list.

Per API the real dlt source loads into a temporary DuckDB from a sandbox served with the fault at a
high probability (small pages, so there are many next-page requests), then loads again with the
fault switched off on the same running server (the changes live in its memory); after that clean
incremental load the warehouse must hold the server's final state — read back over HTTP — so the
incremental cursors did not skip an update made mid-extraction. Two walks per API where they differ:
the first, full load faulted, and (HubSpot, QuickBooks) an incremental load faulted: the sandbox is
loaded at an earlier cut, advanced (so the incremental search / filtered query spans many changed
records over many pages) and then loaded with the fault on — the walk that the update reorders
(HubSpot's search, sorted by modification time) or grows (QBO's `LastUpdatedTime >=` query).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
import requests
from starlette.testclient import TestClient

from ingestion.common import Target
from ingestion.runner import run_api_sources
from sandbox.advance import advance
from sandbox.credentials import (
    HUBSPOT_API_KEY,
    QUICKBOOKS_API_KEY,
    QUICKBOOKS_REALM_ID,
    SHOPIFY_API_KEY,
    SOURCE_DEFAULTS,
    STRIPE_API_KEY,
)
from sandbox.generate import generate
from sandbox.server import create_app, serve_app_in_thread
from sandbox.server.faults import parse_faults

FAULT = "mid_page_update=0.3"
QBO_ENTITIES = ("Invoice", "Bill")
EARLIER_AS_OF = date(2025, 10, 1)
ADVANCE_DAYS = 91  # to the default cut, 2025-12-31


@pytest.fixture(scope="module")
def earlier_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sandbox cut three months before the default `as_of` (copied before it is advanced)."""
    out = tmp_path_factory.mktemp("mid_page_earlier")
    generate(seed=21, scale=0.05, out=out, as_of=EARLIER_AS_OF)
    return out


@pytest.fixture(scope="module")
def sandbox_dir(earlier_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sandbox at the default cut; the fault's changes live in a server's memory, never here."""
    out = tmp_path_factory.mktemp("mid_page_sandbox") / "sbx"
    shutil.copytree(earlier_dir, out)
    advance(out, ADVANCE_DAYS)
    return out


@pytest.fixture(autouse=True)
def _small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
    monkeypatch.setattr("ingestion.hubspot.settings.LIST_LIMIT", 4)
    monkeypatch.setattr("ingestion.hubspot.settings.SEARCH_LIMIT", 2)
    monkeypatch.setattr("ingestion.shopify.settings.PAGE_LIMIT", 20)
    monkeypatch.setattr("ingestion.quickbooks.settings.MAX_RESULTS", 10)
    monkeypatch.setattr("ingestion.stripe.settings.PAGE_LIMIT", 25)


def _rows(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def _epoch(value: Any) -> int:
    if isinstance(value, datetime):
        return int((value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp())
    return int(datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp())


# --- the server's final state, read over HTTP (faults off) ------------------------------------------


def _hubspot_final(url: str) -> dict[str, tuple]:
    out, after = {}, None
    while True:
        params = {"limit": 100, **({"after": after} if after else {})}
        body = requests.get(
            f"{url}/crm/v3/objects/deals", params=params, headers=_auth(HUBSPOT_API_KEY)
        ).json()
        for d in body["results"]:
            p = d["properties"]
            out[d["id"]] = (_epoch(p["hs_lastmodifieddate"]), p["dealstage"], p["amount"])
        after = ((body.get("paging") or {}).get("next") or {}).get("after")
        if not after:
            return out


def _hubspot_loaded(db: Path) -> dict[str, tuple]:
    sql = "select id, properties__hs_lastmodifieddate, properties__dealstage, properties__amount from raw_hubspot.deals"
    return {i: (_epoch(t), stage, str(amount)) for i, t, stage, amount in _rows(db, sql)}


def _shopify_final(url: str) -> dict[int, tuple]:
    out: dict[int, tuple] = {}
    link = f"{url}/admin/api/2024-01/orders.json?limit=250&status=any"
    while link:
        resp = requests.get(link, headers={"X-Shopify-Access-Token": SHOPIFY_API_KEY})
        for o in resp.json()["orders"]:
            refunds = sorted(r["id"] for r in o["refunds"])
            out[o["id"]] = (_epoch(o["updated_at"]), o["financial_status"], o["current_total_price"], refunds)
        m = re.search(r'<([^>]+)>; rel="next"', resp.headers.get("link", ""))
        link = m.group(1) if m else ""
    return out


def _shopify_loaded(db: Path) -> dict[int, tuple]:
    refunds: dict[int, list[int]] = {}
    for order_id, refund_id in _rows(db, "select order_id, id from raw_shopify.orders__refunds"):
        refunds.setdefault(order_id, []).append(refund_id)
    sql = "select id, updated_at, financial_status, current_total_price from raw_shopify.orders"
    return {i: (_epoch(t), fs, str(total), sorted(refunds.get(i, []))) for i, t, fs, total in _rows(db, sql)}


def _qbo_final(url: str) -> dict[str, tuple]:
    out = {}
    for entity in QBO_ENTITIES:
        start = 1
        while True:
            q = f"select * from {entity} STARTPOSITION {start} MAXRESULTS 1000"
            body = requests.get(
                f"{url}/v3/company/{QUICKBOOKS_REALM_ID}/query",
                params={"query": q},
                headers=_auth(QUICKBOOKS_API_KEY),
            ).json()
            page = body["QueryResponse"].get(entity, [])
            for o in page:
                out[f"{entity}:{o['Id']}"] = (
                    _epoch(o["MetaData"]["LastUpdatedTime"]),
                    o["SyncToken"],
                    o["DueDate"],
                )
            if len(page) < 1000:
                break
            start += len(page)
    return out


def _qbo_loaded(db: Path) -> dict[str, tuple]:
    out = {}
    for entity, table in (("Invoice", "invoice"), ("Bill", "bill")):
        sql = (
            f"select id, meta_data__last_updated_time, sync_token, due_date from raw_quickbooks.{table} "
            "where not _is_deleted"
        )
        for i, t, sync, due in _rows(db, sql):
            out[f"{entity}:{i}"] = (
                _epoch(t),
                str(sync),
                due.isoformat() if isinstance(due, date) else str(due),
            )
    return out


def _stripe_list(url: str, name: str) -> list[dict]:
    out, after = [], None
    while True:
        params = {"limit": 100, **({"starting_after": after} if after else {})}
        body = requests.get(f"{url}/v1/{name}", params=params, headers=_auth(STRIPE_API_KEY)).json()
        out += body["data"]
        if not body["has_more"]:
            return out
        after = body["data"][-1]["id"]


def _stripe_final(url: str) -> dict[str, Any]:
    charges = {c["id"]: (c["refunded"], c["amount_refunded"]) for c in _stripe_list(url, "charges")}
    ids = {
        name: sorted(o["id"] for o in _stripe_list(url, name))
        for name in ("refunds", "balance_transactions", "events")
    }
    return {"charges": charges, **ids}


def _stripe_loaded(db: Path) -> dict[str, Any]:
    charges = {
        i: (r, a) for i, r, a in _rows(db, "select id, refunded, amount_refunded from raw_stripe.charges")
    }
    ids = {
        name: sorted(r[0] for r in _rows(db, f"select id from raw_stripe.{name}"))
        for name in ("refunds", "balance_transactions", "events")
    }
    return {"charges": charges, **ids}


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@dataclass(frozen=True)
class Api:
    source: str
    final: Callable[[str], Any]
    loaded: Callable[[Path], Any]
    incremental: bool = False  # also test a faulted incremental load


APIS = {
    "hubspot": Api("hubspot", _hubspot_final, _hubspot_loaded, incremental=True),
    "shopify": Api("shopify", _shopify_final, _shopify_loaded),
    "quickbooks": Api("quickbooks", _qbo_final, _qbo_loaded, incremental=True),
    "stripe": Api("stripe", _stripe_final, _stripe_loaded),
}


@contextmanager
def _serve(sandbox_dir: Path, api: Api, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str]]:
    app = create_app(sandbox_dir, faults=FAULT)
    with serve_app_in_thread(app) as url:
        for key, value in SOURCE_DEFAULTS[api.source].items():
            monkeypatch.setenv(f"SOURCES__{api.source.upper()}__{key.upper()}", value)
        monkeypatch.setenv(f"SOURCES__{api.source.upper()}__BASE_URL", url)
        yield app, url


def _load(api: Api, target: Target) -> None:
    [report] = run_api_sources([api.source], target, record=False)
    assert report.error is None, report.error


def _changed(app: Any, api: Api) -> list[dict]:
    return [u for u in app.state.mid_page_updates.log if u["api"] == api.source]


@pytest.mark.parametrize("name", list(APIS))
def test_faulted_first_load_then_clean_incremental_load_reaches_the_final_state(
    name: str, sandbox_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = APIS[name]
    target = Target("duckdb", tmp_path / "w.duckdb", pipelines_dir=tmp_path / ".dlt")
    with _serve(sandbox_dir, api, monkeypatch) as (app, url):
        _load(api, target)
        changed = _changed(app, api)
        assert changed, "the fault must have changed records during the load"
        assert app.state.injector.injected["mid_page_update"] == len(app.state.mid_page_updates.log)
        assert api.loaded(target.duckdb_path) != api.final(url), "the faulted load holds stale versions"
        app.state.injector.configure(parse_faults(None))
        _load(api, target)
        assert api.loaded(target.duckdb_path) == api.final(url)


@pytest.mark.parametrize("name", [n for n, a in APIS.items() if a.incremental])
def test_faulted_incremental_load_then_clean_incremental_load_reaches_the_final_state(
    name: str, earlier_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = APIS[name]
    data = tmp_path / "sbx"
    shutil.copytree(earlier_dir, data)
    target = Target("duckdb", tmp_path / "w.duckdb", pipelines_dir=tmp_path / ".dlt")
    with _serve(data, api, monkeypatch) as (app, url):
        app.state.injector.configure(parse_faults(None))
        _load(api, target)
        assert api.loaded(target.duckdb_path) == api.final(url)
        advance(data, ADVANCE_DAYS)  # the server reloads: three months of changes to read
        app.state.injector.configure(parse_faults(FAULT))
        _load(api, target)
        assert _changed(app, api), "the fault must have changed records during the incremental load"
        app.state.injector.configure(parse_faults(None))
        _load(api, target)
        assert api.loaded(target.duckdb_path) == api.final(url)


def test_mid_page_update_is_persistent_seeded_and_counted(sandbox_dir: Path) -> None:
    """A change made between two pages is served by every later request, and the same seed and
    requests change the same records."""

    def walk() -> tuple[list[dict], dict, dict]:
        client = TestClient(create_app(sandbox_dir, faults="mid_page_update=1.0"))
        headers = _auth(HUBSPOT_API_KEY)
        for after in (0, 3, 6, 9):
            assert (
                client.get(
                    "/crm/v3/objects/deals", params={"limit": 3, "after": after}, headers=headers
                ).status_code
                == 200
            )
        health = client.get("/health").json()
        deals = {
            d["id"]: d
            for d in client.get("/crm/v3/objects/deals", params={"limit": 100}, headers=headers).json()[
                "results"
            ]
        }
        return health["mid_page_updates"], health["faults_injected"], deals

    log, injected, deals = walk()
    assert len(log) == 3 and injected == {"mid_page_update": 3}  # the first page is no continuation
    now = "2025-12-31T23:59:59.000Z"  # the sandbox's as_of day ends: the `Date` header's clock
    for change in log:
        deal = deals[change["id"]]
        assert deal["properties"]["hs_lastmodifieddate"] == now and deal["updatedAt"] == now
    again, _, deals_again = walk()
    assert again == log and deals_again == deals


def test_stripe_refund_comes_with_its_objects_and_event(sandbox_dir: Path) -> None:
    app = create_app(sandbox_dir, faults="mid_page_update=1.0")
    client = TestClient(app)
    headers = _auth(STRIPE_API_KEY)
    first = client.get("/v1/charges", params={"limit": 5}, headers=headers).json()
    client.get("/v1/charges", params={"limit": 5, "starting_after": first["data"][-1]["id"]}, headers=headers)
    app.state.injector.configure(parse_faults(None))  # one change, then read it back undisturbed
    [change] = client.get("/health").json()["mid_page_updates"]
    charges = {c["id"]: c for c in _stripe_list_client(client, "charges")}
    charge = charges[change["id"]]
    [refund] = [r for r in charge["refunds"]["data"] if r["id"] in change["change"]]
    assert charge["refunded"] and charge["amount_refunded"] == charge["amount"] == refund["amount"]
    newest = {
        n: client.get(f"/v1/{n}", params={"limit": 1}, headers=headers).json()["data"][0]
        for n in ("refunds", "balance_transactions", "events")
    }
    assert newest["refunds"] == refund
    assert (
        newest["balance_transactions"]["source"] == refund["id"]
        and newest["balance_transactions"]["net"] == -refund["amount"]
    )
    assert newest["events"]["type"] == "charge.refunded" and newest["events"]["data"]["object"] == charge
    assert (
        newest["events"]["created"]
        == refund["created"]
        == int(datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp())
    )


def _stripe_list_client(client: TestClient, name: str) -> list[dict]:
    out, after = [], None
    while True:
        params = {"limit": 100, **({"starting_after": after} if after else {})}
        body = client.get(f"/v1/{name}", params=params, headers=_auth(STRIPE_API_KEY)).json()
        out += body["data"]
        if not body["has_more"]:
            return out
        after = body["data"][-1]["id"]

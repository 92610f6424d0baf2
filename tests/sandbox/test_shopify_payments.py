"""Shopify Payments in the sandbox: payouts and balance transactions against the real fixtures and
Shopify's documented keys, the money recomputed from the orders and from the stated payout rules
(T+2 business days, daily sweep, arrival one business day later), the bank lines and QuickBooks
Deposits the payouts become, the Admin REST endpoints, and what an advance changes."""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from starlette.testclient import TestClient

from sandbox.advance import advance
from sandbox.credentials import SHOPIFY_API_KEY, SHOPIFY_API_VERSION
from sandbox.server import create_app
from tests.sandbox.test_shape import shape_diff

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "real" / "payments_shopify"
AUTH = {"X-Shopify-Access-Token": SHOPIFY_API_KEY}
BASE = f"/admin/api/{SHOPIFY_API_VERSION}/shopify_payments"
PAYOUTS, TRANSACTIONS = f"{BASE}/payouts.json", f"{BASE}/balance/transactions.json"
# Shopify Payments balance transaction object (shopify.dev, REST Admin API, "Transaction"):
# the keys the sandbox must send and their JSON types (None: nullable)
BT_KEYS: dict[str, tuple[type, ...]] = {
    "id": (int,),
    "type": (str,),
    "test": (bool,),
    "payout_id": (int, type(None)),
    "payout_status": (str,),
    "currency": (str,),
    "amount": (str,),
    "fee": (str,),
    "net": (str,),
    "source_id": (int,),
    "source_type": (str,),
    "source_order_transaction_id": (int, type(None)),
    "source_order_id": (int, type(None)),
    "processed_at": (str,),
}
BT_TYPES = {"charge", "refund", "dispute", "reserve", "adjustment", "credit", "debit", "payout",
            "payout_failure", "payout_cancellation"}  # fmt: skip
PAYOUT_STATUSES = {"scheduled", "in_transit", "paid", "failed", "cancelled"}


def _stored(root: Path, name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (root / "state/shopify" / f"{name}.jsonl").read_text().splitlines()]


def _meta(root: Path) -> dict[str, str]:
    return json.loads((root / "sandbox.json").read_text())


def _cents(text: str) -> int:
    value = Decimal(text) * 100
    assert value == value.to_integral_value(), text  # money on the wire has two decimals
    return int(value)


def _business_days_after(day: str, n: int) -> str:
    return str(np.busday_offset(np.datetime64(day, "D"), n, roll="forward"))


def _orders(root: Path) -> dict[int, dict[str, Any]]:
    return {o["id"]: o for o in _stored(root, "orders")}  # a duplicated row is the same order


@pytest.fixture(scope="module")
def client(small_sandbox: Path) -> TestClient:
    return TestClient(create_app(small_sandbox))


def _walk(client: TestClient, url: str | None, key: str, **params: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    query: dict[str, Any] | None = params
    while url:
        resp = client.get(url, params=query, headers=AUTH)
        assert resp.status_code == 200, resp.text
        out += resp.json()[key]
        nxt = [p for p in resp.headers.get("link", "").split(", ") if p.endswith('rel="next"')]
        url = nxt[0][1 : nxt[0].index(">")] if nxt else None
        query = None
    return out


# --- the wire shape -------------------------------------------------------------------------------


def test_payouts_match_the_real_fixtures(small_sandbox: Path) -> None:
    list_real = json.loads((FIXTURES / "shopify_payouts.json").read_text())["payouts"]
    one_real = json.loads((FIXTURES / "shopify_payout.json").read_text())["payout"]
    payouts = _stored(small_sandbox, "payouts")
    assert payouts and {p["status"] for p in payouts} == {"paid", "in_transit"}
    sample = payouts[:5] + [p for p in payouts if p["status"] == "in_transit"]
    sample += [p for p in payouts if p["summary"]["refunds_gross_amount"] != "0.00"][:3]
    for ours in sample:
        for real in [*list_real, one_real]:
            assert shape_diff(real, ours, set()) == [], ours["id"]
        assert set(ours) == set(one_real) and set(ours["summary"]) == set(one_real["summary"])
        assert ours["currency"] == "USD" and ours["status"] in PAYOUT_STATUSES
        date.fromisoformat(ours["date"])


def test_balance_transactions_have_the_documented_keys(small_sandbox: Path) -> None:
    bts = _stored(small_sandbox, "balance_transactions")
    assert {b["type"] for b in bts} == {"charge", "refund", "payout"}
    for b in bts:
        for key, types in BT_KEYS.items():
            assert key in b and isinstance(b[key], types), (b["id"], key, b.get(key))
        assert b["type"] in BT_TYPES and b["source_type"] == b["type"] and b["currency"] == "USD"
        assert b["payout_status"] in PAYOUT_STATUSES | {"pending"}
        assert (b["payout_id"] is None) == (b["payout_status"] == "pending")
        assert (b["source_order_id"] is None) == (b["type"] == "payout")
        assert b["processed_at"].endswith("-05:00") and b["test"] is False
    ids = [b["id"] for b in bts]
    assert len(set(ids)) == len(ids)


# --- the money ------------------------------------------------------------------------------------


def test_charges_and_refunds_follow_the_orders(small_sandbox: Path) -> None:
    orders = _orders(small_sandbox)
    bts = _stored(small_sandbox, "balance_transactions")
    charges = [b for b in bts if b["type"] == "charge"]
    assert sorted(b["source_order_id"] for b in charges) == sorted(orders)  # one charge per order
    international = 0
    for b in charges:
        o = orders[b["source_order_id"]]
        gross = _cents(o["total_price"])
        rate, fixed = ("0.039", 30) if o["presentment_currency"] != "USD" else ("0.029", 30)
        international += o["presentment_currency"] != "USD"
        # a half cent (e.g. 2.9% of $105.00) rounds to even: $3.045 -> 3.04 (+ 30c)
        fee = int((gross * Decimal(rate)).quantize(Decimal(1), ROUND_HALF_EVEN)) + fixed
        assert (_cents(b["amount"]), _cents(b["fee"]), _cents(b["net"])) == (gross, fee, gross - fee), b["id"]
        assert b["processed_at"] == o["created_at"]
    assert 0 < international < len(charges)
    refunds = [b for b in bts if b["type"] == "refund"]
    refunded = {oid: o for oid, o in orders.items() if o["refunds"]}
    assert refunds and sorted(b["source_order_id"] for b in refunds) == sorted(refunded)
    for b in refunds:
        o = refunded[b["source_order_id"]]
        [refund] = o["refunds"]
        usd = _cents(o["total_price"]) - _cents(o["current_total_price"])  # shop money, not presentment
        assert (_cents(b["amount"]), _cents(b["fee"]), _cents(b["net"])) == (-usd, 0, -usd), b["id"]
        assert b["processed_at"] == refund["created_at"]
        assert b["source_id"] == refund["transactions"][0]["id"] == b["source_order_transaction_id"]


def test_payout_amount_is_its_transactions_net_and_its_summary(small_sandbox: Path) -> None:
    payouts = _stored(small_sandbox, "payouts")
    members: dict[int, list[dict[str, Any]]] = defaultdict(list)
    own: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for b in _stored(small_sandbox, "balance_transactions"):
        if b["payout_id"] is not None:
            (own if b["type"] == "payout" else members)[b["payout_id"]].append(b)
    assert set(members) == set(own) == {p["id"] for p in payouts}
    for p in payouts:
        amount, s = _cents(p["amount"]), {k: _cents(v) for k, v in p["summary"].items()}
        assert amount > 0 and amount == sum(_cents(b["net"]) for b in members[p["id"]])
        assert amount == (
            s["charges_gross_amount"] - s["charges_fee_amount"] + s["refunds_gross_amount"] - s["refunds_fee_amount"]
        )  # fmt: skip
        for kind in ("charge", "refund"):
            mine = [b for b in members[p["id"]] if b["type"] == kind]
            assert s[f"{kind}s_gross_amount"] == sum(_cents(b["amount"]) for b in mine)
            assert s[f"{kind}s_fee_amount"] == sum(_cents(b["fee"]) for b in mine)
        [payout_bt] = own[p["id"]]
        assert _cents(payout_bt["amount"]) == _cents(payout_bt["net"]) == -amount
        assert payout_bt["source_id"] == p["id"] and payout_bt["processed_at"][:10] == p["date"]
        assert {b["payout_status"] for b in members[p["id"]] + own[p["id"]]} == {p["status"]}
    truth = pl.read_parquet(small_sandbox / "truth/shopify_payout_members.parquet")
    assert sorted(truth["balance_transaction_id"].cast(pl.Int64).to_list()) == sorted(
        b["id"] for bs in members.values() for b in bs
    )


def test_payouts_follow_the_schedule_recomputed_from_the_transactions(small_sandbox: Path) -> None:
    """Each business day sweeps the net that became payable (2 business days after the shop day it
    was processed; a weekend day rolls to Monday) plus any non-positive carry; it arrives one
    business day later and is `paid` once that day is reached."""
    meta = _meta(small_sandbox)
    bts = [b for b in _stored(small_sandbox, "balance_transactions") if b["type"] != "payout"]
    payable: dict[str, int] = defaultdict(int)
    for b in bts:
        payable[_business_days_after(b["processed_at"][:10], 2)] += _cents(b["net"])
    days = np.arange(np.datetime64(meta["start"]), np.datetime64(meta["as_of"]) + 1)
    expected, carry = [], 0
    for day in map(str, days[np.is_busday(days)]):
        carry += payable.get(day, 0)
        if carry > 0:
            arrival = _business_days_after(day, 1)
            expected.append((day, carry, "paid" if arrival <= meta["as_of"] else "in_transit"))
            carry = 0
    got = [(p["date"], _cents(p["amount"]), p["status"]) for p in _stored(small_sandbox, "payouts")]
    assert got == expected  # in id order: ids grow with the date
    dates = {p["id"]: p["date"] for p in _stored(small_sandbox, "payouts")}
    scheduled = sorted(d for d, _, _ in expected)
    for b in bts:
        due = _business_days_after(b["processed_at"][:10], 2)
        first = next((d for d in scheduled if d >= due), None)
        assert (dates.get(b["payout_id"]) if b["payout_id"] else None) == first, b["id"]


# --- the bank and the books -----------------------------------------------------------------------


def test_paid_payouts_arrive_in_the_bank_once_in_transit_ones_not_yet(small_sandbox: Path) -> None:
    payouts = _stored(small_sandbox, "payouts")
    lines = pl.read_parquet(small_sandbox / "truth/bank_lines.parquet")
    matches = pl.read_parquet(small_sandbox / "truth/bank_matches.parquet").filter(
        pl.col("match_type") == "shopify_payout"
    )
    shop = lines.filter(pl.col("kind") == "shopify_payout")
    accounts = json.loads((small_sandbox / "state/bank_feed/accounts.json").read_text())
    operating = next(a["account_id"] for a in accounts if a["balances"]["iso_currency_code"] == "USD")
    paid = {p["id"]: p for p in payouts if p["status"] == "paid"}
    assert paid and len(paid) < len(payouts)
    assert sorted(shop["ref"].cast(pl.Int64).to_list()) == sorted(paid)  # exactly one each, none else
    assert sorted(matches["counterpart_id"].cast(pl.Int64).to_list()) == sorted(paid)
    by_line = {r["bank_transaction_id"]: r for r in matches.iter_rows(named=True)}
    typos = {
        r.split(",")[0]
        for r in pl.read_parquet(small_sandbox / "truth/defects.parquet").filter(
            pl.col("defect_type") == "amount_typo"
        )["record_ids"]
    }
    for line in shop.iter_rows(named=True):
        p = paid[int(line["ref"])]
        assert str(line["date"]) == _business_days_after(p["date"], 1) <= _meta(small_sandbox)["as_of"]
        assert _cents(f"{line['expected_amount']:.2f}") == _cents(p["amount"])
        # the bank booked the payout's amount, unless a keying error is planted (and listed) there
        assert (line["amount"] == line["expected_amount"]) == (line["bank_transaction_id"] not in typos)
        assert line["account_id"] == operating and line["currency"] == "USD"
        assert line["name"] in (f"SHOPIFY PAYOUT {p['id']}", "SHOPIFY TRANSFER")
        match = by_line[line["bank_transaction_id"]]
        assert match["amount"] == line["amount"] and match["has_reference"] == (
            line["name"] != "SHOPIFY TRANSFER"
        )
    defects = pl.read_parquet(small_sandbox / "truth/defects.parquet").filter(
        pl.col("defect_type") == "payout_line_missing_id"
    )
    no_id = set(shop.filter(pl.col("name") == "SHOPIFY TRANSFER")["bank_transaction_id"])
    assert no_id and no_id <= {r.split(",")[0] for r in defects["record_ids"]}
    # on the Plaid wire, money in is negative
    log = [
        json.loads(line)
        for line in (small_sandbox / "state/bank_feed/sync_log.jsonl").read_text().splitlines()
    ]
    plaid = {op["transaction"]["name"]: op["transaction"] for op in log if op["op"] == "added"}
    named = [p for p in paid.values() if f"SHOPIFY PAYOUT {p['id']}" in plaid]
    assert len(named) >= len(paid) - len(no_id)
    for p in named:
        tx = plaid[f"SHOPIFY PAYOUT {p['id']}"]
        assert tx["amount"] == -float(p["amount"]) and tx["date"] == _business_days_after(p["date"], 1)


def test_each_arrived_payout_is_a_deposit_clearing_the_gross_and_booking_the_fee(small_sandbox: Path) -> None:
    meta = _meta(small_sandbox)
    payouts = _stored(small_sandbox, "payouts")
    gl = pl.read_parquet(small_sandbox / "truth/gl_lines.parquet")
    deposits = {int(d["Id"]): d for d in map(json.loads, (small_sandbox / "state/quickbooks/Deposit.jsonl").read_text().splitlines())}  # fmt: skip
    booked = 0
    for p in payouts:
        lines = gl.filter(pl.col("source_link") == str(p["id"]))
        arrival = _business_days_after(p["date"], 1)
        if p["status"] != "paid":
            assert lines.height == 0, p["id"]
            continue
        if lines.height == 0:  # keyed by hand: at most a day after the money arrived
            assert arrival >= meta["as_of"], p["id"]
            continue
        booked += 1
        s = {k: _cents(v) for k, v in p["summary"].items()}
        fee, gross = (
            s["charges_fee_amount"] + s["refunds_fee_amount"],
            s["charges_gross_amount"] + s["refunds_gross_amount"],
        )
        got = {
            r["account_name"]: (round(r["debit"] * 100), round(r["credit"] * 100))
            for r in lines.iter_rows(named=True)
        }
        assert got == {
            "Operating Checking": (_cents(p["amount"]), 0),
            "Merchant Fees": (fee, 0),
            "Shopify Clearing": (0, gross),
        }, p["id"]
        assert set(lines["entity"]) == {"Deposit"} and {str(d) for d in lines["posted_date"]} == {arrival}
        [txn_id] = set(lines["txn_id"])
        wire = deposits[int(txn_id)]
        assert wire["TxnDate"] == arrival and _cents(f"{wire['TotalAmt']:.2f}") == _cents(p["amount"])
        amounts = {ln["DepositLineDetail"]["AccountRef"]["name"]: ln["Amount"] for ln in wire["Line"]}
        assert amounts == {"Shopify Clearing": gross / 100, "Merchant Fees": -fee / 100}
        assert round(sum(amounts.values()) * 100) == _cents(p["amount"])
    assert booked >= len(payouts) - 3
    for wire in deposits.values():  # every Deposit (Stripe's too): its lines add up to what the bank got
        assert round(sum(ln["Amount"] for ln in wire["Line"]) * 100) == round(wire["TotalAmt"] * 100), wire[
            "Id"
        ]


def test_shopify_clearing_holds_what_is_sold_but_not_yet_paid_out(small_sandbox: Path) -> None:
    """Sales summaries debit Shopify Clearing with what was charged (refunds credit it), payouts'
    Deposits credit it their gross: at any date its balance is the gross of the balance transactions
    processed by then minus that of the payouts arrived by then (a refund the books never recorded
    leaves its amount in clearing)."""
    meta = _meta(small_sandbox)
    gl = pl.read_parquet(small_sandbox / "truth/gl_lines.parquet").filter(
        pl.col("account_name") == "Shopify Clearing"
    )
    bts = [b for b in _stored(small_sandbox, "balance_transactions") if b["type"] != "payout"]
    payouts = _stored(small_sandbox, "payouts")
    defects = pl.read_parquet(small_sandbox / "truth/defects.parquet")
    unbooked = {int(r.split(",")[0]) for r in defects.filter(pl.col("defect_type") == "shopify_refund_not_booked")["record_ids"]}  # fmt: skip
    as_of = date.fromisoformat(meta["as_of"])
    month_ends = [date(as_of.year, m, 1) - np.timedelta64(1, "D").item() for m in range(2, as_of.month + 1)]
    for day in [*month_ends, date.fromordinal(as_of.toordinal() - 7)]:
        cut = day.isoformat()
        sold = sum(
            _cents(b["amount"])
            for b in bts
            if b["processed_at"][:10] <= cut
            and not (b["type"] == "refund" and b["source_order_id"] in unbooked)
        )
        paid_out = sum(
            _cents(p["summary"]["charges_gross_amount"]) + _cents(p["summary"]["refunds_gross_amount"])
            for p in payouts
            if _business_days_after(p["date"], 1) <= cut
        )
        booked = gl.filter(pl.col("posted_date") <= day)
        balance = round((booked["debit"].sum() - booked["credit"].sum()) * 100)
        assert balance == sold - paid_out, cut


def test_sales_summaries_link_their_day_as_a_date(small_sandbox: Path) -> None:
    gl = pl.read_parquet(small_sandbox / "truth/gl_lines.parquet")
    for kind, prefix in (("shopify_sales", "shopify:"), ("stripe_sales", "stripe:")):
        rows = gl.filter(pl.col("kind") == kind).select("posted_date", "source_link").unique()
        assert rows.height, kind
        for posted, link in rows.iter_rows():
            assert link.startswith(prefix) and date.fromisoformat(link.removeprefix(prefix)) == posted, link


# --- the HTTP API ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "key", "name"), [(PAYOUTS, "payouts", "payouts"),
                                                  (TRANSACTIONS, "transactions", "balance_transactions")])  # fmt: skip
def test_paging_by_link_header_returns_every_record_once_newest_first(
    client: TestClient, small_sandbox: Path, url: str, key: str, name: str
) -> None:
    stored = _stored(small_sandbox, name)
    got = _walk(client, url, key, limit=17)
    assert len(stored) > 17 * 2
    assert [r["id"] for r in got] == sorted((r["id"] for r in stored), reverse=True)
    assert {r["id"]: r for r in got} == {r["id"]: r for r in stored}
    pivot = sorted(r["id"] for r in stored)[len(stored) // 3]
    asc = [r["id"] for r in _walk(client, url, key, since_id=pivot, limit=50)]
    assert asc == sorted(r["id"] for r in stored if r["id"] > pivot)
    below = [r["id"] for r in _walk(client, url, key, last_id=pivot, limit=250)]
    assert below == sorted((r["id"] for r in stored if r["id"] < pivot), reverse=True)


def test_payout_filters(client: TestClient, small_sandbox: Path) -> None:
    stored = _stored(small_sandbox, "payouts")
    dates = sorted(p["date"] for p in stored)
    lo, hi = dates[len(dates) // 4], dates[len(dates) // 2]
    got = _walk(client, PAYOUTS, "payouts", date_min=lo, date_max=hi, limit=250)
    assert sorted(p["id"] for p in got) == sorted(p["id"] for p in stored if lo <= p["date"] <= hi)
    assert got and len(got) < len(stored)
    for status in ("paid", "in_transit", "failed"):
        got = _walk(client, PAYOUTS, "payouts", status=status, limit=250)
        assert sorted(p["id"] for p in got) == sorted(p["id"] for p in stored if p["status"] == status)


def test_balance_transaction_filters(client: TestClient, small_sandbox: Path) -> None:
    stored = _stored(small_sandbox, "balance_transactions")
    refunded = next(b["payout_id"] for b in stored if b["type"] == "refund" and b["payout_id"])
    got = _walk(client, TRANSACTIONS, "transactions", payout_id=refunded)
    assert sorted(b["id"] for b in got) == sorted(b["id"] for b in stored if b["payout_id"] == refunded)
    assert {b["type"] for b in got} == {"charge", "refund", "payout"}
    for status in ("pending", "in_transit", "paid"):
        got = _walk(client, TRANSACTIONS, "transactions", payout_status=status, limit=250)
        want = sorted(b["id"] for b in stored if b["payout_status"] == status)
        assert want and sorted(b["id"] for b in got) == want, status
    assert len(_walk(client, TRANSACTIONS, "transactions", test="false", limit=250)) == len(stored)
    assert _walk(client, TRANSACTIONS, "transactions", test="true") == []


@pytest.mark.parametrize(("url", "params", "field"), [
    (PAYOUTS, {"status": "done"}, "status"),
    (PAYOUTS, {"date_min": "yesterday"}, "date_min"),
    (PAYOUTS, {"date_max": "2025-01-01T00:00:00"}, "date_max"),
    (PAYOUTS, {"since_id": "abc"}, "since_id"),
    (TRANSACTIONS, {"payout_id": "po_1"}, "payout_id"),
    (TRANSACTIONS, {"last_id": "-3"}, "last_id"),
    (TRANSACTIONS, {"limit": "251"}, "limit"),
])  # fmt: skip
def test_bad_parameters_are_400_with_shopify_errors(
    client: TestClient, url: str, params: dict[str, str], field: str
) -> None:
    resp = client.get(url, params=params, headers=AUTH)
    assert resp.status_code == 400, resp.text
    errors = resp.json()["errors"]
    assert list(errors) == [field] and isinstance(errors[field], list) and errors[field][0]


def test_an_impossible_calendar_date_is_400(client: TestClient) -> None:
    for params in ({"date_min": "2025-13-45"}, {"date_max": "2025-02-30"}):
        resp = client.get(PAYOUTS, params=params, headers=AUTH)
        assert resp.status_code == 400 and list(resp.json()["errors"]) == list(params), params


def test_auth_and_versions(client: TestClient) -> None:
    for url in (PAYOUTS, TRANSACTIONS):
        resp = client.get(url, headers={"X-Shopify-Access-Token": "shpat_wrong"})
        assert resp.status_code == 401
        assert resp.json() == {
            "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"
        }
        assert client.get(url).status_code == 401
        assert client.get(url.replace(SHOPIFY_API_VERSION, "latest"), headers=AUTH).status_code == 404
    assert client.get(PAYOUTS.replace(SHOPIFY_API_VERSION, "2025-10"), headers=AUTH).status_code == 200


# --- advancing the clock --------------------------------------------------------------------------


def test_advance_pays_in_transit_payouts_and_pending_transactions(
    small_sandbox: Path, tmp_path: Path
) -> None:
    root = tmp_path / "sbx"
    shutil.copytree(small_sandbox, root)
    payouts_before = {p["id"]: p for p in _stored(root, "payouts")}
    bts_before = {b["id"]: b for b in _stored(root, "balance_transactions")}
    in_transit = [i for i, p in payouts_before.items() if p["status"] == "in_transit"]
    pending = [i for i, b in bts_before.items() if b["payout_status"] == "pending"]
    assert in_transit and pending
    advance(root, 10)
    payouts = {p["id"]: p for p in _stored(root, "payouts")}
    bts = {b["id"]: b for b in _stored(root, "balance_transactions")}
    assert set(payouts_before) < set(payouts) and set(bts_before) < set(bts)
    assert all(payouts[i]["status"] == "paid" for i in in_transit)
    for i in pending:
        assert (
            bts[i]["payout_id"] in payouts
            and bts[i]["payout_status"] == payouts[bts[i]["payout_id"]]["status"]
        )
        assert bts[i]["payout_id"] not in payouts_before
    for i, before in bts_before.items():  # only the payout fields change
        keep = {k: v for k, v in before.items() if k not in ("payout_id", "payout_status")}
        assert keep == {k: v for k, v in bts[i].items() if k not in ("payout_id", "payout_status")}
        assert before["payout_id"] is None or bts[i]["payout_id"] == before["payout_id"]
    for i, before in payouts_before.items():
        assert {**before, "status": None} == {**payouts[i], "status": None}
    # what appears later has higher ids: a client reading on by since_id misses nothing
    assert min(set(bts) - set(bts_before)) > max(bts_before)
    assert min(set(payouts) - set(payouts_before)) > max(payouts_before)
    # and the server picks it up
    got = _walk(
        TestClient(create_app(root)), TRANSACTIONS, "transactions", since_id=max(bts_before), limit=250
    )
    assert sorted(b["id"] for b in got) == sorted(set(bts) - set(bts_before))
    lines = pl.read_parquet(root / "truth/bank_lines.parquet").filter(pl.col("kind") == "shopify_payout")
    assert set(lines["ref"].cast(pl.Int64)) >= set(in_transit)

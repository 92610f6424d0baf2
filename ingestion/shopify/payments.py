"""Shopify Payments resources: `payouts` and `balance_transactions` (Admin REST
`shopify_payments/payouts.json` and `shopify_payments/balance/transactions.json`).

Neither list has an `updated_at`, and both change after they are first read: a payout goes from
`scheduled`/`in_transit` to `paid`, and a balance transaction gets its `payout_id` and
`payout_status` once a payout takes it. So, with state in dlt's resource state:
- payouts are read from `date_min` = the latest payout date loaded minus `PAYOUT_LOOKBACK_DAYS` and
  merged on `id` (a status change within the look-back is picked up);
- balance transactions are read by `since_id` (new ones, ascending ids), and those of every payout
  in that look-back window are read again by `payout_id` (the pending ones now in a payout, and the
  status of the payout they are in). The first load reads everything once and re-reads nothing.
A payout whose status changes more than the look-back after its date (a late failure) is only seen
again by a full reload. Records without an integer id go to `raw_shopify.quarantine`; one read twice
in a run is counted as a duplicate and loaded once.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import dlt
from dlt.sources import DltResource
from dlt.sources.helpers.rest_client import RESTClient

from ingestion.contracts import TypeContract, guarded
from ingestion.shopify import settings
from ingestion.shopify.helpers import SOURCE, RecordReader, iter_pages, merged_resource

PAYOUT_LOOKBACK_DAYS = 10
PATHS = {
    "payouts": ("/shopify_payments/payouts.json", "payouts"),
    "balance_transactions": ("/shopify_payments/balance/transactions.json", "transactions"),
}
KEYS = {"id": "bigint"}


def _window_start(last_date: str | None) -> str | None:
    if not last_date:
        return None
    return (date.fromisoformat(last_date) - timedelta(days=PAYOUT_LOOKBACK_DAYS)).isoformat()


def payouts_resource(client: RESTClient, base_url: str) -> DltResource:
    def payouts() -> Iterator[Any]:
        state = dlt.current.resource_state()
        start = _window_start(state.get("last_date"))
        reader = RecordReader(client, base_url, "payouts", *PATHS["payouts"], "date")
        latest = state.get("last_date")

        def rows() -> Iterator[Any]:
            nonlocal latest
            for record in reader.read({"date_min": start} if start else {}):
                if isinstance(record, dict) and "id" in record and isinstance(record.get("date"), str):
                    latest = max(latest or record["date"], record["date"][:10])
                yield record

        contract = TypeContract("payouts", settings.COLUMN_HINTS.get("payouts"), KEYS)
        yield from guarded(rows(), contract, SOURCE, "payouts", lambda r: r.get("id"))
        if latest:
            state["last_date"] = latest

    return merged_resource(payouts, "payouts")


def balance_transactions_resource(client: RESTClient, base_url: str) -> DltResource:
    def balance_transactions() -> Iterator[Any]:
        state = dlt.current.resource_state()
        last_id = state.get("last_id")
        start = _window_start(state.get("payouts_from"))
        reader = RecordReader(
            client, base_url, "balance_transactions", *PATHS["balance_transactions"], "processed_at"
        )
        highest = last_id

        def rows() -> Iterator[Any]:
            nonlocal highest
            for record in reader.read({"since_id": last_id} if last_id else {}):
                if isinstance(record, dict) and type(record.get("id")) is int:
                    highest = max(highest or 0, record["id"])
                yield record
            if last_id is None:
                return  # the first load read every transaction in its current state
            # the transactions of recent payouts again: pending ones a payout took since, new statuses
            path, key = PATHS["payouts"]
            params = {"limit": settings.PAGE_LIMIT, **({"date_min": start} if start else {})}
            recent = [
                p["id"]
                for page in iter_pages(client, path, params, key, base_url)
                for p in page
                if isinstance(p, dict) and type(p.get("id")) is int
            ]  # listed only to find their transactions: the payouts resource loads (and counts) them
            for payout_id in recent:
                yield from reader.read({"payout_id": payout_id})

        contract = TypeContract(
            "balance_transactions", settings.COLUMN_HINTS.get("balance_transactions"), KEYS
        )
        yield from guarded(rows(), contract, SOURCE, "balance_transactions", lambda r: r.get("id"))
        if highest is not None:
            state["last_id"] = highest
        state["payouts_from"] = _latest_payout_date(client, base_url) or state.get("payouts_from")

    return merged_resource(balance_transactions, "balance_transactions")


def _latest_payout_date(client: RESTClient, base_url: str) -> str | None:
    """The newest payout's date (payouts are listed newest first): where the next look-back starts."""
    path, key = PATHS["payouts"]
    for page in iter_pages(client, path, {"limit": 1}, key, base_url):
        for record in page:
            if isinstance(record, dict) and isinstance(record.get("date"), str):
                return record["date"][:10]
        break
    return None

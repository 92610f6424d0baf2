"""dlt source for a Plaid-style bank feed: `/transactions/sync` and `/accounts/get`.

Config (dlt convention): `SOURCES__BANK_FEED__BASE_URL` (host root, e.g. https://production.plaid.com),
`SOURCES__BANK_FEED__CLIENT_ID`, `__SECRET`, `__ACCESS_TOKEN` (sent in the JSON body, as Plaid does).
The sync cursor lives in dlt state, so each run fetches only what changed. Added and modified
transactions are merged on `transaction_id`; removed ones are kept and flagged `_is_deleted` with the
time they were seen removed (`_deleted_at`). Amounts follow Plaid's sign: positive = money out.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import dlt
from dlt.sources import DltResource
from dlt.sources.helpers.rest_client import RESTClient

from ingestion.bank_feed import settings
from ingestion.bank_feed.helpers import (
    check_transaction,
    make_client,
    post_once,
    previously_loaded,
    sync_pages,
)
from ingestion.contracts import SCHEMA_CONTRACT, TypeContract, guarded
from ingestion.runner import counter
from ingestion.stripe.helpers import quarantined

SOURCE = "bank_feed"


def _apply_removed(removed: list[Any], latest: dict[str, dict[str, Any]], seen: set[str]) -> Iterator[Any]:
    """Flag removed transactions `_is_deleted` on their last known version; yields quarantine rows."""
    now = datetime.now(UTC)
    ids = [r["transaction_id"] for r in removed if isinstance(r, dict) and r.get("transaction_id")]
    known = previously_loaded("transactions", [i for i in ids if i not in latest])
    for r in removed:
        tid = r.get("transaction_id") if isinstance(r, dict) else None
        if not tid:
            counter.add(SOURCE, "transactions", seen=1, quarantined=1)
            yield quarantined(SOURCE, "transactions", None, "removed entry without transaction_id", r)
            continue
        if f"removed:{tid}" in seen:  # the same page served twice
            counter.add(SOURCE, "transactions", seen=1, duplicates=1)
            continue
        seen.add(f"removed:{tid}")
        if tid not in latest:
            counter.add(SOURCE, "transactions", seen=1)
        last = latest.get(tid) or known.get(tid) or {"transaction_id": tid, "account_id": r.get("account_id")}
        latest[tid] = {**last, "_is_deleted": True, "_deleted_at": now}


def _apply_page(page: dict[str, Any], latest: dict[str, dict[str, Any]], seen: set[str]) -> Iterator[Any]:
    """Fold one sync page into `latest` (added, then modified, then removed); yields quarantine rows.

    Counting: `seen` counts each transaction once per run however many versions of it arrive (a
    later version replaces the earlier one and loads as one row), plus every quarantined entry and
    every exact repeat (a page served twice, counted as a duplicate) — so seen = loaded +
    quarantined + duplicates.
    """
    changes = [*page.get("added", []), *page.get("modified", [])]
    for record in changes:
        reason = check_transaction(record)
        if reason is not None:
            counter.add(SOURCE, "transactions", seen=1, quarantined=1)
            ref = record.get("transaction_id") if isinstance(record, dict) else None
            yield quarantined(SOURCE, "transactions", ref, reason, record)
            continue
        fingerprint = repr(sorted(record.items(), key=lambda kv: kv[0]))
        if fingerprint in seen:  # the same page served twice
            counter.add(SOURCE, "transactions", seen=1, duplicates=1)
            continue
        seen.add(fingerprint)
        if record["transaction_id"] not in latest:
            counter.add(SOURCE, "transactions", seen=1)
        latest[record["transaction_id"]] = {**record, "_is_deleted": False, "_deleted_at": None}
    yield from _apply_removed(page.get("removed", []), latest, seen)


def _transactions(
    client: RESTClient, base_url: str, credentials: dict[str, str], count: int
) -> Iterator[Any]:
    """All changes since the stored cursor, folded to one row per transaction (its latest version).

    Folding matters: a transaction added and then modified or removed within one run must load as
    its last version, and a merge keeps an arbitrary one of several rows with the same key.
    """
    state = dlt.current.resource_state()
    body = {**credentials, "cursor": state.get("cursor", ""), "count": count}
    latest: dict[str, dict[str, Any]] = {}
    seen: set[str] = set()
    for page in sync_pages(client, body, base_url):
        yield from _apply_page(page, latest, seen)
        state["cursor"] = page.get("next_cursor") or state.get("cursor", "")
    if latest:
        yield list(latest.values())


def _accounts(client: RESTClient, base_url: str, credentials: dict[str, str]) -> Iterator[Any]:
    accounts = post_once(client, settings.ACCOUNTS_PATH, credentials, base_url).get("accounts", [])
    counter.add(SOURCE, "accounts", seen=len(accounts))
    for account in accounts:
        if not isinstance(account, dict) or not account.get("account_id"):
            counter.add(SOURCE, "accounts", quarantined=1)
            yield quarantined(SOURCE, "accounts", None, "missing key field account_id", account)
            continue
        yield account


@dlt.source(name="bank_feed", schema_contract=SCHEMA_CONTRACT)
def bank_feed_source(
    base_url: str = dlt.config.value,
    client_id: str = dlt.secrets.value,
    secret: str = dlt.secrets.value,
    access_token: str = dlt.secrets.value,
    page_count: int = settings.PAGE_COUNT,
) -> Iterable[DltResource]:
    """Bank transactions (sync, incremental by cursor) and accounts with their balances."""
    client = make_client(base_url)
    credentials = {"client_id": client_id, "secret": secret, "access_token": access_token}

    def transactions() -> Iterator[Any]:
        keys = {"transaction_id": "text"}
        contract = TypeContract("transactions", settings.COLUMN_HINTS, keys, max_nesting=0)
        rows = _transactions(client, base_url, credentials, page_count)
        yield from guarded(rows, contract, SOURCE, "transactions", lambda r: r.get("transaction_id"))

    def accounts() -> Iterator[Any]:
        contract = TypeContract("accounts", settings.ACCOUNT_COLUMN_HINTS, {"account_id": "text"})
        rows = _accounts(client, base_url, credentials)
        yield from guarded(rows, contract, SOURCE, "accounts", lambda r: r.get("account_id"))

    return [
        dlt.resource(
            transactions,
            name="transactions",
            primary_key="transaction_id",
            write_disposition="merge",
            columns=settings.COLUMN_HINTS,
            max_table_nesting=0,
        ),
        dlt.resource(
            accounts,
            name="accounts",
            primary_key="account_id",
            write_disposition="merge",
            columns=settings.ACCOUNT_COLUMN_HINTS,
        ),
    ]

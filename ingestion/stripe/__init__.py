"""dlt source for Stripe: customers, charges, refunds, disputes, balance transactions, payouts,
events, and the balance transactions of each payout.

Config (dlt convention): `SOURCES__STRIPE__BASE_URL` (host root, e.g. https://api.stripe.com) and
`SOURCES__STRIPE__API_KEY` (the secret key, sent as Bearer). Objects without an id or with wrong types
go to `raw_stripe.quarantine`; an object served twice in one run (a repeated page) is skipped.

New objects: every list is read from its `created` cursor (resource state `created_cursor`, plus
the ids at that second, `boundary_ids`, so the second re-read at the cursor loads nothing twice).

Changed objects: Stripe objects change after creation (a charge refunded, a dispute decided, a payout
paid) without a new `created`, so the list reads never see the change. As Stripe integrations do,
the source also reads `/v1/events` (`created[gte]` = newest event seen − `EVENT_OVERLAP_SECONDS`;
the ids already handed out within that window are skipped, see `events.EventFeed`) and writes each
event's `data.object` — the object as it was at the event — into its table
(`settings.EVENT_OBJECTS`; disputes through `charge.dispute.updated` / `charge.dispute.closed`).

Which version wins: every row of an object table carries `_ll_version`, the time of the state it
shows: the event's `created` for an event snapshot, the object's own `created` for a list read
(a lower bound: the list shows the object at read time). Per run and per id one row is written:
the newest snapshot among the new events if it is newer than the object's creation, else the list
read (events at the creation second are skipped: the list has the same or a later state). The
merge on `id` also de-duplicates on `_ll_version` (`dedup_sort: desc`). Across runs an event that
turns up late, older than the snapshot already written for that object, is skipped: the versions
written from events are kept in the resource state (`versions`) while they are within the overlap
window, the only place a late event can come from. If a change happens between the events read and
the list read of the same run, the list's newer state may lose to the older snapshot in that run;
the change's own event is newer than the cursor and fixes the row in the next run. Stripe keeps
events for 30 days: runs further apart than that miss changes (drop the pipeline state to re-list).

Balance transactions turn `pending` -> `available` without an event (Stripe has none per
transaction): the ones loaded `pending` are kept in the resource state (`watched`) and the list is
re-read from the oldest of them each run (a few days: funds are available T+2 business days); one
that became available is written again with `_ll_version` = its `available_on`, the others count as
duplicates.

Counts per object: `seen` = list rows + event snapshots offered; `duplicates` = repeated pages,
rows at the cursor already loaded, watched rows re-read unchanged, and versions superseded by a
newer one; so seen = loaded + quarantined + duplicates.

Payout membership: `payout_balance_transactions` (transformer over `payouts`) lists
`GET /v1/balance_transactions?payout=po_...` once per payout (the ids done are kept in the source
state: an automatic payout's transactions are fixed when it is created) and writes `payout_id,
balance_transaction_id, type, amount, fee, net, currency`, leaving out the payout's own transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import dlt
from dlt.sources import DltResource
from dlt.sources.helpers.rest_client import RESTClient

from ingestion.contracts import SCHEMA_CONTRACT, TypeContract, guarded
from ingestion.runner import counter
from ingestion.stripe import settings
from ingestion.stripe.events import EventFeed, Snapshot
from ingestion.stripe.helpers import check_record, iter_pages, make_client, quarantined

SOURCE = "stripe"
VERSION = settings.VERSION_COLUMN
MEMBERS_STATE_KEY = "payout_members_fetched"
# frozen key columns (primary key and cursor) of the object tables: checked by `TypeContract`
KEYS = {"id": "text", "created": "bigint"}


def _objects(client: RESTClient, base_url: str, name: str, since: int) -> Iterator[Any]:
    """List reads from `since` (created[gte]): valid records and quarantine rows, each id once."""
    seen: set[str] = set()
    params = {"limit": settings.PAGE_LIMIT, "created[gte]": since}
    for page in iter_pages(client, f"/{name}", params, base_url):
        counter.add(SOURCE, name, seen=len(page))
        for record in page:
            reason = check_record(record, settings.ENDPOINTS[name])
            if reason is not None:
                counter.add(SOURCE, name, quarantined=1)
                ref = record.get("id") if isinstance(record, dict) else None
                yield quarantined(SOURCE, name, ref, reason, record)
                continue
            if record["id"] in seen:
                counter.add(SOURCE, name, duplicates=1)
                continue
            seen.add(record["id"])
            yield record


def _start(state: dict[str, Any]) -> tuple[int, set[str]]:
    """(created cursor, ids loaded at that second); falls back to an older dlt incremental's cursor."""
    legacy = state.get("incremental", {}).get("created", {}).get("last_value")
    return int(state.get("created_cursor", legacy or 0)), set(state.get("boundary_ids", []))


class _Cursor:
    """The newest `created` loaded and the ids at that second."""

    def __init__(self, cursor: int, boundary: set[str]) -> None:
        self.cursor, self.boundary = cursor, set(boundary)

    def add(self, record: dict[str, Any]) -> None:
        if record["created"] > self.cursor:
            self.cursor, self.boundary = record["created"], set()
        if record["created"] == self.cursor:
            self.boundary.add(record["id"])


def _versioned(obj: dict[str, Any], version: int) -> dict[str, Any]:
    return {**obj, VERSION: version}


def _fresh(name: str, snaps: dict[str, Snapshot], versions: dict[str, int]) -> dict[str, Snapshot]:
    """The snapshots newer than the versions already written from events (late events are not)."""
    stale = [oid for oid, snap in snaps.items() if versions.get(oid, -1) >= snap.version]
    counter.add(SOURCE, name, duplicates=len(stale))
    return {oid: snap for oid, snap in snaps.items() if oid not in stale}


class _Watch:
    """Objects loaded in a state whose end Stripe sends no event for (a balance transaction still
    `pending`, `settings.REREAD_WHILE`): re-listed from their `created` each run until they leave it."""

    def __init__(self, name: str, state: dict[str, Any]) -> None:
        self.rule = settings.REREAD_WHILE.get(name)
        self.ids: dict[str, int] = dict(state.get("watched", {}))

    def since(self, start: int) -> int:
        return min([start, *self.ids.values()])

    def settle(self, item: dict[str, Any]) -> dict[str, Any] | None:
        """The row of a watched object that left the state (its version: when it left), else None."""
        assert self.rule is not None
        field, value, left_at = self.rule
        if item.get(field) == value:
            return None
        del self.ids[item["id"]]
        return _versioned(item, max(item["created"], int(item.get(left_at) or 0)))

    def note(self, item: dict[str, Any]) -> None:
        if self.rule is not None and item.get(self.rule[0]) == self.rule[1]:
            self.ids[item["id"]] = item["created"]


def _read(client: RESTClient, base_url: str, name: str, feed: EventFeed | None) -> Iterator[Any]:
    state = dlt.current.resource_state()
    start, boundary = _start(state)
    versions: dict[str, int] = dict(state.get("versions", {}))
    snaps: dict[str, Snapshot] = {}
    if feed is not None:
        offered, bad = feed.snapshots(name)
        yield from bad
        snaps = _fresh(name, offered, versions)
    cursor, watch = _Cursor(start, boundary), _Watch(name, state)
    for item in _objects(client, base_url, name, watch.since(start)):
        if not isinstance(item, dict):  # a quarantine row
            yield item
            continue
        row = watch.settle(item) if item["id"] in watch.ids else None
        if row is not None:
            yield row
            continue
        if item["id"] in watch.ids or item["id"] in boundary or item["created"] < start:
            counter.add(SOURCE, name, duplicates=1)  # unchanged, or loaded by an earlier run
            continue
        cursor.add(item)
        snap = snaps.pop(item["id"], None)
        if snap is None:
            watch.note(item)
            yield _versioned(item, item["created"])
            continue
        counter.add(SOURCE, name, duplicates=1)  # the list read loses to the newer event snapshot
        versions[item["id"]] = snap.version
        yield _versioned(snap.obj, snap.version)
    for oid, snap in snaps.items():
        versions[oid] = snap.version
        yield _versioned(snap.obj, snap.version)
    floor = _event_floor() - settings.EVENT_OVERLAP_SECONDS
    state["versions"] = {oid: v for oid, v in versions.items() if v >= floor}
    state["created_cursor"], state["boundary_ids"] = cursor.cursor, sorted(cursor.boundary)
    state["watched"] = watch.ids


def _event_floor() -> int:
    """The events cursor (newest event seen), 0 before the first events read."""
    return int(dlt.current.source_state().get("events_feed", {}).get("cursor", 0))


def _resource(client: RESTClient, base_url: str, name: str, feed: EventFeed) -> DltResource:
    uses_events = name in settings.EVENT_OBJECTS
    hints = {**settings.COLUMN_HINTS.get(name, {}), VERSION: {"data_type": "bigint", "dedup_sort": "desc"}}

    def objects() -> Iterator[Any]:
        contract = TypeContract(name, hints, KEYS)
        rows = _read(client, base_url, name, feed if uses_events else None)
        yield from guarded(rows, contract, SOURCE, name, lambda r: r.get("id"))

    return dlt.resource(
        objects,
        name=name,
        primary_key="id",
        write_disposition="merge",
        columns=hints,
    )


def _events_resource(feed: EventFeed) -> DltResource:
    def events() -> Iterator[Any]:
        new = feed.events()
        yield from feed.rejected
        contract = TypeContract("events", settings.COLUMN_HINTS["events"], KEYS, max_nesting=0)
        yield from guarded(new, contract, SOURCE, "events", lambda r: r.get("id"))

    return dlt.resource(
        events,
        name="events",
        primary_key="id",
        write_disposition="merge",
        max_table_nesting=0,
        columns=settings.COLUMN_HINTS.get("events"),
    )


def _member_rows(client: RESTClient, base_url: str, payout: dict[str, Any]) -> Iterator[Any]:
    """The balance transactions one payout paid out, as membership rows (or quarantine rows)."""
    name, done = settings.PAYOUT_MEMBERS, set()
    params = {"limit": settings.PAGE_LIMIT, "payout": payout["id"]}
    for page in iter_pages(client, "/balance_transactions", params, base_url):
        for txn in page:
            if isinstance(txn, dict) and txn.get("id") == payout.get("balance_transaction"):
                continue  # the payout's own transaction: the payout itself, not a member
            counter.add(SOURCE, name, seen=1)
            reason = check_record(txn, settings.ENDPOINTS["balance_transactions"])
            if reason is not None:
                counter.add(SOURCE, name, quarantined=1)
                ref = txn.get("id") if isinstance(txn, dict) else None
                yield quarantined(SOURCE, name, f"{payout['id']}/{ref}", reason, txn)
            elif txn["id"] in done:
                counter.add(SOURCE, name, duplicates=1)
            else:
                done.add(txn["id"])
                yield {
                    "payout_id": payout["id"],
                    "balance_transaction_id": txn["id"],
                    **{k: txn.get(k) for k in ("type", "amount", "fee", "net", "currency")},
                }


def _member_ref(row: dict[str, Any]) -> str:
    return f"{row.get('payout_id')}/{row.get('balance_transaction_id')}"


def _members_resource(client: RESTClient, base_url: str, payouts: DltResource) -> DltResource:
    def members(payout: Any) -> Iterator[Any]:
        if not isinstance(payout, dict) or payout.get("object") != "payout":
            return
        fetched: dict[str, int] = dlt.current.source_state().setdefault(MEMBERS_STATE_KEY, {})
        if payout["id"] in fetched:
            return
        contract = TypeContract(settings.PAYOUT_MEMBERS, settings.COLUMN_HINTS[settings.PAYOUT_MEMBERS])
        rows = _member_rows(client, base_url, payout)
        yield from guarded(rows, contract, SOURCE, settings.PAYOUT_MEMBERS, _member_ref)
        fetched[payout["id"]] = payout["created"]

    return dlt.transformer(
        members,
        data_from=payouts,
        name=settings.PAYOUT_MEMBERS,
        primary_key=("payout_id", "balance_transaction_id"),
        write_disposition="merge",
        columns=settings.COLUMN_HINTS[settings.PAYOUT_MEMBERS],
    )


@dlt.source(name="stripe", schema_contract=SCHEMA_CONTRACT)
def stripe_source(
    base_url: str = dlt.config.value, api_key: str = dlt.secrets.value
) -> Iterable[DltResource]:
    """One resource per list endpoint in `settings.ENDPOINTS`, and the payouts' members."""
    client = make_client(base_url, api_key)
    feed = EventFeed(client, base_url)
    lists = {name: _resource(client, base_url, name, feed) for name in settings.ENDPOINTS if name != "events"}
    return [*lists.values(), _events_resource(feed), _members_resource(client, base_url, lists["payouts"])]

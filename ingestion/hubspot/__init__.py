"""dlt source for HubSpot CRM v3: companies, contacts, deals, line items, and deal -> company and
deal -> line item associations.

Config (dlt convention): `SOURCES__HUBSPOT__BASE_URL` (host root, e.g. https://api.hubapi.com) and
`SOURCES__HUBSPOT__API_KEY` (a private-app token, sent as Bearer). The first run lists every object
(`limit=100`, `after` paging); later runs search on the last-modified property (`GTE` the cursor minus
an overlap, sorted ascending, 200 per page, paged by the modification time rather than by offset, so
a record modified during the walk cannot push another one past it: see `helpers.search_pages`) and
fall back to the list past HubSpot's 10,000-result search cap. Records already loaded with the same
modification time are skipped. Tables merge on `id`; `deals_companies` (deal_id, company_id) and
`deals_line_items` (deal_id, line_item_id) come from the deals list with `associations=companies` /
`associations=line_items` (HubSpot files the latter under the key "line items"). A deal's stage
history arrives as its properties `hs_v2_date_entered_<stage>` / `hs_v2_date_exited_<stage>`
(`settings.STAGE_DATE_PROPERTIES`), declared as timestamp columns.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import dlt
from dlt.sources import DltResource
from requests import Session

from ingestion.common import quarantine_row, to_quarantine
from ingestion.contracts import SCHEMA_CONTRACT, TypeContract, guarded
from ingestion.hubspot import settings
from ingestion.hubspot.helpers import check_record, list_pages, make_session, search_pages, to_ms
from ingestion.runner import counter

SOURCE = "hubspot"


def _pages(session: Session, url: str, name: str, since: int | None) -> Iterator[list[Any]]:
    props, modified = settings.OBJECTS[name]
    if since is not None:
        try:
            yield from search_pages(session, url, modified, since, props)
            return
        except OverflowError:
            pass
    yield from list_pages(session, url, {"limit": settings.LIST_LIMIT, "properties": ",".join(props)})


def _objects(session: Session, base: str, name: str) -> Iterator[Any]:
    state = dlt.current.resource_state()
    cursor: int | None = state.get("cursor")
    boundary: dict[str, int] = dict(state.get("boundary", {}))
    modified = settings.OBJECTS[name][1]
    since = cursor - settings.OVERLAP_MS if cursor is not None else None
    # the run's latest version of each record: one modified while we page is served again later in
    # the walk, newer; that version must win (the older one counts as the duplicate), so records are
    # held until the walk ends and then yielded once each
    latest: dict[str, tuple[int, dict[str, Any]]] = {}
    newest = cursor
    for page in _pages(session, f"{base}/{name}", name, since):
        counter.add(SOURCE, name, seen=len(page))
        for record in page:
            reason = check_record(record, modified)
            if reason is not None:
                counter.add(SOURCE, name, quarantined=1)
                ref = record.get("id") if isinstance(record, dict) else None
                yield to_quarantine(quarantine_row(SOURCE, name, str(ref or "?"), reason, record))
                continue
            ms = to_ms(record["properties"][modified])
            assert ms is not None
            held = latest.get(record["id"])
            if boundary.get(record["id"]) == ms or (held is not None and held[0] >= ms):
                counter.add(SOURCE, name, duplicates=1)
                continue
            if held is not None:
                counter.add(SOURCE, name, duplicates=1)  # the older version read earlier in this run
            latest[record["id"]] = (ms, {k: v for k, v in record.items() if k != "associations"})
            newest = ms if newest is None else max(newest, ms)
    for record_id, (ms, record) in latest.items():
        boundary[record_id] = ms
        yield record
    if newest is not None:
        state["cursor"] = newest
        state["boundary"] = {k: v for k, v in boundary.items() if v >= newest - settings.OVERLAP_MS}


def _links(deal: dict[str, Any], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    found = deal.get("associations") or {}
    return next(((found.get(k) or {}).get("results") or [] for k in keys if k in found), [])


def _deal_links(session: Session, base: str, table: str) -> Iterator[dict[str, Any]]:
    """`table`'s (deal_id, <object>_id, type) rows from the deals list with `associations=<type>`."""
    assoc, keys, column = settings.DEAL_ASSOCIATIONS[table]
    state = dlt.current.resource_state()
    known = set(state.get("known", []))
    params = {"limit": settings.LIST_LIMIT, "properties": "hs_object_id", "associations": assoc}
    for page in list_pages(session, f"{base}/deals", params):
        counter.add(SOURCE, table, seen=sum(len(_links(d, keys)) for d in page))
        for deal in page:
            for link in _links(deal, keys):
                key = f"{deal.get('id')}:{link.get('id')}"
                if key in known:
                    counter.add(SOURCE, table, duplicates=1)
                    continue
                known.add(key)
                yield {"deal_id": deal.get("id"), column: link.get("id"), "type": link.get("type")}
    state["known"] = sorted(known)


@dlt.source(name="hubspot", schema_contract=SCHEMA_CONTRACT)
def hubspot_source(
    base_url: str = dlt.config.value, api_key: str = dlt.secrets.value
) -> Iterable[DltResource]:
    """Resources `companies`, `contacts`, `deals`, `line_items` (merge on id), `deals_companies` and
    `deals_line_items`."""
    session = make_session(api_key)
    base = base_url.rstrip("/") + settings.API_PATH

    def make(name: str) -> DltResource:
        # the stage dates are declared, so that a column no deal has filled yet (a stage nobody has
        # left, as closedwon) is created as a timestamp and a later text value is quarantined
        dates = settings.STAGE_DATE_PROPERTIES if name == "deals" else ()
        columns: dict[str, Any] = {
            f"properties__{p}": {"data_type": "timestamp", "nullable": True} for p in dates
        }

        def rows() -> Iterator[Any]:
            cursor = {f"properties__{settings.OBJECTS[name][1]}": {"data_type": "timestamp"}}
            contract = TypeContract(name, {**columns, **cursor}, {"id": "text"})
            yield from guarded(_objects(session, base, name), contract, SOURCE, name, lambda r: r.get("id"))

        return dlt.resource(
            rows, name=name, primary_key="id", write_disposition="merge", columns=columns or None
        )

    def make_links(table: str) -> DltResource:
        column = settings.DEAL_ASSOCIATIONS[table][2]

        def link_rows() -> Iterator[Any]:
            contract = TypeContract(table, keys={"deal_id": "text", column: "text"})
            rows = _deal_links(session, base, table)
            yield from guarded(rows, contract, SOURCE, table, lambda r: f"{r.get('deal_id')}:{r.get(column)}")

        return dlt.resource(link_rows, name=table, primary_key=("deal_id", column), write_disposition="merge")

    return [*(make(n) for n in settings.OBJECTS), *(make_links(t) for t in settings.DEAL_ASSOCIATIONS)]

"""dlt source for QuickBooks Online: accounts, customers, vendors, items and the ledger's transactions.

Config (dlt convention): `SOURCES__QUICKBOOKS__BASE_URL` (host root, e.g.
https://quickbooks.api.intuit.com), `SOURCES__QUICKBOOKS__API_KEY` (OAuth access token, sent as
Bearer) and `SOURCES__QUICKBOOKS__REALM_ID` (the company id). One resource per entity, merged on
`Id`, read with the query endpoint (`where MetaData.LastUpdatedTime >= cursor - overlap`, paged by
STARTPOSITION). Records already loaded at the same LastUpdatedTime (the overlap) are skipped.
Deletions come from the CDC endpoint (runs after the first) and are not dropped: the record is merged
again as its last known version — read in this run, else from the destination — flagged
`_is_deleted = true` with `_deleted_at` = the deletion's LastUpdatedTime, so its TxnDate, amounts and
notes survive for the KPIs and the audit trail. A record deleted before it was ever loaded has no
known version and loads as `{Id, MetaData, _is_deleted, _deleted_at}`. Bad records go to
`raw_quickbooks.quarantine`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import dlt
from dlt.sources import DltResource
from requests import Session

from ingestion.common import quarantine_row, to_quarantine
from ingestion.contracts import SCHEMA_CONTRACT, TypeContract, guarded
from ingestion.quickbooks import settings
from ingestion.quickbooks.helpers import (
    cdc_deleted,
    check_record,
    fmt_time,
    make_session,
    parse_time,
    previously_loaded,
    query_pages,
    shift,
)
from ingestion.runner import counter

SOURCE = "quickbooks"


def _same_instant(a: Any, b: datetime) -> bool:
    if not isinstance(a, datetime):
        return False
    return (a if a.tzinfo else a.replace(tzinfo=UTC)) == b


def _deletions(
    session: Session, base: str, entity: str, since: str, this_run: dict[str, dict[str, Any]]
) -> Iterator[Any]:
    """CDC's deletions since `since`, each as the record's last known version flagged `_is_deleted`.

    The last known version is the one read in this run (`this_run`: it is in the same load package,
    and the resource's `dedup_sort` on `_is_deleted` makes the deleted row win the merge), else the
    row already in the destination, else (deleted before we ever saw it) just Id and MetaData.
    Counting: every CDC entry is seen once; a deletion already in the destination with the same
    `_deleted_at` (the CDC window overlaps the last run) or repeated in the response is a duplicate,
    one without an Id is quarantined, every other loads one row — seen = loaded + quarantined +
    duplicates still holds, the query's version of a record deleted in the same run being its own row.
    """
    table = settings.table_name(entity)
    deleted = cdc_deleted(session, base, entity, since)
    ids = [str(o["Id"]) for o in deleted if isinstance(o, dict) and o.get("Id")]
    known = previously_loaded(table, sorted({i for i in ids if i not in this_run}))
    done: set[str] = set()
    for obj in deleted:
        counter.add(SOURCE, table, seen=1)
        if not isinstance(obj, dict) or not obj.get("Id"):
            counter.add(SOURCE, table, quarantined=1)
            yield to_quarantine(quarantine_row(SOURCE, table, "?", "deleted entry without Id", obj))
            continue
        rid = str(obj["Id"])
        meta = obj.get("MetaData")
        when = parse_time(meta.get("LastUpdatedTime")) if isinstance(meta, dict) else None
        before = known.get(rid)
        if rid in done or (
            rid not in this_run
            and before is not None
            and before.get("_is_deleted")
            and when is not None
            and _same_instant(before.get("_deleted_at"), when)
        ):
            counter.add(SOURCE, table, duplicates=1)
            continue
        done.add(rid)
        last = this_run.get(rid) or before or {"Id": rid, "MetaData": meta}
        yield {**last, "_is_deleted": True, "_deleted_at": when}


def _entity(session: Session, base: str, entity: str) -> Iterator[Any]:
    table = settings.table_name(entity)
    state = dlt.current.resource_state()
    cursor: str | None = state.get("cursor")
    boundary: dict[str, str] = dict(state.get("boundary", {}))
    since = shift(cursor, settings.OVERLAP_SECONDS) if cursor else None
    seen: set[str] = set()
    newest = parse_time(cursor) if cursor else None
    clock: dict[str, str] = {}
    # records read in this run, kept only when CDC will be asked (not on the first run, not for Account)
    this_run: dict[str, dict[str, Any]] = {}
    keep = since is not None and entity != "Account"
    for page in query_pages(session, base, entity, since, clock):
        counter.add(SOURCE, table, seen=len(page))
        for record in page:
            reason = check_record(record)
            if reason is not None:
                counter.add(SOURCE, table, quarantined=1)
                ref = record.get("Id") if isinstance(record, dict) else None
                yield to_quarantine(quarantine_row(SOURCE, table, str(ref or "?"), reason, record))
                continue
            updated = record["MetaData"]["LastUpdatedTime"]
            if record["Id"] in seen or boundary.get(record["Id"]) == updated:
                counter.add(SOURCE, table, duplicates=1)
                continue
            seen.add(record["Id"])
            boundary[record["Id"]] = updated
            when = parse_time(updated)
            newest = when if newest is None or (when and when > newest) else newest
            row = {**record, "_is_deleted": False}
            if keep:
                this_run[record["Id"]] = row
            yield row
    if keep and "time" in clock:
        # CDC looks back at most 30 days from the server's now; older deletions are out of its reach
        floor = shift(clock["time"], (settings.CDC_MAX_DAYS - 1) * 86400)
        cdc_since = max(since, floor, key=lambda t: parse_time(t) or parse_time(floor))
        yield from _deletions(session, base, entity, cdc_since, this_run)
    if newest is not None:
        floor = newest.timestamp() - settings.OVERLAP_SECONDS
        state["cursor"] = fmt_time(newest)
        state["boundary"] = {
            k: v for k, v in boundary.items() if (t := parse_time(v)) is not None and t.timestamp() >= floor
        }


def _resource(session: Session, base: str, entity: str) -> DltResource:
    def rows() -> Iterator[Any]:
        contract = TypeContract(settings.table_name(entity), settings.CONTRACT_HINTS, {"Id": "text"})
        table = settings.table_name(entity)
        yield from guarded(_entity(session, base, entity), contract, SOURCE, table, lambda r: r.get("Id"))

    return dlt.resource(
        rows,
        name=settings.table_name(entity),
        primary_key="Id",
        write_disposition="merge",
        columns=settings.COLUMN_HINTS,
    )


def _reports(session: Session, base: str) -> Iterator[dict[str, Any]]:
    from ingestion.quickbooks.helpers import get_json

    for name in ("ProfitAndLoss", "BalanceSheet"):
        body = get_json(
            session,
            f"{base}/reports/{name}",
            {"accounting_method": "Accrual", "minorversion": settings.MINOR_VERSION},
        )
        header = body.get("Header", {}) if isinstance(body, dict) else {}
        yield {
            "report_name": name,
            "start_period": header.get("StartPeriod"),
            "end_period": header.get("EndPeriod"),
            "body": body,
        }


@dlt.source(name="quickbooks", schema_contract=SCHEMA_CONTRACT)
def quickbooks_source(
    base_url: str = dlt.config.value,
    api_key: str = dlt.secrets.value,
    realm_id: str = dlt.config.value,
    with_reports: bool = False,
) -> Iterable[DltResource]:
    """One resource per entity in `settings.ENTITIES` (+ `reports` when `with_reports`)."""
    session = make_session(api_key)
    base = base_url.rstrip("/") + settings.API_PATH.format(realm_id=realm_id)
    resources = [_resource(session, base, e) for e in settings.ENTITIES]
    if with_reports:
        resources.append(
            dlt.resource(
                _reports(session, base),
                name="reports",
                primary_key=("report_name", "end_period"),
                write_disposition="merge",
                columns={"body": {"data_type": "json"}},
            )
        )
    return resources

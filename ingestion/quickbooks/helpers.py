"""QuickBooks Online: HTTP session with retries, query paging by STARTPOSITION, CDC, record checks,
and the lookup of rows already loaded (the last known version of a record that CDC reports deleted)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import dlt
from dlt.common.schema.utils import get_nested_tables
from dlt.destinations.exceptions import DatabaseUndefinedRelation
from requests import Session
from requests.exceptions import HTTPError, RequestException

from ingestion.common import vendor_session
from ingestion.quickbooks import settings
from ledgerlake.errors import LedgerlakeError

# QBO's LastUpdatedTime, e.g. 2025-03-04T05:06:07-08:00 or ...07.123Z
_QBO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?")


def make_session(api_key: str) -> Session:
    """A requests session that retries 429/5xx (honouring Retry-After) and sends the Bearer token."""
    session = vendor_session("quickbooks", settings)
    session.headers.update({"Authorization": f"Bearer {api_key}", "Accept": "application/json"})
    return session


def _detail(body: Any) -> str:
    if isinstance(body, dict) and isinstance(body.get("Fault"), dict):
        errors = body["Fault"].get("Error") or [{}]
        return f"{errors[0].get('Message')} ({errors[0].get('Detail')})"
    return str(body)[:200]


def get_json(session: Session, url: str, params: dict[str, Any]) -> Any:
    """GET `url` and return the JSON body; HTTP and connection errors become one-line LedgerlakeErrors."""
    try:
        resp = session.get(url, params=params)
        resp.raise_for_status()
        return resp.json()
    except HTTPError as exc:
        r = exc.response
        try:
            detail = _detail(r.json())
        except ValueError:
            detail = r.text[:200]
        raise LedgerlakeError(f"quickbooks: GET {r.url} failed with HTTP {r.status_code}: {detail}") from exc
    except RequestException as exc:
        raise LedgerlakeError(
            f"quickbooks: cannot reach {url} ({type(exc).__name__}); check SOURCES__QUICKBOOKS__BASE_URL"
        ) from exc


def query_pages(
    session: Session, base: str, entity: str, since: str | None, clock: dict[str, str] | None = None
) -> Iterator[list[Any]]:
    """`select * from <entity> [where MetaData.LastUpdatedTime >= since]`, page by page (STARTPOSITION).

    `clock["time"]` is set to the server's `time` of the last response (QBO's notion of now)."""
    if since and not _QBO_TIME.fullmatch(since):
        raise ValueError(f"QuickBooks cursor {since!r} is not a timestamp")  # never spliced into a query
    where = f" where MetaData.LastUpdatedTime >= '{since}'" if since else ""
    start = 1
    while True:
        q = f"select * from {entity}{where} STARTPOSITION {start} MAXRESULTS {settings.MAX_RESULTS}"
        body = get_json(session, f"{base}/query", {"query": q, "minorversion": settings.MINOR_VERSION})
        if not isinstance(body, dict):
            raise LedgerlakeError(
                f"quickbooks: {base}/query returned {type(body).__name__}, not a JSON object"
            )
        if clock is not None and isinstance(body.get("time"), str):
            clock["time"] = body["time"]
        page = (body.get("QueryResponse") or {}).get(entity) or []
        if page:
            yield page
        if len(page) < settings.MAX_RESULTS:
            return
        start += len(page)


def cdc_deleted(session: Session, base: str, entity: str, since: str) -> list[Any]:
    """Entities of `entity` deleted since `since` (QBO's change data capture), as CDC sends them:
    `{"status": "Deleted", "Id", "MetaData": {"LastUpdatedTime"}}` (not checked here)."""
    body = get_json(
        session,
        f"{base}/cdc",
        {"entities": entity, "changedSince": since, "minorversion": settings.MINOR_VERSION},
    )
    out = []
    for block in body.get("CDCResponse", []) if isinstance(body, dict) else []:
        for resp in block.get("QueryResponse", []):
            out += [o for o in resp.get(entity, []) if isinstance(o, dict) and o.get("status") == "Deleted"]
    return out


def parse_time(text: Any) -> datetime | None:
    try:
        value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def fmt_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S-00:00")


def shift(text: str, seconds: int) -> str:
    value = parse_time(text)
    assert value is not None
    return fmt_time(value - timedelta(seconds=seconds))


def check_record(record: Any) -> str | None:
    """Why a QBO entity can't be loaded (None if it can)."""
    if not isinstance(record, dict):
        return f"expected a JSON object, got {type(record).__name__}"
    if not isinstance(record.get("Id"), str) or not record["Id"]:
        return "missing key field Id"
    meta = record.get("MetaData")
    if not isinstance(meta, dict) or parse_time(meta.get("LastUpdatedTime")) is None:
        return "field MetaData.LastUpdatedTime: missing or not a date-time"
    for name in ("TotalAmt", "Balance"):
        if name in record and not isinstance(record[name], int | float):
            return f"field {name}: expected a number, got {type(record[name]).__name__}"
    return None


def _unflatten(row: dict[str, Any]) -> dict[str, Any]:
    """`{"vendor_ref__value": "5"}` -> `{"vendor_ref": {"value": "5"}}`, dropping NULLs and dlt's columns.

    dlt's snake_case naming collapses `__` inside a name, so `__` in a column is always a path step and
    the nested record normalises back to the same columns."""
    out: dict[str, Any] = {}
    for column, value in row.items():
        if value is None or column.startswith("_dlt_"):
            continue
        *path, leaf = column.split("__")
        node = out
        for step in path:
            node = node.setdefault(step, {})
        node[leaf] = value
    return out


def _select(client: Any, table: str, key: str, values: list[Any]) -> list[dict[str, Any]]:
    placeholders = ",".join(["%s"] * len(values))
    sql = f"select * from {client.make_qualified_table_name(table)} where {key} in ({placeholders})"
    with client.execute_query(sql, *values) as cur:
        columns = [d[0] for d in cur.description]
        return [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]


def previously_loaded(table: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    """The rows of `table` already in the destination for these `Id`s, rebuilt as nested records.

    Nested lists (`Line`, `LinkedTxn`, ...) live in child tables (`bill__line`, ...); they are read back
    and attached, so that re-emitting the record under merge does not drop its lines. Keys are the
    normalised column names (`txn_date`, `meta_data: {create_time}`), which dlt normalises to the same
    columns. Empty when nothing was loaded yet (no schema or no table)."""
    pipeline = dlt.current.pipeline()
    if not ids or not pipeline.default_schema_name:
        return {}
    tables = pipeline.default_schema.tables
    if table not in tables:
        return {}
    out: dict[str, dict[str, Any]] = {}
    with pipeline.sql_client() as client:
        try:
            roots = _select(client, table, "id", ids)
        except DatabaseUndefinedRelation:  # declared in the schema, not created yet
            return {}
        # _dlt_id of each loaded row -> (its table, the record rebuilt from it)
        holders = {r["_dlt_id"]: (table, _unflatten(r)) for r in roots}
        out = {str(r["id"]): holders[r["_dlt_id"]][1] for r in roots}
        for nested in get_nested_tables(tables, table, include_self=False):
            name, parent = nested["name"], nested["parent"]
            parents = [k for k, (t, _) in holders.items() if t == parent]
            try:
                rows = _select(client, name, "_dlt_parent_id", parents) if parents else []
            except DatabaseUndefinedRelation:
                continue
            *path, leaf = name[len(parent) + 2 :].split("__")
            for row in sorted(rows, key=lambda r: r["_dlt_list_idx"]):
                item = _unflatten(row)
                node = holders[row["_dlt_parent_id"]][1]
                for step in path:
                    node = node.setdefault(step, {})
                # a list of scalars is a child table with one column, `value`
                node.setdefault(leaf, []).append(item["value"] if set(item) == {"value"} else item)
                holders[row["_dlt_id"]] = (name, item)
    return out

"""QuickBooks Online v3 over the sandbox state: query language, CDC, reports, Bearer auth, Fault errors."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sandbox.company.qbo_wire import ENTITIES
from sandbox.credentials import QUICKBOOKS_API_KEY, QUICKBOOKS_REALM_ID
from sandbox.server.store import SandboxState

MAX_RESULTS = 1000
CDC_MAX_DAYS = 30
QUERY_RE = re.compile(
    r"^\s*select\s+\*\s+from\s+(?P<entity>\w+)"
    r"(?:\s+where\s+metadata\.lastupdatedtime\s*(?P<op>>=|<=|>|<|=)\s*'(?P<ts>[^']+)')?"
    r"(?:\s+orderby\s+(?P<order>[\w.]+)(?:\s+(?:asc|desc))?)?"
    r"(?:\s+startposition\s+(?P<start>\d+))?(?:\s+maxresults\s+(?P<max>\d+))?\s*;?\s*$",
    re.IGNORECASE,
)


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "-00:00"


def fault(status: int, message: str, detail: str, code: str, fault_type: str) -> JSONResponse:
    body = {
        "Fault": {"Error": [{"Message": message, "Detail": detail, "code": code}], "type": fault_type},
        "time": now_text(),
    }
    return JSONResponse(body, status_code=status)


def sandbox_time(qbo: QboState) -> str:
    """The company's "now" as QuickBooks reports it in `time`: the end of the sandbox's as_of day."""
    return datetime.fromtimestamp(qbo.as_of_end, UTC).strftime("%Y-%m-%dT%H:%M:%S.000-00:00")


def parse_time(text: str) -> float:
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


@dataclass
class Entity:
    """One entity's objects ordered by Id, with their LastUpdatedTime (unix)."""

    ids: list[int] = field(default_factory=list)
    updated: list[float] = field(default_factory=list)
    json: list[str] = field(default_factory=list)


@dataclass
class QboState:
    entities: dict[str, Entity]
    deleted: list[tuple[str, float, str]]  # entity, deleted at, json
    gl: pl.DataFrame
    as_of_end: float

    @classmethod
    def load(cls, state: SandboxState, data_dir: Path) -> QboState:
        root = data_dir / "state" / "quickbooks"
        entities: dict[str, Entity] = {}
        for path in sorted(root.glob("*.jsonl")):
            if path.stem == "deleted":
                continue
            rows = []
            with path.open(encoding="utf-8") as fh:
                for i, line in enumerate(fh):
                    obj = json.loads(line)
                    oid = str(obj.get("Id", ""))
                    meta = obj.get("MetaData") if isinstance(obj.get("MetaData"), dict) else {}
                    try:
                        updated = parse_time(str(meta.get("LastUpdatedTime")))
                    except ValueError:
                        updated = 0.0
                    rows.append((int(oid) if oid.isdigit() else -1 - i, updated, line.rstrip("\n")))
            rows.sort()
            entities[path.stem] = Entity([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
        for name in ENTITIES:  # a known entity with no file (a sandbox from an older version) has none
            entities.setdefault(name, Entity())
        deleted = []
        if (root / "deleted.jsonl").exists():
            for line in (root / "deleted.jsonl").read_text().splitlines():
                d = json.loads(line)
                deleted.append(
                    (
                        d["entity"],
                        parse_time(d["object"]["MetaData"]["LastUpdatedTime"]),
                        json.dumps(d["object"]),
                    )
                )
        gl_path = root / "gl_lines.parquet"
        gl = pl.read_parquet(gl_path) if gl_path.exists() else pl.DataFrame()
        as_of = date.fromisoformat(state.meta["as_of"])
        end = datetime.combine(as_of + timedelta(days=1), datetime.min.time(), tzinfo=UTC).timestamp() - 1
        return cls(entities, deleted, gl, end)


class QboStore:
    """QuickBooks state for the holder's current sandbox state (reloaded when the sandbox advances)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self._lock = threading.Lock()
        self._for: object | None = None
        self._state: QboState | None = None

    def get(self, state: SandboxState) -> QboState:
        with self._lock:
            if self._for is not state or self._state is None:
                self._state = QboState.load(state, self.data_dir)
                self._for = state
            return self._state


def check_auth(request: Request) -> Response | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or token.strip() != QUICKBOOKS_API_KEY:
        return fault(
            401,
            "message=AuthenticationFailed; errorCode=003200; statusCode=401",
            "Token invalid or expired",
            "3200",
            "AUTHENTICATION",
        )
    if request.path_params.get("realm") != QUICKBOOKS_REALM_ID:
        return fault(
            403,
            "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403",
            f"Company {request.path_params.get('realm')} is not authorized for this token",
            "3100",
            "AUTHORIZATION",
        )
    return None


def _validation(detail: str) -> Response:
    return fault(400, "Error parsing query", f"QueryParserError: {detail}", "4000", "ValidationFault")


def _select(entity: Entity, op: str | None, ts: float | None) -> list[int]:
    idx = range(len(entity.ids))
    if op is None or ts is None:
        return list(idx)
    test = {">": ts.__lt__, ">=": ts.__le__, "<": ts.__gt__, "<=": ts.__ge__, "=": ts.__eq__}[op]
    return [i for i in idx if test(entity.updated[i])]


select = _select  # for `mid_page`: the rows a query pages through


def query(qbo: QboState, request: Request) -> Response:
    text = request.query_params.get("query", "")
    m = QUERY_RE.match(text)
    if m is None:
        return _validation(f"Encountered an unsupported statement: {text[:120]!r}")
    name = next((e for e in qbo.entities if e.lower() == m["entity"].lower()), None)
    if name is None:
        return _validation(f"Invalid context declaration : {m['entity']}")
    try:
        ts = parse_time(m["ts"]) if m["ts"] else None
    except ValueError:
        return _validation(f"invalid date-time {m['ts']!r}")
    start = int(m["start"] or 1)
    limit = int(m["max"] or 100)
    if start < 1 or not 1 <= limit <= MAX_RESULTS:
        return _validation(f"STARTPOSITION must be >= 1 and MAXRESULTS 1..{MAX_RESULTS}")
    entity = qbo.entities[name]
    picked = _select(entity, m["op"], ts)[start - 1 : start - 1 + limit]
    if not picked:
        return Response(
            f'{{"QueryResponse":{{}},"time":"{sandbox_time(qbo)}"}}', media_type="application/json"
        )
    items = ",".join(entity.json[i] for i in picked)
    body = (
        f'{{"QueryResponse":{{"{name}":[{items}],"startPosition":{start},"maxResults":{len(picked)}}},'
        f'"time":"{sandbox_time(qbo)}"}}'
    )
    return Response(body, media_type="application/json")


def cdc(qbo: QboState, request: Request) -> Response:
    names = [n.strip() for n in request.query_params.get("entities", "").split(",") if n.strip()]
    since_text = request.query_params.get("changedSince", "")
    if not names or not since_text:
        return fault(
            400,
            "Request has invalid or unsupported property",
            "entities and changedSince are required",
            "2010",
            "ValidationFault",
        )
    try:
        since = parse_time(since_text)
    except ValueError:
        return fault(
            400,
            "Request has invalid or unsupported property",
            f"changedSince {since_text!r}",
            "2010",
            "ValidationFault",
        )
    if since < qbo.as_of_end - CDC_MAX_DAYS * 86400:
        return fault(
            400,
            "Request has invalid or unsupported property",
            f"changedSince must be within the last {CDC_MAX_DAYS} days",
            "2010",
            "ValidationFault",
        )
    responses: list[dict[str, Any]] = []
    for requested in names:
        name = next((e for e in qbo.entities if e.lower() == requested.lower()), None)
        if name is None:
            return fault(
                400,
                "Request has invalid or unsupported property",
                f"entity {requested!r}",
                "2010",
                "ValidationFault",
            )
        entity = qbo.entities[name]
        objs = [json.loads(entity.json[i]) for i in _select(entity, ">=", since)]
        objs += [json.loads(j) for e, t, j in qbo.deleted if e == name and t >= since]
        objs = objs[:MAX_RESULTS]
        responses.append({name: objs, "startPosition": 1, "maxResults": len(objs), "totalCount": len(objs)})
    return JSONResponse({"CDCResponse": [{"QueryResponse": responses}], "time": sandbox_time(qbo)})


def _money(x: float) -> str:
    return f"{x:.2f}"


def _section(title: str, group: str, rows: list[tuple[str, str, float]]) -> tuple[dict[str, Any], float]:
    total = round(sum(v for _, _, v in rows), 2)
    data = [
        {"ColData": [{"value": name, "id": aid}, {"value": _money(v)}], "type": "Data"}
        for aid, name, v in rows
    ]
    return (
        {
            "Header": {"ColData": [{"value": title}, {"value": ""}]},
            "Rows": {"Row": data},
            "Summary": {"ColData": [{"value": f"Total {title}"}, {"value": _money(total)}]},
            "type": "Section",
            "group": group,
        },
        total,
    )


def _summary_row(title: str, group: str, value: float) -> dict[str, Any]:
    return {
        "Summary": {"ColData": [{"value": title}, {"value": _money(value)}]},
        "type": "Section",
        "group": group,
    }


def _balances(
    gl: pl.DataFrame, lo: date | None, hi: date, classes: list[str]
) -> list[tuple[str, str, str, float]]:
    if gl.is_empty():
        return []
    g = gl.filter(pl.col("posted_date") <= hi)
    if lo is not None:
        g = g.filter(pl.col("posted_date") >= lo)
    per = (
        g.filter(pl.col("classification").is_in(classes))
        .group_by("account_id", "account_name", "classification")
        .agg(net=(pl.col("debit") - pl.col("credit")).sum().round(2))
        .sort("account_id")
    )
    return list(per.iter_rows())


def report(qbo: QboState, request: Request) -> Response:
    name = request.path_params["report"]
    if name not in ("ProfitAndLoss", "BalanceSheet"):
        return fault(400, "Unsupported report", f"report {name!r}", "2030", "ValidationFault")
    as_of = datetime.fromtimestamp(qbo.as_of_end, UTC).date()
    try:
        end = date.fromisoformat(request.query_params.get("end_date", as_of.isoformat()))
        start = date.fromisoformat(request.query_params.get("start_date", date(end.year, 1, 1).isoformat()))
    except ValueError as exc:
        return fault(400, "Invalid date", str(exc), "2030", "ValidationFault")
    basis = request.query_params.get("accounting_method", "Accrual")
    if name == "ProfitAndLoss":
        rows = _balances(qbo.gl, start, end, ["Revenue", "Expense"])
        income, inc_total = _section(
            "Income", "Income", [(a, n, -v) for a, n, c, v in rows if c == "Revenue"]
        )
        expenses, exp_total = _section(
            "Expenses", "Expenses", [(a, n, v) for a, n, c, v in rows if c == "Expense"]
        )
        body_rows = [
            income,
            _summary_row("Gross Profit", "GrossProfit", inc_total),
            expenses,
            _summary_row("Net Operating Income", "NetOperatingIncome", round(inc_total - exp_total, 2)),
            _summary_row("Net Income", "NetIncome", round(inc_total - exp_total, 2)),
        ]
    else:
        rows = _balances(qbo.gl, None, end, ["Asset", "Liability", "Equity", "Revenue", "Expense"])
        net_income = round(-sum(v for _, _, c, v in rows if c in ("Revenue", "Expense")), 2)
        assets, _ = _section("Assets", "TotalAssets", [(a, n, v) for a, n, c, v in rows if c == "Asset"])
        liab, _ = _section(
            "Liabilities", "Liabilities", [(a, n, -v) for a, n, c, v in rows if c == "Liability"]
        )
        equity_rows = [(a, n, -v) for a, n, c, v in rows if c == "Equity"] + [("", "Net Income", net_income)]
        equity, _ = _section("Equity", "Equity", equity_rows)
        body_rows = [assets, liab, equity]
        start = date(end.year, 1, 1)
    header = {
        "Time": sandbox_time(qbo),
        "ReportName": name,
        "ReportBasis": basis,
        "StartPeriod": start.isoformat(),
        "EndPeriod": end.isoformat(),
        "SummarizeColumnsBy": "Total",
        "Currency": "USD",
        "Option": [
            {"Name": "AccountingStandard", "Value": "GAAP"},
            {"Name": "NoReportData", "Value": "false" if rows else "true"},
        ],
    }
    columns = {
        "Column": [
            {"ColTitle": "", "ColType": "Account", "MetaData": [{"Name": "ColKey", "Value": "account"}]},
            {"ColTitle": "TOTAL", "ColType": "Money", "MetaData": [{"Name": "ColKey", "Value": "total"}]},
        ]
    }
    return JSONResponse({"Header": header, "Columns": columns, "Rows": {"Row": body_rows}})


__all__ = ["QboStore", "cdc", "check_auth", "fault", "query", "report"]

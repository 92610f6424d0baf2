"""The CRM at `as_of` -> HubSpot CRM v3 objects (`id`, `properties` as strings, timestamps, `archived`).

Deals carry their stage history as HubSpot does: `hs_v2_date_entered_<stage id>` for every stage
entered by `as_of` and `hs_v2_date_exited_<stage id>` for every stage left since (the time the next
one was entered); stages never entered have neither property. Deal <-> line item associations are
stored under the keys HubSpot answers with for `associations=line_items` (`"line items"`, type
`deal_to_line_item`) and `associations=deals` on a line item (`"deals"`, type `line_item_to_deal`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import polars as pl

from sandbox.company.crm import PIPELINE, STAGE_PROBABILITY, CrmData


def hs_time(unix: int) -> str:
    return datetime.fromtimestamp(int(unix), UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _obj(oid: str, created: int, updated: int, props: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": oid,
        "properties": {"hs_object_id": oid, "createdate": hs_time(created), **props},
        "createdAt": hs_time(created),
        "updatedAt": hs_time(updated),
        "archived": False,
    }


def money(cents: int) -> str:
    """Cents as HubSpot writes a number property: `1234.5`, `500` (no trailing zeros)."""
    sign, cents = ("-" if cents < 0 else ""), abs(int(cents))
    return f"{sign}{cents // 100}.{cents % 100:02d}".rstrip("0").rstrip(".")


def stage_dates(path: list[tuple[str, int]]) -> dict[str, str]:
    """`hs_v2_date_entered_<stage>` / `hs_v2_date_exited_<stage>` of a deal's (stage, entered) path."""
    props: dict[str, str] = {}
    for i, (stage, entered) in enumerate(path):
        props[f"hs_v2_date_entered_{stage}"] = hs_time(entered)
        if i + 1 < len(path):
            props[f"hs_v2_date_exited_{stage}"] = hs_time(path[i + 1][1])
    return props


def _deal(row: dict[str, Any], path: list[tuple[str, int]], items: list[str]) -> dict[str, Any]:
    closed = row["dealstage"] in ("closedwon", "closedlost")
    props = {
        "amount": f"{row['amount']:.2f}".rstrip("0").rstrip("."),
        "closedate": hs_time(row["closed"]),
        "dealname": row["dealname"],
        "dealstage": row["dealstage"],
        "hs_lastmodifieddate": hs_time(row["modified"]),
        "pipeline": PIPELINE,
        "deal_currency_code": row["currency"],
        "hs_deal_stage_probability": str(STAGE_PROBABILITY[row["dealstage"]]),
        "hs_is_closed": "true" if closed else "false",
        "hs_is_closed_won": "true" if row["dealstage"] == "closedwon" else "false",
        **stage_dates(path),
    }
    obj = _obj(row["deal_id"], row["created"], row["modified"], props)
    obj["associations"] = {"companies": {"results": [{"id": row["company_id"], "type": "deal_to_company"}]}}
    if items:
        obj["associations"]["line items"] = {
            "results": [{"id": i, "type": "deal_to_line_item"} for i in items]
        }
    return obj


def _line_item(row: dict[str, Any]) -> dict[str, Any]:
    props = {
        "amount": money(row["amount_cents"]),
        "hs_lastmodifieddate": hs_time(row["created"]),
        "hs_line_item_currency_code": row["currency"],
        "hs_product_id": row["product_id"],
        "hs_sku": row["sku"],
        "name": row["name"],
        "price": money(row["price_cents"]),
        "quantity": str(row["quantity"]),
    }
    obj = _obj(row["line_item_id"], row["created"], row["created"], props)
    obj["associations"] = {"deals": {"results": [{"id": row["deal_id"], "type": "line_item_to_deal"}]}}
    return obj


def hubspot_objects(crm: CrmData) -> dict[str, list[dict[str, Any]]]:
    """Object type -> HubSpot objects at as_of, ordered by id (numeric)."""
    companies = [
        _obj(
            cid,
            created,
            created,
            {
                "domain": domain,
                "hs_lastmodifieddate": hs_time(created),
                "name": name,
                "country": "Germany" if country == "DE" else "United States",
            },
        )
        for cid, domain, name, country, created in crm.companies.select(
            "company_id", "domain", "name", "country", "created"
        ).iter_rows()
    ]
    company_of = dict(zip(crm.contacts["contact_id"], crm.contacts["company_id"], strict=True))
    contacts = []
    for cid, email, first, last, created, updated in crm.contacts.select(
        "contact_id", "email", "firstname", "lastname", "created", "updated"
    ).iter_rows():
        obj = _obj(
            cid,
            created,
            updated,
            {"email": email, "firstname": first, "lastname": last, "lastmodifieddate": hs_time(updated)},
        )
        obj["associations"] = {
            "companies": {"results": [{"id": company_of[cid], "type": "contact_to_company"}]}
        }
        contacts.append(obj)
    paths: dict[str, list[tuple[str, int]]] = {}
    for deal_id, stage, entered in crm.stages.sort("deal_id", "entered", maintain_order=True).iter_rows():
        paths.setdefault(deal_id, []).append((stage, entered))
    items: dict[str, list[str]] = {}
    for line_item_id, deal_id in crm.line_items.select("line_item_id", "deal_id").iter_rows():
        items.setdefault(deal_id, []).append(line_item_id)
    deals = [
        _deal(row, paths.get(row["deal_id"], []), items.get(row["deal_id"], []))
        for row in crm.deals.iter_rows(named=True)
    ]
    line_items = [_line_item(row) for row in crm.line_items.iter_rows(named=True)]
    out = {"companies": companies, "contacts": contacts, "deals": deals, "line_items": line_items}
    return {k: sorted(v, key=lambda o: int(o["id"])) for k, v in out.items()}


def deal_stage_history(crm: CrmData) -> pl.DataFrame:
    """Truth: each stage a deal entered by as_of, and when it left it (null for its current stage)."""
    return (
        crm.stages.sort("deal_id", "entered", maintain_order=True)
        .with_columns(exited=pl.col("entered").shift(-1).over("deal_id"))
        .select(
            "deal_id",
            "stage",
            entered_at=pl.from_epoch("entered", time_unit="s"),
            exited_at=pl.from_epoch("exited", time_unit="s"),
        )
    )

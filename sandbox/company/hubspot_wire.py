"""The CRM at `as_of` -> HubSpot CRM v3 objects (`id`, `properties` as strings, timestamps, `archived`)."""

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


def _deal(row: dict[str, Any]) -> dict[str, Any]:
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
    }
    obj = _obj(row["deal_id"], row["created"], row["modified"], props)
    obj["associations"] = {"companies": {"results": [{"id": row["company_id"], "type": "deal_to_company"}]}}
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
    deals = [_deal(row) for row in crm.deals.iter_rows(named=True)]
    out = {"companies": companies, "contacts": contacts, "deals": deals}
    return {k: sorted(v, key=lambda o: int(o["id"])) for k, v in out.items()}


def deal_stage_history(crm: CrmData) -> pl.DataFrame:
    return crm.stages.select("deal_id", "stage", entered_at=pl.from_epoch("entered", time_unit="s")).sort(
        "deal_id", "entered_at"
    )

"""HubSpot (the CRM): companies, contacts and deals moving through the default sales pipeline.

Companies are the registry's B2B customers (the ones behind `Registry.receivables`), each with one
contact. Every receivable is the invoice of one won deal, closed a few days before the invoice is
issued (5-15 days before go-live, 0-2 after). Defects planted here: won deals that were never
invoiced (`won_deal_not_invoiced`) and invoices whose amount differs from their deal
(`invoice_amount_differs_from_deal`). Lost deals stop at a random stage. Every deal's stage history
is simulated over the whole horizon; `cut_crm` shows each deal's stage at `as_of`, so deals closing
later are the open pipeline. Each deal carries 1-4 line items (instances of the product catalogue
`PRODUCTS`) whose amounts sum to the deal's amount to the cent, added when the deal is created.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import polars as pl
from faker import Faker

from sandbox.company.clock import Clock
from sandbox.company.registry import Registry

PIPELINE = "default"
OPEN_STAGES = (
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
)
# HubSpot's default sales pipeline probabilities
STAGE_PROBABILITY = {
    "appointmentscheduled": 0.2,
    "qualifiedtobuy": 0.4,
    "presentationscheduled": 0.6,
    "decisionmakerboughtin": 0.8,
    "contractsent": 0.9,
    "closedwon": 1.0,
    "closedlost": 0.0,
}
NOT_INVOICED_RATE = 0.03  # extra won deals (relative to invoices) that never get an invoice
AMOUNT_DIFFERS_RATE = 0.04  # invoices whose amount differs from the deal's
LOST_PER_WON = 0.6
PRODUCTS = ("Annual subscription", "Implementation", "Enterprise plan", "Support renewal", "Pilot")
# the product library behind the line items: HubSpot product id and SKU of each of PRODUCTS
PRODUCT_IDS = tuple(str(1_155_000_000 + 1_009 * i) for i in range(len(PRODUCTS)))
PRODUCT_SKUS = ("SUB-ANNUAL", "SVC-IMPL", "SUB-ENT", "SUP-RENEW", "SUB-PILOT")
MAX_LINE_ITEMS = 4
LINE_QUANTITIES = np.array([1, 1, 1, 2, 3, 4, 5, 10, 12])  # a line's quantity when it divides its cents


@dataclass
class CrmData:
    companies: pl.DataFrame  # company_id, customer_key, name, domain, country, created (unix)
    contacts: pl.DataFrame  # contact_id, company_id, firstname, lastname, email, created, updated
    deals: pl.DataFrame  # deal_id, company_id, dealname, amount, currency, created, closed, outcome, ...
    stages: pl.DataFrame  # deal_id, stage, entered (unix): the full stage history
    defects: pl.DataFrame  # defect_type, record_ids, detail
    # line_item_id, deal_id, name, product_id, sku, quantity, price_cents, amount_cents, currency, created
    line_items: pl.DataFrame


def _companies(reg: Registry, rng: np.random.Generator) -> pl.DataFrame:
    b2b = reg.customers.filter(pl.col("is_b2b"))
    n = b2b.height
    created = reg.clock.to_unix(reg.clock.day(b2b["created_day"].to_numpy() - 30), rng.integers(0, 86400, n))
    slug = b2b["name"].str.to_lowercase().str.replace_all(r"[^a-z0-9]+", "").str.slice(0, 20)
    tld = np.where(b2b["country"].to_numpy() == "DE", ".de", ".com")
    return b2b.select(
        company_id=pl.Series([str(7_000_000_000 + 131 * i) for i in range(n)]),
        customer_key="customer_key",
        name="name",
        domain=slug + pl.Series(tld),
        country="country",
        created=pl.Series(created),
    )


@lru_cache(maxsize=1)
def shared_faker() -> Faker:
    """One Faker per process (building one takes ~1 s); every user seeds it before drawing."""
    return Faker("en_US")


def _contacts(reg: Registry, companies: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    fake = shared_faker()
    fake.seed_instance(reg.seed + 1009)
    n = companies.height
    first = [fake.first_name() for _ in range(n)]
    last = [fake.last_name() for _ in range(n)]
    email = [
        f"{f.lower()}.{ln.lower()}@{d}" for f, ln, d in zip(first, last, companies["domain"], strict=True)
    ]
    created = companies["created"].to_numpy() + rng.integers(60, 3 * 86400, n)
    return pl.DataFrame(
        {
            "contact_id": [str(51 + 2 * i) for i in range(n)],
            "company_id": companies["company_id"],
            "firstname": first,
            "lastname": last,
            "email": email,
            "created": created,
            "updated": created + rng.integers(60, 90 * 86400, n),
        }
    )


def _won_lag(clock: Clock, issue_day: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Days from a deal's close to its invoice: a slow hand-off before go-live, near-instant after."""
    go_live = (clock.go_live - clock.start).days
    pre = rng.integers(5, 16, len(issue_day))
    post = rng.integers(0, 3, len(issue_day))
    return np.where(issue_day < go_live, pre, post)


def _deal_frames(reg: Registry, companies: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    clock = reg.clock
    inv = reg.receivables.join(companies.select("customer_key", "company_id"), on="customer_key")
    n_inv = inv.height
    issue = inv["issue_day"].to_numpy()
    differs = rng.random(n_inv) < AMOUNT_DIFFERS_RATE
    factor = 1 + rng.choice([-0.15, -0.1, -0.05, 0.05, 0.1, 0.2], n_inv)
    deal_amount = np.round(np.where(differs, inv["amount"].to_numpy() * factor, inv["amount"].to_numpy()), 2)
    won = pl.DataFrame(
        {
            "company_id": inv["company_id"],
            "amount": deal_amount,
            "currency": inv["currency"],
            "close_day": issue - _won_lag(clock, issue, rng),
            "outcome": ["closedwon"] * n_inv,
            "invoice_number": inv["invoice_number"],
            "invoice_amount": inv["amount"],
            "issue_day": issue,
            "amount_differs": differs,
        }
    )
    comp = companies
    n_extra = max(1, int(round(n_inv * NOT_INVOICED_RATE)))
    n_lost = int(round(n_inv * LOST_PER_WON))
    pick = rng.integers(0, comp.height, n_extra + n_lost)
    country = comp["country"].to_numpy()[pick]
    other = pl.DataFrame(
        {
            "company_id": comp["company_id"].to_numpy()[pick],
            "amount": np.round(np.exp(rng.normal(8.3, 0.7, n_extra + n_lost)), 2),
            "currency": np.where(country == "DE", "EUR", "USD"),
            "close_day": rng.integers(0, clock.sim_days - 10, n_extra + n_lost),
            "outcome": ["closedwon"] * n_extra + ["closedlost"] * n_lost,
            "invoice_number": [None] * (n_extra + n_lost),
            "invoice_amount": [None] * (n_extra + n_lost),
            "issue_day": [None] * (n_extra + n_lost),
            "amount_differs": [False] * (n_extra + n_lost),
        },
        schema_overrides={"invoice_number": pl.Utf8, "invoice_amount": pl.Float64, "issue_day": pl.Int64},
    )
    deals = pl.concat([won, other])
    n = deals.height
    cycle = rng.integers(14, 91, n)
    close_ts = clock.to_unix(clock.day(deals["close_day"].to_numpy()), rng.integers(8 * 3600, 18 * 3600, n))
    created = close_ts - cycle * 86400 - rng.integers(0, 86400, n)
    reached = np.where(deals["outcome"].to_numpy() == "closedwon", 5, rng.integers(1, 6, n))
    deals = deals.with_columns(
        created=pl.Series(created), closed=pl.Series(close_ts), reached=pl.Series(reached)
    ).sort("created", "company_id", "amount")
    names = np.array(PRODUCTS, dtype=object)[rng.integers(0, len(PRODUCTS), n)]
    comp_name = dict(zip(companies["company_id"], companies["name"], strict=True))
    return deals.with_columns(
        deal_id=pl.Series([str(9_100_000_000 + 173 * i) for i in range(n)]),
        dealname=pl.Series(
            [f"{comp_name[c]} - {p}" for c, p in zip(deals["company_id"], names, strict=True)]
        ),
    )


def _stage_history(deals: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """Each deal enters stages 1..reached between created and closed, then its outcome at close."""
    rows_id, rows_stage, rows_t = [], [], []
    for deal_id, created, closed, reached, outcome in deals.select(
        "deal_id", "created", "closed", "reached", "outcome"
    ).iter_rows():
        inner = np.sort(rng.uniform(created, closed, reached - 1).astype(np.int64))
        times = [created, *inner.tolist(), closed]
        stages = [*OPEN_STAGES[:reached], outcome]
        rows_id += [deal_id] * len(stages)
        rows_stage += stages
        rows_t += times
    return pl.DataFrame({"deal_id": rows_id, "stage": rows_stage, "entered": rows_t})


def _split_cents(cents: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """`cents` in `k` positive parts (k at most `cents`) that sum to it exactly."""
    k = max(1, min(k, cents))
    weights = rng.random(k) + 0.25
    parts = np.floor(cents * weights / weights.sum()).astype(np.int64)
    parts = np.maximum(parts, 1)
    parts[np.argmax(parts)] += cents - int(parts.sum())
    return parts


def _line_items(deals: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """1-4 line items per deal, the deal's own product first, amounts summing to the deal's cents.

    `quantity × price = amount` exactly: a line's quantity is drawn among `LINE_QUANTITIES` and
    falls back to 1 when it does not divide the line's cents."""
    product_of = {name: i for i, name in enumerate(PRODUCTS)}
    rows: dict[str, list] = {k: [] for k in ("deal_id", "product", "quantity", "price", "amount", "currency")}
    created: list[int] = []
    for deal_id, dealname, amount, currency, deal_created in deals.select(
        "deal_id", "dealname", "amount", "currency", "created"
    ).iter_rows():
        cents = int(round(amount * 100))
        k = int(rng.integers(1, MAX_LINE_ITEMS + 1))
        parts = _split_cents(cents, k, rng) if cents > 0 else np.array([cents])
        own = product_of[dealname.rsplit(" - ", 1)[-1]]
        others = [i for i in rng.permutation(len(PRODUCTS)).tolist() if i != own]
        qty = rng.choice(LINE_QUANTITIES, len(parts))
        qty = np.where(parts % qty == 0, qty, 1)
        rows["deal_id"] += [deal_id] * len(parts)
        rows["product"] += [own, *others][: len(parts)]
        rows["quantity"] += qty.tolist()
        rows["price"] += (parts // qty).tolist()
        rows["amount"] += parts.tolist()
        rows["currency"] += [currency] * len(parts)
        created += [deal_created] * len(parts)
    product = np.array(rows["product"], dtype=np.int64)
    n = len(product)
    return pl.DataFrame(
        {
            "line_item_id": [str(20_000_000_000 + 97 * i) for i in range(n)],
            "deal_id": rows["deal_id"],
            "name": np.array(PRODUCTS, dtype=object)[product].tolist(),
            "product_id": np.array(PRODUCT_IDS, dtype=object)[product].tolist(),
            "sku": np.array(PRODUCT_SKUS, dtype=object)[product].tolist(),
            "quantity": rows["quantity"],
            "price_cents": rows["price"],
            "amount_cents": rows["amount"],
            "currency": rows["currency"],
            "created": created,
        },
        schema={
            "line_item_id": pl.Utf8,
            "deal_id": pl.Utf8,
            "name": pl.Utf8,
            "product_id": pl.Utf8,
            "sku": pl.Utf8,
            "quantity": pl.Int64,
            "price_cents": pl.Int64,
            "amount_cents": pl.Int64,
            "currency": pl.Utf8,
            "created": pl.Int64,
        },
    )


def _defects(deals: pl.DataFrame) -> pl.DataFrame:
    not_invoiced = deals.filter((pl.col("outcome") == "closedwon") & pl.col("invoice_number").is_null())
    differs = deals.filter(pl.col("amount_differs"))
    return pl.concat(
        [
            not_invoiced.select(
                defect_type=pl.lit("won_deal_not_invoiced"),
                record_ids=pl.col("deal_id"),
                detail=pl.format("deal amount {} {}", "amount", "currency"),
            ),
            differs.select(
                defect_type=pl.lit("invoice_amount_differs_from_deal"),
                record_ids=pl.concat_str("deal_id", pl.lit(","), "invoice_number"),
                detail=pl.format("deal {} invoice {}", "amount", "invoice_amount"),
            ),
        ]
    )


def simulate_crm(reg: Registry, scale: float) -> CrmData:
    """The CRM over the whole horizon (draws only from its own RNG stream)."""
    del scale  # volume follows the registry's receivables
    rng = reg.stream("crm")
    companies = _companies(reg, rng)
    deals = _deal_frames(reg, companies, rng)
    # a company is in the CRM before its first deal
    first = deals.group_by("company_id").agg(first_deal=pl.col("created").min())
    companies = (
        companies.join(first, on="company_id", how="left")
        .with_columns(created=pl.min_horizontal("created", pl.col("first_deal") - 86400).cast(pl.Int64))
        .drop("first_deal")
    )
    contacts = _contacts(reg, companies, rng)
    stages = _stage_history(deals, rng)
    # drawn last from the stream, so everything above is what it was before line items existed
    line_items = _line_items(deals, rng)
    return CrmData(companies, contacts, deals, stages, _defects(deals), line_items)


def cut_crm(crm: CrmData, clock: Clock) -> CrmData:
    """What HubSpot shows at `as_of`: records created by then, each deal at its stage then."""
    end = clock.as_of_unix()
    stages = crm.stages.filter(pl.col("entered") <= end)
    current = (
        stages.sort("entered")
        .group_by("deal_id")
        .agg(dealstage=pl.col("stage").last(), modified=pl.col("entered").max())
    )
    deals = crm.deals.filter(pl.col("created") <= end).join(current, on="deal_id", how="left")
    deals = deals.with_columns(is_closed=pl.col("dealstage").is_in(["closedwon", "closedlost"]))
    last_day = clock.n_days - 1
    visible_inv = deals.filter(
        pl.col("is_closed") & (pl.col("issue_day").is_null() | (pl.col("issue_day") <= last_day))
    )
    return CrmData(
        companies=crm.companies.filter(pl.col("created") <= end),
        contacts=crm.contacts.filter(pl.col("created") <= end).with_columns(
            updated=pl.when(pl.col("updated") <= end).then("updated").otherwise("created")
        ),
        deals=deals,
        stages=stages,
        defects=_defects(visible_inv),
        # line items are added with their deal: those of the deals created by then
        line_items=crm.line_items.filter(pl.col("deal_id").is_in(deals["deal_id"].implode())),
    )

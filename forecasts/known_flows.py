"""Known cash flows for the next `horizon` days: open receivables, open payables and the CRM pipeline.

Everything here is pure polars on small frames (no warehouse); `forecasts.inputs` reads the marts.

The unit is a *settlement item*: one open document (or open deal) that will move `amount` (signed, in
`currency`) on one of several possible days. `settlement_items` returns one row per item and possible
day with the probability `weight` that the money moves on that day; the expected flow of a day is
`sum(amount * weight)`, and the weights of an item sum to at most 1 (the rest is "never pays" or
"after the horizon").

Receivables and payables
------------------------
* **Delays.** A paid document's delay is `last_paid_date - due_date` (days, negative = early). A
  customer's own delays are used when they have at least `MIN_PAID` paid invoices, the company-wide
  delays otherwise (bills: always the company-wide delays — it is the company's own payment habit).
  Without any paid history the delay is 0 (paid on the due date).
* **Never paid.** `pi` = stale / (stale + paid), where stale documents are open ones more days past due
  than the longest delay ever observed (far past due relative to history). An open document not paid
  by `as_of` is paid at delay d with probability `(1 - pi)/n / ((1 - pi) * m/n + pi)` for each of the
  `n` historical delays with `due_date + d > as_of` (`m` of them): the delay distribution conditioned
  on not being paid yet, with `pi` as the mass of "never". A document already later than every
  historical delay gets no weight (it is one of the stale ones).

Pipeline
--------
* **Stage probabilities, calibrated.** Without stage history, every deal is created in the entry stage
  (the open stage with the lowest HubSpot probability), so the share of closed deals that were won
  *is* the share of deals ever in the entry stage that ended won. That rate is shrunk towards
  HubSpot's entry probability with `PRIOR_DEALS` pseudo-deals: `r = (won + k * p_entry) / (closed + k)`,
  and a later stage is placed by how far along the way from the entry stage to won HubSpot puts it,
  `p_s = r + (1 - r) * (hub_s - hub_entry) / (1 - hub_entry)` (HubSpot's defaults rise far more
  steeply than observed, so this still overstates the later stages).
  With the stage history (`marts.fct_deal_stages`, from HubSpot's `hs_v2_date_entered_<stage>`) each
  stage gets its own rate: of the deals that entered stage s and had closed by `as_of`, the share that
  closed won, shrunk towards the estimate above with `PRIOR_DEALS` pseudo-deals,
  `p_s = (won_s + k * p_s_above) / (closed_s + k)`. Only entries and closings up to `as_of` count.
* **Timing.** Expected close date (`closed_at`; an open deal whose expected close is past closes on
  `as_of + 1`), then the median observed close-to-invoice lag (`fct_deals.days_to_invoice`), the median
  payment terms (`due_date - issue_date` of invoices), then the company-wide customer delays and `pi`
  as above. A deal whose payment falls after the horizon contributes nothing.

Spread
------
Each item is treated as independent: the cumulative known flow up to day h of item i is `a_i` with
probability `P_i(h)` (its weights up to h), variance `a_i**2 * P_i(h) * (1 - P_i(h))`; summed over the
items (`known_variance`). `forecasts.cash` adds it in quadrature to the baseline's interval.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import polars as pl

MIN_PAID = 3
PRIOR_DEALS = 10.0
DEFAULT_TERMS_DAYS = 30
COMPONENTS = ("receivables", "payables", "pipeline", "recurring")  # recurring: forecasts.recurring

ITEM_SCHEMA = {
    "component": pl.Utf8,
    "item_id": pl.Utf8,
    "currency": pl.Utf8,
    "flow_date": pl.Date,
    "amount": pl.Float64,  # the item's whole amount, signed
    "weight": pl.Float64,  # probability that it moves on flow_date
}


def empty_items() -> pl.DataFrame:
    return pl.DataFrame(schema=ITEM_SCHEMA)


@dataclass
class Delays:
    """Historical payment delays in days: company-wide and per key (customer) with enough history."""

    company: list[int]
    by_key: dict[str, list[int]] = field(default_factory=dict)
    never_share: float = 0.0

    def for_key(self, key: str | None) -> list[int]:
        if key is not None and key in self.by_key:
            return self.by_key[key]
        return self.company or [0]


def delays_from_history(
    paid: pl.DataFrame, open_docs: pl.DataFrame, as_of: date, key: str | None = None, min_paid: int = MIN_PAID
) -> Delays:
    """Delays of paid documents (`due_date, last_paid_date[, key]`) and the never-paid share.

    `open_docs` (`due_date`) are the documents still open at `as_of`: those later than every observed
    delay count as stale.
    """
    d = paid.filter(pl.col("due_date").is_not_null() & pl.col("last_paid_date").is_not_null())
    d = d.with_columns(delay=(pl.col("last_paid_date") - pl.col("due_date")).dt.total_days().cast(pl.Int64))
    company = sorted(d["delay"].to_list())
    by_key: dict[str, list[int]] = {}
    if key is not None and key in d.columns:
        for (k,), grp in d.group_by(key):
            if k is not None and grp.height >= min_paid:
                by_key[str(k)] = sorted(grp["delay"].to_list())
    never = 0.0
    if company and not open_docs.is_empty():
        late = open_docs.filter(pl.col("due_date").is_not_null()).select(
            days=(pl.lit(as_of) - pl.col("due_date")).dt.total_days()
        )["days"]
        stale = int((late > max(company)).sum())
        never = stale / (stale + len(company))
    return Delays(company=company, by_key=by_key, never_share=never)


def settlement_weights(due: date, delays: list[int], never: float, as_of: date) -> list[tuple[date, float]]:
    """(day, probability) of an open document due on `due`, conditioned on not being paid by `as_of`."""
    n = len(delays)
    later = [d for d in delays if due + timedelta(days=d) > as_of]
    if n == 0 or not later:
        return []
    z = (1.0 - never) * len(later) / n + never
    w = (1.0 - never) / n / z
    out: dict[date, float] = {}
    for d in later:
        day = due + timedelta(days=d)
        out[day] = out.get(day, 0.0) + w
    return sorted(out.items())


def document_items(
    docs: pl.DataFrame, delays: Delays, component: str, sign: float, as_of: date, horizon: int
) -> pl.DataFrame:
    """Items of open documents `doc_id, key, due_date, amount, currency` (amount > 0, sign applied here)."""
    end = as_of + timedelta(days=horizon)
    rows = []
    for doc_id, key, due, amount, cur in docs.select(
        "doc_id", "key", "due_date", "amount", "currency"
    ).iter_rows():
        if due is None or amount is None or amount == 0:
            continue
        for day, w in settlement_weights(due, delays.for_key(key), delays.never_share, as_of):
            if day <= end:
                rows.append((component, str(doc_id), cur, day, sign * float(amount), w))
    return pl.DataFrame(rows, schema=ITEM_SCHEMA, orient="row") if rows else empty_items()


ENTRY_RATE_METHOD = (
    "entry stage: won/closed of all closed deals shrunk to HubSpot's entry probability "
    f"with {PRIOR_DEALS:g} pseudo-deals; later stages: r + (1 - r) * (hub_s - hub_entry) / (1 - hub_entry) "
    "(no stage history)"
)
STAGE_HISTORY_METHOD = (
    "per stage: won/closed of the deals that entered the stage and closed by as_of (fct_deal_stages), "
    f"shrunk with {PRIOR_DEALS:g} pseudo-deals to the entry-rate estimate"
)
CLOSING_STAGES = {"closedwon": True, "closedlost": False}


@dataclass
class StageCalibration:
    """Calibrated probability per open stage and how it was derived (for the summary)."""

    probability: dict[str, float]
    hubspot: dict[str, float]
    entry_stage: str | None
    closed: int
    won: int
    entry_win_rate: float | None
    method: str = ENTRY_RATE_METHOD
    by_stage: dict[str, dict[str, int]] = field(default_factory=dict)  # stage -> closed, won (history)

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "entry_stage": self.entry_stage,
            "closed_deals": self.closed,
            "won_deals": self.won,
            "entry_win_rate": self.entry_win_rate,
            "hubspot": self.hubspot,
            "calibrated": self.probability,
            "stage_history": self.by_stage,
        }


def stage_outcomes(history: pl.DataFrame, as_of: date) -> pl.DataFrame:
    """`stage, closed, won`: per stage, the deals that entered it by `as_of` and had closed by then,
    and how many of those closed won (closing = entering closedwon/closedlost by `as_of`)."""
    seen = history.filter(pl.col("entered_at").cast(pl.Date) <= as_of)
    closings = (
        seen.filter(pl.col("stage").is_in(list(CLOSING_STAGES)))
        .group_by("deal_id")
        .agg(won=(pl.col("stage").sort_by("entered_at").last() == "closedwon"))
    )
    return (
        seen.filter(~pl.col("stage").is_in(list(CLOSING_STAGES)))
        .select("deal_id", "stage")
        .unique()
        .join(closings, on="deal_id", how="inner")
        .group_by("stage")
        .agg(closed=pl.len(), won=pl.col("won").sum())
    )


def calibrate_stages(
    deals: pl.DataFrame,
    prior: float = PRIOR_DEALS,
    history: pl.DataFrame | None = None,
    as_of: date | None = None,
) -> StageCalibration:
    """Stage probabilities from `stage, is_closed, is_won, probability` (HubSpot's, 0..1), refined per
    stage by the stage `history` (`deal_id, stage, entered_at`) up to `as_of` when there is one."""
    base = _calibrate_by_entry_rate(deals, prior)
    if history is None or history.is_empty() or as_of is None or not base.probability:
        return base
    outcomes = {r["stage"]: r for r in stage_outcomes(history, as_of).iter_rows(named=True)}
    calibrated = {}
    for stage, p in base.probability.items():
        o = outcomes.get(stage)
        n, won = (int(o["closed"]), int(o["won"])) if o else (0, 0)
        calibrated[stage] = (won + prior * p) / (n + prior)
    by_stage = {s: {"closed": int(o["closed"]), "won": int(o["won"])} for s, o in sorted(outcomes.items())}
    return StageCalibration(
        calibrated, base.hubspot, base.entry_stage, base.closed, base.won, base.entry_win_rate,
        STAGE_HISTORY_METHOD, by_stage,
    )  # fmt: skip


def _calibrate_by_entry_rate(deals: pl.DataFrame, prior: float) -> StageCalibration:
    open_deals = deals.filter(~pl.col("is_closed"))
    hub = (
        open_deals.group_by("stage")
        .agg(p=pl.col("probability").cast(pl.Float64).mean())
        .with_columns(pl.col("p").fill_null(0.0).clip(0.0, 1.0))
        .sort("p", "stage")
    )
    hubspot = dict(zip(hub["stage"].to_list(), hub["p"].to_list(), strict=True))
    closed = deals.filter(pl.col("is_closed"))
    n, won = closed.height, int(closed["is_won"].sum() or 0)
    if not hubspot:
        return StageCalibration({}, {}, None, n, won, None)
    entry = str(hub["stage"][0])
    p0 = hubspot[entry]
    rate = (won + prior * p0) / (n + prior)
    if p0 >= 1:  # nothing left to place the later stages on
        return StageCalibration(dict(hubspot), hubspot, entry, n, won, rate)
    calibrated = {s: rate + (1 - rate) * (p - p0) / (1 - p0) for s, p in hubspot.items()}
    calibrated[entry] = rate
    return StageCalibration(calibrated, hubspot, entry, n, won, rate)


def pipeline_items(
    deals: pl.DataFrame,
    stage_probability: dict[str, float],
    lag_days: int,
    terms_days: int,
    delays: Delays,
    as_of: date,
    horizon: int,
) -> pl.DataFrame:
    """Items of open deals `deal_id, stage, amount, currency, close_date`: probability x timing."""
    end = as_of + timedelta(days=horizon)
    rows = []
    company = delays.company or [0]
    n = len(company)
    for deal_id, stage, amount, cur, close in deals.select(
        "deal_id", "stage", "amount", "currency", "close_date"
    ).iter_rows():
        p = stage_probability.get(stage, 0.0)
        if amount is None or amount == 0 or p <= 0:
            continue
        close = max(close, as_of + timedelta(days=1)) if close is not None else as_of + timedelta(days=1)
        due = close + timedelta(days=lag_days + terms_days)
        per: dict[date, float] = {}
        for d in company:
            day = max(due + timedelta(days=d), as_of + timedelta(days=1))
            per[day] = per.get(day, 0.0) + p * (1 - delays.never_share) / n
        for day, w in sorted(per.items()):
            if day <= end:
                rows.append(("pipeline", str(deal_id), cur, day, float(amount), w))
    return pl.DataFrame(rows, schema=ITEM_SCHEMA, orient="row") if rows else empty_items()


def route(
    items: pl.DataFrame, accounts: dict[str, str], rates: dict[str, float]
) -> tuple[pl.DataFrame, list[str]]:
    """Book each item to the bank account of its currency (`accounts`: currency -> account_id).

    A currency without an account goes to 'total' converted with `rates` (currency -> functional);
    without a rate either it is dropped (noted).
    """
    notes: list[str] = []
    mapped = items.with_columns(
        account_id=pl.col("currency").replace_strict(accounts, default=None, return_dtype=pl.Utf8)
    )
    unrouted = mapped.filter(pl.col("account_id").is_null())
    routed = mapped.filter(pl.col("account_id").is_not_null())
    if not unrouted.is_empty():
        convertible = unrouted.filter(pl.col("currency").is_in(list(rates)))
        dropped = unrouted.filter(~pl.col("currency").is_in(list(rates)))
        if not convertible.is_empty():
            convertible = convertible.with_columns(
                account_id=pl.lit("total"),
                amount=pl.col("amount")
                * pl.col("currency").replace_strict(rates, default=None, return_dtype=pl.Float64),
            )
            routed = pl.concat([routed, convertible])
        for cur in sorted(
            set(dropped["currency"].drop_nulls().to_list())
            | ({"?"} if dropped["currency"].null_count() else set())
        ):
            notes.append(f"known flows in {cur} dropped: no bank account and no FX rate for that currency")
    return routed, notes


def expected_flows(routed: pl.DataFrame) -> pl.DataFrame:
    """`account_id, flow_date, amount, component`: expected flow per account, day and component."""
    from forecasts.cash import KNOWN_FLOW_SCHEMA

    if routed.is_empty():
        return pl.DataFrame(schema=KNOWN_FLOW_SCHEMA)
    return (
        routed.group_by("account_id", "flow_date", "component")
        .agg(amount=(pl.col("amount") * pl.col("weight")).sum())
        .select("account_id", "flow_date", "amount", "component")
        .sort("account_id", "flow_date", "component")
        .cast(KNOWN_FLOW_SCHEMA)
    )


def known_variance(
    routed: pl.DataFrame, as_of: date, horizon: int, total_rates: dict[str, float]
) -> pl.DataFrame:
    """`unique_id, horizon_days, known_flow_var, known_balance_var` (independent items, see module doc).

    An account's items count in 'total' at the account's rate; items booked to 'total' only there.
    """
    schema = {
        "unique_id": pl.Utf8,
        "horizon_days": pl.Int64,
        "known_flow_var": pl.Float64,
        "known_balance_var": pl.Float64,
    }
    if routed.is_empty():
        return pl.DataFrame(schema=schema)
    rates = pl.DataFrame(
        {"account_id": list(total_rates), "rate": list(total_rates.values())},
        schema={"account_id": pl.Utf8, "rate": pl.Float64},
    )
    own = routed.select(
        pl.col("account_id").alias("unique_id"), "component", "item_id", "flow_date", "amount", "weight"
    )
    to_total = (
        routed.filter(pl.col("account_id") != "total")
        .join(rates, on="account_id", how="inner")
        .select(
            pl.lit("total").alias("unique_id"),
            "component",
            "item_id",
            "flow_date",
            (pl.col("amount") * pl.col("rate")).alias("amount"),
            "weight",
        )
    )
    items = pl.concat([own, to_total]).with_columns(
        horizon_days=(pl.col("flow_date") - pl.lit(as_of)).dt.total_days().cast(pl.Int64)
    )
    grid = pl.DataFrame({"horizon_days": list(range(1, horizon + 1))}, schema={"horizon_days": pl.Int64})
    keys = items.select("unique_id", "component", "item_id", "amount").unique(
        ["unique_id", "component", "item_id"]
    )
    cum = (
        keys.join(grid, how="cross")
        .join(
            items.select("unique_id", "component", "item_id", "horizon_days", "weight"),
            on=["unique_id", "component", "item_id", "horizon_days"],
            how="left",
        )
        .with_columns(pl.col("weight").fill_null(0.0))
        .sort("unique_id", "component", "item_id", "horizon_days")
        .with_columns(cum=pl.col("weight").cum_sum().over("unique_id", "component", "item_id").clip(0.0, 1.0))
    )
    return (
        cum.group_by("unique_id", "horizon_days")
        .agg(
            known_flow_var=(pl.col("amount") ** 2 * pl.col("weight") * (1 - pl.col("weight"))).sum(),
            known_balance_var=(pl.col("amount") ** 2 * pl.col("cum") * (1 - pl.col("cum"))).sum(),
        )
        .sort("unique_id", "horizon_days")
        .cast(schema)
    )


def residual_flows(flows: pl.DataFrame, explained: pl.DataFrame) -> pl.DataFrame:
    """Daily flows (`account_id, ds, y`) minus the explained ones (`account_id, ds, y_explained`)."""
    return (
        flows.join(explained, on=["account_id", "ds"], how="left")
        .with_columns(y=pl.col("y") - pl.col("y_explained").fill_null(0.0))
        .drop("y_explained")
    )

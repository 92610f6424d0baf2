"""Stripe: customers, charges, refunds, disputes, balance transactions and payouts (columnar).

Money is in integer cents (Stripe's minor units). A charge's funds become available T+2 business
days after it is created; every business day an automatic payout sweeps the available balance
(charges net of fees, minus refunds and dispute debits) and arrives in the bank one business day
later. A day whose available balance is not positive pays out nothing and carries over.

A dispute (chargeback) withdraws the charge's amount plus the dispute fee at once. The company
submits evidence for most disputes before `evidence_details.due_by` (status `needs_response` ->
`under_review`); the issuer decides weeks later (`won`: the amount is reinstated, the fee is kept;
`lost`). A dispute left without evidence is `lost` when the due date passes. Which charges are
disputed, and when, is drawn from the registry's main RNG; reason, response and outcome from the
stream `stripe_disputes`, so they shift no other draw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from sandbox.company.clock import Clock
from sandbox.company.registry import Registry

CHARGES_PER_YEAR = 28000  # card charges in the first year at scale 1 (the volume grows over the year)
REFUND_RATE = 0.05
DISPUTE_RATE = 0.007
DISPUTE_FEE = 1500
DISPUTE_REASONS = {  # reason -> share of disputes
    "fraudulent": 0.45,
    "product_not_received": 0.18,
    "product_unacceptable": 0.1,
    "subscription_canceled": 0.08,
    "duplicate": 0.07,
    "credit_not_processed": 0.06,
    "general": 0.06,
}
DISPUTE_DUE_DAYS = 21  # evidence is due at the end of the 21st day after the dispute
DISPUTE_RESPONSE_RATE = 0.8  # disputes the company submits evidence for
DISPUTE_WIN_RATE = 0.45  # of the disputes with evidence
PAYOUT_DESCRIPTION = "STRIPE PAYOUT"


@dataclass
class StripeData:
    customers: pl.DataFrame
    charges: pl.DataFrame
    refunds: pl.DataFrame
    disputes: pl.DataFrame
    balance_transactions: pl.DataFrame
    payouts: pl.DataFrame


def _charge_days(rng: np.random.Generator, clock: Clock, first_year: int) -> np.ndarray:
    """Charge days over the horizon: growth, weekends at 60%, a monthly wave; `first_year` expected in year 1."""
    t = np.arange(clock.sim_days)
    days = clock.day(t)
    weekday = np.where(np.is_busday(days), 1.0, 0.6)
    weight = weekday * (1.0 + 0.6 * t / 365) * (1.0 + 0.15 * np.sin(2 * np.pi * t / 30.5))
    n = int(round(first_year * weight.sum() / weight[:365].sum()))
    return np.sort(rng.choice(t, size=n, p=weight / weight.sum()))


def _customers(reg: Registry) -> pl.DataFrame:
    c = reg.customers
    created = reg.clock.to_unix(
        reg.clock.day(c["created_day"].to_numpy()), reg.rng.integers(0, 86400, c.height)
    )
    return c.with_columns(id=pl.Series(reg.ids("cus_", c.height)), created=pl.Series(created))


def _charges(reg: Registry, customers: pl.DataFrame, first_year: int) -> pl.DataFrame:
    rng, clock = reg.rng, reg.clock
    day = _charge_days(rng, clock, first_year)
    n = len(day)
    created = clock.to_unix(clock.day(day), rng.integers(0, 86400, n))
    amount = np.maximum(50, np.round(np.exp(rng.normal(8.6, 0.9, n)) / 100) * 100).astype(np.int64)
    # a charge's customer is one who had signed up by then (customers are sorted by sign-up day)
    signed_up = np.maximum(1, np.searchsorted(customers["created_day"].to_numpy(), day, side="right"))
    cust = (rng.random(n) * signed_up).astype(np.int64)
    brand = rng.choice(["visa", "mastercard", "amex", "discover"], size=n, p=[0.55, 0.3, 0.1, 0.05])
    fee = np.round(amount * np.where(brand == "amex", 0.035, 0.029)).astype(np.int64) + 30
    return pl.DataFrame(
        {
            "id": reg.ids("ch_", n, 24),
            "balance_transaction": reg.ids("txn_", n, 24),
            "customer": customers["id"].to_numpy()[cust],
            "billing_name": customers["name"].to_numpy()[cust],
            "email": customers["email"].to_numpy()[cust],
            "created": created,
            "day": day,
            "amount": amount,
            "fee": fee,
            "brand": brand,
            "last4": np.char.zfill(rng.integers(0, 10000, n).astype(str), 4),
            "exp_month": rng.integers(1, 13, n),
            "exp_year": rng.integers(2026, 2032, n),
        }
    )


def _refunds(reg: Registry, charges: pl.DataFrame) -> pl.DataFrame:
    rng = reg.rng
    picked = charges.filter(pl.Series(rng.random(charges.height) < REFUND_RATE))
    n = picked.height
    full = rng.random(n) < 0.6
    partial = np.round(picked["amount"].to_numpy() * rng.uniform(0.1, 0.9, n)).astype(np.int64)
    amount = np.where(full, picked["amount"].to_numpy(), partial)
    created = picked["created"].to_numpy() + rng.integers(86400, 20 * 86400, n)
    return pl.DataFrame(
        {
            "id": reg.ids("re_", n, 24),
            "balance_transaction": reg.ids("txn_", n, 24),
            "charge": picked["id"],
            "customer": picked["customer"],
            "created": created,
            "amount": amount,
            "reason": rng.choice(
                ["requested_by_customer", "duplicate", "fraudulent"], n, p=[0.8, 0.15, 0.05]
            ),
        }
    )


def _disputes(reg: Registry, charges: pl.DataFrame, refunds: pl.DataFrame) -> pl.DataFrame:
    rng = reg.rng
    candidates = charges.filter(~pl.col("id").is_in(refunds["charge"].implode()))
    picked = candidates.filter(pl.Series(rng.random(candidates.height) < DISPUTE_RATE))
    n = picked.height
    created = picked["created"].to_numpy() + rng.integers(10 * 86400, 40 * 86400, n)
    frame = pl.DataFrame(
        {
            "id": reg.ids("dp_", n, 24),
            "balance_transaction": reg.ids("txn_", n, 24),
            "charge": picked["id"],
            "created": created,
            "amount": picked["amount"],
        }
    )
    return frame.with_columns(**_dispute_lifecycle(reg, created, picked))


def _dispute_lifecycle(reg: Registry, created: np.ndarray, picked: pl.DataFrame) -> dict[str, pl.Series]:
    """Reason, evidence, decision and reinstatement of each dispute (own stream `stripe_disputes`)."""
    rng, n = reg.stream("stripe_disputes"), len(created)
    reasons = list(DISPUTE_REASONS)
    reason = rng.choice(reasons, n, p=list(DISPUTE_REASONS.values()))
    due_by = (created // 86400 + DISPUTE_DUE_DAYS) * 86400 + 86399
    responded = rng.random(n) < DISPUTE_RESPONSE_RATE
    responded_at = created + rng.integers(2 * 86400, 18 * 86400, n)
    decided_at = responded_at + rng.integers(30 * 86400, 75 * 86400, n)
    won = responded & (rng.random(n) < DISPUTE_WIN_RATE)
    reinstatement = reg.ids("txn_", n, 24, rng)
    return {
        "reason": pl.Series(reason, dtype=pl.Utf8),
        "due_by": pl.Series(due_by, dtype=pl.Int64),
        "responded_at": pl.Series(np.where(responded, responded_at, -1), dtype=pl.Int64).replace(-1, None),
        # without evidence the dispute is lost the second after the due date
        "closed_at": pl.Series(np.where(responded, decided_at, due_by + 1), dtype=pl.Int64),
        "outcome": pl.Series(np.where(won, "won", "lost"), dtype=pl.Utf8),
        "reinstatement": pl.Series(
            [t if w else None for t, w in zip(reinstatement, won, strict=True)], dtype=pl.Utf8
        ),
        "customer": picked["customer"],
        "billing_name": picked["billing_name"],
        "email": picked["email"],
    }


def dispute_status(at: int) -> pl.Expr:
    """A dispute's status at unix time `at`: needs_response -> under_review -> won/lost."""
    return (
        pl.when(pl.col("closed_at") <= at)
        .then(pl.col("outcome"))
        .when(pl.col("responded_at").is_not_null() & (pl.col("responded_at") <= at))
        .then(pl.lit("under_review"))
        .otherwise(pl.lit("needs_response"))
    )


def _available_on(clock: Clock, created: np.ndarray, business_days: int) -> np.ndarray:
    day = (created // 86400).astype("datetime64[D]")
    return clock.to_unix(clock.add_business_days(day, business_days))


def _balance_rows(
    clock: Clock, charges: pl.DataFrame, refunds: pl.DataFrame, disputes: pl.DataFrame
) -> pl.DataFrame:
    ch = charges.select(
        id=pl.col("balance_transaction"),
        source=pl.col("id"),
        created=pl.col("created"),
        amount=pl.col("amount"),
        fee=pl.col("fee"),
        type=pl.lit("charge"),
        reporting_category=pl.lit("charge"),
    ).with_columns(available_on=pl.Series(_available_on(clock, charges["created"].to_numpy(), 2)))
    re = refunds.select(
        id=pl.col("balance_transaction"),
        source=pl.col("id"),
        created=pl.col("created"),
        amount=-pl.col("amount"),
        fee=pl.lit(0, pl.Int64),
        type=pl.lit("refund"),
        reporting_category=pl.lit("refund"),
    ).with_columns(available_on=pl.col("created"))
    dp = disputes.select(
        id=pl.col("balance_transaction"),
        source=pl.col("id"),
        created=pl.col("created"),
        amount=-pl.col("amount"),
        fee=pl.lit(DISPUTE_FEE, pl.Int64),
        type=pl.lit("adjustment"),
        reporting_category=pl.lit("dispute"),
    ).with_columns(available_on=pl.col("created"))
    # a won dispute: the amount comes back (the dispute fee does not); decisions after the horizon
    # are never shown (as_of <= horizon), so they move no money in the simulation either
    horizon_end = int(clock.to_unix(np.array([clock.horizon], dtype="datetime64[D]"), 86399)[0])
    won = disputes.filter(pl.col("reinstatement").is_not_null() & (pl.col("closed_at") <= horizon_end))
    back = won.select(
        id=pl.col("reinstatement"),
        source=pl.col("id"),
        created=pl.col("closed_at"),
        amount=pl.col("amount"),
        fee=pl.lit(0, pl.Int64),
        type=pl.lit("adjustment"),
        reporting_category=pl.lit("dispute_reversal"),
    ).with_columns(available_on=pl.col("created"))
    rows = pl.concat([ch, re, dp, back], how="vertical_relaxed")
    return rows.with_columns(net=pl.col("amount") - pl.col("fee")).sort("created", "id")


def _payout_day(clock: Clock, available_on: np.ndarray) -> np.ndarray:
    """The business day whose payout sweeps a transaction: first business day >= available day."""
    day = (available_on // 86400).astype("datetime64[D]")
    return np.busday_offset(day, 0, roll="forward")


def _payouts(reg: Registry, bt: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Assign balance transactions to daily payouts; returns (payouts, bt with payout column)."""
    clock = reg.clock
    sweep = _payout_day(clock, bt["available_on"].to_numpy())
    bt = bt.with_columns(sweep_day=pl.Series(sweep.astype("datetime64[D]").astype(np.int64)))
    daily = bt.group_by("sweep_day").agg(pl.col("net").sum()).sort("sweep_day")
    last_day = np.datetime64(clock.horizon, "D").astype(np.int64)
    payout_of_day: dict[int, int] = {}
    pending: list[int] = []
    carry, n_payouts, amounts, days = 0, 0, [], []
    for sweep_day, net in daily.iter_rows():
        if sweep_day > last_day:
            break
        carry += net
        pending.append(sweep_day)
        if carry > 0:
            for d in pending:
                payout_of_day[d] = n_payouts
            amounts.append(carry)
            days.append(sweep_day)
            n_payouts, carry, pending = n_payouts + 1, 0, []
    day_arr = np.array(days, dtype="datetime64[D]")
    created = clock.to_unix(day_arr, reg.rng.integers(3600, 6 * 3600, n_payouts))
    arrival = clock.to_unix(clock.add_business_days(day_arr, 1))
    payouts = pl.DataFrame(
        {
            "id": reg.ids("po_", n_payouts, 24),
            "balance_transaction": reg.ids("txn_", n_payouts, 24),
            "created": created,
            "arrival_date": arrival,
            "amount": np.array(amounts, dtype=np.int64),
        }
    )
    idx = pl.Series([payout_of_day.get(d) for d in bt["sweep_day"].to_list()], dtype=pl.Int64)
    payout_ids = payouts["id"].to_numpy()
    bt = bt.with_columns(
        payout=pl.Series([payout_ids[i] if i is not None else None for i in idx.to_list()], dtype=pl.Utf8)
    ).drop("sweep_day")
    return payouts, bt


def _payout_rows(payouts: pl.DataFrame) -> pl.DataFrame:
    return payouts.select(
        id=pl.col("balance_transaction"),
        source=pl.col("id"),
        created=pl.col("created"),
        amount=-pl.col("amount"),
        fee=pl.lit(0, pl.Int64),
        type=pl.lit("payout"),
        reporting_category=pl.lit("payout"),
        available_on=pl.col("created"),
        net=-pl.col("amount"),
        payout=pl.lit(None, pl.Utf8),
    )


def simulate_stripe(reg: Registry, scale: float) -> StripeData:
    customers = _customers(reg)
    charges = _charges(reg, customers, max(60, int(CHARGES_PER_YEAR * scale)))
    first = charges.group_by("customer").agg(pl.col("created").min().alias("first_charge"))
    customers = (
        customers.join(first, left_on="id", right_on="customer", how="left")
        .with_columns(created=pl.min_horizontal("created", pl.col("first_charge") - 3600).cast(pl.Int64))
        .drop("first_charge")
    )
    refunds = _refunds(reg, charges)
    disputes = _disputes(reg, charges, refunds)
    bt = _balance_rows(reg.clock, charges, refunds, disputes)
    payouts, bt = _payouts(reg, bt)
    bt = pl.concat([bt, _payout_rows(payouts)], how="vertical_relaxed").sort("created", "id")
    return StripeData(customers, charges, refunds, disputes, bt, payouts)


def cut_stripe(data: StripeData, clock: Clock) -> StripeData:
    """What Stripe shows at `clock.as_of`: objects created by then, with their state at that time."""
    end = clock.as_of_unix()
    refunds = data.refunds.filter(pl.col("created") <= end)
    disputes = data.disputes.filter(pl.col("created") <= end).with_columns(status=dispute_status(end))
    refunded = refunds.group_by("charge").agg(pl.col("amount").sum().alias("amount_refunded"))
    charges = (
        data.charges.filter(pl.col("created") <= end)
        .join(refunded, left_on="id", right_on="charge", how="left")
        .with_columns(
            amount_refunded=pl.col("amount_refunded").fill_null(0),
            disputed=pl.col("id").is_in(disputes["charge"].implode()),
        )
    )
    payouts = data.payouts.filter(pl.col("created") <= end).with_columns(
        status=pl.when(pl.col("arrival_date") <= end).then(pl.lit("paid")).otherwise(pl.lit("in_transit"))
    )
    bt = data.balance_transactions.filter(pl.col("created") <= end).with_columns(
        payout=pl.when(pl.col("payout").is_in(payouts["id"].implode())).then(pl.col("payout"))
    )
    customers = data.customers.filter(pl.col("created") <= end)
    return StripeData(customers, charges, refunds, disputes, bt, payouts)


def dispute_truth(data: StripeData) -> pl.DataFrame:
    """`truth/stripe_disputes.parquet`: each dispute at `as_of` (`data` cut), cents like Stripe.

    `withdrawn` = amount + fee debited at creation; `reinstated` = the amount returned when won
    (0 otherwise); `closed_at` is null while the dispute is open at `as_of`."""
    d = data.disputes
    closed = pl.col("status").is_in(["won", "lost"])
    return d.select(
        dispute_id="id",
        charge_id="charge",
        created="created",
        amount="amount",
        fee=pl.lit(DISPUTE_FEE, pl.Int64),
        reason="reason",
        status="status",
        evidence_submitted_at=pl.when(pl.col("status") != "needs_response").then(pl.col("responded_at")),
        closed_at=pl.when(closed).then(pl.col("closed_at")),
        withdrawn=pl.col("amount") + DISPUTE_FEE,
        reinstated=pl.when(pl.col("status") == "won").then(pl.col("amount")).otherwise(0),
    ).sort("dispute_id")

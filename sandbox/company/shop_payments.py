"""Shopify Payments: the balance behind the shop's card payments and its daily payouts to the bank.

Every order is paid by card through Shopify Payments in the shop currency (USD): a `charge` balance
transaction at the order's time, gross = the order's `total_price`, fee = 2.9% + 30¢ (3.9% + 30¢ for
the EUR and GBP storefronts' international cards). A refund is a `refund` balance transaction on its
refund time, gross = minus the refunded amount; Shopify keeps the original fee (refund fee 0).
Funds become payable two business days after the shop day they were processed on (a weekend day
first rolls to Monday). Every business day a payout sweeps what became payable and is still unpaid;
when that sum is not positive nothing is paid out and it carries to the next business day. A payout
is dated on its business day and reaches the bank one business day later (`arrival_day`); it has
its own `payout` balance transaction (gross = minus the payout), as Shopify's ledger does.

Simulated over the whole horizon from the uncut shop; `cut_payments` gives what Shopify shows at
`as_of`: balance transactions processed by then, payouts dated by then (`paid` once they reached the
bank, `in_transit` before), and `pending` (no payout id) for the rest. All draws come from the
registry stream `shopify_payments`, so this never shifts other systems' output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from sandbox.company.clock import Clock
from sandbox.company.registry import Registry
from sandbox.company.shop import LOCAL_OFFSET_SECONDS, SHOP_CURRENCY, ShopData, increasing_ids
from sandbox.company.shopify_wire import money, shopify_time

DOMESTIC_FEE = (0.029, 30)  # share of the gross, cents
INTERNATIONAL_FEE = (0.039, 30)
PAYABLE_AFTER_BUSINESS_DAYS = 2
ARRIVAL_BUSINESS_DAYS = 1


@dataclass
class ShopPayments:
    """Money in integer cents (USD).

    balance_transactions: id, type (charge/refund/payout), amount, fee, net, source_id, source_type,
      source_order_id, source_order_transaction_id, processed_at (unix), day (shop day processed),
      payout_id (the payout that pays it out, over the whole horizon; null if none by the horizon).
    payouts: id, day and date (the payout's date), arrival_day (bank), amount, charges_gross, charges_fee,
      refunds_gross, refunds_fee; at a cut also status.
    """

    balance_transactions: pl.DataFrame
    payouts: pl.DataFrame


def _day_index(clock: Clock, days: np.ndarray) -> np.ndarray:
    return (days.astype("datetime64[D]") - np.datetime64(clock.start, "D")).astype(np.int64)


def _money_movements(orders: pl.DataFrame, last_day: int) -> pl.DataFrame:
    """Charge and refund rows (cents), before ids and payouts."""
    international = pl.col("presentment_currency") != "USD"
    rate = pl.when(international).then(INTERNATIONAL_FEE[0]).otherwise(DOMESTIC_FEE[0])
    fixed = pl.when(international).then(INTERNATIONAL_FEE[1]).otherwise(DOMESTIC_FEE[1])
    gross = (pl.col("total_price") * 100).round(0).cast(pl.Int64)
    charges = orders.filter(pl.col("day") <= last_day).select(
        type=pl.lit("charge"),
        amount=gross,
        fee=(gross * rate).round(0).cast(pl.Int64) + fixed,
        source_id=pl.col("sale_transaction_id"),
        source_order_id=pl.col("order_id"),
        processed_at=pl.col("created"),
        day=pl.col("day"),
    )
    refunds = orders.filter(pl.col("refund_day").is_not_null() & (pl.col("refund_day") <= last_day)).select(
        type=pl.lit("refund"),
        amount=-(pl.col("refund_amount") * 100).round(0).cast(pl.Int64),
        fee=pl.lit(0, pl.Int64),
        source_id=pl.col("refund_transaction_id"),
        source_order_id=pl.col("order_id"),
        processed_at=pl.col("refund_created"),
        day=pl.col("refund_day"),
    )
    return pl.concat([charges, refunds]).with_columns(net=pl.col("amount") - pl.col("fee"))


def _payout_days(clock: Clock, moves: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(payable day per movement, the business days a payout is made on), as day indices."""
    payable = _day_index(
        clock, clock.add_business_days(clock.day(moves["day"].to_numpy()), PAYABLE_AFTER_BUSINESS_DAYS)
    )
    all_days = clock.day(np.arange(clock.sim_days))
    business = _day_index(clock, all_days[np.is_busday(all_days)])
    net_by_day = np.zeros(clock.sim_days + 10, dtype=np.int64)
    np.add.at(net_by_day, payable, moves["net"].to_numpy())
    days, pending = [], 0
    for d in business:
        pending += int(net_by_day[d])
        if pending > 0:
            days.append(int(d))
            pending = 0
    return payable, np.array(days, dtype=np.int64)


def simulate_payments(reg: Registry, shop: ShopData) -> ShopPayments:
    """Shopify Payments over the whole horizon for the uncut `shop`."""
    clock = reg.clock
    rng = reg.stream("shopify_payments")
    moves = _money_movements(shop.orders, clock.sim_days - 1)
    payable, payout_days = _payout_days(clock, moves)
    slot = np.searchsorted(payout_days, payable, side="left")
    has_payout = slot < len(payout_days)
    payout_ids = increasing_ids(rng, len(payout_days), 8_400_000_000, 40_000)
    moves = moves.with_columns(
        payout_id=pl.Series(np.where(has_payout, payout_ids[np.minimum(slot, len(payout_days) - 1)], 0)),
    ).with_columns(payout_id=pl.when(pl.Series(has_payout)).then(pl.col("payout_id")))
    parts = (
        moves.filter(pl.col("payout_id").is_not_null())
        .group_by("payout_id")
        .agg(
            amount=pl.col("net").sum(),
            charges_gross=pl.col("amount").filter(pl.col("type") == "charge").sum(),
            charges_fee=pl.col("fee").filter(pl.col("type") == "charge").sum(),
            refunds_gross=pl.col("amount").filter(pl.col("type") == "refund").sum(),
            refunds_fee=pl.col("fee").filter(pl.col("type") == "refund").sum(),
        )
    )
    arrival = _day_index(clock, clock.add_business_days(clock.day(payout_days), ARRIVAL_BUSINESS_DAYS))
    payouts = (
        pl.DataFrame(
            {"id": payout_ids, "day": payout_days, "date": clock.day(payout_days), "arrival_day": arrival}
        )
        .join(parts, left_on="id", right_on="payout_id", how="inner")
        .sort("id")
    )
    seconds = 6 * 3600  # the payout's own balance transaction, early on its date (shop time)
    payout_bts = payouts.select(
        type=pl.lit("payout"),
        amount=-pl.col("amount"),
        fee=pl.lit(0, pl.Int64),
        source_id=pl.col("id"),
        source_order_id=pl.lit(None, pl.Int64),
        processed_at=pl.Series(clock.to_unix(clock.day(payouts["day"].to_numpy()), seconds))
        - LOCAL_OFFSET_SECONDS,
        day=pl.col("day"),
        net=-pl.col("amount"),
        payout_id=pl.col("id"),
    )
    bts = pl.concat([moves.select(payout_bts.columns), payout_bts]).sort("processed_at", "type", "source_id")
    bts = bts.with_columns(
        id=pl.Series(increasing_ids(rng, bts.height, 7_700_000_000, 30_000)),
        source_type=pl.col("type"),
        source_order_transaction_id=pl.when(pl.col("type") != "payout").then(pl.col("source_id")),
    )
    return ShopPayments(bts, payouts)


def cut_payments(payments: ShopPayments, clock: Clock) -> ShopPayments:
    """What Shopify Payments shows at `clock.as_of` (see the module docstring)."""
    last_day = clock.n_days - 1
    payouts = payments.payouts.filter(pl.col("day") <= last_day).with_columns(
        status=pl.when(pl.col("arrival_day") <= last_day).then(pl.lit("paid")).otherwise(pl.lit("in_transit"))
    )
    shown = payouts.select(pl.col("id").alias("payout_id"), payout_status="status")
    bts = (
        payments.balance_transactions.filter(pl.col("day") <= last_day)
        .join(shown, on="payout_id", how="left")
        .with_columns(
            payout_id=pl.when(pl.col("payout_status").is_not_null()).then(pl.col("payout_id")),
            payout_status=pl.col("payout_status").fill_null("pending"),
        )
    )
    return ShopPayments(bts, payouts)


def order_fees(payments: ShopPayments) -> pl.DataFrame:
    """`order_id, processing_fee` (USD): the fee Shopify Payments took on each order's charge."""
    return payments.balance_transactions.filter(pl.col("type") == "charge").select(
        order_id="source_order_id", processing_fee=(pl.col("fee") / 100).round(2)
    )


def payments_truth(payments: ShopPayments) -> dict[str, pl.DataFrame]:
    """Truth at the cut: `records` rows and `shopify_payout_members` (every balance transaction a
    shown payout pays out, with its gross, fee and net in USD)."""
    bts, payouts = payments.balance_transactions, payments.payouts
    records = pl.concat(
        [
            pl.DataFrame(
                {"source": "shopify", "object": "payouts", "record_id": payouts["id"].cast(pl.Utf8)}
            ),
            pl.DataFrame(
                {"source": "shopify", "object": "balance_transactions", "record_id": bts["id"].cast(pl.Utf8)}
            ),
        ]
    )
    members = (
        bts.filter(pl.col("payout_id").is_not_null() & (pl.col("type") != "payout"))
        .select(
            payout_id=pl.col("payout_id").cast(pl.Utf8),
            balance_transaction_id=pl.col("id").cast(pl.Utf8),
            type="type",
            order_id=pl.col("source_order_id").cast(pl.Utf8),
            amount=(pl.col("amount") / 100).round(2),
            fee=(pl.col("fee") / 100).round(2),
            net=(pl.col("net") / 100).round(2),
        )
        .sort("payout_id", "balance_transaction_id")
    )
    return {"records": records, "shopify_payout_members": members}


def payments_objects(payments: ShopPayments) -> dict[str, list[dict[str, Any]]]:
    """Shopify Admin REST JSON: `payouts` (shopify_payments/payouts.json) and `balance_transactions`
    (shopify_payments/balance/transactions.json, served under the key `transactions`)."""
    payouts = []
    for p in payments.payouts.iter_rows(named=True):
        payouts.append(
            {
                "id": int(p["id"]),
                "status": p["status"],
                "date": p["date"].isoformat(),
                "currency": SHOP_CURRENCY,
                "amount": money(p["amount"] / 100),
                "summary": {
                    "adjustments_fee_amount": "0.00",
                    "adjustments_gross_amount": "0.00",
                    "charges_fee_amount": money(p["charges_fee"] / 100),
                    "charges_gross_amount": money(p["charges_gross"] / 100),
                    "refunds_fee_amount": money(p["refunds_fee"] / 100),
                    "refunds_gross_amount": money(p["refunds_gross"] / 100),
                    "reserved_funds_fee_amount": "0.00",
                    "reserved_funds_gross_amount": "0.00",
                    "retried_payouts_fee_amount": "0.00",
                    "retried_payouts_gross_amount": "0.00",
                },
            }
        )
    bts = [
        {
            "id": int(b["id"]),
            "type": b["type"],
            "test": False,
            "payout_id": None if b["payout_id"] is None else int(b["payout_id"]),
            "payout_status": b["payout_status"],
            "currency": SHOP_CURRENCY,
            "amount": money(b["amount"] / 100),
            "fee": money(b["fee"] / 100),
            "net": money(b["net"] / 100),
            "source_id": int(b["source_id"]),
            "source_type": b["source_type"],
            "source_order_transaction_id": None
            if b["source_order_transaction_id"] is None
            else int(b["source_order_transaction_id"]),
            "source_order_id": None if b["source_order_id"] is None else int(b["source_order_id"]),
            "processed_at": shopify_time(b["processed_at"]),
            "adjustment_reason": None,
            "adjustment_order_transactions": None,
        }
        for b in payments.balance_transactions.sort("id").iter_rows(named=True)
    ]
    return {"payouts": sorted(payouts, key=lambda p: p["id"]), "balance_transactions": bts}

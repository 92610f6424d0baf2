"""`generate(seed, scale, out)`: write the simulated company (API state + truth) to a folder.

Layout of `out/` (documented in docs/sandbox.md):
- `sandbox.json`: seed, scale, clock (start, as_of, go_live), functional currency.
- `state/stripe/<object>.jsonl`: Stripe wire objects, one JSON per line, oldest first.
- `state/bank_feed/accounts.json`, `state/bank_feed/sync_log.jsonl`: Plaid accounts and change log.
- `truth/`: every true match, the true daily cash balances, every injected defect, `summary.json`.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from ledgerlake.errors import LedgerlakeError
from sandbox.company.bank import BankData, add_shop_payouts, cut_bank, simulate_bank
from sandbox.company.clock import Clock
from sandbox.company.exports import write_exports
from sandbox.company.ledger_io import write_crm_and_ledger
from sandbox.company.legacy import write_legacy_export
from sandbox.company.registry import Registry
from sandbox.company.shop import cut_shop, ledger_orders, shop_truth, simulate_shop
from sandbox.company.shop_payments import cut_payments, payments_objects, payments_truth, simulate_payments
from sandbox.company.shopify_wire import shopify_objects
from sandbox.company.stripe import StripeData, cut_stripe, dispute_truth, simulate_stripe
from sandbox.company.wire import payout_members, plaid_accounts, plaid_sync_log, stripe_objects

FUNCTIONAL_CURRENCY = "USD"
STRIPE_OBJECTS = ("customers", "charges", "refunds", "disputes", "balance_transactions", "payouts", "events")


def _write_jsonl(path: Path, objs: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for obj in objs:
            fh.write(json.dumps(obj, separators=(",", ":"), ensure_ascii=False))
            fh.write("\n")


def _write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _bank_matches(bank: BankData) -> pl.DataFrame:
    lines = bank.lines
    fx = lines.filter(pl.col("kind").is_in(["fx_out", "fx_in"]))
    fx_pair = fx.join(fx.select("ref", "kind", other="transaction_id"), on="ref").filter(
        pl.col("kind") != pl.col("kind_right")
    )
    counterpart = lines.join(fx_pair.select("transaction_id", "other"), on="transaction_id", how="left")
    match_type = (
        pl.when(pl.col("kind") == "duplicate_vendor_payment")
        .then(pl.lit("vendor_payment"))
        .otherwise(
            pl.when(pl.col("kind").str.starts_with("fx_"))
            .then(pl.lit("fx_transfer"))
            .otherwise(pl.col("kind"))
        )
    )
    return counterpart.select(
        bank_transaction_id="transaction_id",
        account_id="account_id",
        match_type=match_type,
        counterpart_id=pl.coalesce("other", "ref"),
        amount="amount",
        currency="currency",
        has_reference=~pl.col("missing_ref"),
    ).sort("bank_transaction_id")


def _truth_tables(
    reg: Registry, stripe: StripeData, bank: BankData, objs: dict[str, list]
) -> dict[str, pl.DataFrame]:
    start = pl.lit(reg.clock.start)
    lines = bank.lines.with_columns(date=start + pl.duration(days=pl.col("day")))
    records = pl.concat(
        [
            pl.DataFrame({"source": "stripe", "object": name, "record_id": [o["id"] for o in items]})
            for name, items in objs.items()
        ]
        + [
            pl.DataFrame(
                {"source": "bank_feed", "object": "transactions", "record_id": lines["transaction_id"]}
            )
        ]
    )
    members = (
        stripe.balance_transactions.filter(pl.col("payout").is_not_null())
        .select(
            payout_id="payout",
            balance_transaction_id="id",
            type="type",
            amount="amount",
            fee="fee",
            net="net",
        )
        .sort("payout_id", "balance_transaction_id")
    )
    vendors = lines.filter(pl.col("kind").is_in(["vendor_payment", "duplicate_vendor_payment"]))
    return {
        "records": records.sort("source", "object", "record_id"),
        "stripe_payout_members": members,
        "stripe_disputes": dispute_truth(stripe),
        "bank_matches": _bank_matches(bank),
        "bank_lines": lines.select(
            bank_transaction_id="transaction_id",
            account_id="account_id",
            date="date",
            amount="amount",
            expected_amount="expected_amount",
            currency="currency",
            name="name",
            kind="kind",
            ref="ref",
        ).sort("bank_transaction_id"),
        "daily_balances": bank.daily_balances,
        "fx_rates": bank.fx_rates,
        "defects": bank.defects.with_row_index("defect_id").with_columns(pl.col("defect_id").cast(pl.Int64)),
        "vendor_clusters": vendors.select(descriptor="name", vendor_id="ref", vendor_name="merchant_name")
        .unique()
        .sort("descriptor", "vendor_id"),
        "expense_categories": vendors.select(bank_transaction_id="transaction_id", category="category").sort(
            "bank_transaction_id"
        ),
        "receivables": reg.receivables,
    }


def _add_truth(truth: dict[str, pl.DataFrame], extra: dict[str, pl.DataFrame]) -> None:
    """Append another system's `records`/`defects` rows to the shared tables; add its own tables."""
    for name, frame in extra.items():
        if name == "records":
            truth["records"] = pl.concat([truth["records"], frame]).sort("source", "object", "record_id")
        elif name == "defects":
            start = truth["defects"].height
            rows = frame.with_row_index("defect_id", offset=start)
            rows = rows.with_columns(pl.col("defect_id").cast(pl.Int64))
            truth["defects"] = pl.concat([truth["defects"], rows.select(truth["defects"].columns)])
        else:
            truth[name] = frame


def _summary(seed: int, scale: float, clock: Clock, truth: dict[str, pl.DataFrame], seconds: float) -> dict:
    records = truth["records"].group_by("source", "object").len().sort("source", "object")
    defects = truth["defects"].group_by("defect_type").len().sort("defect_type")
    return {
        "seed": seed,
        "scale": scale,
        "clock": clock.to_json(),
        "functional_currency": FUNCTIONAL_CURRENCY,
        "records": {f"{s}.{o}": n for s, o, n in records.iter_rows()},
        "records_total": int(truth["records"].height),
        "defects": dict(defects.iter_rows()),
        "bank_matches": dict(
            truth["bank_matches"].group_by("match_type").len().sort("match_type").iter_rows()
        ),
        "generate_seconds": round(seconds, 2),
    }


def generate(seed: int, scale: float, out: Path, as_of: date | None = None) -> dict[str, Any]:
    """Simulate the company and write `out/` (replacing state/ and truth/); returns the summary.

    The whole horizon is simulated; vendor state and truth are cut at `as_of` (default: one year
    after the start). `sandbox.advance` calls this again with a later `as_of`.
    """
    t0 = time.perf_counter()
    out = Path(out)
    for sub in ("state", "truth"):
        shutil.rmtree(out / sub, ignore_errors=True)
    clock = Clock.for_year()
    if as_of is not None:
        if not clock.start <= as_of <= clock.horizon:
            raise LedgerlakeError(f"as_of {as_of} is outside the simulated {clock.start}..{clock.horizon}")
        clock = replace(clock, as_of=as_of)
    reg = Registry(seed, clock)
    reg.make_customers(max(20, int(5500 * scale)))  # ~3,400 signed up by the end of year 1
    stripe_all = simulate_stripe(reg, scale)
    bank_all = simulate_bank(reg, stripe_all, scale)
    shop_all = simulate_shop(reg, bank_all.fx_rates, scale)  # the ledger books these orders
    payments_all = simulate_payments(reg, shop_all)  # Shopify Payments: the shop's payouts to the bank
    bank_all = add_shop_payouts(reg, bank_all, payments_all.payouts)
    sync_log = plaid_sync_log(reg, bank_all)
    stripe, bank = cut_stripe(stripe_all, clock), cut_bank(bank_all, clock)
    objs = stripe_objects(reg, stripe)
    for name in STRIPE_OBJECTS:
        _write_jsonl(out / "state" / "stripe" / f"{name}.jsonl", objs[name])
    _write_json(out / "state" / "stripe" / "payout_members.json", payout_members(stripe))
    _write_json(out / "state" / "bank_feed" / "accounts.json", plaid_accounts(bank))
    _write_jsonl(out / "state" / "bank_feed" / "sync_log.jsonl", sync_log)
    shop = cut_shop(shop_all, clock)
    for name, items in shopify_objects(shop, clock.as_of_unix()).items():
        _write_jsonl(out / "state" / "shopify" / f"{name}.jsonl", items)
    payments = cut_payments(payments_all, clock)
    for name, items in payments_objects(payments).items():
        _write_jsonl(out / "state" / "shopify" / f"{name}.jsonl", items)
    truth = _truth_tables(reg, stripe, bank, objs)
    _add_truth(truth, shop_truth(shop))
    _add_truth(truth, payments_truth(payments))
    # exports/bank: statements of the statement-only accounts; exports/processor: Stripe CSV
    _add_truth(truth, write_exports(reg, stripe, out))
    # HubSpot + QuickBooks (own RNG streams); the ledger books Shopify's orders as daily summary journals
    write_crm_and_ledger(
        reg,
        stripe_all,
        bank_all,
        scale,
        out,
        truth,
        orders=ledger_orders(shop_all),
        shop_payouts=payments_all.payouts,
    )
    # exports/legacy: the legacy system's trial balance for the parallel run (own RNG stream)
    _add_truth(truth, write_legacy_export(reg, truth["gl_lines"], out))
    for name, frame in truth.items():
        (out / "truth").mkdir(parents=True, exist_ok=True)
        frame.write_parquet(out / "truth" / f"{name}.parquet", statistics=False)
    summary = _summary(seed, scale, clock, truth, time.perf_counter() - t0)
    meta = {"seed": seed, "scale": scale, **clock.to_json(), "functional_currency": FUNCTIONAL_CURRENCY}
    _write_json(out / "sandbox.json", meta)
    _write_json(out / "truth" / "summary.json", {k: v for k, v in summary.items() if k != "generate_seconds"})
    return summary

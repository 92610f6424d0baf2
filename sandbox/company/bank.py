"""The bank: an operating USD account and a EUR account, with every line the company's cash sees.

Lines (amounts signed from the company's view, + = money in, in the account's currency):
Stripe payouts arriving (and Shopify Payments payouts, added by `add_shop_payouts`), B2B customers paying invoices by transfer, vendor payments (noisy card and
ACH descriptors), FX conversions USD -> EUR, and bank fees. Defects are injected here and listed in
the truth: payout lines without the payout id, typo'd amounts, invoice payments without the invoice
number, duplicate vendor payments.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from sandbox.company.clock import Clock
from sandbox.company.registry import Registry, VendorSpec
from sandbox.company.stripe import StripeData

ACCOUNTS = {
    "operating_usd": {"currency": "USD", "name": "Operating Checking", "mask": "4821", "opening": 300_000.0},
    "eur": {"currency": "EUR", "name": "EUR Business Account", "mask": "7730", "opening": 60_000.0},
}
PAYOUT_MISSING_ID_RATE = 0.15
PAYOUT_KINDS = ("stripe_payout", "shopify_payout")
AMOUNT_TYPO_RATE = 0.01
TYPO_DELTAS = [0.09, 0.9, 9.0, 90.0, -0.09, -0.9, -9.0]
NO_INVOICE_REF_RATE = 0.3
DUPLICATE_PAYMENT_RATE = 0.01

LINE_SCHEMA = {
    "account": pl.Utf8,
    "day": pl.Int64,
    "amount": pl.Float64,
    "name": pl.Utf8,
    "merchant_name": pl.Utf8,
    "counterparty": pl.Utf8,
    "category": pl.Utf8,
    "kind": pl.Utf8,
    "ref": pl.Utf8,
    "channel": pl.Utf8,
}


@dataclass
class BankData:
    accounts: pl.DataFrame  # account, account_id, currency, name, mask, opening
    lines: pl.DataFrame  # one row per posted bank line, with transaction_id
    daily_balances: pl.DataFrame  # date, account_id, currency, balance, balance_functional
    fx_rates: pl.DataFrame  # date, eurusd
    defects: pl.DataFrame  # defect_type, record_ids, detail


def _frame(**cols: object) -> pl.DataFrame:
    return pl.DataFrame(cols, schema_overrides={k: v for k, v in LINE_SCHEMA.items() if k in cols})


def _payout_lines(reg: Registry, stripe: StripeData) -> pl.DataFrame:
    horizon_end = reg.clock.to_unix(np.array([np.datetime64(reg.clock.horizon, "D")]))[0]
    paid = stripe.payouts.filter(pl.col("arrival_date") <= horizon_end)
    n = paid.height
    missing = reg.rng.random(n) < PAYOUT_MISSING_ID_RATE
    ids = paid["id"].to_numpy()
    name = np.where(missing, "STRIPE TRANSFER", np.char.add("STRIPE PAYOUT ", ids.astype(str)))
    day = (paid["arrival_date"].to_numpy() // 86400) - np.datetime64(reg.clock.start, "D").astype(np.int64)
    return _frame(
        account=["operating_usd"] * n,
        day=day,
        amount=paid["amount"].to_numpy() / 100,
        name=name,
        merchant_name=["Stripe"] * n,
        counterparty=["Stripe"] * n,
        category=["stripe_payout"] * n,
        kind=["stripe_payout"] * n,
        ref=ids,
        channel=["other"] * n,
    ).with_columns(missing_ref=pl.Series(missing))


def _invoice_lines(reg: Registry, scale: float) -> pl.DataFrame:
    inv = reg.make_receivables(max(20, int(300 * scale * reg.clock.sim_days / 365)))
    inv = inv.filter(pl.col("paid_day").is_between(0, reg.clock.sim_days - 1))
    n = inv.height
    no_ref = reg.rng.random(n) < NO_INVOICE_REF_RATE
    cust = inv["customer_name"].str.to_uppercase().to_numpy().astype(str)
    with_ref = np.char.add(np.char.add(inv["invoice_number"].to_numpy().astype(str), " "), cust)
    name = np.where(no_ref, np.char.add(cust, " PAYMENT"), with_ref)
    account = np.where(inv["currency"].to_numpy() == "EUR", "eur", "operating_usd")
    return _frame(
        account=account,
        day=inv["paid_day"].to_numpy(),
        amount=inv["amount"].to_numpy(),
        name=name,
        merchant_name=[None] * n,
        counterparty=inv["customer_name"].to_numpy(),
        category=["customer_payment"] * n,
        kind=["invoice_payment"] * n,
        ref=inv["invoice_number"].to_numpy(),
        channel=["other"] * n,
    ).with_columns(missing_ref=pl.Series(no_ref))


def _vendor_days(reg: Registry, v: VendorSpec, scale: float) -> np.ndarray:
    n_days = reg.clock.sim_days
    if v.cadence == "monthly":
        month_starts = np.arange(0, n_days, 30.42).astype(int)
        return np.minimum(n_days - 1, month_starts + reg.rng.integers(0, 5))
    if v.cadence == "biweekly":
        return np.arange(int(reg.rng.integers(0, 14)), n_days, 14)
    if v.cadence == "weekly":
        return np.arange(int(reg.rng.integers(0, 7)), n_days, 7)
    per_year = {"ven_amazon": 150, "ven_uber": 220, "ven_delta": 24}.get(v.vendor_id, 50)
    count = max(2, int(per_year * scale * n_days / 365))
    return np.sort(reg.rng.integers(0, n_days, count))


def _vendor_lines(reg: Registry, scale: float) -> pl.DataFrame:
    frames = []
    size = max(scale, 0.02)
    for v in reg.vendors:
        day = _vendor_days(reg, v, scale)
        n = len(day)
        fixed = v.cadence != "random"
        mean = v.mean_amount * (size if fixed and v.category not in ("bank_fees", "software") else 1.0)
        spread = 0.03 if fixed else 0.6
        amount = np.round(mean * np.exp(reg.rng.normal(0, spread, n)), 2)
        templates = np.array(v.descriptors, dtype=object)[reg.rng.integers(0, len(v.descriptors), n)]
        tokens = reg.tokens(n, 4 if v.vendor_id != "ven_amazon" else 3)
        name = [t.replace("{r}", tok) for t, tok in zip(templates, tokens, strict=True)]
        card = v.category in ("office_supplies", "travel", "software", "cloud_hosting")
        frames.append(
            _frame(
                account=[v.account] * n,
                day=day,
                amount=-amount,
                name=name,
                merchant_name=[v.name] * n,
                counterparty=[v.vendor_id] * n,
                category=[v.category] * n,
                kind=["vendor_payment"] * n,
                ref=[v.vendor_id] * n,
                channel=["online" if card else "other"] * n,
            )
        )
    lines = pl.concat(frames).with_columns(missing_ref=pl.lit(False))
    return lines


def _fx_rates(reg: Registry) -> np.ndarray:
    steps = reg.rng.normal(0, 0.004, reg.clock.sim_days)
    return np.round(1.08 * np.exp(np.cumsum(steps)), 5)


def _fx_lines(reg: Registry, scale: float, eurusd: np.ndarray) -> pl.DataFrame:
    day = np.minimum(reg.clock.sim_days - 1, np.arange(3, reg.clock.sim_days, 30.42).astype(int))
    n = len(day)
    usd = np.round(np.maximum(1000.0, 12000.0 * max(scale, 0.02) * reg.rng.uniform(0.7, 1.3, n)), 2)
    eur = np.round(usd / eurusd[day] * (1 - 0.003), 2)
    ref = [f"FX{reg.clock.start.year}{i:04d}" for i in range(n)]
    out = _frame(
        account=["operating_usd"] * n,
        day=day,
        amount=-usd,
        name=[f"FX CONVERSION TO EUR REF {r}" for r in ref],
        merchant_name=[None] * n,
        counterparty=["own_account"] * n,
        category=["fx_transfer"] * n,
        kind=["fx_out"] * n,
        ref=ref,
        channel=["other"] * n,
    )
    inn = _frame(
        account=["eur"] * n,
        day=day,
        amount=eur,
        name=[f"FX CONVERSION FROM USD REF {r}" for r in ref],
        merchant_name=[None] * n,
        counterparty=["own_account"] * n,
        category=["fx_transfer"] * n,
        kind=["fx_in"] * n,
        ref=ref,
        channel=["other"] * n,
    )
    return pl.concat([out, inn]).with_columns(missing_ref=pl.lit(False))


def _duplicates(reg: Registry, vendor: pl.DataFrame) -> pl.DataFrame:
    """Some vendor payments paid a second time a few days later (same amount and descriptor)."""
    pick = vendor.filter(pl.Series(reg.rng.random(vendor.height) < DUPLICATE_PAYMENT_RATE))
    shift = reg.rng.integers(1, 6, pick.height)
    return pick.with_columns(
        day=pl.min_horizontal(pl.col("day") + pl.Series(shift), pl.lit(reg.clock.sim_days - 1)),
        kind=pl.lit("duplicate_vendor_payment"),
    )


def _typos(reg: Registry, lines: pl.DataFrame) -> pl.DataFrame:
    """A few payout/invoice lines whose amount is off by a keying error; keeps the true amount."""
    eligible = lines["kind"].is_in(["stripe_payout", "invoice_payment"]).to_numpy()
    typo = eligible & (reg.rng.random(lines.height) < AMOUNT_TYPO_RATE)
    delta = reg.rng.choice(TYPO_DELTAS, size=lines.height)
    return lines.with_columns(
        expected_amount=pl.col("amount"),
        amount=pl.Series(
            np.round(np.where(typo, lines["amount"].to_numpy() + delta, lines["amount"].to_numpy()), 2)
        ),
        typo=pl.Series(typo),
    )


def _accounts(reg: Registry) -> pl.DataFrame:
    keys = list(ACCOUNTS)
    return pl.DataFrame(
        {
            "account": keys,
            "account_id": reg.ids("", len(keys), 37),
            "currency": [ACCOUNTS[k]["currency"] for k in keys],
            "name": [ACCOUNTS[k]["name"] for k in keys],
            "mask": [ACCOUNTS[k]["mask"] for k in keys],
            "opening": [ACCOUNTS[k]["opening"] for k in keys],
        }
    )


def _daily_balances(
    reg: Registry, accounts: pl.DataFrame, lines: pl.DataFrame, eurusd: np.ndarray
) -> pl.DataFrame:
    days = pl.DataFrame({"day": np.arange(reg.clock.sim_days)})
    frames = []
    for acc, account_id, currency, opening in accounts.select(
        "account", "account_id", "currency", "opening"
    ).iter_rows():
        flows = lines.filter(pl.col("account") == acc).group_by("day").agg(pl.col("amount").sum())
        bal = (
            days.join(flows, on="day", how="left")
            .sort("day")
            .with_columns(balance=(pl.col("amount").fill_null(0).cum_sum() + opening).round(2))
        )
        rate = eurusd if currency == "EUR" else np.ones(reg.clock.sim_days)
        frames.append(
            bal.select(
                "day",
                account_id=pl.lit(account_id),
                currency=pl.lit(currency),
                balance=pl.col("balance"),
                balance_functional=(pl.col("balance") * pl.Series(rate)).round(2),
            )
        )
    per_account = pl.concat(frames)
    total = (
        per_account.group_by("day")
        .agg(pl.col("balance_functional").sum().round(2))
        .with_columns(
            account_id=pl.lit("total"), currency=pl.lit("USD"), balance=pl.col("balance_functional")
        )
    )
    out = pl.concat([per_account, total.select(per_account.columns)])
    start = np.datetime64(reg.clock.start, "D")
    return (
        out.with_columns(date=pl.Series(start + out["day"].to_numpy().astype("timedelta64[D]")))
        .select("date", "account_id", "currency", "balance", "balance_functional")
        .sort("date", "account_id")
    )


def _defects(lines: pl.DataFrame) -> pl.DataFrame:
    missing = lines.filter(pl.col("missing_ref")).select(
        defect_type=pl.when(pl.col("kind").is_in(PAYOUT_KINDS))
        .then(pl.lit("payout_line_missing_id"))
        .otherwise(pl.lit("remittance_missing_invoice_number")),
        record_ids=pl.concat_str("transaction_id", pl.lit(","), "ref"),
        detail=pl.col("name"),
    )
    typos = lines.filter(pl.col("typo")).select(
        defect_type=pl.lit("amount_typo"),
        record_ids=pl.concat_str("transaction_id", pl.lit(","), "ref"),
        detail=pl.format("expected {} got {}", "expected_amount", "amount"),
    )
    dups = lines.filter(pl.col("kind") == "duplicate_vendor_payment").select(
        defect_type=pl.lit("duplicate_vendor_payment"),
        record_ids=pl.concat_str("transaction_id", pl.lit(","), "ref"),
        detail=pl.col("name"),
    )
    return pl.concat([missing, typos, dups])


def simulate_bank(reg: Registry, stripe: StripeData, scale: float) -> BankData:
    accounts = _accounts(reg)
    eurusd = _fx_rates(reg)
    vendor = _vendor_lines(reg, scale)
    lines = pl.concat(
        [
            _payout_lines(reg, stripe),
            _invoice_lines(reg, scale),
            vendor,
            _fx_lines(reg, scale, eurusd),
            _duplicates(reg, vendor),
        ]
    )
    lines = _typos(reg, lines.sort("day", "account", "kind", "ref", "name"))
    lines = lines.with_columns(transaction_id=pl.Series(reg.ids("", lines.height, 37))).join(
        accounts.select("account", "account_id", "currency"), on="account", how="left"
    )
    balances = _daily_balances(reg, accounts, lines, eurusd)
    start = np.datetime64(reg.clock.start, "D")
    fx = pl.DataFrame(
        {"date": start + np.arange(reg.clock.sim_days).astype("timedelta64[D]"), "eurusd": eurusd}
    )
    return BankData(accounts, lines, balances, fx, _defects(lines))


def add_shop_payouts(reg: Registry, bank: BankData, payouts: pl.DataFrame) -> BankData:
    """Shopify Payments payouts reaching the operating account on their `arrival_day` (a simulated
    `BankData` plus these lines, balances recomputed). Some lines lack the payout id and a few carry a
    keying error in the amount (`amount_typo`), as Stripe's do.
    Draws come from the registry stream `shopify_bank`; line ids derive from the payout id, so the
    other lines keep theirs."""
    arriving = payouts.filter(pl.col("arrival_day") < reg.clock.sim_days).sort("id")
    n = arriving.height
    rng = reg.stream("shopify_bank")
    missing = rng.random(n) < PAYOUT_MISSING_ID_RATE
    typo = rng.random(n) < AMOUNT_TYPO_RATE  # a keying error in the line's amount, as for Stripe's
    delta = rng.choice(TYPO_DELTAS, size=n)
    ids = arriving["id"].cast(pl.Utf8).to_numpy()
    account = bank.accounts.filter(pl.col("account") == "operating_usd").row(0, named=True)
    lines = _frame(
        account=["operating_usd"] * n,
        day=arriving["arrival_day"].to_numpy(),
        amount=np.round(arriving["amount"].to_numpy() / 100 + np.where(typo, delta, 0.0), 2),
        name=np.where(missing, "SHOPIFY TRANSFER", np.char.add("SHOPIFY PAYOUT ", ids.astype(str))),
        merchant_name=["Shopify"] * n,
        counterparty=["Shopify"] * n,
        category=["shopify_payout"] * n,
        kind=["shopify_payout"] * n,
        ref=ids,
        channel=["other"] * n,
    ).with_columns(
        missing_ref=pl.Series(missing),
        expected_amount=pl.Series(arriving["amount"].to_numpy() / 100),
        typo=pl.Series(typo),
        transaction_id=pl.Series([Registry.stable_id("", f"bank:shopify_payout:{i}", 37) for i in ids]),
        account_id=pl.lit(account["account_id"]),
        currency=pl.lit(account["currency"]),
    )
    all_lines = pl.concat([bank.lines, lines.select(bank.lines.columns)])
    eurusd = bank.fx_rates.sort("date")["eurusd"].to_numpy()
    balances = _daily_balances(reg, bank.accounts, all_lines, eurusd)
    return BankData(bank.accounts, all_lines, balances, bank.fx_rates, _defects(all_lines))


def cut_bank(bank: BankData, clock: Clock) -> BankData:
    """What the bank shows at `clock.as_of`: lines booked by then, balances up to then."""
    last_day = clock.n_days - 1
    lines = bank.lines.filter(pl.col("day") <= last_day)
    return BankData(
        accounts=bank.accounts,
        lines=lines,
        daily_balances=bank.daily_balances.filter(pl.col("date") <= clock.as_of),
        fx_rates=bank.fx_rates.filter(pl.col("date") <= clock.as_of),
        defects=_defects(lines),
    )

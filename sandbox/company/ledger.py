"""QuickBooks Online (the ledger): the company's books in double entry, in USD.

Booked from the other systems over the whole horizon, then cut at `as_of` (`cut_ledger`):
- Invoices = the registry's receivables (same DocNumbers and amounts; EUR ones with ExchangeRate),
  Payments = the bank's invoice receipts (dated as the bank line, linked to the invoice).
- Bills + BillPayments = the bank's vendor payments (payroll is a JournalEntry); the bank's duplicate
  vendor payments are booked as a second Bill + BillPayment (`duplicate_bill_payment`).
- Deposits = Stripe payouts arriving in the bank (Dr bank, Cr Stripe clearing), and Shopify Payments
  payouts (Dr bank, Dr merchant fees, Cr Shopify clearing); Stripe sales, refunds,
  disputes and fees are a JournalEntry into Stripe clearing (daily after go-live, one per month before).
- Shopify orders (optional `orders` frame): one daily summary JournalEntry into Shopify clearing.
- JournalEntries: opening balances, payroll, FX conversions (gain/loss on the spread), month-end
  accruals and their reversals.

The rollout story: before `clock.go_live` most entries are keyed by hand (`manual`), some with amount
errors (`ledger_amount_error`), some bills entered twice and deleted later (CDC shows them
`Deleted`), some invoices voided and reissued (`invoice_voided_reissued`), and vendors picked from
hand-made aliases ("AWS", "Amazon.com, Inc."); the month-end close is posted 8-12 business days
after month end. After go-live the integration books most entries the same day.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from sandbox.company.bank import BankData
from sandbox.company.clock import Clock
from sandbox.company.crm import CrmData
from sandbox.company.registry import Registry
from sandbox.company.stripe import StripeData

MANUAL_RATE = {"pre": 0.75, "post": 0.08}
INVOICE_ERROR_RATE = {"pre": 0.10, "post": 0.01}  # of manual invoices: voided and reissued
AMOUNT_ERROR_RATE = {"pre": 0.05, "post": 0.005}  # of manual bills: keyed with a wrong amount
DOUBLE_ENTRY_RATE = {"pre": 0.04, "post": 0.0}  # of manual bills: entered twice, deleted later
ALIAS_RATE_PRE = 0.5  # of manual bills before go-live, booked to an alias vendor
CLOSE_LAG_BUSINESS_DAYS = {"pre": (8, 12), "post": (2, 3)}
# minutes a person spends keying one entry by hand (manual_entry_hours)
ENTRY_MINUTES = {"Invoice": 12, "Payment": 4, "Bill": 6, "BillPayment": 3, "Deposit": 5, "JournalEntry": 15}
TYPO_DELTAS = (0.09, 0.9, 9.0, 90.0, -0.09, -0.9, -9.0)

# key: (Name, AccountType, AccountSubType, Classification, currency)
ACCOUNTS: dict[str, tuple[str, str, str, str, str]] = {
    "bank_usd": ("Operating Checking", "Bank", "Checking", "Asset", "USD"),
    "bank_eur": ("EUR Business Account", "Bank", "Checking", "Asset", "EUR"),
    "stripe_clearing": ("Stripe Clearing", "Other Current Asset", "OtherCurrentAssets", "Asset", "USD"),
    "shopify_clearing": ("Shopify Clearing", "Other Current Asset", "OtherCurrentAssets", "Asset", "USD"),
    "ar": ("Accounts Receivable (A/R)", "Accounts Receivable", "AccountsReceivable", "Asset", "USD"),
    "ap": ("Accounts Payable (A/P)", "Accounts Payable", "AccountsPayable", "Liability", "USD"),
    "accrued": ("Accrued Liabilities", "Other Current Liability", "AccruedLiabilities", "Liability", "USD"),
    "sales_tax": ("Sales Tax Payable", "Other Current Liability", "SalesTaxPayable", "Liability", "USD"),
    "equity": ("Opening Balance Equity", "Equity", "OpeningBalanceEquity", "Equity", "USD"),
    "revenue_services": ("Services Revenue", "Income", "ServiceFeeIncome", "Revenue", "USD"),
    "revenue_sales": ("Sales", "Income", "SalesOfProductIncome", "Revenue", "USD"),
    "refunds": ("Refunds and Chargebacks", "Income", "DiscountsRefundsGiven", "Revenue", "USD"),
    "cloud_hosting": ("Cloud Hosting", "Cost of Goods Sold", "SuppliesMaterialsCogs", "Expense", "USD"),
    "merchant_fees": ("Merchant Fees", "Expense", "BankCharges", "Expense", "USD"),
    "payroll": ("Payroll Expenses", "Expense", "PayrollExpenses", "Expense", "USD"),
    "rent": ("Rent or Lease", "Expense", "RentOrLeaseOfBuildings", "Expense", "USD"),
    "software": (
        "Software Subscriptions",
        "Expense",
        "OfficeGeneralAdministrativeExpenses",
        "Expense",
        "USD",
    ),
    "office_supplies": ("Office Supplies", "Expense", "SuppliesMaterials", "Expense", "USD"),
    "travel": ("Travel", "Expense", "Travel", "Expense", "USD"),
    "professional_services": (
        "Legal & Professional Fees",
        "Expense",
        "LegalProfessionalFees",
        "Expense",
        "USD",
    ),
    "bank_fees": ("Bank Charges", "Expense", "BankCharges", "Expense", "USD"),
    "fx": ("Exchange Gain or Loss", "Other Expense", "ExchangeGainOrLoss", "Expense", "USD"),
}
BANK_ACCOUNT = {"operating_usd": "bank_usd", "eur": "bank_eur"}
# QBO Items (products and services) the invoices sell: key -> (Id, Name, Type, income account key).
# An invoice line (SalesItemLineDetail.ItemRef) credits its Item's IncomeAccountRef, so the ledger posts
# invoice revenue to the item's account and the wire serves the item with that account.
ITEMS: dict[str, tuple[str, str, str, str]] = {
    "services": ("1", "Services", "Service", "revenue_services"),
}
INVOICE_ITEM = "services"  # the item on every invoice line
# hand-made duplicates of a vendor in QuickBooks before go-live (vendor_id -> alias display names)
VENDOR_ALIASES: dict[str, tuple[str, ...]] = {
    "ven_aws": ("AWS", "Amazon.com, Inc."),
    "ven_aws_us": ("AWS", "Amazon.com, Inc."),
    "ven_amazon": ("Amazon.com, Inc.", "AMZN Marketplace"),
    "ven_rent": ("WeWork Companies LLC",),
    "ven_lawfirm": ("Baker and Partners",),
}


@dataclass
class Txn:
    """One QuickBooks transaction; `lines` are (account key, debit USD, credit USD, amount in txn currency, text)."""

    key: str
    entity: str
    kind: str
    day: int
    created: int
    currency: str
    rate: float
    total: float
    manual: bool
    party: str | None = None  # customer_key or vendor key
    doc: str | None = None
    source: str | None = None  # bank transaction id, payout id, invoice number, ...
    linked: str | None = None  # key of the transaction this one pays
    voided_at: int | None = None
    deleted_at: int | None = None
    note: str = ""
    lines: list[tuple[str, float, float, float, str]] = field(default_factory=list)
    id: str = ""


@dataclass
class LedgerData:
    accounts: pl.DataFrame  # key, id, name, type, subtype, classification, currency
    customers: pl.DataFrame  # id, customer_key, name, email, country, created
    vendors: pl.DataFrame  # id, key, name, vendor_id (true vendor), alias, created
    txns: list[Txn]
    defects: pl.DataFrame
    deals: pl.DataFrame | None = None  # CRM deals (for time_to_invoice and deal matches)


class _Book:
    """Builds transactions with one RNG stream and the clock's rollout phases."""

    def __init__(self, reg: Registry, eurusd: np.ndarray) -> None:
        self.reg = reg
        self.clock = reg.clock
        self.rng = reg.stream("ledger")
        self.eurusd = eurusd
        self.go_live = (self.clock.go_live - self.clock.start).days
        self.txns: list[Txn] = []
        self.defects: list[tuple[str, str, str]] = []  # defect_type, txn key(s), detail

    def phase(self, day: int) -> str:
        return "pre" if day < self.go_live else "post"

    def draw(self, rates: dict[str, float], day: int) -> bool:
        return bool(self.rng.random() < rates[self.phase(day)])

    def rate(self, currency: str, day: int) -> float:
        if currency == "USD":
            return 1.0
        return float(self.eurusd[min(max(day, 0), len(self.eurusd) - 1)])

    def ts(self, day: int, lo_h: int = 8, hi_h: int = 19) -> int:
        return int(
            self.clock.to_unix(
                self.clock.day(np.array([day])), int(self.rng.integers(lo_h * 3600, hi_h * 3600))
            )[0]
        )

    def created(self, day: int, manual: bool) -> int:
        """Integration posts the same evening; people key entries in batches 1-4 days later (0-1 after go-live)."""
        if not manual:
            return self.ts(day, 19, 23)
        lag = int(self.rng.integers(1, 5)) if self.phase(day) == "pre" else int(self.rng.integers(0, 2))
        return self.ts(day + lag)

    def close_created(self, month_end_day: int) -> int:
        lo, hi = CLOSE_LAG_BUSINESS_DAYS[self.phase(month_end_day)]
        lag = int(self.rng.integers(lo, hi + 1))
        end = self.clock.day(np.array([month_end_day]))
        done = self.clock.add_business_days(end, lag, roll="backward")  # a weekend month end: Monday is day 1
        day = int((done - np.datetime64(self.clock.start, "D")).astype(np.int64)[0])
        return self.ts(day, 9, 18)

    def iso(self, day: int) -> str:
        """The calendar date of a day offset, `YYYY-MM-DD` (how summaries name the day they book)."""
        return str(self.clock.day(day))

    def add(self, txn: Txn) -> Txn:
        txn.lines = _sided(txn.lines)
        self.txns.append(txn)
        return txn


def _usd(amount: float, rate: float) -> float:
    return round(amount * rate, 2)


def _sided(lines: list[tuple[str, float, float, float, str]]) -> list[tuple[str, float, float, float, str]]:
    """A negative debit is a credit (and vice versa): e.g. a day whose Stripe refunds exceed its sales."""
    out = []
    for key, debit, credit, amount, text in lines:
        net = round(debit - credit, 2)
        out.append((key, net, 0.0, abs(amount), text) if net >= 0 else (key, 0.0, -net, abs(amount), text))
    return out


def _balanced(
    lines: list[tuple[str, float, float, float, str]],
) -> list[tuple[str, float, float, float, str]]:
    """Adds an FX gain/loss line for what currency rounding or rate differences leave unbalanced."""
    diff = round(sum(d - c for _, d, c, _, _ in lines), 2)
    if diff == 0:
        return lines
    fx = (
        ("fx", 0.0, diff, 0.0, "Exchange gain/loss")
        if diff > 0
        else ("fx", -diff, 0.0, 0.0, "Exchange gain/loss")
    )
    return [*lines, fx]


def _opening(book: _Book, opening: dict[str, float]) -> None:
    rate = book.rate("EUR", 0)
    usd, eur = opening["operating_usd"], _usd(opening["eur"], rate)
    lines = [
        ("bank_usd", usd, 0.0, usd, "Opening balance"),
        ("bank_eur", eur, 0.0, opening["eur"], "Opening balance"),
        ("equity", 0.0, round(usd + eur, 2), round(usd + eur, 2), "Opening balance"),
    ]
    book.add(
        Txn(
            "je:opening",
            "JournalEntry",
            "opening",
            0,
            book.ts(0, 8, 9),
            "USD",
            1.0,
            round(usd + eur, 2),
            True,
            lines=lines,
            note="Opening balances",
        )
    )


def _invoice_lines(amount: float, rate: float, number: str) -> list[tuple[str, float, float, float, str]]:
    usd = _usd(amount, rate)
    income = ITEMS[INVOICE_ITEM][3]
    return [("ar", usd, 0.0, amount, number), (income, 0.0, usd, amount, number)]


def _invoices(book: _Book, receivables: pl.DataFrame) -> dict[str, Txn]:
    out: dict[str, Txn] = {}
    for number, key, currency, amount, issue, due in receivables.select(
        "invoice_number", "customer_key", "currency", "amount", "issue_day", "due_day"
    ).iter_rows():
        if not 0 <= issue < book.clock.sim_days:
            continue
        manual = book.draw(MANUAL_RATE, issue)
        rate = book.rate(currency, issue)
        created = book.created(issue, manual)
        if manual and book.draw(INVOICE_ERROR_RATE, issue):
            wrong = round(amount + float(book.rng.choice(TYPO_DELTAS)) * (10 if amount > 1000 else 1), 2)
            voided_at = created + int(book.rng.integers(2, 7)) * 86400
            void = book.add(
                Txn(
                    f"inv:{number}:void",
                    "Invoice",
                    "voided",
                    issue,
                    created,
                    currency,
                    rate,
                    wrong,
                    True,
                    party=key,
                    doc=number,
                    source=number,
                    voided_at=voided_at,
                    lines=_invoice_lines(wrong, rate, number),
                )
            )
            book.defects.append(("invoice_voided_reissued", void.key, f"voided {wrong} reissued {amount}"))
            created = voided_at + int(book.rng.integers(300, 3600))
        inv = Txn(
            f"inv:{number}",
            "Invoice",
            "invoice",
            issue,
            created,
            currency,
            rate,
            amount,
            manual,
            party=key,
            doc=number,
            source=number,
            lines=_invoice_lines(amount, rate, number),
        )
        inv.note = str(due)
        out[number] = book.add(inv)
    return out


def _payments(book: _Book, lines: pl.DataFrame, invoices: dict[str, Txn]) -> None:
    pay = lines.filter(pl.col("kind") == "invoice_payment")
    for tid, account, day, expected, currency, ref in pay.select(
        "transaction_id", "account", "day", "expected_amount", "currency", "ref"
    ).iter_rows():
        inv = invoices.get(ref)
        if inv is None:
            continue
        manual = book.draw(MANUAL_RATE, day)
        rate = book.rate(currency, day)
        bank = BANK_ACCOUNT[account]
        gl = [
            (bank, _usd(expected, rate), 0.0, expected, f"Payment {ref}"),
            ("ar", 0.0, _usd(expected, inv.rate), expected, f"Payment {ref}"),
        ]
        created = max(book.created(day, manual), inv.created + 600)
        book.add(
            Txn(
                f"pay:{tid}",
                "Payment",
                "payment",
                day,
                created,
                currency,
                rate,
                expected,
                manual,
                party=inv.party,
                source=tid,
                linked=inv.key,
                lines=_balanced(gl),
            )
        )


def _vendor_key(book: _Book, vendor_id: str, manual: bool, day: int) -> str:
    aliases = VENDOR_ALIASES.get(vendor_id)
    if manual and aliases and book.phase(day) == "pre" and book.rng.random() < ALIAS_RATE_PRE:
        return f"alias:{aliases[int(book.rng.integers(0, len(aliases)))]}"
    return f"vendor:{vendor_id}"


def _bill_pair(book: _Book, tid: str, row: dict, duplicate: bool) -> None:
    day, currency, account = row["day"], row["currency"], row["account"]
    amount = round(-row["expected_amount"], 2)
    manual = book.draw(MANUAL_RATE, day)
    rate = book.rate(currency, day)
    vendor = _vendor_key(book, row["ref"], manual, day)
    if manual and book.draw(AMOUNT_ERROR_RATE, day):
        keyed = round(amount + float(book.rng.choice(TYPO_DELTAS)), 2)
        if keyed > 0:
            book.defects.append(("ledger_amount_error", f"bill:{tid}", f"expected {amount} got {keyed}"))
            amount = keyed
    bill_day = day - (
        int(book.rng.integers(0, 11)) if row["category"] in ("rent", "professional_services") else 0
    )
    bill_day = max(bill_day, 0)
    created = book.created(bill_day, manual)
    usd = _usd(amount, rate)
    text = row["name"]
    bill = book.add(
        Txn(
            f"bill:{tid}",
            "Bill",
            "bill",
            bill_day,
            created,
            currency,
            rate,
            amount,
            manual,
            party=vendor,
            source=tid,
            note=text,
            lines=[(row["category"], usd, 0.0, amount, text), ("ap", 0.0, usd, amount, text)],
        )
    )
    if manual and book.draw(DOUBLE_ENTRY_RATE, day):
        deleted = created + int(book.rng.integers(3, 21)) * 86400
        twin = book.add(
            Txn(
                f"bill:{tid}:twice",
                "Bill",
                "entered_twice",
                bill_day,
                created + 900,
                currency,
                rate,
                amount,
                True,
                party=vendor,
                source=tid,
                deleted_at=deleted,
                note=text,
                lines=list(bill.lines),
            )
        )
        book.defects.append(("bill_entered_twice_deleted", twin.key, f"deleted {deleted}"))
    paid = book.created(day, manual)
    pay = book.add(
        Txn(
            f"billpay:{tid}",
            "BillPayment",
            "duplicate" if duplicate else "bill_payment",
            day,
            max(paid, created + 600),
            currency,
            rate,
            amount,
            manual,
            party=vendor,
            source=tid,
            linked=bill.key,
            note=text,
            lines=[("ap", usd, 0.0, amount, text), (BANK_ACCOUNT[account], 0.0, usd, amount, text)],
        )
    )
    if duplicate:
        book.defects.append(("duplicate_bill_payment", pay.key, f"{amount} {currency} {text}"))


def _payroll(book: _Book, tid: str, row: dict) -> None:
    day, amount = row["day"], round(-row["expected_amount"], 2)
    manual = book.draw(MANUAL_RATE, day)
    lines = [("payroll", amount, 0.0, amount, row["name"]), ("bank_usd", 0.0, amount, amount, row["name"])]
    book.add(
        Txn(
            f"je:payroll:{tid}",
            "JournalEntry",
            "payroll",
            day,
            book.created(day, manual),
            "USD",
            1.0,
            amount,
            manual,
            source=tid,
            note=row["name"],
            lines=lines,
        )
    )


def _vendor_payments(book: _Book, lines: pl.DataFrame) -> None:
    rows = lines.filter(pl.col("kind").is_in(["vendor_payment", "duplicate_vendor_payment"])).sort(
        "day", "transaction_id"
    )
    for row in rows.iter_rows(named=True):
        if row["category"] == "payroll":
            _payroll(book, row["transaction_id"], row)
        else:
            _bill_pair(book, row["transaction_id"], row, row["kind"] == "duplicate_vendor_payment")


def _deposits(book: _Book, lines: pl.DataFrame) -> None:
    for tid, day, expected, ref in (
        lines.filter(pl.col("kind") == "stripe_payout")
        .select("transaction_id", "day", "expected_amount", "ref")
        .iter_rows()
    ):
        manual = book.draw(MANUAL_RATE, day)
        gl = [
            ("bank_usd", expected, 0.0, expected, f"Stripe payout {ref}"),
            ("stripe_clearing", 0.0, expected, expected, ref),
        ]
        _payout_deposit(book, tid, "stripe_payout", day, manual, expected, ref, "Stripe", gl)


def _payout_deposit(
    book: _Book,
    tid: str,
    kind: str,
    day: int,
    manual: bool,
    amount: float,
    ref: str,
    processor: str,
    gl: list[tuple[str, float, float, float, str]],
) -> None:
    """The Deposit of a processor payout that reached the bank line `tid` (USD)."""
    book.add(
        Txn(
            f"dep:{tid}",
            "Deposit",
            kind,
            day,
            book.created(day, manual),
            "USD",
            1.0,
            amount,
            manual,
            source=ref,
            note=f"{processor} payout {ref}",
            lines=[ln for ln in gl if ln[1] or ln[2]],
        )
    )


def _shop_deposits(book: _Book, lines: pl.DataFrame, payouts: pl.DataFrame) -> None:
    """A Deposit per Shopify Payments payout reaching the bank: Dr bank the payout, Dr Merchant Fees
    the fees Shopify kept, Cr Shopify Clearing the gross of the charges and refunds it pays out (the
    fee is a negative deposit line, as QuickBooks keys a processor's net payout)."""
    parts = payouts.select(
        ref=pl.col("id").cast(pl.Utf8),
        fee=((pl.col("charges_fee") + pl.col("refunds_fee")) / 100).round(2),
    )
    rows = (
        lines.filter(pl.col("kind") == "shopify_payout")
        .join(parts, on="ref", how="inner")
        .sort("day", "transaction_id")
        .select("transaction_id", "day", "expected_amount", "ref", "fee")
    )
    for tid, day, expected, ref, fee in rows.iter_rows():
        manual = book.draw(MANUAL_RATE, day)
        gross = round(expected + fee, 2)
        gl = [
            ("bank_usd", expected, 0.0, expected, f"Shopify payout {ref}"),
            ("merchant_fees", fee, 0.0, fee, "Shopify Payments fees"),
            ("shopify_clearing", 0.0, gross, gross, ref),
        ]
        _payout_deposit(book, tid, "shopify_payout", day, manual, expected, ref, "Shopify", gl)


def _month_end(clock: Clock, day: int) -> int:
    d = clock.day(np.array([day]))[0].astype("datetime64[M]")
    end = (d + 1).astype("datetime64[D]") - 1
    return int((end - np.datetime64(clock.start, "D")).astype(np.int64))


def _summary_groups(book: _Book, frame: pl.DataFrame) -> pl.DataFrame:
    """Summary posting day: the day itself after go-live; the month end (capped before go-live) before."""
    month_end = np.array([_month_end(book.clock, int(d)) for d in range(book.clock.sim_days + 40)])
    day = frame["day"].to_numpy()
    pre_post = np.minimum(month_end[np.clip(day, 0, None)], book.go_live - 1)
    return frame.with_columns(post_day=pl.Series(np.where(day < book.go_live, pre_post, day)))


# Stripe reporting categories of money coming back to the account (a won dispute's reinstatement):
# credited to Refunds and Chargebacks on a line of their own, not netted into the day's returns
REINSTATED = ("dispute_reversal",)


def _stripe_sales(book: _Book, stripe: StripeData) -> None:
    bt = stripe.balance_transactions.filter(pl.col("type") != "payout")
    start = np.datetime64(book.clock.start, "D").astype(np.int64)
    bt = bt.with_columns(day=(pl.col("created") // 86400) - int(start))
    bt = _summary_groups(book, bt.filter(pl.col("day") >= 0))
    daily = (
        bt.group_by("post_day")
        .agg(
            gross=pl.col("amount").filter(pl.col("type") == "charge").sum(),
            returns=-pl.col("amount")
            .filter(~pl.col("reporting_category").is_in(REINSTATED + ("charge",)))
            .sum(),
            reinstated=pl.col("amount").filter(pl.col("reporting_category").is_in(REINSTATED)).sum(),
            fee=pl.col("fee").sum(),
            net=pl.col("net").sum(),
        )
        .sort("post_day")
    )
    for day, gross, returns, reinstated, fee, net in daily.iter_rows():
        manual = day < book.go_live
        created = book.close_created(day) if manual else book.ts(day + 1, 1, 3)
        g, r, f, n = gross / 100, returns / 100, fee / 100, net / 100
        back = reinstated / 100
        lines = [
            ("stripe_clearing", n, 0.0, n, "Stripe net"),
            ("merchant_fees", f, 0.0, f, "Stripe fees"),
            ("refunds", r, 0.0, r, "Stripe refunds and disputes"),
            ("refunds", 0.0, back, back, "Stripe disputes won (funds reinstated)"),
            ("revenue_sales", 0.0, g, g, "Stripe sales"),
        ]
        lines = [ln for ln in lines if ln[1] or ln[2]]
        book.add(
            Txn(
                f"je:stripe:{day}",
                "JournalEntry",
                "stripe_sales",
                day,
                created,
                "USD",
                1.0,
                g,
                manual,
                source=f"stripe:{book.iso(day)}",
                note="Stripe sales summary",
                lines=_balanced(lines),
            )
        )


def _shop_sales(book: _Book, orders: pl.DataFrame) -> None:
    """One summary JournalEntry per day of Shopify orders (shop currency USD): sales and tax on the
    order day, booked refunds on their `refund_day` (the order day when the frame has none)."""
    o = orders.filter(pl.col("day").is_between(0, book.clock.sim_days - 1))
    refund_day = "refund_day" if "refund_day" in o.columns else "day"
    sales = o.group_by("day").agg(
        total=pl.col("total_price").cast(pl.Float64).sum().round(2),
        tax=pl.col("total_tax").cast(pl.Float64).sum().round(2),
    )
    refunds = (
        o.filter(pl.col("refunded_amount").fill_null(0) > 0)
        .group_by(day=pl.col(refund_day))
        .agg(refunded=pl.col("refunded_amount").cast(pl.Float64).sum().round(2))
    )
    daily = (
        sales.join(refunds, on="day", how="full", coalesce=True)
        .fill_null(0.0)
        .filter(pl.col("day") < book.clock.sim_days)
        .sort("day")
    )
    for day, total, tax, refunded in daily.select("day", "total", "tax", "refunded").iter_rows():
        day = int(day)
        manual = day < book.go_live
        lines = [
            ("shopify_clearing", total, 0.0, total, "Shopify sales"),
            ("revenue_sales", 0.0, round(total - tax, 2), round(total - tax, 2), "Shopify sales"),
            ("sales_tax", 0.0, tax, tax, "Sales tax collected"),
            ("refunds", refunded, 0.0, refunded, "Shopify refunds"),
            ("shopify_clearing", 0.0, refunded, refunded, "Shopify refunds"),
        ]
        lines = [ln for ln in lines if ln[1] or ln[2]]
        book.add(
            Txn(
                f"je:shopify:{day}",
                "JournalEntry",
                "shopify_sales",
                day,
                book.created(day, manual),
                "USD",
                1.0,
                total,
                manual,
                source=f"shopify:{book.iso(day)}",
                note="Shopify sales summary",
                lines=_balanced(lines),
            )
        )


def _fx_transfers(book: _Book, lines: pl.DataFrame) -> None:
    fx = lines.filter(pl.col("kind").is_in(["fx_out", "fx_in"]))
    out = fx.filter(pl.col("kind") == "fx_out").select(
        "ref", "day", usd=-pl.col("expected_amount"), out_id="transaction_id"
    )
    inn = fx.filter(pl.col("kind") == "fx_in").select("ref", eur="expected_amount", in_id="transaction_id")
    for ref, day, usd, out_id, eur, in_id in out.join(inn, on="ref").sort("day").iter_rows():
        manual = book.draw(MANUAL_RATE, day)
        gl = [
            ("bank_eur", _usd(eur, book.rate("EUR", day)), 0.0, eur, f"FX {ref}"),
            ("bank_usd", 0.0, usd, usd, f"FX {ref}"),
        ]
        book.add(
            Txn(
                f"je:fx:{ref}",
                "JournalEntry",
                "fx_transfer",
                day,
                book.created(day, manual),
                "USD",
                1.0,
                usd,
                manual,
                source=f"{out_id},{in_id}",
                note=f"FX conversion {ref}",
                lines=_balanced(gl),
            )
        )


def _accruals(book: _Book, scale: float) -> None:
    """Month-end accrual of unbilled professional services, reversed on the 1st; posted at the close."""
    month_ends = sorted({_month_end(book.clock, d) for d in range(book.clock.sim_days)})
    for end in month_ends:
        if end >= book.clock.sim_days - 1:
            continue
        amount = round(2100.0 * max(scale, 0.02) * float(book.rng.uniform(0.8, 1.2)), 2)
        created = book.close_created(end)
        acc = [
            ("professional_services", amount, 0.0, amount, "Accrued legal fees"),
            ("accrued", 0.0, amount, amount, "Accrued legal fees"),
        ]
        rev = [
            ("accrued", amount, 0.0, amount, "Reverse accrual"),
            ("professional_services", 0.0, amount, amount, "Reverse accrual"),
        ]
        book.add(
            Txn(
                f"je:accrual:{end}",
                "JournalEntry",
                "accrual",
                end,
                created,
                "USD",
                1.0,
                amount,
                True,
                note="Month-end accrual",
                lines=acc,
            )
        )
        book.add(
            Txn(
                f"je:reversal:{end}",
                "JournalEntry",
                "reversal",
                end + 1,
                created + 60,
                "USD",
                1.0,
                amount,
                True,
                note="Reversal of month-end accrual",
                lines=rev,
            )
        )


def _accounts_frame() -> pl.DataFrame:
    keys = list(ACCOUNTS)
    return pl.DataFrame(
        {
            "key": keys,
            "id": [str(30 + i) for i in range(len(keys))],
            "name": [ACCOUNTS[k][0] for k in keys],
            "type": [ACCOUNTS[k][1] for k in keys],
            "subtype": [ACCOUNTS[k][2] for k in keys],
            "classification": [ACCOUNTS[k][3] for k in keys],
            "currency": [ACCOUNTS[k][4] for k in keys],
        }
    )


def _vendors_frame(reg: Registry) -> pl.DataFrame:
    rows: list[tuple[str, str, str, bool, int]] = []
    seen: set[str] = set()
    for v in reg.vendors:
        key = f"vendor:{v.vendor_id}"
        rows.append(
            (
                key,
                v.name if v.name not in seen else f"{v.name} ({v.account.upper()})",
                v.vendor_id,
                False,
                -120,
            )
        )
        seen.add(v.name)
    aliases: dict[str, str] = {}
    for vid, names in VENDOR_ALIASES.items():
        for name in names:
            aliases.setdefault(name, vid)
    rows += [(f"alias:{name}", name, vid, True, -60 + i) for i, (name, vid) in enumerate(aliases.items())]
    return pl.DataFrame(
        rows, schema=["key", "name", "vendor_id", "alias", "created_day"], orient="row"
    ).with_columns(id=pl.Series([str(500 + i) for i in range(len(rows))]))


def _customers_frame(reg: Registry) -> pl.DataFrame:
    first = reg.receivables.group_by("customer_key").agg(first_invoice=pl.col("issue_day").min())
    b2b = (
        reg.customers.filter(pl.col("is_b2b"))
        .join(first, on="customer_key", how="left")
        .with_columns(created_day=pl.min_horizontal("created_day", pl.col("first_invoice") - 1))
    )
    return b2b.select(
        id=pl.Series([str(1000 + i) for i in range(b2b.height)]),
        customer_key="customer_key",
        name="name",
        email="email",
        country="country",
        created_day=pl.min_horizontal(pl.col("created_day"), pl.lit(10**6)).clip(-200, None),
    )


def simulate_ledger(
    reg: Registry,
    stripe: StripeData,
    bank: BankData,
    crm: CrmData | None = None,
    scale: float = 1.0,
    orders: pl.DataFrame | None = None,
    shop_payouts: pl.DataFrame | None = None,
) -> LedgerData:
    """The books over the whole horizon. `orders` (Shopify, shop currency USD: day, total_price,
    total_tax, refunded_amount, refund_day) adds a daily sales summary JournalEntry when given;
    `shop_payouts` (Shopify Payments payouts: id, charges_fee, refunds_fee) a Deposit for each one
    the bank received (`bank.lines` kind `shopify_payout`)."""
    eurusd = bank.fx_rates["eurusd"].to_numpy()
    book = _Book(reg, eurusd)
    lines = bank.lines
    opening = dict(zip(bank.accounts["account"], bank.accounts["opening"], strict=True))
    _opening(book, opening)
    invoices = _invoices(book, reg.receivables)
    _payments(book, lines, invoices)
    _vendor_payments(book, lines)
    _deposits(book, lines)
    _stripe_sales(book, stripe)
    if orders is not None and orders.height:
        _shop_sales(book, orders)
    _fx_transfers(book, lines)
    _accruals(book, scale)
    if shop_payouts is not None and shop_payouts.height:
        _shop_deposits(book, lines, shop_payouts)  # last: its draws shift nobody else's
    book.txns.sort(key=lambda t: (t.created, t.key))
    for i, t in enumerate(book.txns):
        t.id = str(100 + i)
    defects = pl.DataFrame(book.defects, schema=["defect_type", "txn_key", "detail"], orient="row")
    return LedgerData(
        _accounts_frame(),
        _customers_frame(reg),
        _vendors_frame(reg),
        book.txns,
        defects,
        crm.deals if crm is not None else None,
    )

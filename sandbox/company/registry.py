"""Deterministic ids and the master data shared by every system of the simulated company.

Every system module draws its customers, vendors and receivables from one `Registry`, so that a
customer paying by bank transfer in the bank feed is the same customer as in Stripe (and, later, in
HubSpot, Shopify and QuickBooks). Ids are drawn from the registry's own seeded RNG, never globally.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import polars as pl
from faker import Faker

from sandbox.company.clock import Clock

ALPHABET = np.array(list("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"))


@dataclass(frozen=True)
class VendorSpec:
    """A vendor as the company knows it, and how its bank lines look."""

    vendor_id: str
    name: str
    category: str
    account: str  # "operating_usd" | "eur"
    cadence: str  # "monthly" | "biweekly" | "weekly" | "random"
    mean_amount: float  # in the account's currency (major units)
    descriptors: tuple[str, ...]  # templates; "{r}" is replaced by a random token per line


VENDORS: tuple[VendorSpec, ...] = (
    VendorSpec(
        "ven_payroll",
        "Gusto",
        "payroll",
        "operating_usd",
        "biweekly",
        42000.0,
        ("GUSTO PAYROLL {r}", "GUSTO NET PAY {r}", "GUSTO TAX {r}"),
    ),
    VendorSpec(
        "ven_rent",
        "WeWork",
        "rent",
        "operating_usd",
        "monthly",
        9500.0,
        ("WEWORK {r}", "WEWORK COMPANIES LLC"),
    ),
    VendorSpec(
        "ven_aws",
        "Amazon Web Services",
        "cloud_hosting",
        "eur",
        "monthly",
        3100.0,
        ("AWS EMEA", "AWS EMEA aws.amazon.com", "Amazon Web Services EMEA SARL"),
    ),
    VendorSpec(
        "ven_aws_us",
        "Amazon Web Services",
        "cloud_hosting",
        "operating_usd",
        "monthly",
        1200.0,
        ("AMAZON WEB SERVICES AWS.AMAZON.CO", "AWS.AMAZON.COM {r}"),
    ),
    VendorSpec(
        "ven_amazon",
        "Amazon Marketplace",
        "office_supplies",
        "operating_usd",
        "random",
        140.0,
        ("AMZN MKTP US*{r}", "AMAZON.COM*{r} AMZN.COM/BILL", "Amzn Mktp US {r}"),
    ),
    VendorSpec(
        "ven_google",
        "Google Workspace",
        "software",
        "operating_usd",
        "monthly",
        460.0,
        ("GOOGLE *GSUITE_{r}", "GOOGLE*WORKSPACE {r}"),
    ),
    VendorSpec(
        "ven_slack",
        "Slack",
        "software",
        "operating_usd",
        "monthly",
        380.0,
        ("SLACK T0{r}", "SLACK TECHNOLOGIES"),
    ),
    VendorSpec(
        "ven_adobe",
        "Adobe",
        "software",
        "operating_usd",
        "monthly",
        90.0,
        ("ADOBE *CREATIVE CLD", "ADOBE *{r}"),
    ),
    VendorSpec(
        "ven_uber",
        "Uber",
        "travel",
        "operating_usd",
        "random",
        38.0,
        ("UBER *TRIP {r}", "UBER TRIP HELP.UBER.COM"),
    ),
    VendorSpec(
        "ven_delta",
        "Delta Air Lines",
        "travel",
        "operating_usd",
        "random",
        620.0,
        ("DELTA AIR {r}", "DELTA AIR LINES ATLANTA"),
    ),
    VendorSpec(
        "ven_lawfirm",
        "Baker & Partners LLP",
        "professional_services",
        "operating_usd",
        "monthly",
        4200.0,
        ("BAKER PARTNERS LLP", "BAKER & PARTNERS {r}"),
    ),
    VendorSpec(
        "ven_bank_usd",
        "First Harbor Bank",
        "bank_fees",
        "operating_usd",
        "monthly",
        45.0,
        ("MONTHLY SERVICE FEE", "ACCOUNT ANALYSIS FEE"),
    ),
    VendorSpec(
        "ven_bank_eur",
        "First Harbor Bank",
        "bank_fees",
        "eur",
        "monthly",
        18.0,
        ("KONTOFUEHRUNGSGEBUEHR", "ACCOUNT FEE EUR"),
    ),
)


class Registry:
    """Seeded id factory plus the shared customers, vendors and receivables."""

    def __init__(self, seed: int, clock: Clock) -> None:
        self.seed = seed
        self.rng = np.random.default_rng([seed, 7])
        self.clock = clock
        self.faker = Faker("en_US")
        self.faker.seed_instance(seed)
        self.faker_de = Faker("de_DE")
        self.faker_de.seed_instance(seed)
        self.customers = pl.DataFrame()
        self.receivables = pl.DataFrame()
        self.vendors = VENDORS

    def ids(self, prefix: str, n: int, length: int = 14, rng: np.random.Generator | None = None) -> list[str]:
        """`n` unique ids like `ch_3Fh7...` (base62 body of `length` chars)."""
        rng = rng if rng is not None else self.rng
        body = ALPHABET[rng.integers(0, len(ALPHABET), size=(n, length))]
        out = [prefix + "".join(row) for row in body]
        if len(set(out)) != n:  # astronomically rare; retry keeps determinism
            return self.ids(prefix, n, length, rng)
        return out

    def stream(self, name: str) -> np.random.Generator:
        """An RNG of its own for one step, so that step's draws never shift anyone else's."""
        return np.random.default_rng([self.seed, int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)])

    @staticmethod
    def stable_id(prefix: str, key: str, length: int = 24) -> str:
        """An id derived from `key` (the same object gets the same id whatever else changes)."""
        digest = int(hashlib.sha256(key.encode()).hexdigest(), 16)
        chars = []
        for _ in range(length):
            digest, r = divmod(digest, len(ALPHABET))
            chars.append(ALPHABET[r])
        return prefix + "".join(chars)

    def tokens(self, n: int, length: int = 6, upper: bool = True) -> np.ndarray:
        """Random alphanumeric tokens (noise in bank descriptors)."""
        alphabet = ALPHABET[:36] if upper else ALPHABET
        body = alphabet[self.rng.integers(0, len(alphabet), size=(n, length))]
        return np.array(["".join(row) for row in body], dtype=object)

    def make_customers(self, n: int) -> pl.DataFrame:
        """Customers shared by all systems: ~20% are B2B companies paying invoices by transfer."""
        is_b2b = self.rng.random(n) < 0.2
        country = np.where(self.rng.random(n) < 0.15, "DE", "US")
        # names in the customer's language: German companies and people for German customers
        fakers = [self.faker_de if c == "DE" else self.faker for c in country]
        names = [f.company() if b else f.name() for f, b in zip(fakers, is_b2b, strict=True)]
        emails = [f.email() for f in fakers]
        created_day = np.sort(self.rng.integers(-200, self.clock.sim_days - 20, size=n))
        self.customers = pl.DataFrame(
            {
                "customer_key": [f"C{i:06d}" for i in range(n)],
                "name": names,
                "email": emails,
                "country": country,
                "is_b2b": is_b2b,
                "created_day": created_day,
            }
        )
        return self.customers

    def make_receivables(self, n: int) -> pl.DataFrame:
        """B2B invoices (to be issued by CRM/ledger systems later), paid by bank transfer."""
        b2b = self.customers.filter(pl.col("is_b2b"))
        pick = self.rng.integers(0, b2b.height, size=n)
        issue = np.sort(self.rng.integers(0, self.clock.sim_days - 10, size=n))
        terms = self.rng.choice([15, 30, 45], size=n, p=[0.3, 0.5, 0.2])
        late = np.maximum(0, self.rng.normal(2, 8, size=n)).astype(int)
        amount = np.round(np.exp(self.rng.normal(8.3, 0.7, size=n)), 2)
        picked = b2b[pick]
        currency = np.where(picked["country"].to_numpy() == "DE", "EUR", "USD")
        self.receivables = pl.DataFrame(
            {
                "invoice_number": [f"INV-{1000 + i:05d}" for i in range(n)],
                "customer_key": picked["customer_key"],
                "customer_name": picked["name"],
                "currency": currency,
                "amount": amount,
                "issue_day": issue,
                "due_day": issue + terms,
                "paid_day": issue + terms + late - self.rng.integers(0, 10, size=n),
            }
        )
        return self.receivables

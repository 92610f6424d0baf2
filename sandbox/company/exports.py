"""File exports of the simulated company: bank statements under `exports/bank/`, processor CSVs under
`exports/processor/`.

The bank feed API already serves the Operating Checking and EUR accounts, so statements are written
for three *statement-only* accounts that the feed does not know (no double counting in the warehouse):

| key | account | bank | id in the files | formats (rotating by month) |
|---|---|---|---|---|
| `gbp` | GBP Trading Account | Thames Commercial Bank | IBAN | camt.053.001.02; MT940 without SWIFT blocks every 4th month |
| `eur_reserve` | EUR Reserve Account | Rheinland Sparbank | IBAN | camt.053.001.08, MT940 with SWIFT blocks, N26-style CSV |
| `usd_reserve` | USD Reserve Account | Lakeshore National Bank | account number | OFX 2.x XML, OFX 1.x SGML, BAI2 |

One statement per account and calendar month up to `as_of` (the current month ends at `as_of`), one
format per month, so every line is in exactly one monthly file — except for ONE re-issued statement
(`gbp`, 15 Feb - 14 Mar, camt) that repeats lines of two monthly files, so dedupe is exercised.
The accounts' lines are simulated here from their own RNG stream over the whole horizon and cut at
`as_of`; truth: `statement_lines`, `statement_balances`, `statement_files`.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from sandbox.company import exports_formats as fmt
from sandbox.company.registry import Registry
from sandbox.company.stripe import StripeData


@dataclass(frozen=True)
class StatementAccount:
    key: str
    name: str
    bank: str
    bic: str
    account_id: str  # as the files name it (IBAN or account number)
    currency: str
    opening_cents: int
    routing: str = ""


def iban(country: str, bban: str) -> str:
    """A valid IBAN (ISO 13616 mod-97 check digits) for `bban`."""
    digits = "".join(str(int(c, 36)) for c in (bban + country + "00").upper())
    return f"{country}{98 - int(digits) % 97:02d}{bban}"


ACCOUNTS: tuple[StatementAccount, ...] = (
    StatementAccount("gbp", "GBP Trading Account", "Thames Commercial Bank", "TCBKGB2L",
                     iban("GB", "TCBK40127631926819"), "GBP", 2_500_000),
    StatementAccount("eur_reserve", "EUR Reserve Account", "Rheinland Sparbank", "RSPKDEFFXXX",
                     iban("DE", "370400440532013000"), "EUR", 4_000_000),
    StatementAccount("usd_reserve", "USD Reserve Account", "Lakeshore National Bank", "LKSHUS44",
                     "8844120937", "USD", 15_000_000, routing="071000013"),
)  # fmt: skip
FORMATS: dict[str, tuple[str, ...]] = {  # by month index modulo the tuple's length
    "gbp": (fmt.CAMT02, fmt.CAMT02, fmt.CAMT02, fmt.MT940_PLAIN),
    "eur_reserve": (fmt.CAMT08, fmt.MT940_SWIFT, fmt.N26_CSV),
    "usd_reserve": (fmt.OFX2, fmt.OFX1, fmt.BAI2),
}
# (counterparty, remittance template, kind, cadence days or "q"/"m", mean cents (signed), spread)
FLOWS: dict[str, tuple[tuple[str, str, str, str, int, float], ...]] = {
    "gbp": (
        ("AMAZON EU SARL", "AMAZON SETTLEMENT {r}", "marketplace_settlement", "14", 240_000, 0.3),
        ("REGUS LONDON", "RENT {m}", "rent", "m", -185_000, 0.0),
        ("ROYAL MAIL", "POSTAGE {r}", "postage", "4", -4_500, 0.5),
        ("HMRC VAT", "VAT RETURN {q}", "tax", "q", -300_000, 0.2),
        ("THAMES COMMERCIAL BANK", "ACCOUNT FEE {m}", "bank_fees", "m", -1_200, 0.0),
    ),
    "eur_reserve": (
        ("Rheinland Sparbank", "ZINSGUTSCHRIFT {m}", "interest", "m", 6_700, 0.05),
        ("Deutsche Telekom AG", "RECHNUNG {r}", "telecom", "m", -8_990, 0.0),
        ("SIGNAL IDUNA", "VERSICHERUNG {q}", "insurance", "q", -42_000, 0.0),
        ("eBay GmbH", "AUSZAHLUNG {r}", "marketplace_settlement", "7", 60_000, 0.4),
    ),
    "usd_reserve": (
        ("LAKESHORE NATIONAL BANK", "INTEREST PAYMENT {m}", "interest", "m", 31_000, 0.05),
        (
            "AMAZON.COM SERVICES",
            "AMAZON.COM SERVICES PAYMENT {r}",
            "marketplace_settlement",
            "14",
            350_000,
            0.3,
        ),
        ("IRS", "IRS USATAXPYMT {q}", "tax", "q", -1_200_000, 0.1),
        ("HISCOX INSURANCE", "HISCOX INSURANCE {m}", "insurance", "m", -31_000, 0.0),
        ("ADP", "ADP PAYROLL FEES {r}", "payroll_fees", "m", -18_000, 0.1),
    ),
}
OVERLAP = ("gbp", date(2025, 2, 15), date(2025, 3, 14))


@dataclass
class Statement:
    account: StatementAccount
    from_date: date
    to_date: date
    opening_cents: int
    closing_cents: int
    lines: list[dict]  # date, amount_cents, counterparty, remittance, ref, e2e, kind
    seq: int
    file_name: str = ""
    format: str = ""
    overlap: bool = False
    meta: dict = field(default_factory=dict)


def _flow_days(spec: str, n_days: int, rng: np.random.Generator, start: date) -> np.ndarray:
    if spec == "m":
        # once a month, on the 3rd or the 4th (alternating by month)
        return np.array(
            [d for d in range(n_days) if (s := start + timedelta(days=d)).day == 3 + (s.month % 2)]
        )
    if spec == "q":
        return np.array(
            [
                d
                for d in range(n_days)
                if (s := start + timedelta(days=d)).day == 7 and s.month in (2, 5, 8, 11)
            ]
        )
    step = int(spec)
    return np.arange(int(rng.integers(0, step)), n_days, step)


def _tokens(rng: np.random.Generator, n: int) -> list[str]:
    alphabet = np.array(list("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    return ["".join(row) for row in alphabet[rng.integers(0, 36, size=(n, 6))]]


def simulate_statement_lines(reg: Registry) -> pl.DataFrame:
    """Every line of the statement-only accounts over the horizon (amounts in cents, signed + = in)."""
    rng = reg.stream("statement_accounts")
    start, n_days = reg.clock.start, reg.clock.sim_days
    rows = []
    for acc in ACCOUNTS:
        for counterparty, template, kind, cadence, mean, spread in FLOWS[acc.key]:
            days = _flow_days(cadence, n_days, rng, start)
            noise = np.exp(rng.normal(0, spread, len(days))) if spread else np.ones(len(days))
            amounts = np.round(mean * noise).astype(np.int64)
            tokens = _tokens(rng, len(days))
            for day, cents, token in zip(days, amounts, tokens, strict=True):
                when = start + timedelta(days=int(day))
                text = template.format(
                    r=token, m=when.strftime("%Y-%m"), q=f"{when.year}Q{(when.month - 1) // 3 + 1}"
                )
                rows.append(
                    (
                        acc.key,
                        acc.account_id,
                        acc.currency,
                        int(day),
                        when,
                        int(cents),
                        counterparty,
                        text,
                        kind,
                    )
                )
    frame = pl.DataFrame(
        rows,
        schema=["account", "account_id", "currency", "day", "date", "amount_cents", "counterparty", "remittance", "kind"],
        orient="row",
    ).sort("account", "day", "kind", "remittance")  # fmt: skip
    seq = frame.with_row_index("i")["i"].to_numpy()
    return frame.with_columns(
        ref=pl.Series(
            [
                f"{a[:3].upper()}{d:%y%m%d}{i:06d}"
                for a, d, i in zip(frame["account"], frame["date"], seq, strict=True)
            ]
        ),
        end_to_end=pl.Series([f"E2E{i:08d}" for i in seq]),
    )


def _balances(lines: pl.DataFrame, reg: Registry, last_day: int) -> pl.DataFrame:
    days = pl.DataFrame({"day": np.arange(last_day + 1)})
    frames = []
    for acc in ACCOUNTS:
        flows = lines.filter(pl.col("account") == acc.key).group_by("day").agg(pl.col("amount_cents").sum())
        bal = days.join(flows, on="day", how="left").sort("day")
        frames.append(
            bal.select(
                date=pl.lit(reg.clock.start) + pl.duration(days=pl.col("day")),
                account_id=pl.lit(acc.account_id),
                account=pl.lit(acc.key),
                currency=pl.lit(acc.currency),
                balance_cents=pl.col("amount_cents").fill_null(0).cum_sum() + acc.opening_cents,
            )
        )
    out = pl.concat(frames)
    return out.with_columns(balance=(pl.col("balance_cents") / 100).round(2))


def _month_periods(start: date, as_of: date) -> list[tuple[date, date]]:
    periods, first = [], start.replace(day=1)
    while first <= as_of:
        nxt = (first + timedelta(days=32)).replace(day=1)
        periods.append((max(first, start), min(nxt - timedelta(days=1), as_of)))
        first = nxt
    return periods


def _statement(
    acc: StatementAccount, lines: pl.DataFrame, balances: dict, lo: date, hi: date, seq: int
) -> Statement:
    mine = lines.filter((pl.col("account") == acc.key) & pl.col("date").is_between(lo, hi)).sort("day", "ref")
    before = lo - timedelta(days=1)
    opening = balances.get((acc.key, before), acc.opening_cents)
    return Statement(acc, lo, hi, opening, balances[(acc.key, hi)], mine.to_dicts(), seq)


def build_statements(reg: Registry, lines: pl.DataFrame, balances: pl.DataFrame) -> list[Statement]:
    by_day = {(a, d): c for a, d, c in balances.select("account", "date", "balance_cents").iter_rows()}
    out: list[Statement] = []
    for acc in ACCOUNTS:
        for m, (lo, hi) in enumerate(_month_periods(reg.clock.start, reg.clock.as_of)):
            st = _statement(acc, lines, by_day, lo, hi, m + 1)
            st.format = FORMATS[acc.key][m % len(FORMATS[acc.key])]
            st.file_name = f"{acc.key}_{lo:%Y-%m}{fmt.EXTENSIONS[st.format]}"
            out.append(st)
    key, lo, hi = OVERLAP
    if hi <= reg.clock.as_of:
        acc = next(a for a in ACCOUNTS if a.key == key)
        st = _statement(acc, lines, by_day, lo, hi, 900)
        st.format, st.overlap = fmt.CAMT02, True
        st.file_name = f"{acc.key}_{lo:%Y-%m-%d}_{hi:%Y-%m-%d}_reissued{fmt.EXTENSIONS[st.format]}"
        out.append(st)
    return out


def write_exports(reg: Registry, stripe: StripeData, out: Path) -> dict[str, pl.DataFrame]:
    """Write `out/exports/bank/*` and `out/exports/processor/*` (replacing them); returns truth tables
    `statement_lines`, `statement_balances`, `statement_files`. `stripe` is the cut Stripe data."""
    shutil.rmtree(out / "exports", ignore_errors=True)
    bank_dir, processor_dir = out / "exports" / "bank", out / "exports" / "processor"
    bank_dir.mkdir(parents=True)
    processor_dir.mkdir(parents=True)
    last_day = reg.clock.n_days - 1
    lines = simulate_statement_lines(reg).filter(pl.col("day") <= last_day)
    balances = _balances(lines, reg, last_day)
    statements = build_statements(reg, lines, balances)
    files_of: dict[str, list[str]] = {}
    for st in statements:
        (bank_dir / st.file_name).write_bytes(fmt.render(st, reg.clock.as_of))
        for line in st.lines:
            files_of.setdefault(line["ref"], []).append(st.file_name)
    stripe_files = fmt.write_stripe_csv(stripe, processor_dir)
    truth_lines = lines.select(
        statement_line_id="ref", account_id="account_id", account="account", date="date",
        amount=(pl.col("amount_cents") / 100).round(2), currency="currency", counterparty_name="counterparty",
        remittance_info="remittance", kind="kind", end_to_end_ref="end_to_end",
        source_files=pl.col("ref").replace_strict(files_of, return_dtype=pl.List(pl.Utf8)),
    ).sort("account_id", "date", "statement_line_id")  # fmt: skip
    files = pl.DataFrame(
        [
            (st.file_name, st.format, st.account.account_id, st.account.currency, st.from_date, st.to_date,
             st.opening_cents / 100, st.closing_cents / 100, len(st.lines), st.overlap)
            for st in statements
        ]
        + [(name, fmt.STRIPE_CSV, "stripe", "USD", None, None, None, None, n, False) for name, n in stripe_files],
        schema=["file", "format", "account_id", "currency", "from_date", "to_date", "opening_balance",
                "closing_balance", "line_count", "overlap"],
        orient="row",
    )  # fmt: skip
    return {
        "statement_lines": truth_lines,
        "statement_balances": balances.select("date", "account_id", "currency", "balance").sort(
            "date", "account_id"
        ),
        "statement_files": files,
    }

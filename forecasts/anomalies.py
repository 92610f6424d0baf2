"""Anomaly flags on the money that left (or moved through) the bank accounts: `marts.anomaly_flags`.

`run_anomalies(warehouse)` reads `marts.fct_bank_transactions`, resolves vendors, runs the detectors
below and replaces `marts.anomaly_flags`. When `marts.fct_bill_payments` exists (QuickBooks; columns found
by name, see `BILL_PAYMENT_COLUMNS`), the duplicate-payment detector also runs on the bill payments. Every detector is a pure function over a polars frame, so the
same logic runs on other payment tables (QuickBooks bill payments) and in tests.

Columns of `marts.anomaly_flags`: `flag_id` (stable hash of kind and records), `kind`, `score`, `reason`
(one sentence with the numbers), `record_ids` (comma-separated, the flagged record first), `entity`
(the resolved vendor, or the account for cash days), `amount` (absolute; the reason says in or out),
`currency` (the account's), `flag_date`, `detected_at` (UTC, naive).
`score` is 0..1 for `duplicate_payment`, `new_vendor_large_charge` and `unusual_day`, and the absolute
robust z for `unusual_vendor_amount` and `unusual_cash_day`.

Vendor identity (documented rule): the vendor of a bank line is its counterparty name when the bank
gives one, else its descriptor. Both are normalised: upper case; for card descriptors only the part
before the first `*` is kept (`AMZN MKTP US*2K4` -> `AMZN MKTP US`); punctuation becomes space; tokens
with a digit (references), legal suffixes (LLC, Inc, GmbH, ...), web/noise tokens (COM, WWW, HELP, BILL)
and country codes are dropped; AMZN -> AMAZON, MKTP -> MARKETPLACE; repeated tokens are kept once.
A line without a counterparty takes the counterparty that named lines with the same normalised
descriptor carry; failing that, the longest counterparty name its descriptor starts with (MT940's
`REGUS LONDON RENT 2025-04` -> camt's `REGUS LONDON`); failing that, the one its first descriptor token
unambiguously points to.
Finally keys whose rapidfuzz `ratio` is >= 92 (near-identical spellings) are merged; the cluster is
shown under its most frequent counterparty name
(or its key when no line named it).

Detectors (all look only at earlier records when judging one, so a flag never depends on the future):
- duplicate_payment: same vendor, same currency, same amount to the cent, money out, within
  `window_days` (7) of the previous such payment, unless (a) an inflow of the same amount from that
  vendor follows within `reversal_days` (a refund/reversal), or (b) the same-amount payments recur on a
  regular cadence (>= 3 of them, median gap >= 5 days) and this gap fits it (a weekly fee, rent, payroll).
- unusual_vendor_amount: |robust z| of log(amount) against the vendor's earlier payments (median, MAD,
  scale floored at 0.05 so a fixed fee moving 20%+ is noticed) >= `z_threshold` (4), with at least
  `min_history` (6) earlier payments, and the amount outside the range of all of them (short histories
  understate the spread; an amount paid before is not unusual).
- new_vendor_large_charge: the first payment to a vendor, after a warm-up of `warmup_days` (60) from the
  first bank line, at or above the `new_vendor_quantile` (0.9) of all earlier payments in that currency.
- unusual_day: a vendor with >= `min_weekday_history` (20) earlier payments is paid on a weekday where the
  smoothed share (+0.5 per weekday) of its earlier payments is below `weekday_p` (0.01): in
  effect never on that weekday in ~47+ earlier payments (a chance of < 0.1% if its weekdays were random).
- unusual_cash_day: daily net flow per account (days without lines count as 0) against the median of
  the same weekday over the previous 8 weeks; scale = max(1.4826 MAD of those, 1.4826 MAD of the previous
  56 days, half the median size of the non-empty days of the previous 90); flagged at |z| >= 6 when the
  day also deviates more than any day of the previous 90 (so monthly rent or quarterly tax, large but
  regular, is not flagged every time).
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
from rapidfuzz import fuzz, process

from ledgerlake.errors import LedgerlakeError
from ledgerlake.warehouse import Warehouse

log = logging.getLogger(__name__)

TABLE = "anomaly_flags"
TX_TABLE = "marts.fct_bank_transactions"
FLAG_SCHEMA: dict[str, Any] = {
    "flag_id": pl.Utf8,
    "kind": pl.Utf8,
    "score": pl.Float64,
    "reason": pl.Utf8,
    "record_ids": pl.Utf8,
    "entity": pl.Utf8,
    "amount": pl.Float64,
    "currency": pl.Utf8,
    "flag_date": pl.Date,
    "detected_at": pl.Datetime("us"),
}
PAYMENT_SCHEMA: dict[str, Any] = {
    "payment_id": pl.Utf8,
    "vendor": pl.Utf8,
    "amount": pl.Float64,
    "currency": pl.Utf8,
    "date": pl.Date,
}
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

LEGAL_SUFFIXES = frozenset(
    "LLC LLP LP INC INCORPORATED LTD LIMITED GMBH AG KG SA SARL SAS SRL BV NV PLC CO CORP CORPORATION "
    "COMPANY COMPANIES THE AND OF".split()
)
NOISE_TOKENS = frozenset("COM NET ORG WWW HTTP HTTPS HELP BILL POS CARD PURCHASE DEBIT".split())
COUNTRY_TOKENS = frozenset("US USA UK GB DE IE FR NL".split())
ALIASES = {"AMZN": "AMAZON", "MKTP": "MARKETPLACE"}
FUZZY_CUTOFF = 92.0


@dataclass(frozen=True)
class Settings:
    """Thresholds of the detectors (defaults documented in the module docstring)."""

    window_days: int = 7
    reversal_days: int = 30
    z_threshold: float = 4.0
    min_history: int = 6
    log_scale_floor: float = 0.05
    warmup_days: int = 60
    new_vendor_quantile: float = 0.9
    new_vendor_min_prior: int = 20
    min_weekday_history: int = 20
    weekday_p: float = 0.01
    cash_z_threshold: float = 6.0
    cash_weeks: int = 8


# ---------------------------------------------------------------- vendor identity


def normalise_vendor(text: str | None) -> str:
    """The comparable form of a counterparty name or bank descriptor (rule in the module docstring)."""
    if not text:
        return ""
    s = text.upper()
    if "*" in s:
        head = s.split("*", 1)[0].strip()
        s = head if head else s.replace("*", " ")
    s = re.sub(r"[^A-Z0-9 ]+", " ", s.replace("&", " "))
    out: list[str] = []
    for raw in s.split():
        tok = ALIASES.get(raw, raw)
        drop = any(c.isdigit() for c in tok) or tok in LEGAL_SUFFIXES | NOISE_TOKENS | COUNTRY_TOKENS
        if not drop and tok not in out:
            out.append(tok)
    return " ".join(out)


def _descriptor_map(named: pl.DataFrame) -> tuple[dict[str, str], dict[str, str]]:
    """desc_key -> name_key (majority) and first token -> name_key (only when unambiguous)."""
    by_desc: dict[str, Counter[str]] = {}
    by_first: dict[str, set[str]] = {}
    for desc, name in named.select("desc_key", "name_key").iter_rows():
        if not desc:
            continue
        by_desc.setdefault(desc, Counter())[name] += 1
        by_first.setdefault(desc.split()[0], set()).add(name)
    exact = {d: c.most_common(1)[0][0] for d, c in by_desc.items()}
    first = {t: next(iter(names)) for t, names in by_first.items() if len(names) == 1}
    return exact, first


def _unnamed_key(desc: str, exact: dict[str, str], first: dict[str, str], known: list[str]) -> str:
    """The vendor key of a line without a counterparty name, from its normalised descriptor."""
    if desc in exact:
        return exact[desc]
    prefix = next((k for k in known if desc == k or desc.startswith(k + " ")), None)  # longest first
    if prefix:
        return prefix
    if desc and desc.split()[0] in first:
        return first[desc.split()[0]]
    return desc or "UNKNOWN"


def _fuzzy_clusters(keys: list[str]) -> dict[str, str]:
    """Key -> representative key, merging near-identical keys (rapidfuzz ratio >= FUZZY_CUTOFF)."""
    parent = {k: k for k in keys}

    def find(k: str) -> str:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    if len(keys) > 1:
        scores = process.cdist(keys, keys, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF)
        for i, j in zip(*np.nonzero(scores), strict=True):
            if i < j:
                a, b = sorted((find(keys[i]), find(keys[j])))
                parent[b] = a
    return {k: find(k) for k in keys}


def _display_name(key: str, names: Counter[str]) -> str:
    """The most frequent counterparty name of a cluster; its key when no line had a name."""
    named = sorted(((n, c) for n, c in names.items() if n), key=lambda kv: (-kv[1], kv[0]))
    return named[0][0] if named else key


def resolve_vendors(lines: pl.DataFrame) -> pl.DataFrame:
    """Adds `vendor_key` and `vendor` (display name) to a frame with `counterparty_name, remittance_info`."""
    names = lines["counterparty_name"].to_list()
    descs = lines["remittance_info"].to_list()
    keyed = pl.DataFrame(
        {
            "name_key": [normalise_vendor(n) for n in names],
            "desc_key": [normalise_vendor(d) for d in descs],
            "raw": [n.strip() if n and n.strip() else "" for n in names],
        }
    )
    exact, first = _descriptor_map(keyed.filter(pl.col("name_key") != ""))
    known = sorted(set(keyed["name_key"].to_list()) - {""}, key=len, reverse=True)
    keys = [
        name_key or _unnamed_key(desc_key, exact, first, known)
        for name_key, desc_key in keyed.select("name_key", "desc_key").iter_rows()
    ]
    clusters = _fuzzy_clusters(sorted(set(keys)))
    vendor_key = [clusters[k] for k in keys]
    display: dict[str, Counter[str]] = {k: Counter() for k in vendor_key}
    for k, raw in zip(vendor_key, keyed["raw"].to_list(), strict=True):
        if raw:
            display[k][raw] += 1
    shown = {k: _display_name(k, c) for k, c in display.items()}
    return lines.with_columns(
        vendor_key=pl.Series(vendor_key, dtype=pl.Utf8),
        vendor=pl.Series([shown[k] for k in vendor_key], dtype=pl.Utf8),
    )


# ---------------------------------------------------------------- flag rows


def money(amount: float, currency: str) -> str:
    return f"{abs(amount):,.2f} {currency}"


def flag_id(kind: str, record_ids: str) -> str:
    return hashlib.sha1(f"{kind}|{record_ids}".encode()).hexdigest()[:16]


def _flag(kind: str, score: float, reason: str, ids: list[str], entity: str, amount: float, currency: str,
          day: date) -> dict[str, Any]:  # fmt: skip
    record_ids = ",".join(ids)
    return {
        "flag_id": flag_id(kind, record_ids),
        "kind": kind,
        "score": round(float(score), 4),
        "reason": reason,
        "record_ids": record_ids,
        "entity": entity,
        "amount": round(abs(float(amount)), 2),
        "currency": currency,
        "flag_date": day,
    }


def to_frame(rows: list[dict[str, Any]], detected_at: datetime | None = None) -> pl.DataFrame:
    """Flag dicts -> the `marts.anomaly_flags` frame, sorted by date and kind."""
    when = detected_at or datetime.now(UTC).replace(tzinfo=None)
    if not rows:
        return pl.DataFrame(schema=FLAG_SCHEMA)
    df = pl.DataFrame(rows, schema={k: v for k, v in FLAG_SCHEMA.items() if k != "detected_at"})
    return df.with_columns(detected_at=pl.lit(when, dtype=pl.Datetime("us"))).sort(
        "flag_date", "kind", "flag_id"
    )


# ---------------------------------------------------------------- duplicate payments


def _is_recurring(gap: int, gaps: list[int]) -> bool:
    """True when `gap` fits a regular cadence of the same-amount payments (>= 3 payments, median >= 5)."""
    if len(gaps) < 2:
        return False
    median = float(np.median(gaps))
    return median >= 5 and abs(gap - median) <= max(2.0, 0.25 * median)


def _take_reversal(inflows: list[date], used: set[int], start: date, end: date) -> bool:
    for i, day in enumerate(inflows):
        if i not in used and start <= day <= end:
            used.add(i)
            return True
    return False


def _duplicate_reason(vendor: str, amount: float, currency: str, first: date, second: date) -> str:
    return (
        f"Paid {vendor} {money(amount, currency)} on {second.isoformat()}, the same amount as on "
        f"{first.isoformat()} ({money(amount, currency)}) — likely paid twice."
    )


def _group_duplicates(outs: pl.DataFrame, inflows: list[date], s: Settings) -> list[dict[str, Any]]:
    ids, days = outs["payment_id"].to_list(), outs["date"].to_list()
    vendor, currency, amount = outs["vendor"][0], outs["currency"][0], float(outs["amount"][0])
    gaps = [(b - a).days for a, b in zip(days, days[1:], strict=False)]
    used: set[int] = set()
    rows = []
    for i, gap in enumerate(gaps):
        if gap > s.window_days or _is_recurring(gap, gaps):
            continue
        if _take_reversal(inflows, used, days[i], days[i + 1] + timedelta(days=s.reversal_days)):
            continue
        score = 1.0 - 0.5 * gap / max(s.window_days, 1)
        reason = _duplicate_reason(vendor, amount, currency, days[i], days[i + 1])
        rows.append(
            _flag(
                "duplicate_payment",
                score,
                reason,
                [ids[i + 1], ids[i]],
                vendor,
                amount,
                currency,
                days[i + 1],
            )
        )
    return rows


def detect_duplicate_payments(
    payments: pl.DataFrame, settings: Settings | None = None
) -> list[dict[str, Any]]:
    """Duplicate payments in a generic frame `payment_id, vendor, amount (+ = in), currency, date`.

    Works on bank lines (vendor = resolved vendor) and on bill payments alike (pass money out as negative).
    With an `account_id` column, payments from different accounts are never paired.
    """
    s = settings or Settings()
    extra = [c for c in ("account_id",) if c in payments.columns]
    p = payments.select(*PAYMENT_SCHEMA, *extra).with_columns(
        cents=(pl.col("amount").abs() * 100).round(0).cast(pl.Int64)
    )
    p = p.filter(pl.col("cents") > 0)
    rows: list[dict[str, Any]] = []
    for _, grp in p.group_by("vendor", "currency", *extra, "cents"):
        outs = grp.filter(pl.col("amount") < 0).sort("date", "payment_id")
        if outs.height < 2:
            continue
        inflows = sorted(grp.filter(pl.col("amount") > 0)["date"].to_list())
        rows += _group_duplicates(outs, inflows, s)
    return rows


# ---------------------------------------------------------------- vendor amounts, new vendors, weekdays


def _robust_log_z(amount: float, prior: np.ndarray, floor: float) -> tuple[float, float]:
    """Robust z of log(amount) against log(prior) and the prior median amount."""
    logs = np.log(prior)
    med = float(np.median(logs))
    scale = max(1.4826 * float(np.median(np.abs(logs - med))), floor)
    return (float(np.log(amount)) - med) / scale, float(np.exp(med))


def _vendor_amount_rows(outs: pl.DataFrame, s: Settings) -> list[dict[str, Any]]:
    rows = []
    days = outs["date"].to_list()
    amounts = outs["abs_amount"].to_numpy()
    ids = outs["payment_id"].to_list()
    vendor, currency = outs["vendor"][0], outs["currency"][0]
    for i in range(outs.height):
        n_prior = int(np.searchsorted(np.array(days, dtype="datetime64[D]"), np.datetime64(days[i]), "left"))
        if n_prior < s.min_history:
            continue
        prior = amounts[:n_prior]
        if prior.min() <= amounts[i] <= prior.max():
            continue  # an amount the vendor was already paid before is not unusual, whatever the z
        z, usual = _robust_log_z(float(amounts[i]), prior, s.log_scale_floor)
        if abs(z) < s.z_threshold:
            continue
        ratio = amounts[i] / usual
        size = f"{ratio:.1f} times" if ratio >= 1 else f"only {ratio:.0%} of"
        reason = (
            f"Paid {vendor} {money(amounts[i], currency)} on {days[i].isoformat()}, {size} its usual "
            f"{money(usual, currency)} (median of {n_prior} earlier payments)."
        )
        rows.append(
            _flag("unusual_vendor_amount", abs(z), reason, [ids[i]], vendor, amounts[i], currency, days[i])
        )
    return rows


def _weekday_rows(outs: pl.DataFrame, s: Settings) -> list[dict[str, Any]]:
    rows = []
    days = outs["date"].to_list()
    ids, amounts = outs["payment_id"].to_list(), outs["abs_amount"].to_list()
    vendor, currency = outs["vendor"][0], outs["currency"][0]
    counts = np.zeros(7)
    n_prior = 0
    for i, day in enumerate(days):
        while n_prior < i and days[n_prior] < day:
            counts[days[n_prior].weekday()] += 1
            n_prior += 1
        if n_prior >= s.min_weekday_history:
            share = (counts[day.weekday()] + 0.5) / (n_prior + 3.5)
            if share < s.weekday_p:
                wd = WEEKDAYS[day.weekday()]
                reason = (
                    f"Paid {vendor} {money(amounts[i], currency)} on {wd} {day.isoformat()}; "
                    f"{int(counts[day.weekday()])} of its {n_prior} earlier payments fell on a {wd}."
                )
                rows.append(
                    _flag("unusual_day", 1 - share, reason, [ids[i]], vendor, amounts[i], currency, day)
                )
    return rows


def _new_vendor_rows(outs: pl.DataFrame, s: Settings) -> list[dict[str, Any]]:
    """First payment per vendor vs. the earlier payments in the same currency (`outs`: one currency)."""
    if outs.is_empty():
        return []
    start = outs["date"].min()
    assert isinstance(start, date)
    ordered = outs.sort("date", "payment_id")
    all_days = np.array(ordered["date"].to_list(), dtype="datetime64[D]")
    all_amounts = ordered["abs_amount"].to_numpy()
    firsts = ordered.group_by("vendor_key", maintain_order=True).first()
    rows = []
    for r in firsts.iter_rows(named=True):
        if (r["date"] - start).days < s.warmup_days:
            continue
        prior = all_amounts[: int(np.searchsorted(all_days, np.datetime64(r["date"]), "left"))]
        if len(prior) < s.new_vendor_min_prior:
            continue
        cutoff = float(np.quantile(prior, s.new_vendor_quantile))
        if r["abs_amount"] < cutoff:
            continue
        rank = float(np.mean(prior < r["abs_amount"]))
        reason = (
            f"First ever payment to {r['vendor']}: {money(r['abs_amount'], r['currency'])} on "
            f"{r['date'].isoformat()}, larger than {rank:.0%} of the company's {len(prior)} earlier payments "
            f"in {r['currency']} (90th percentile {money(cutoff, r['currency'])})."
        )
        rows.append(
            _flag("new_vendor_large_charge", rank, reason, [r["payment_id"]], r["vendor"], r["abs_amount"],
                  r["currency"], r["date"])
        )  # fmt: skip
    return rows


def detect_vendor_anomalies(payments: pl.DataFrame, settings: Settings | None = None) -> list[dict[str, Any]]:
    """Unusual amounts, unusual weekdays and large first charges on money out.

    `payments`: `payment_id, vendor_key, vendor, amount (+ = in), currency, date`.
    """
    s = settings or Settings()
    outs = (
        payments.filter(pl.col("amount") < 0)
        .with_columns(abs_amount=-pl.col("amount"))
        .sort("date", "payment_id")
    )
    rows: list[dict[str, Any]] = []
    for _, grp in outs.group_by("vendor_key", "currency", maintain_order=True):
        rows += _vendor_amount_rows(grp, s)
        rows += _weekday_rows(grp, s)
    for _, grp in outs.group_by("currency", maintain_order=True):
        rows += _new_vendor_rows(grp, s)
    return rows


# ---------------------------------------------------------------- cash days


def daily_net_flows(lines: pl.DataFrame) -> pl.DataFrame:
    """`account_id, currency, date, net, n` for every calendar day between an account's first and last line."""
    flows = lines.group_by("account_id", "currency", "date").agg(net=pl.col("amount").sum(), n=pl.len())
    frames = []
    for (account, currency), grp in flows.group_by("account_id", "currency", maintain_order=True):
        days = pl.date_range(grp["date"].min(), grp["date"].max(), "1d", eager=True).alias("date")
        full = days.to_frame().join(grp.select("date", "net", "n"), on="date", how="left")
        frames.append(
            full.with_columns(pl.col("net").fill_null(0.0), pl.col("n").fill_null(0)).select(
                pl.lit(account).alias("account_id"), pl.lit(currency).alias("currency"), "date", "net", "n"
            )
        )
    return pl.concat(frames).sort("account_id", "date") if frames else flows


def _cash_scale(same: np.ndarray, recent: np.ndarray, longer: np.ndarray) -> float:
    """Robust spread of a day's net flow: the larger of the same-weekday MAD, the recent MAD and, for
    sparse accounts (mostly empty days), half the median size of the non-empty days of the last 90."""
    mad_same = 1.4826 * float(np.median(np.abs(same - np.median(same))))
    mad_all = 1.4826 * float(np.median(np.abs(recent - np.median(recent))))
    busy = np.abs(longer[longer != 0])
    sparse = 0.5 * float(np.median(busy)) if len(busy) else 0.0
    return max(mad_same, mad_all, sparse, 0.01)


def _cash_rows(series: pl.DataFrame, s: Settings) -> list[dict[str, Any]]:
    account, currency = series["account_id"][0], series["currency"][0]
    net, days, n = series["net"].to_numpy(), series["date"].to_list(), series["n"].to_list()
    window = 7 * s.cash_weeks
    rows = []
    for i in range(window, len(net)):
        recent = net[i - window : i]
        same = recent[::7]  # day i - window + 7k: the same weekday as day i
        med = float(np.median(same))
        quarter = net[max(0, i - 90) : i]
        z = (net[i] - med) / _cash_scale(same, recent, quarter)
        if abs(z) < s.cash_z_threshold or abs(net[i] - med) <= float(np.max(np.abs(quarter - med))):
            continue  # monthly rent or a quarterly tax payment is large but not new: flag only new extremes
        wd = WEEKDAYS[days[i].weekday()]
        reason = (
            f"Net cash flow on account {account} was {net[i]:+,.2f} {currency} on {wd} {days[i].isoformat()} "
            f"({n[i]} line{'s' if n[i] != 1 else ''}), against a usual {med:+,.2f} {currency} on {wd}s (robust z {z:+.1f})."
        )
        rid = f"{account}:{days[i].isoformat()}"
        rows.append(_flag("unusual_cash_day", abs(z), reason, [rid], account, net[i], currency, days[i]))
    return rows


def detect_cash_days(lines: pl.DataFrame, settings: Settings | None = None) -> list[dict[str, Any]]:
    """Days whose net flow per account is far from the same weekday's recent history (no look-ahead).

    `lines`: `account_id, currency, date, amount (+ = in)`.
    """
    s = settings or Settings()
    flows = daily_net_flows(lines)
    rows: list[dict[str, Any]] = []
    for _, grp in flows.group_by("account_id", "currency", maintain_order=True):
        rows += _cash_rows(grp, s)
    return rows


# ---------------------------------------------------------------- warehouse


def bank_payments(lines: pl.DataFrame) -> pl.DataFrame:
    """Bank lines (mart columns) -> the generic payment frame plus `vendor_key` and `account_id`."""
    resolved = resolve_vendors(lines)
    return resolved.select(
        payment_id=pl.col("bank_transaction_id").cast(pl.Utf8),
        vendor_key="vendor_key",
        vendor="vendor",
        amount=pl.col("amount").cast(pl.Float64),
        currency="currency",
        date=pl.col("booking_date").cast(pl.Date),
        account_id=pl.col("account_id").cast(pl.Utf8),
    )


def detect_all(lines: pl.DataFrame, settings: Settings | None = None,
               detected_at: datetime | None = None) -> pl.DataFrame:  # fmt: skip
    """Every detector over bank lines in the `fct_bank_transactions` shape; the `anomaly_flags` frame."""
    s = settings or Settings()
    payments = bank_payments(lines)
    dups = detect_duplicate_payments(payments, s)
    rows = dups + detect_vendor_anomalies(payments, s)
    rows += detect_cash_days(payments.select("account_id", "currency", "date", "amount"), s)
    return to_frame(rows, detected_at)


def table_columns(wh: Warehouse, schema: str, table: str) -> list[str]:
    """Lower-case column names of `schema.table` (empty when it does not exist)."""
    p = wh.param
    sql = f"select column_name from information_schema.columns where table_schema = {p} and table_name = {p}"
    return [str(c).lower() for c in wh.query(sql, [schema, table])["column_name"].to_list()]


def first_present(columns: list[str], wanted: tuple[str, ...]) -> str | None:
    return next((c for c in wanted if c in columns), None)


BILL_PAYMENT_TABLE = "fct_bill_payments"
BILL_PAYMENT_COLUMNS = {
    "payment_id": ("bill_payment_id", "payment_id", "id"),
    "vendor": ("vendor_name", "vendor", "vendor_display_name"),
    "amount": ("amount", "total_amount", "total_amt"),
    "currency": ("currency", "currency_code"),
    "date": ("payment_date", "txn_date", "paid_date", "posted_date"),
}


def load_bill_payments(wh: Warehouse) -> pl.DataFrame | None:
    """`marts.fct_bill_payments` as the generic payment frame (money out negative), when it exists."""
    cols = table_columns(wh, "marts", BILL_PAYMENT_TABLE)
    found = {k: first_present(cols, v) for k, v in BILL_PAYMENT_COLUMNS.items()}
    if not cols or any(v is None for v in found.values()):
        return None
    sql = (
        f"select cast({found['payment_id']} as varchar) as payment_id, cast({found['vendor']} as varchar) as "
        f"vendor, -abs(cast({found['amount']} as double precision)) as amount, "
        f"cast({found['currency']} as varchar) as currency, cast({found['date']} as date) as date "
        f"from marts.{BILL_PAYMENT_TABLE} where {found['amount']} is not null and {found['date']} is not null"
    )
    df = wh.query(sql)
    if df.is_empty():
        return None
    names = resolve_vendors(df.select(counterparty_name="vendor", remittance_info="vendor"))["vendor"]
    # QuickBooks ids are per entity type: keep them self-describing next to bank ids ("BillPayment:925")
    pid = (
        pl.when(pl.col("payment_id").str.contains(":"))
        .then("payment_id")
        .otherwise("BillPayment:" + pl.col("payment_id"))
    )
    return df.with_columns(
        pl.col("date").cast(pl.Date), pl.col("amount").cast(pl.Float64), vendor=names, payment_id=pid
    )


def load_bank_lines(wh: Warehouse) -> pl.DataFrame:
    if not wh.table_exists("marts", "fct_bank_transactions"):
        raise LedgerlakeError(f"{TX_TABLE} does not exist in the warehouse: run `ledgerlake build` first")
    sql = (
        "select bank_transaction_id, cast(account_id as varchar) as account_id, "
        "cast(booking_date as date) as booking_date, cast(amount as double precision) as amount, currency, "
        f"counterparty_name, remittance_info from {TX_TABLE} "
        "where booking_date is not null and amount is not null and account_id is not null"
    )
    df = wh.query(sql)
    return df.with_columns(pl.col("booking_date").cast(pl.Date), pl.col("amount").cast(pl.Float64))


def run_anomalies(warehouse: Warehouse, settings: Settings | None = None) -> dict[str, Any]:
    """Detect anomalies in `marts.fct_bank_transactions`; replace `marts.anomaly_flags`; return a summary."""
    started = time.perf_counter()
    lines = load_bank_lines(warehouse)
    flags = detect_all(lines, settings)
    bills = load_bill_payments(warehouse)
    if bills is not None:
        bill_flags = to_frame(detect_duplicate_payments(bills, settings), flags["detected_at"].max())
        flags = pl.concat([flags, bill_flags]).sort("flag_date", "kind", "flag_id")
    written = warehouse.write_table("marts", TABLE, flags, mode="replace")
    by_kind = dict(sorted(Counter(flags["kind"].to_list()).items()))
    return {
        "rows_written": {TABLE: written},
        "bank_lines": lines.height,
        "bill_payments": None if bills is None else bills.height,
        "flags_by_kind": by_kind,
        "seconds": round(time.perf_counter() - started, 2),
    }

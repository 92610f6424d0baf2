"""The legacy accounting system's trial-balance export for the parallel run after go-live.

For the 30 days from `clock.go_live` (cut at `as_of`) the old system kept booking next to QuickBooks.
Its export `exports/legacy/legacy_trial_balance.csv` has one row per account and day: the day's
debits and credits and the end-of-day balance, derived from the same GL lines as `truth/gl_lines`
(the ledger at `as_of`), except for a few planted differences, one of each kind on its own day and
its own accounts (so every differing cell has exactly one cause):

- `amount`: a two-line entry keyed with a wrong amount (both sides, so the legacy books balance);
- `timing`: an entry the legacy system dated one day later;
- `missing_posting`: an entry the legacy system never booked;
- `account_mapping`: one line of a bill booked to another expense account.

Format (documented in docs/sandbox.md): `;`-separated, cp1252, CRLF, header
`Date;Account No;Account Name;Debit;Credit;Balance`; dates `DD.MM.YYYY`; amounts with a decimal comma
and `.` thousands separators (`1.234,56`); Debit/Credit the day's movements (>= 0), Balance the
cumulative debit − credit, signed (`-1.234,56`). Account numbers are the legacy chart's own (4 digits);
the names are the QuickBooks names the migration carried over.

All draws come from the registry stream `legacy`, so no other system's output changes.
"""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from sandbox.company.ledger import ACCOUNTS
from sandbox.company.registry import Registry

WINDOW_DAYS = 30
TOLERANCE_CENTS = 0  # balances are compared in whole cents
KINDS = ("amount", "timing", "missing_posting", "account_mapping")  # the most constrained first
TYPO_DELTAS_CENTS = (900, 9000, -900, 90)  # 9.00, 90.00, -9.00, 0.90
FILE_NAME = "legacy_trial_balance.csv"
DIFF_SCHEMA = {
    "date": pl.Date,
    "account_id": pl.Utf8,
    "account_no": pl.Utf8,
    "account_name": pl.Utf8,
    "legacy_balance": pl.Float64,
    "ledger_balance": pl.Float64,
    "difference": pl.Float64,
    "difference_type": pl.Utf8,
}


def legacy_chart() -> pl.DataFrame:
    """QuickBooks accounts (ids 30.. in `ACCOUNTS` order) with their legacy account numbers."""
    first = {"Asset": 1000, "Liability": 2000, "Equity": 3000, "Revenue": 4000, "Expense": 6000}
    seen: dict[str, int] = {}
    rows = []
    for i, (key, (name, _type, _sub, cls, _cur)) in enumerate(ACCOUNTS.items()):
        n = seen.get(cls, 0)
        seen[cls] = n + 1
        rows.append((key, str(30 + i), str(first[cls] + 10 * n), name, cls))
    return pl.DataFrame(
        rows, schema=["key", "account_id", "account_no", "account_name", "classification"], orient="row"
    )


def window(reg: Registry) -> tuple[date, date] | None:
    clock = reg.clock
    end = min(clock.go_live + timedelta(days=WINDOW_DAYS - 1), clock.as_of)
    return (clock.go_live, end) if end >= clock.go_live else None


def _cents(gl: pl.DataFrame) -> pl.DataFrame:
    return gl.select(
        "entry_id",
        "line_id",
        date="posted_date",
        account_id="account_id",
        debit=(pl.col("debit") * 100).round(0).cast(pl.Int64),
        credit=(pl.col("credit") * 100).round(0).cast(pl.Int64),
    )


def _plant(
    rng: np.random.Generator, lines: pl.DataFrame, start: date, end: date, chart: pl.DataFrame
) -> tuple[pl.DataFrame, list[dict]]:
    """Legacy GL lines (the ledger's with the planted changes) and one record per planted difference."""
    in_window = lines.filter(pl.col("date").is_between(start, end))
    entries = (
        in_window.group_by("entry_id")
        .agg(pl.len().alias("n"), pl.col("date").first(), pl.col("account_id"), amount=pl.col("debit").sum())
        .filter(pl.col("amount") > 0)
        .sort("entry_id")
    )
    expense_ids = chart.filter(pl.col("classification") == "Expense")["account_id"].to_list()
    order = rng.permutation(entries.height)
    used_days: set[date] = set()
    used_accounts: set[str] = set()
    plants: list[dict] = []
    for kind in KINDS:
        for idx in order:
            entry_id, n, day, accounts, amount = entries.row(int(idx))
            plant = {"kind": kind, "entry_id": entry_id, "date": day, "amount": amount}
            if kind == "account_mapping":
                # only the moved line's account and the one it lands on differ
                booked = [a for a in accounts if a in expense_ids]
                others = [a for a in expense_ids if a not in used_accounts | set(accounts)]
                if len(booked) != 1 or not others:
                    continue
                plant["from"], plant["to"] = booked[0], others[int(rng.integers(len(others)))]
                plant["accounts"] = {plant["from"], plant["to"]}
            else:
                plant["accounts"] = set(accounts)
            if day in used_days or used_accounts & plant["accounts"]:
                continue
            if kind == "timing":
                if day + timedelta(days=1) > end or day + timedelta(days=1) in used_days:
                    continue
                used_days.add(day + timedelta(days=1))
            elif kind == "amount":
                # a keying error on a two-line entry: both sides, so the legacy books still balance
                delta = int(TYPO_DELTAS_CENTS[int(rng.integers(len(TYPO_DELTAS_CENTS)))])
                if n != 2 or amount + delta <= 0:
                    continue
                plant["delta"] = delta
            used_days.add(day)
            used_accounts |= plant["accounts"]
            plants.append(plant)
            break
    legacy = lines
    for p in plants:
        this = pl.col("entry_id") == p["entry_id"]
        if p["kind"] == "missing_posting":
            legacy = legacy.filter(~this)
        elif p["kind"] == "amount":
            d = p["delta"]
            legacy = legacy.with_columns(
                debit=pl.when(this & (pl.col("debit") > 0)).then(pl.col("debit") + d).otherwise("debit"),
                credit=pl.when(this & (pl.col("credit") > 0)).then(pl.col("credit") + d).otherwise("credit"),
            )
        elif p["kind"] == "timing":
            legacy = legacy.with_columns(
                date=pl.when(this).then(pl.col("date") + timedelta(days=1)).otherwise("date")
            )
        else:
            legacy = legacy.with_columns(
                account_id=pl.when(this & (pl.col("account_id") == p["from"]))
                .then(pl.lit(p["to"]))
                .otherwise("account_id")
            )
    return legacy, plants


def _daily(lines: pl.DataFrame, chart: pl.DataFrame, start: date, end: date) -> pl.DataFrame:
    """End-of-day debits, credits and cumulative balance (cents) per account and window day."""
    days = pl.DataFrame({"date": pl.date_range(start, end, eager=True)})
    grid = chart.select("account_id").join(days, how="cross")
    opening = (
        lines.filter(pl.col("date") < start)
        .group_by("account_id")
        .agg(opening=(pl.col("debit") - pl.col("credit")).sum())
    )
    moves = (
        lines.filter(pl.col("date").is_between(start, end))
        .group_by("account_id", "date")
        .agg(pl.col("debit").sum(), pl.col("credit").sum())
    )
    return (
        grid.join(moves, on=["account_id", "date"], how="left")
        .join(opening, on="account_id", how="left")
        .with_columns(pl.col("debit", "credit", "opening").fill_null(0))
        .sort("account_id", "date")
        .with_columns(
            balance=pl.col("opening") + (pl.col("debit") - pl.col("credit")).cum_sum().over("account_id")
        )
        .drop("opening")
    )


def _fmt(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(int(cents)), 100)
    return f"{sign}{whole:,}".replace(",", ".") + f",{frac:02d}"


def _write_csv(path: Path, legacy: pl.DataFrame, chart: pl.DataFrame) -> None:
    rows = legacy.join(chart, on="account_id").sort("date", "account_no")
    out = ["Date;Account No;Account Name;Debit;Credit;Balance"]
    for d, no, name, debit, credit, balance in rows.select(
        "date", "account_no", "account_name", "debit", "credit", "balance"
    ).iter_rows():
        out.append(f"{d:%d.%m.%Y};{no};{name};{_fmt(debit)};{_fmt(credit)};{_fmt(balance)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\r\n".join(out) + "\r\n").encode("cp1252"))


def _defects(plants: list[dict], chart: pl.DataFrame) -> pl.DataFrame:
    no = dict(chart.select("account_id", "account_no").iter_rows())
    rows = []
    for p in plants:
        accounts = ",".join(no[a] for a in sorted(p["accounts"], key=lambda a: no[a]))
        detail = {
            "missing_posting": f"not booked in legacy, amount {p['amount'] / 100:.2f}",
            "amount": f"legacy keyed {(p['amount'] + p.get('delta', 0)) / 100:.2f} instead of {p['amount'] / 100:.2f}",
            "timing": f"legacy dated {p['date'] + timedelta(days=1)} instead of {p['date']}",
            "account_mapping": f"legacy booked to account {no.get(p.get('to', ''), '')} instead of {no.get(p.get('from', ''), '')}",
        }[p["kind"]]
        rows.append((f"legacy_{p['kind']}", f"{p['entry_id']},{accounts}", detail))
    return pl.DataFrame(rows, schema=["defect_type", "record_ids", "detail"], orient="row")


def write_legacy_export(reg: Registry, gl: pl.DataFrame, out: Path) -> dict[str, pl.DataFrame]:
    """Write `out/exports/legacy/legacy_trial_balance.csv` (replacing it); returns the truth tables
    `parallel_run_differences` and `defects` (rows to append). `gl` is `truth['gl_lines']`."""
    shutil.rmtree(out / "exports" / "legacy", ignore_errors=True)
    rng = reg.stream("legacy")
    empty = {
        "parallel_run_differences": pl.DataFrame(schema=DIFF_SCHEMA),
        "defects": pl.DataFrame(schema={"defect_type": pl.Utf8, "record_ids": pl.Utf8, "detail": pl.Utf8}),
    }
    span = window(reg)
    if span is None or gl.height == 0:
        return empty
    start, end = span
    chart = legacy_chart()
    lines = _cents(gl)
    legacy_lines, plants = _plant(rng, lines, start, end, chart)
    ledger = _daily(lines, chart, start, end)
    legacy = _daily(legacy_lines, chart, start, end)
    _write_csv(out / "exports" / "legacy" / FILE_NAME, legacy, chart)
    kind_of = {a: p["kind"] for p in plants for a in p["accounts"]}
    diffs = (
        legacy.select("account_id", "date", legacy_cents="balance")
        .join(ledger.select("account_id", "date", ledger_cents="balance"), on=["account_id", "date"])
        .filter((pl.col("legacy_cents") - pl.col("ledger_cents")).abs() > TOLERANCE_CENTS)
        .join(chart.select("account_id", "account_no", "account_name"), on="account_id")
        .select(
            "date",
            "account_id",
            "account_no",
            "account_name",
            legacy_balance=pl.col("legacy_cents") / 100,
            ledger_balance=pl.col("ledger_cents") / 100,
            difference=(pl.col("legacy_cents") - pl.col("ledger_cents")) / 100,
            difference_type=pl.col("account_id").replace_strict(kind_of, default=None),
        )
        .sort("date", "account_id")
    )
    return {"parallel_run_differences": diffs.cast(DIFF_SCHEMA), "defects": _defects(plants, chart)}

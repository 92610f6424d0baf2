"""Anomaly flags and expense categories measured against a sandbox truth folder (for `ledgerlake eval`).

Which planted defects count as anomalies: `duplicate_vendor_payment` (a bank line paid twice) and
`duplicate_bill_payment` (the same double payment booked in QuickBooks). A defect and the other defects
sharing one of its record ids form one *event* (the bank duplicate and its bill payment are one double
payment), so finding it in the bank or in the ledger counts once. Not counted: `amount_typo` (a payout or
customer transfer off by a keying error of 0.09..90 is only visible against its counterpart; that is
reconciliation's exception, not an anomaly of the line itself), ledger-only defects (`ledger_amount_error`,
`bill_entered_twice_deleted`, ...) and the reference/remittance defects, which are matching problems.

A flag hits an event when any of its `record_ids` is one of the event's ids. `precision` is over all
flags: the sandbox plants no unusual amounts, weekdays or cash days, so those flags count as false and
precision is a lower bound; `precision_by_kind` shows each kind on its own.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl

ANOMALY_DEFECTS = ("duplicate_vendor_payment", "duplicate_bill_payment")
DUPLICATE_KIND = "duplicate_payment"
# QuickBooks account names -> the truth's category slugs (labels that already are slugs pass through)
ACCOUNT_CATEGORIES = {
    "payroll expenses": "payroll",
    "rent or lease": "rent",
    "cloud hosting": "cloud_hosting",
    "software subscriptions": "software",
    "office supplies": "office_supplies",
    "travel": "travel",
    "legal & professional fees": "professional_services",
    "bank charges": "bank_fees",
}


def _ids(record_ids: str | None) -> set[str]:
    return {r.strip() for r in (record_ids or "").split(",") if r.strip()}


def planted_events(truth_dir: Path, defect_types: tuple[str, ...] = ANOMALY_DEFECTS) -> list[set[str]]:
    """Planted anomalies as sets of record ids; defects sharing an id are merged into one event."""
    defects = pl.read_parquet(Path(truth_dir) / "defects.parquet")
    rows = defects.filter(pl.col("defect_type").is_in(list(defect_types)))
    events: list[set[str]] = []
    for record_ids in rows["record_ids"].to_list():
        ids = {i for i in _ids(record_ids) if not i.startswith("ven_")}  # the vendor id is not a record
        for event in [e for e in events if e & ids]:
            ids |= event
            events.remove(event)
        events.append(ids)
    return events


def _match(flags: pl.DataFrame, events: list[set[str]]) -> tuple[list[bool], set[int]]:
    """Per flag: does it hit an event; and which events were hit."""
    hit_flags, hit_events = [], set()
    for record_ids in flags["record_ids"].to_list():
        ids = _ids(record_ids)
        hits = [i for i, e in enumerate(events) if e & ids]
        hit_flags.append(bool(hits))
        hit_events.update(hits)
    return hit_flags, hit_events


def _ratio(num: float, den: float) -> float | None:
    return None if den == 0 else num / den


def anomaly_metrics(flags: pl.DataFrame, truth_dir: Path) -> dict[str, Any]:
    """`precision` (all flags), `recall` (planted events found), per-kind precision and counts."""
    events = planted_events(truth_dir)
    hit_flags, hit_events = _match(flags, events)
    scored = flags.select("kind").with_columns(hit=pl.Series(hit_flags, dtype=pl.Boolean))
    by_kind = scored.group_by("kind").agg(pl.col("hit").mean(), n=pl.len()).sort("kind")
    return {
        "precision": _ratio(sum(hit_flags), len(hit_flags)),
        "recall": _ratio(len(hit_events), len(events)),
        "n_flags": flags.height,
        "n_planted": len(events),
        "counted_defect_types": list(ANOMALY_DEFECTS),
        "precision_by_kind": dict(zip(by_kind["kind"].to_list(), by_kind["hit"].to_list(), strict=True)),
        "flags_by_kind": dict(zip(by_kind["kind"].to_list(), by_kind["n"].to_list(), strict=True)),
    }


def duplicate_payment_metrics(flags: pl.DataFrame, truth_dir: Path) -> dict[str, Any]:
    """Precision and recall of the `duplicate_payment` flags against the planted double payments."""
    dups = flags.filter(pl.col("kind") == DUPLICATE_KIND)
    events = planted_events(truth_dir)
    hit_flags, hit_events = _match(dups, events)
    return {
        "precision": _ratio(sum(hit_flags), len(hit_flags)),
        "recall": _ratio(len(hit_events), len(events)),
        "n_flags": dups.height,
        "n_planted": len(events),
    }


def category_key(label: str | None) -> str | None:
    """A predicted label in the truth's vocabulary: QuickBooks account names mapped, slugs kept."""
    if label is None:
        return None
    low = label.strip().lower()
    return ACCOUNT_CATEGORIES.get(low, low.replace(" ", "_"))


def categorisation_metrics(categories: pl.DataFrame, truth_dir: Path) -> dict[str, Any]:
    """Accuracy on `auto` lines, share sent to review, over the lines with a true category.

    `n` = truth lines found in `categories`; `coverage` = that over all truth lines.
    """
    truth = pl.read_parquet(Path(truth_dir) / "expense_categories.parquet")
    joined = truth.join(
        categories.select("record_id", "predicted_category", "status"),
        left_on="bank_transaction_id",
        right_on="record_id",
        how="inner",
    )
    keys = [category_key(x) for x in joined["predicted_category"].to_list()]
    joined = joined.with_columns(correct=pl.Series(keys, dtype=pl.Utf8) == pl.col("category"))
    auto = joined.filter(pl.col("status").is_in(["auto", "confirmed"]))
    return {
        "accuracy": float(auto["correct"].mean()) if auto.height else None,
        "review_share": float((joined["status"] == "review").mean()) if joined.height else None,
        "n": joined.height,
        "n_auto": auto.height,
        "coverage": _ratio(joined.height, truth.height),
    }


def pipeline_calibration_metrics(
    deals: pl.DataFrame, history: pl.DataFrame | None, outcomes: pl.DataFrame, as_of: date
) -> dict[str, Any] | None:
    """Brier score (mean squared error of the probability against won = 1 / lost = 0) of the stage
    probabilities the forecast would give the deals open at `as_of`, against how they really ended
    (`outcomes`: `deal_id, outcome`, the truth's eventual closedwon/closedlost), for HubSpot's own
    probabilities, the entry-rate calibration and the stage-history calibration. Lower is better."""
    from forecasts import known_flows as kf

    open_deals = deals.filter(~pl.col("is_closed")).join(
        outcomes.select(pl.col("deal_id").cast(pl.Utf8), "outcome"), on="deal_id", how="inner"
    )
    open_deals = open_deals.filter(pl.col("outcome").is_in(["closedwon", "closedlost"]))
    if open_deals.is_empty():
        return None
    won = (open_deals["outcome"] == "closedwon").cast(pl.Float64)
    entry = kf.calibrate_stages(deals).probability
    staged = kf.calibrate_stages(deals, history=history, as_of=as_of)

    def brier(p: pl.Series) -> float:
        return round(float(((p.cast(pl.Float64) - won) ** 2).mean()), 4)

    out = {
        "open_deals": open_deals.height,
        "won_share": round(float(won.mean()), 4),
        "brier_hubspot": brier(open_deals["probability"].fill_null(0.0)),
        "brier_entry_rate": brier(open_deals["stage"].replace_strict(entry, default=None)),
    }
    if staged.method == kf.STAGE_HISTORY_METHOD:
        out["brier_stage_history"] = brier(
            open_deals["stage"].replace_strict(staged.probability, default=None)
        )
    if history is not None and not history.is_empty():
        # flat keys, so the benchmark's one-line summary prints them too
        out |= {f"rolling_{k}": v for k, v in _rolling_calibration(deals, history, outcomes, as_of).items()}
    return out


def _deals_at(history: pl.DataFrame, cutoff: date, hubspot: dict[str, float]) -> pl.DataFrame:
    """The deals as they stood at `cutoff`, from the stage history alone: stage = the last one entered."""
    from forecasts import known_flows as kf

    last = (
        history.filter(pl.col("entered_at").cast(pl.Date) <= cutoff)
        .sort("entered_at")
        .group_by("deal_id")
        .agg(pl.col("stage").last())
    )
    return last.with_columns(
        is_closed=pl.col("stage").is_in(list(kf.CLOSING_STAGES)),
        is_won=pl.col("stage") == "closedwon",
        probability=pl.col("stage").replace_strict(hubspot, default=None, return_dtype=pl.Float64),
    )


def _rolling_calibration(
    deals: pl.DataFrame, history: pl.DataFrame, outcomes: pl.DataFrame, as_of: date
) -> dict[str, Any]:
    """The same Brier scores pooled over month-end cutoffs of the past (each calibrated only on what
    the history shows up to its cutoff, the deals open then scored against how they ended): many
    more open deals than the one as_of has, so the comparison is not one quarter's luck."""
    from forecasts import known_flows as kf

    hubspot = dict(
        deals.filter(~pl.col("is_closed")).group_by("stage").agg(pl.col("probability").mean()).iter_rows()
    )
    ended = outcomes.select(pl.col("deal_id").cast(pl.Utf8), won=(pl.col("outcome") == "closedwon"))
    first = history["entered_at"].min().date()
    cutoffs = pl.date_range(first + timedelta(days=90), as_of, "1mo", eager=True).dt.month_end().to_list()
    errors: dict[str, list[float]] = {"hubspot": [], "entry_rate": [], "stage_history": []}
    for cutoff in (c for c in cutoffs if c < as_of):
        then = _deals_at(history, cutoff, hubspot)
        scored = then.filter(~pl.col("is_closed")).join(ended, on="deal_id", how="inner")
        if scored.is_empty():
            continue
        entry = kf.calibrate_stages(then).probability
        staged = kf.calibrate_stages(then, history=history, as_of=cutoff).probability
        won = scored["won"].cast(pl.Float64).to_list()
        for name, p in (
            ("hubspot", scored["probability"].fill_null(0.0).to_list()),
            ("entry_rate", [entry.get(s, 0.0) for s in scored["stage"]]),
            ("stage_history", [staged.get(s, 0.0) for s in scored["stage"]]),
        ):
            errors[name] += [(a - b) ** 2 for a, b in zip(p, won, strict=True)]
    n = len(errors["hubspot"])
    return {"scored": n, **{f"brier_{k}": round(sum(v) / n, 4) if n else None for k, v in errors.items()}}

"""Recurring bank flows (payroll, rent, subscriptions, interest...) detected from history, as known flows.

Everything here is pure polars/Python on small frames (no warehouse); `forecasts.inputs` reads the lines.

Why: payroll and rent are the largest predictable outflows, but a weekly-seasonal model on the daily
net flow smears a monthly spike over every day (or misses it). Detected from the bank history, they are
forecast on their dates and taken out of the residual series the statistical baseline learns from.

Detection
---------
* **Series.** Bank lines that do *not* settle an invoice or a bill (those are receivables/payables),
  grouped by account, counterparty (`counterparty_key`: the bank's counterparty name, else the
  remittance text without references; a name cut short by a statement format is read as the full one,
  `merge_truncated_names`) and direction (in/out). One *event* per group and day (sum).
* **Amount.** Stable when at least `MIN_AMOUNT_SHARE` of the events lie within `AMOUNT_TOL` of the
  median (robust to a one-off bonus or a pro-rated first month). The projected amount is the median of
  the last `RECENT` events within tolerance, so a raise is followed.
* **Cadence.** Candidate schedules, chosen by the median gap between events: every 7, 14 or 28 days
  (phase from the events), monthly on day D (31 = month end), semi-monthly on days D1 and D2,
  quarterly on day D; the monthly kinds with the business-day roll `none`, `following` or `preceding`
  (Mon-Fri; no holiday calendar). Each event is paired with its nearest schedule date (one event per
  date); a *hit* is within `tolerance` days. A schedule fits when hits / events >= `MIN_FIT` and
  matched dates / schedule dates between the first and last event >= `MIN_FIT`. Among fitting ones:
  most hits, then most exact hits, then least total deviation, then the usual roll for that day (month
  end: preceding, else following). At least `MIN_OCCURRENCES` hits.
* **Still running.** A series whose last event is more than 1.5 periods (+ tolerance) before `as_of`
  has stopped and is not projected.

Projection
----------
Every schedule date after the last matched one is treated like a document's due date in
`known_flows.settlement_weights` (`timing_weights`): the event lands at `date + d` for each historical deviation `d` of the
hits (equal weights; conditioned on not having happened by `as_of`). An exact schedule has a single
deviation 0, so the whole amount lands on the date. The items use component 'recurring' and stay on
their own bank account.

No double counting: the hit lines of every detected series (running or stopped) are removed from the
residual (`inputs.load_explained`); a stopped series' past lines are no pattern the baseline should
continue either. In the backtest each origin detects on its own (`as_of = cutoff`): the residual of
that origin loses the hit lines of what was detected then and, after the cutoff, only the lines on
the schedule dates it projects (`window_hits`); a series that becomes detectable later stays in the
early residuals.
"""

from __future__ import annotations

import calendar
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta

import polars as pl

from forecasts import known_flows as kf

COMPONENT = "recurring"
MIN_OCCURRENCES = 4
AMOUNT_TOL = 0.2
MIN_AMOUNT_SHARE = 0.8
MIN_FIT = 0.8
RECENT = 6
STOPPED_AFTER_PERIODS = 1.5

LINE_SCHEMA = {
    "account_id": pl.Utf8,
    "ds": pl.Date,
    "amount": pl.Float64,
    "currency": pl.Utf8,
    "counterparty": pl.Utf8,
}
HIT_SCHEMA = {"account_id": pl.Utf8, "counterparty": pl.Utf8, "outflow": pl.Boolean, "ds": pl.Date}


@dataclass(frozen=True)
class Schedule:
    """When a series is due: every `step` days from `phase`, or on `days` of every `step`-th month."""

    kind: str  # "days" or "months"
    step: int
    days: tuple[int, ...] = ()  # day(s) of month, 31 = last day (kind "months")
    phase: int = 0  # ordinal % step (kind "days"), month % step (kind "months")
    roll: str = "none"  # "none", "following", "preceding" (business days, kind "months")

    @property
    def period_days(self) -> float:
        return float(self.step) if self.kind == "days" else 30.44 * self.step / len(self.days)

    @property
    def tolerance(self) -> int:
        return {7: 1, 14: 2}.get(self.step, 3) if self.kind == "days" else 3

    @property
    def cadence(self) -> str:
        if self.kind == "days":
            return {7: "weekly", 14: "biweekly"}.get(self.step, f"every {self.step} days")
        if self.step == 3:
            return "quarterly"
        return "semi-monthly" if len(self.days) == 2 else "monthly"

    def describe(self) -> str:
        if self.kind == "days":
            return self.cadence
        days = " and ".join("month end" if d >= 31 else f"day {d}" for d in self.days)
        roll = "" if self.roll == "none" else f", {self.roll} business day"
        return f"{self.cadence} on {days}{roll}"

    def dates(self, start: date, end: date) -> list[date]:
        """Schedule dates in [start, end]."""
        if self.kind == "days":
            first = start.toordinal() + (self.phase - start.toordinal()) % self.step
            return [date.fromordinal(o) for o in range(first, end.toordinal() + 1, self.step)]
        out = []
        # from the month before `start`: a preceding roll can move a date back into the range
        y, m = (start.year - 1, 12) if start.month == 1 else (start.year, start.month - 1)
        while date(y, m, 1) <= end + timedelta(days=3):  # a preceding roll can also come back from after
            if m % self.step == self.phase:
                for d in self.days:
                    out.append(roll(date(y, m, min(d, calendar.monthrange(y, m)[1])), self.roll))
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        return sorted(x for x in set(out) if start <= x <= end)


def roll(day: date, how: str) -> date:
    """Move a weekend day to the next ('following') or previous ('preceding') business day."""
    if how == "none" or day.weekday() < 5:
        return day
    step = 1 if how == "following" else -1
    while day.weekday() >= 5:
        day += timedelta(days=step)
    return day


@dataclass
class Fit:
    """How one schedule fits a series' events."""

    schedule: Schedule
    hits: list[tuple[date, date]]  # (event day, schedule date)
    n_events: int
    n_scheduled: int

    @property
    def deviations(self) -> list[int]:
        return [(e - s).days for e, s in self.hits]

    @property
    def fits(self) -> bool:
        matched = len({s for _, s in self.hits})
        return (
            len(self.hits) >= MIN_OCCURRENCES
            and len(self.hits) >= MIN_FIT * self.n_events
            and matched >= MIN_FIT * self.n_scheduled
        )

    def rank(self) -> tuple[int, int, int, int]:
        usual = "preceding" if self.schedule.days and max(self.schedule.days) >= 28 else "following"
        roll_rank = {usual: 0, "none": 2}.get(self.schedule.roll, 1)
        devs = self.deviations
        return (-len(self.hits), -sum(d == 0 for d in devs), sum(abs(d) for d in devs), roll_rank)


def fit_schedule(events: list[date], schedule: Schedule) -> Fit:
    """Pair each event with its nearest schedule date (one event per date, the closest wins)."""
    tol = schedule.tolerance
    sched = schedule.dates(events[0] - timedelta(days=40), events[-1] + timedelta(days=40))
    best: dict[date, tuple[int, date]] = {}
    for e in events:
        i = bisect_left(sched, e)
        near = [s for s in sched[max(i - 1, 0) : i + 1] if abs((e - s).days) <= tol]
        if not near:
            continue
        s = min(near, key=lambda x: (abs((e - x).days), x))
        if s not in best or abs((e - s).days) < best[s][0]:
            best[s] = (abs((e - s).days), e)
    span = [s for s in sched if events[0] - timedelta(days=tol) <= s <= events[-1] + timedelta(days=tol)]
    hits = sorted((e, s) for s, (_, e) in best.items())
    return Fit(schedule=schedule, hits=hits, n_events=len(events), n_scheduled=max(len(span), 1))


def candidate_schedules(events: list[date]) -> list[Schedule]:
    """The schedules worth trying, from the median gap between events and the events' days of month."""
    gaps = sorted((b - a).days for a, b in zip(events, events[1:], strict=False))
    gap = gaps[len(gaps) // 2]
    doms = {e.day for e in events}
    near = sorted({min(max(d + k, 1), 31) for d in doms for k in range(-3, 4)} | {31})
    rolls = ("none", "following", "preceding")
    out: list[Schedule] = []
    for step, (lo, hi) in {7: (5, 9), 14: (12, 16), 28: (26, 30)}.items():
        if lo <= gap <= hi:
            out += [Schedule("days", step, phase=p) for p in {e.toordinal() % step for e in events}]
    if 25 <= gap <= 35:
        out += [Schedule("months", 1, (d,), roll=r) for d in near for r in rolls]
    if 12 <= gap <= 18:
        out += [
            Schedule("months", 1, (a, b), roll=r)
            for a in near
            for b in near
            if a <= 16 and b >= 13 and b - a >= 10
            for r in rolls
        ]
    if 80 <= gap <= 100:
        phases = {e.month % 3 for e in events}
        out += [Schedule("months", 3, (d,), phase=p, roll=r) for d in near for p in phases for r in rolls]
    return out


def stable_amounts(amounts: list[float]) -> bool:
    """At least MIN_AMOUNT_SHARE of the amounts within AMOUNT_TOL of their median."""
    med = _median(amounts)
    if med == 0:
        return False
    close = sum(abs(a - med) <= AMOUNT_TOL * abs(med) for a in amounts)
    return close >= MIN_AMOUNT_SHARE * len(amounts)


@dataclass
class RecurringSeries:
    """One detected series: where, who, when and how much."""

    account_id: str
    counterparty: str
    currency: str
    fit: Fit
    amount: float  # signed, the projected amount of one event
    last_event: date
    running: bool
    hit_days: list[date] = field(default_factory=list)

    @property
    def series_id(self) -> str:
        direction = "in" if self.amount > 0 else "out"
        return f"{self.account_id}|{self.counterparty}|{direction}"

    def as_dict(self) -> dict[str, object]:
        return {
            "account_id": self.account_id,
            "counterparty": self.counterparty,
            "schedule": self.fit.schedule.describe(),
            "amount": round(self.amount, 2),
            "currency": self.currency,
            "occurrences": len(self.fit.hits),
            "last_event": self.last_event.isoformat(),
            "running": self.running,
        }


def detect_one(events: pl.DataFrame) -> tuple[Fit, float] | None:
    """Best fitting schedule and projected amount of one group's events (`ds, amount`), or None."""
    if events.height < MIN_OCCURRENCES:
        return None
    amounts = events["amount"].to_list()
    if not stable_amounts(amounts):
        return None
    days = events["ds"].to_list()
    fits = [f for f in (fit_schedule(days, s) for s in candidate_schedules(days)) if f.fits]
    if not fits:
        return None
    best = min(fits, key=Fit.rank)
    hit_days = {e for e, _ in best.hits}
    med = _median(amounts)
    recent = [
        a
        for d, a in zip(days, amounts, strict=True)
        if d in hit_days and abs(a - med) <= AMOUNT_TOL * abs(med)
    ]
    return best, _median(recent[-RECENT:] or amounts)


def detect(lines: pl.DataFrame, as_of: date) -> list[RecurringSeries]:
    """Recurring series in bank lines (`LINE_SCHEMA`) booked on or before `as_of`."""
    upto = lines.filter(pl.col("ds") <= as_of, pl.col("amount") != 0)
    if upto.is_empty():
        return []
    upto = merge_truncated_names(upto)
    events = (
        upto.with_columns(outflow=pl.col("amount") < 0)
        .group_by("account_id", "counterparty", "outflow", "ds")
        .agg(pl.col("amount").sum(), pl.col("currency").mode().first())
        .sort("account_id", "counterparty", "outflow", "ds")
    )
    found = []
    for (account, cp, _), grp in events.group_by(
        "account_id", "counterparty", "outflow", maintain_order=True
    ):
        out = detect_one(grp)
        if out is None:
            continue
        fit, amount = out
        last = max(e for e, _ in fit.hits)
        stopped = (
            as_of - last
        ).days > STOPPED_AFTER_PERIODS * fit.schedule.period_days + fit.schedule.tolerance
        found.append(
            RecurringSeries(
                account_id=str(account),
                counterparty=str(cp),
                currency=str(grp["currency"][0]),
                fit=fit,
                amount=amount,
                last_event=last,
                running=not stopped,
                hit_days=sorted(e for e, _ in fit.hits),
            )
        )
    return found


def merge_truncated_names(lines: pl.DataFrame) -> pl.DataFrame:
    """Read a counterparty name that is a word prefix of exactly one longer name on the same account as
    that name: statement formats cut names short ("LAKESHORE NATIONAL" for "LAKESHORE NATIONAL BANK"),
    which would split one monthly series into two irregular ones. A prefix of several different longer
    names ("AMAZON" of "AMAZON EU" and "AMAZON COM") is left alone."""
    return rename_counterparties(lines, truncated_name_map(lines))


def truncated_name_map(lines: pl.DataFrame) -> pl.DataFrame:
    """`account_id, counterparty, merged`: the names of `lines` that `merge_truncated_names` reads as a
    longer one (to apply the names known at one date to lines booked later)."""
    names = lines.select("account_id", "counterparty").unique().sort("account_id", "counterparty")
    rows = []
    for (account,), grp in names.group_by("account_id", maintain_order=True):
        sorted_names = grp["counterparty"].to_list()
        for name in sorted_names:
            lo = bisect_left(sorted_names, name + " ")
            hi = bisect_left(sorted_names, name + " \uffff")
            longer = sorted_names[lo:hi]
            maximal = [n for n in longer if not any(m.startswith(n + " ") for m in longer)]
            if len(maximal) == 1:
                rows.append((account, name, maximal[0]))
    schema = {"account_id": pl.Utf8, "counterparty": pl.Utf8, "merged": pl.Utf8}
    return pl.DataFrame(rows, schema=schema, orient="row")


def rename_counterparties(lines: pl.DataFrame, mapping: pl.DataFrame) -> pl.DataFrame:
    """`lines` with each counterparty read as `mapping` says (`truncated_name_map`); others unchanged."""
    if mapping.is_empty():
        return lines
    return (
        lines.join(mapping, on=["account_id", "counterparty"], how="left")
        .with_columns(counterparty=pl.coalesce("merged", "counterparty"))
        .drop("merged")
    )


def window_hits(series: list[RecurringSeries], lines: pl.DataFrame, as_of: date, end: date) -> pl.DataFrame:
    """`account_id, counterparty, outflow, ds`: the event days in (as_of, end] of `lines` (named as the
    detection at `as_of` named them) that fall on a schedule date `project` forecasts for a running
    series: a date after the series' last matched one, within the schedule's tolerance; each date
    takes its nearest event (as `fit_schedule` pairs them). What the known flows of `as_of` stand for,
    among the lines booked afterwards (the backtest takes them out of that origin's residual)."""
    rows: list[tuple[str, str, bool, date]] = []
    running = [s for s in series if s.running]
    if not running or lines.is_empty():
        return pl.DataFrame(rows, schema=HIT_SCHEMA, orient="row")
    events = (
        lines.filter((pl.col("ds") > as_of) & (pl.col("ds") <= end) & (pl.col("amount") != 0))
        .with_columns(outflow=pl.col("amount") < 0)
        .group_by("account_id", "counterparty", "outflow")
        .agg(pl.col("ds").unique().sort())
    )
    days_of = {(a, c, o): d for a, c, o, d in events.iter_rows()}
    for s in running:
        outflow = s.amount < 0
        days = days_of.get((s.account_id, s.counterparty, outflow))
        if not days:
            continue
        tol = s.fit.schedule.tolerance
        last_sched = max(sched for _, sched in s.fit.hits)
        sched = s.fit.schedule.dates(last_sched + timedelta(days=1), end + timedelta(days=tol))
        best: dict[date, tuple[int, date]] = {}
        for e in days:
            i = bisect_left(sched, e)
            near = [x for x in sched[max(i - 1, 0) : i + 1] if abs((e - x).days) <= tol]
            if not near:
                continue
            x = min(near, key=lambda x: (abs((e - x).days), x))
            if x not in best or abs((e - x).days) < best[x][0]:
                best[x] = (abs((e - x).days), e)
        rows += [(s.account_id, s.counterparty, outflow, e) for _, e in best.values()]
    return pl.DataFrame(sorted(set(rows)), schema=HIT_SCHEMA, orient="row")


def project(series: list[RecurringSeries], as_of: date, horizon: int) -> pl.DataFrame:
    """Settlement items (`known_flows.ITEM_SCHEMA` + account_id) of the running series in the horizon."""
    end = as_of + timedelta(days=horizon)
    rows = []
    for s in series:
        if not s.running:
            continue
        devs = s.fit.deviations
        last_sched = max(sched for _, sched in s.fit.hits)
        upcoming = s.fit.schedule.dates(last_sched + timedelta(days=1), end - timedelta(days=min(devs)))
        for due in upcoming:
            for day, w in timing_weights(due, devs, as_of):
                if day <= end:
                    rows.append(
                        (COMPONENT, f"{s.series_id}|{due}", s.currency, day, s.amount, w, s.account_id)
                    )
    schema = {**kf.ITEM_SCHEMA, "account_id": pl.Utf8}
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)


def timing_weights(due: date, deviations: list[int], as_of: date) -> list[tuple[date, float]]:
    """(day, probability) of an event due on `due`: its historical deviations, conditioned on not having
    happened by `as_of` (as `known_flows.settlement_weights` with no never-paid share; counted here so
    that an exact schedule gets a weight of exactly 1)."""
    later = Counter(d for d in deviations if due + timedelta(days=d) > as_of)
    n = sum(later.values())
    return [(due + timedelta(days=d), c / n) for d, c in sorted(later.items())]


def hit_lines(series: list[RecurringSeries]) -> pl.DataFrame:
    """`account_id, counterparty, outflow, ds`: the event days of every detected series (to take out of
    the residual)."""
    rows = [(s.account_id, s.counterparty, s.amount < 0, d) for s in series for d in s.hit_days]
    return pl.DataFrame(rows, schema=HIT_SCHEMA, orient="row")


def counterparty_key(name: pl.Expr, text: pl.Expr) -> pl.Expr:
    """Who a bank line is with: the counterparty name, else the first two words of the remittance text
    that hold no digit (references, periods and invoice numbers change every line)."""
    clean = (
        text.str.to_uppercase()
        .str.replace_all(r"\S*\d\S*", " ")
        .str.replace_all(r"[^A-Z& ]+", " ")
        .str.strip_chars()
        .str.split(" ")
        .list.eval(pl.element().filter(pl.element() != ""))
        .list.head(2)
        .list.join(" ")
    )
    named = name.str.to_uppercase().str.replace_all(r"[^A-Z0-9&]+", " ").str.strip_chars()
    return pl.when(named.is_not_null() & (named != "")).then(named).otherwise(clean)


def summary(series: list[RecurringSeries]) -> dict[str, object]:
    """What the run summary reports: every detected series, running or stopped."""
    return {
        "series_detected": len(series),
        "series_running": sum(s.running for s in series),
        "series": [s.as_dict() for s in series],
    }


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    m = len(s) // 2
    return float(s[m]) if len(s) % 2 else (s[m - 1] + s[m]) / 2

"""The simulated clock shared by every system of the company."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np

EPOCH_DAY = np.datetime64("1970-01-01", "D")


@dataclass(frozen=True)
class Clock:
    """Start of the simulated history, the simulated today (`as_of`), go-live, and the horizon.

    The company is simulated from `start` to `horizon` once; the vendors' state and the truth are
    cut at `as_of`. Moving `as_of` forward (`sandbox.advance`) reveals more of the same history, so
    records only ever appear, change (a refund, a payout arriving) or get removed, never reshuffle.
    """

    start: date
    as_of: date
    go_live: date
    horizon: date

    @classmethod
    def for_year(cls, start: date = date(2025, 1, 1), days: int = 365, horizon_days: int = 730) -> Clock:
        return cls(
            start=start,
            as_of=start + timedelta(days=days - 1),
            go_live=start + timedelta(days=days // 2),
            horizon=start + timedelta(days=horizon_days - 1),
        )

    @property
    def n_days(self) -> int:
        """Days from `start` to `as_of`, inclusive (what the vendors show)."""
        return (self.as_of - self.start).days + 1

    @property
    def sim_days(self) -> int:
        """Days from `start` to `horizon`, inclusive (what is simulated)."""
        return (self.horizon - self.start).days + 1

    def day(self, offset: np.ndarray | int) -> np.ndarray:
        """Day offsets from `start` as numpy datetime64[D]."""
        return np.datetime64(self.start, "D") + np.asarray(offset, dtype="timedelta64[D]")

    def business_days(self) -> np.ndarray:
        """All business days (Mon-Fri) between start and as_of, as datetime64[D]."""
        days = self.day(np.arange(self.n_days))
        return days[np.is_busday(days)]

    @staticmethod
    def add_business_days(days: np.ndarray, n: int, roll: str = "forward") -> np.ndarray:
        """`n` business days after each day. A weekend day first rolls to Monday (`roll="forward"`:
        that Monday is day 0, as for money processed at the weekend), or to the Friday before
        (`roll="backward"`: the Monday is day 1, as for a lag counted from a weekend month end)."""
        return np.busday_offset(days.astype("datetime64[D]"), n, roll=roll)

    @staticmethod
    def to_unix(days: np.ndarray, seconds: np.ndarray | int = 0) -> np.ndarray:
        """datetime64[D] plus seconds of the day -> unix seconds (int64), UTC."""
        day_s = (days.astype("datetime64[D]") - EPOCH_DAY).astype(np.int64) * 86400
        return day_s + np.asarray(seconds, dtype=np.int64)

    def as_of_unix(self) -> int:
        """End of the `as_of` day, unix seconds."""
        end = datetime.combine(self.as_of, datetime.min.time(), tzinfo=UTC) + timedelta(days=1)
        return int(end.timestamp()) - 1

    def to_json(self) -> dict[str, str]:
        return {
            "start": self.start.isoformat(),
            "as_of": self.as_of.isoformat(),
            "go_live": self.go_live.isoformat(),
            "horizon": self.horizon.isoformat(),
        }

"""`advance(data_dir, days)`: move the simulated clock forward and rewrite the vendors' state.

The company's whole horizon is simulated from the seed; advancing only moves the cut (`as_of`), so
new records appear (charges, bank lines), existing ones change (a charge refunded, a payout that
arrived, a bank line enriched) and pending bank lines are removed — as real systems behave between
two syncs. The Plaid change log grows at its end, so sync cursors issued earlier stay valid.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from ledgerlake.errors import LedgerlakeError
from sandbox.generate import generate


def advance(data_dir: Path, days: int) -> dict[str, Any]:
    """Move `as_of` of the sandbox at `data_dir` forward by `days`; returns the new summary."""
    meta_path = Path(data_dir) / "sandbox.json"
    if not meta_path.exists():
        raise LedgerlakeError(f"{meta_path} not found: generate the sandbox first")
    if days < 1:
        raise LedgerlakeError(f"--days must be at least 1, got {days}")
    meta = json.loads(meta_path.read_text())
    new_as_of = date.fromisoformat(meta["as_of"]) + timedelta(days=days)
    horizon = date.fromisoformat(meta["horizon"])
    if new_as_of > horizon:
        room = (horizon - date.fromisoformat(meta["as_of"])).days
        raise LedgerlakeError(
            f"cannot advance {data_dir} by {days} days: the simulation ends {horizon} ({room} days left)"
        )
    return generate(int(meta["seed"]), float(meta["scale"]), Path(data_dir), as_of=new_as_of)

"""The last run's outcome, kept beside the warehouse so the app can tell what it is showing.

A run that stops (a dbt error, a failing forecast) publishes nothing: the app keeps the last good
snapshot. So that nobody mistakes it for current books, every writing command records its outcome in
`<warehouse>.status.json` (written atomically): when it ran, whether it finished, the step it stopped
at and why, and the dbt tests that failed or warned. The app reads it on every page.

Shape: {"last": <run>, "last_ok": <run> | null}; a run is {"run_id", "command", "started_at",
"finished_at", "ok", "failed_step", "reason", "published_at", "tests": [{"node", "status",
"message"}]}.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class TestOutcome:
    node: str
    status: str  # "warn" | "fail" | "error"
    message: str


@dataclass
class RunStatus:
    run_id: str
    command: str
    started_at: str
    finished_at: str | None = None
    ok: bool = True
    failed_step: str | None = None
    reason: str | None = None
    published_at: str | None = None
    tests: list[TestOutcome] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def read_status(path: Path) -> dict[str, Any]:
    """The status file's content, or {} when there is none yet (or it cannot be read)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_status(path: Path, run: RunStatus) -> None:
    """Record `run` as the last run (and as the last good one when it finished and published)."""
    current = read_status(path)
    data = {"last": run.to_json(), "last_ok": current.get("last_ok")}
    if run.ok:
        data["last_ok"] = run.to_json()
    # the snapshot the app reads is the one the last publishing run wrote
    data["published_at"] = run.published_at or current.get("published_at")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str), encoding="utf-8")
    os.replace(tmp, path)

"""Fault injection for the sandbox APIs, switched on by a spec like
`429=0.05,500=0.02,slow=0.01,dup_page=0.01,mid_page_update=0.01`.

Each request draws once from a seeded RNG: with the given probabilities it gets a 429 (with
`Retry-After`), a 500 or 503, a slow response, the previous page of the same endpoint again
(`dup_page`), or (`mid_page_update`, on a request for a list's next page) one record of that API
changes at the source before the page is served (`sandbox.server.mid_page`). `injected` counts the
faults drawn; `mid_page_update` only when a record was actually changed.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

from ledgerlake.errors import LedgerlakeError

KINDS = ("429", "500", "503", "slow", "dup_page", "mid_page_update")
# counted by the caller (`FaultInjector.count`) when the fault took effect, not when it is drawn
COUNTED_WHEN_APPLIED = frozenset({"mid_page_update"})
SLOW_SECONDS = 0.3
RETRY_AFTER_SECONDS = 1


def parse_faults(spec: str | None) -> dict[str, float]:
    """`"429=0.05,500=0.02"` -> {"429": 0.05, "500": 0.02}; raises LedgerlakeError on a bad spec."""
    if not spec:
        return {}
    out: dict[str, float] = {}
    for part in spec.split(","):
        kind, _, value = part.strip().partition("=")
        if kind not in KINDS:
            raise LedgerlakeError(
                f"--faults: unknown fault {kind!r} in {spec!r}; use one of {', '.join(KINDS)} "
                "(mid_page_update: a record changes at the source between two pages of a list)"
            )
        try:
            prob = float(value)
        except ValueError as exc:
            raise LedgerlakeError(f"--faults: {part!r} needs a probability, e.g. {kind}=0.05") from exc
        if not 0.0 <= prob <= 1.0:
            raise LedgerlakeError(f"--faults: probability for {kind} must be within 0..1, got {prob}")
        out[kind] = prob
    if sum(out.values()) > 1.0:
        raise LedgerlakeError(f"--faults: probabilities in {spec!r} add up to more than 1")
    return out


@dataclass
class FaultInjector:
    """Seeded, thread-safe draw of one fault (or None) per request; counts what it injected."""

    probabilities: dict[str, float]
    seed: int = 0
    injected: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()

    def draw(self) -> str | None:
        if not self.probabilities:
            return None
        with self._lock:
            x = self._rng.random()
            acc = 0.0
            for kind, prob in self.probabilities.items():
                acc += prob
                if x < acc:
                    if kind not in COUNTED_WHEN_APPLIED:
                        self.injected[kind] = self.injected.get(kind, 0) + 1
                    return kind
        return None

    def count(self, kind: str) -> None:
        """Count a fault of a kind in `COUNTED_WHEN_APPLIED` that took effect."""
        with self._lock:
            self.injected[kind] = self.injected.get(kind, 0) + 1

    def configure(self, probabilities: dict[str, float]) -> None:
        """Switch the faults of a running server (e.g. off, for a clean run after a faulted one);
        the RNG and the counts carry on."""
        with self._lock:
            self.probabilities = dict(probabilities)

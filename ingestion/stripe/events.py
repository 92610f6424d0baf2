"""Stripe's `/v1/events`, read once per run and shared by the `events` table and the object tables.

The feed reads `created[gte]` from (newest event seen) − `EVENT_OVERLAP_SECONDS`, skips the events
it already handed out (their ids within the window are kept in the source state), and offers each
object table the newest snapshot (`data.object`) per object id among the new events.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import dlt
from dlt.sources.helpers.rest_client import RESTClient

from ingestion.runner import counter
from ingestion.stripe import settings
from ingestion.stripe.helpers import check_record, iter_pages, quarantined

SOURCE = "stripe"
STATE_KEY = "events_feed"


@dataclass(frozen=True)
class Snapshot:
    """An object as an event showed it; `version` is the event's `created`."""

    version: int
    obj: dict[str, Any]


class EventFeed:
    """The run's new events; the first resource that asks reads them (thread-safe, once)."""

    def __init__(self, client: RESTClient, base_url: str) -> None:
        self._client = client
        self._base_url = base_url
        self._lock = threading.Lock()
        self._events: list[dict[str, Any]] | None = None
        self.rejected: list[Any] = []  # quarantine rows for bad events

    def events(self) -> list[dict[str, Any]]:
        """New events (not handed out by an earlier run), newest first."""
        with self._lock:
            if self._events is None:
                self._events = self._read()
            return self._events

    def _read(self) -> list[dict[str, Any]]:
        state = dlt.current.source_state().setdefault(STATE_KEY, {})
        cursor = int(state.get("cursor", 0))
        done: dict[str, int] = dict(state.get("seen", {}))
        params = {
            "limit": settings.PAGE_LIMIT,
            "created[gte]": max(0, cursor - settings.EVENT_OVERLAP_SECONDS),
        }
        fresh: list[dict[str, Any]] = []
        for page in iter_pages(self._client, "/events", params, self._base_url):
            counter.add(SOURCE, "events", seen=len(page))
            for event in page:
                reason = check_record(event, ())
                if reason is not None:
                    counter.add(SOURCE, "events", quarantined=1)
                    ref = event.get("id") if isinstance(event, dict) else None
                    self.rejected.append(quarantined(SOURCE, "events", ref, reason, event))
                elif event["id"] in done:  # an earlier run's, or a repeated page
                    counter.add(SOURCE, "events", duplicates=1)
                else:
                    done[event["id"]] = event["created"]
                    fresh.append(event)
        newest = max([cursor, *done.values()])
        floor = newest - settings.EVENT_OVERLAP_SECONDS
        state["cursor"] = newest
        state["seen"] = {eid: created for eid, created in done.items() if created >= floor}
        return fresh

    def snapshots(self, name: str) -> tuple[dict[str, Snapshot], list[Any]]:
        """Newest snapshot per object id of list `name` among the new events, and quarantine rows.

        Events at the object's own creation second (`charge.succeeded`, `customer.created`) are left
        out: the list read has that object in the same or a later state. Counts one `seen` per
        snapshot offered and one `duplicates` per snapshot superseded by a newer one.
        """
        singular, money = settings.EVENT_OBJECTS[name], settings.ENDPOINTS[name]
        best: dict[str, Snapshot] = {}
        bad: list[Any] = []
        for event in self.events():  # newest first: on a tie the first listed wins
            data = event.get("data")
            obj = data.get("object") if isinstance(data, dict) else None
            if not isinstance(obj, dict) or obj.get("object") != singular:
                continue
            reason = check_record(obj, money)
            if reason is not None:
                counter.add(SOURCE, name, seen=1, quarantined=1)
                bad.append(quarantined(SOURCE, name, obj.get("id"), f"in event {event['id']}: {reason}", obj))
                continue
            if event["created"] <= obj["created"]:
                continue
            counter.add(SOURCE, name, seen=1)
            kept = best.get(obj["id"])
            if kept is not None and kept.version >= event["created"]:
                counter.add(SOURCE, name, duplicates=1)
                continue
            if kept is not None:
                counter.add(SOURCE, name, duplicates=1)
            best[obj["id"]] = Snapshot(event["created"], obj)
        return best, bad

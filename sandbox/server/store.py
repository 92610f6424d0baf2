"""In-memory view of a sandbox folder's API state, pre-serialised for fast paging."""

from __future__ import annotations

import base64
import bisect
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledgerlake.errors import LedgerlakeError
from sandbox.server.shopify_api import load_shopify


@dataclass
class ObjectList:
    """One Stripe list endpoint: objects newest first (created desc, id desc), as JSON strings."""

    name: str
    created: list[int] = field(default_factory=list)  # descending
    ids: list[str] = field(default_factory=list)
    json: list[str] = field(default_factory=list)
    position: dict[str, int] = field(default_factory=dict)
    neg_created: list[int] = field(default_factory=list)  # ascending, for bisect

    @classmethod
    def from_jsonl(cls, name: str, path: Path) -> ObjectList:
        rows = []
        with path.open(encoding="utf-8") as fh:
            for i, line in enumerate(fh):
                obj = json.loads(line)
                # served as stored, even when broken (tests inject bad records on purpose)
                created = obj.get("created") if type(obj.get("created")) is int else 0
                rows.append((created, str(obj.get("id") or f"__missing_id_{i}"), line.rstrip("\n")))
        rows.sort(reverse=True)
        out = cls(name, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
        out.position = {oid: i for i, oid in enumerate(out.ids)}
        out.neg_created = [-c for c in out.created]
        return out

    def replace(self, index: int, text: str) -> None:
        """Serve `text` for the object at `index` from now on (same id and `created`)."""
        self.json[index] = text

    def insert(self, created: int, oid: str, text: str) -> None:
        """Add an object in its place (created desc, id desc), as a new object appears in Stripe."""
        i = 0
        while i < len(self.ids) and (self.created[i], self.ids[i]) > (created, oid):
            i += 1
        self.created.insert(i, created)
        self.ids.insert(i, oid)
        self.json.insert(i, text)
        self.neg_created.insert(i, -created)
        self.position = {x: j for j, x in enumerate(self.ids)}

    def first_at_or_before(self, created_max: int) -> int:
        """Index of the first object with created <= created_max (list is descending)."""
        return bisect.bisect_left(self.neg_created, -created_max)


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"ledgerlake-sync:{offset}".encode()).decode()


def decode_cursor(cursor: str) -> int | None:
    """Offset in the sync log, or None if the cursor is not one we issued."""
    if not cursor:
        return 0
    try:
        prefix, _, value = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        return int(value) if prefix == "ledgerlake-sync" else None
    except (ValueError, UnicodeDecodeError):
        return None


@dataclass
class SandboxState:
    meta: dict[str, Any]
    stripe: dict[str, ObjectList]
    plaid_accounts: list[dict[str, Any]]
    plaid_log: list[dict[str, Any]]
    shopify: dict[str, Any] = field(default_factory=dict)  # name -> shopify_api.ShopifyList
    # payout id -> its balance transaction ids (`GET /v1/balance_transactions?payout=`)
    stripe_payout_members: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def load(cls, data_dir: Path) -> SandboxState:
        data_dir = Path(data_dir)
        meta_path = data_dir / "sandbox.json"
        if not meta_path.exists():
            raise LedgerlakeError(
                f"{meta_path} not found: generate the sandbox first (ledgerlake sandbox generate --out {data_dir})"
            )
        stripe_dir = data_dir / "state" / "stripe"
        stripe = {p.stem: ObjectList.from_jsonl(p.stem, p) for p in sorted(stripe_dir.glob("*.jsonl"))}
        bank_dir = data_dir / "state" / "bank_feed"
        accounts = (
            json.loads((bank_dir / "accounts.json").read_text())
            if (bank_dir / "accounts.json").exists()
            else []
        )
        log: list[dict[str, Any]] = []
        if (bank_dir / "sync_log.jsonl").exists():
            with (bank_dir / "sync_log.jsonl").open(encoding="utf-8") as fh:
                log = [json.loads(line) for line in fh]
        members_path = stripe_dir / "payout_members.json"
        members = json.loads(members_path.read_text()) if members_path.exists() else {}
        return cls(
            json.loads(meta_path.read_text()), stripe, accounts, log, shopify=load_shopify(data_dir),
            stripe_payout_members=members,
        )  # fmt: skip


class StateHolder:
    """The current `SandboxState`, reloaded when `sandbox.json` changes (after `sandbox.advance`)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self._lock = threading.Lock()
        self._mtime = self._stamp()
        self._state = SandboxState.load(self.data_dir)

    def _stamp(self) -> int:
        try:
            return (self.data_dir / "sandbox.json").stat().st_mtime_ns
        except FileNotFoundError:
            return -1

    def get(self) -> SandboxState:
        stamp = self._stamp()
        if stamp != self._mtime and stamp != -1:
            with self._lock:
                if stamp != self._mtime:
                    self._state = SandboxState.load(self.data_dir)
                    self._mtime = stamp
        return self._state

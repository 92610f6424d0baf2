"""New or changed (`ObjectCounts.written`) against re-read: the API sources read recent records again
on every run (look-back windows, cursor overlaps) and dlt merges them, so `loaded` counts re-reads.

Real dlt loads of every API source from the sandbox into a DuckDB file: the first load writes every
record it loads; an immediate second load writes nothing although it re-reads some; after the
sandbox's clock moves a day, each object writes exactly the records whose stored content changed
(compared with the raw tables before and after, child tables included). Statement files: the same
folder loaded twice writes nothing the second time. A failed load stores no hashes."""

from __future__ import annotations

import json
import os
import shutil
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from ingestion.common import SourceReport, Target, make_pipeline
from ingestion.files import load_files
from ingestion.runner import SOURCES, run_api_sources
from sandbox.advance import advance
from sandbox.credentials import SOURCE_DEFAULTS
from sandbox.generate import generate
from sandbox.server import serve_in_thread

NAMES = list(SOURCES)
SEED, SCALE = 11, 0.03
# records in the object tables' content comparison: a table's rows, as loaded (dlt's own columns out)
Content = dict[str, dict[str, str]]  # object -> record key -> canonical content


def _target(root: Path) -> Target:
    return Target("duckdb", root / "w.duckdb", pipelines_dir=root / ".dlt")


def _configure(mp: pytest.MonkeyPatch, url: str, names: list[str]) -> None:
    mp.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
    for source in names:
        mp.setenv(f"SOURCES__{source.upper()}__BASE_URL", url)
        for key, value in SOURCE_DEFAULTS[source].items():
            mp.setenv(f"SOURCES__{source.upper()}__{key.upper()}", value)


def _load(sandbox: Path, target: Target, names: list[str] = NAMES) -> dict[str, SourceReport]:
    with pytest.MonkeyPatch.context() as mp, serve_in_thread(sandbox) as url:
        _configure(mp, url, names)
        reports = run_api_sources(names, target)
    assert {r.source: r.error for r in reports} == dict.fromkeys(names)
    return {r.source: r for r in reports}


def _counts(reports: dict[str, SourceReport]) -> dict[tuple[str, str], tuple[int, int | None]]:
    return {(s, o): (c.loaded, c.written) for s, r in reports.items() for o, c in r.objects.items()}


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    """A row without dlt's own columns and without nulls (a column added later is null in old rows)."""
    return {k: v for k, v in row.items() if not k.startswith("_dlt_") and v is not None}


def _content(db: Path, target: Target, source: str) -> Content:
    """Per object, each record's stored content: its row plus the rows of its child tables."""
    schema = make_pipeline(source, target).default_schema
    dataset = f"raw_{source}"
    found: Content = {}
    with duckdb.connect(str(db), read_only=True) as con:
        tables = {
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = ?", [dataset]
            ).fetchall()
        }

        def rows(table: str) -> list[dict[str, Any]]:
            cur = con.execute(f'select * from {dataset}."{table}"')
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

        for obj in SOURCES[source].objects:
            if obj not in tables:
                continue
            columns = schema.tables[obj]["columns"]
            key = [c for c, col in columns.items() if col.get("primary_key")]
            children: dict[str, list[str]] = defaultdict(list)
            for child in sorted(t for t in tables if t.startswith(obj + "__")):
                for row in rows(child):
                    text = json.dumps([child, _plain(row)], default=str, sort_keys=True)
                    children[row["_dlt_root_id"]].append(text)
            found[obj] = {
                "|".join(str(row[k]) for k in key): json.dumps(
                    [_plain(row), sorted(children.get(row["_dlt_id"], []))], default=str, sort_keys=True
                )
                for row in rows(obj)
            }
    return found


def _changed(before: Content, after: Content) -> dict[str, int]:
    """Per object, the records new in `after` or with another content than in `before`."""
    return {
        obj: sum(1 for key, text in records.items() if before.get(obj, {}).get(key) != text)
        for obj, records in after.items()
    }


def _touch(root: Path) -> None:
    """Make a running sandbox server reload the folder (it watches sandbox.json's mtime)."""
    meta = root / "sandbox.json"
    stat = meta.stat()
    os.utime(meta, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


@dataclass(frozen=True)
class Loads:
    first: dict[str, SourceReport]
    second: dict[str, SourceReport]
    third: dict[str, SourceReport]
    before: dict[str, Content]  # the raw tables after the second load
    after: dict[str, Content]  # ... and after the third (the sandbox a day later)
    db: Path


@pytest.fixture(scope="module")
def loads(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loads]:
    root = tmp_path_factory.mktemp("written")
    sandbox, target = root / "sandbox", _target(root)
    generate(seed=SEED, scale=SCALE, out=sandbox)
    first = _load(sandbox, target)
    second = _load(sandbox, target)
    assert target.duckdb_path is not None
    before = {s: _content(target.duckdb_path, target, s) for s in NAMES}
    advance(sandbox, days=1)
    third = _load(sandbox, target)
    after = {s: _content(target.duckdb_path, target, s) for s in NAMES}
    yield Loads(first, second, third, before, after, target.duckdb_path)


def test_the_first_load_writes_every_record_it_loads(loads: Loads) -> None:
    counts = _counts(loads.first)
    assert set(counts) == {(s, o) for s in NAMES for o in SOURCES[s].objects}
    assert {k: loaded for k, (loaded, written) in counts.items()} == {k: w for k, (_, w) in counts.items()}
    assert sum(loaded for loaded, _ in counts.values()) > 1000


def test_an_immediate_second_load_writes_nothing_though_it_re_reads(loads: Loads) -> None:
    counts = _counts(loads.second)
    assert {k: w for k, (_, w) in counts.items()} == dict.fromkeys(counts, 0)
    re_read = {k: loaded for k, (loaded, _) in counts.items() if loaded}
    # look-back windows: Shopify's payouts and their balance transactions, the bank's accounts
    assert re_read.get(("shopify", "payouts"), 0) > 0, re_read
    assert re_read.get(("bank_feed", "accounts"), 0) > 0, re_read


def test_a_day_later_each_object_writes_the_records_whose_content_changed(loads: Loads) -> None:
    written = {k: w for k, (_, w) in _counts(loads.third).items()}
    expected = {(s, o): n for s in NAMES for o, n in _changed(loads.before[s], loads.after[s]).items()}
    expected = {k: expected.get(k, 0) for k in written}
    assert written == expected
    assert sum(expected.values()) > 0
    counts = _counts(loads.third)
    # some records were read again unchanged (not written), and some changed among the re-reads
    assert any(loaded > w for loaded, w in counts.values() if w is not None), counts
    assert all(w is not None and w <= loaded for loaded, w in counts.values()), counts


def test_a_deletion_applied_counts_as_changed(tmp_path: Path) -> None:
    """A pending bank line the feed removes is kept, flagged `_is_deleted`: a change of the record.
    (Seed 3 removes one within 5 days at this scale; a day is too short for any seed here.)"""
    sandbox, target = tmp_path / "sandbox", _target(tmp_path)
    generate(seed=3, scale=0.05, out=sandbox)
    _load(sandbox, target, ["bank_feed"])
    assert target.duckdb_path is not None
    before = _content(target.duckdb_path, target, "bank_feed")
    advance(sandbox, days=5)
    report = _load(sandbox, target, ["bank_feed"])["bank_feed"]
    after = _content(target.duckdb_path, target, "bank_feed")

    def deleted(content: Content) -> set[str]:
        rows = content.get("transactions", {})
        return {key for key, text in rows.items() if json.loads(text)[0].get("_is_deleted")}

    newly = deleted(after) - deleted(before)
    assert len(newly) == 1, "the sandbox removed no pending bank line: the test proves nothing"
    assert {o: c.written for o, c in report.objects.items()} == _changed(before, after)


def test_load_runs_records_new_or_changed(loads: Loads) -> None:
    with duckdb.connect(str(loads.db), read_only=True) as con:
        rows = con.execute(
            "select started_at, source, object, loaded, written from raw_ledgerlake.load_runs"
        ).fetchall()
    last = max(r[0] for r in rows)
    assert {(r[1], r[2]): (r[3], r[4]) for r in rows if r[0] == last} == _counts(loads.third)


def test_a_failed_load_stores_no_hashes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dlt

    sandbox, target = tmp_path / "sandbox", _target(tmp_path)
    generate(seed=SEED, scale=0.02, out=sandbox)

    def hashes() -> list[tuple]:
        with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
            return con.execute("select * from raw_ledgerlake.record_hashes order by all").fetchall()

    first = _load(sandbox, target, ["shopify"])["shopify"]
    stored = hashes()
    assert len(stored) == sum(c.loaded for c in first.objects.values()) > 0
    advance(sandbox, days=3)

    def refuse(self: Any, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the destination refused the load")

    with pytest.MonkeyPatch.context() as mp, serve_in_thread(sandbox) as url:
        _configure(mp, url, ["shopify"])
        mp.setattr(dlt.Pipeline, "load", refuse)
        (failed,) = run_api_sources(["shopify"], target, record=False)
    assert failed.error is not None and "refused" in failed.error
    assert {c.written for c in failed.objects.values()} == {None}
    assert hashes() == stored
    # what the failed load read is new or changed still, for the next load that succeeds
    again = _load(sandbox, target, ["shopify"])["shopify"]
    assert sum(c.written or 0 for c in again.objects.values()) > 0
    assert hashes() != stored


def test_loading_the_same_statement_files_twice_writes_nothing_the_second_time(tmp_path: Path) -> None:
    sandbox, target = tmp_path / "sandbox", _target(tmp_path)
    generate(seed=SEED, scale=0.02, out=sandbox)
    folder = sandbox / "exports" / "bank"
    first = load_files([folder], target)
    assert {o: (c.loaded, c.written) for o, c in first.objects.items()} == {
        o: (c.loaded, c.loaded) for o, c in first.objects.items()
    }
    assert first.objects["file"].loaded > 0 and first.objects["transactions"].loaded > 0
    second = load_files([folder], target)
    assert {o: c.written for o, c in second.objects.items()} == dict.fromkeys(second.objects, 0)
    assert second.objects["file"].loaded == first.objects["file"].loaded  # read again, not new

    # a copy under another name is the same file; a file with other bytes is new
    extra = tmp_path / "extra"
    extra.mkdir()
    some = sorted(p for p in folder.iterdir() if p.suffix == ".csv")[0]
    shutil.copy(some, extra / f"renamed{some.suffix}")
    (extra / f"edited{some.suffix}").write_bytes(some.read_bytes() + b"\n")
    third = load_files([extra], target)
    assert (third.objects["file"].loaded, third.objects["file"].written) == (2, 1)
    assert third.objects["transactions"].written == third.objects["transactions"].loaded == 0


@pytest.mark.postgres
def test_postgres_counts_new_or_changed_the_same_way(
    pg_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # dlt insists on a password even where the server trusts local connections (the throwaway cluster).
    if "@" in pg_dsn and ":" not in pg_dsn.split("@")[0].split("//")[1]:
        monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS__PASSWORD", "unused-trust-auth")
    sandbox, target = tmp_path / "sandbox", Target("postgres", pg_dsn=pg_dsn, pipelines_dir=tmp_path / ".dlt")
    generate(seed=SEED, scale=0.02, out=sandbox)
    names = ["shopify", "bank_feed"]
    first = _counts(_load(sandbox, target, names))
    assert all(written == loaded for loaded, written in first.values()), first
    second = _counts(_load(sandbox, target, names))
    assert {k: w for k, (_, w) in second.items()} == dict.fromkeys(second, 0)
    assert sum(loaded for loaded, _ in second.values()) > 0
    folder = sandbox / "exports" / "bank"
    files = load_files([folder], target).objects["file"]
    assert files.written == files.loaded > 0
    assert load_files([folder], target).objects["file"].written == 0


def test_of_two_rows_of_one_key_the_hash_kept_is_the_row_the_merge_keeps() -> None:
    """dlt's merge keeps, of two rows of one key in a load, the one its `dedup_sort` column ranks
    first (QuickBooks: a record read and deleted in the same run, `_is_deleted` desc), else the last."""
    from ingestion.common import RecordHashes

    hashes = RecordHashes()
    for key, digest, rank in (("1", "read", False), ("1", "deleted", True), ("2", "deleted", True)):
        hashes.add("qb", "bill", key, digest, rank, "desc")
    hashes.add("qb", "bill", "2", "read", False, "desc")  # the deletion came first: it still wins
    for digest in ("old", "new"):
        hashes.add("qb", "vendor", "7", digest)  # no dedup_sort: the last row
    taken = hashes.take("qb")
    assert hashes.take("qb") == {}
    kept = {
        obj: {(r["record_key"], r["content_hash"]) for r in t.to_pylist() if r["keep"]}
        for obj, t in taken.items()
    }
    assert kept == {"bill": {("1", "deleted"), ("2", "deleted")}, "vendor": {("7", "new")}}
    assert taken["bill"].num_rows == 4  # every row is compared (and counted) on its own


def test_the_contract_knows_the_dedup_sort_column_and_hashes_content_not_key_order() -> None:
    from ingestion.common import content_hash
    from ingestion.contracts import TypeContract

    contract = TypeContract(
        "bill", {"_is_deleted": {"data_type": "bool", "dedup_sort": "desc"}}, {"Id": "text"}
    )
    assert contract.dedup_rank({"Id": "1", "_is_deleted": True}) == (True, "desc")
    assert TypeContract("vendor", keys={"Id": "text"}).dedup_rank({"Id": "1"}) == (None, None)
    assert content_hash({"a": 1, "b": {"c": [1, 2]}}) == content_hash({"b": {"c": [1, 2]}, "a": 1})
    assert content_hash({"a": 1, "b": {"c": [1, 2]}}) != content_hash({"a": 1, "b": {"c": [2, 1]}})

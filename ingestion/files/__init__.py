"""Bank statement and export files -> `raw_bank_files` (transactions, statements, quarantine).

`load_files(paths, target)` is what `ledgerlake ingest files PATH...` calls. Formats are detected
from content: camt.052/053/054, OFX 1.x/2.x, MT940, BAI2, bank and payment-processor CSV.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dlt
import pyarrow as pa
import pyarrow.compute as pc
from dlt.destinations.exceptions import DestinationUndefinedEntity

from ingestion.common import (
    RECORD_HASHES_SCHEMA,
    SourceReport,
    Target,
    make_pipeline,
    store_hashes,
    stored_hashes,
    to_quarantine,
)
from ingestion.files.bai2_file import parse_bai2
from ingestion.files.camt import parse_camt
from ingestion.files.csv_file import PRESETS, CsvLayout, detect_layout, layout_from_mapping, parse_csv
from ingestion.files.detect import BAI2, CAMT, CSV, MT940, OFX, detect_format
from ingestion.files.model import STATEMENT_SCHEMA, TRANSACTION_SCHEMA, FileProblem, ParsedFile
from ingestion.files.mt940_file import parse_mt940
from ingestion.files.normalise import FILE, SOURCE, STATEMENTS, TRANSACTIONS, Batch
from ingestion.files.ofx import parse_ofx
from ingestion.files.text import read_text
from ledgerlake.errors import LedgerlakeError

__all__ = [
    "PRESETS",
    "CsvLayout",
    "detect_layout",
    "expand_paths",
    "layout_from_mapping",
    "load_files",
    "parse_batch",
    "parse_file",
]

log = logging.getLogger(__name__)
DATASET = f"raw_{SOURCE}"
_PARSERS = {CAMT: parse_camt, OFX: parse_ofx, MT940: parse_mt940, BAI2: parse_bai2}


def expand_paths(paths: list[Path]) -> list[Path]:
    """Files named, plus every file under folders named (sorted, hidden files skipped)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                p
                for p in sorted(path.rglob("*"))
                if p.is_file() and not any(s.startswith(".") for s in p.relative_to(path).parts)
            )
        elif path.is_file():
            files.append(path)
        else:
            raise LedgerlakeError(f"{path}: no such file or folder (ledgerlake ingest files PATH...)")
    return files


def parse_file(
    path: Path, csv_layout: CsvLayout | None = None, default_currency: str | None = None
) -> ParsedFile:
    """Read, detect and parse one file; raises FileProblem when the file as a whole is unusable."""
    text, _encoding = read_text(path)
    kind = detect_format(text)
    if kind is None:
        raise FileProblem("unknown format: not camt, OFX, MT940, BAI2 or a CSV with a header row")
    if kind == CSV:
        return parse_csv(text, csv_layout, default_currency)
    return _PARSERS[kind](text)


def parse_batch(
    files: list[Path],
    known_fingerprints: set[str] | None = None,
    known_statements: set[str] | None = None,
    csv_layout: CsvLayout | None = None,
    default_currency: str | None = None,
) -> Batch:
    """Parse every file into one batch; fingerprints already in the warehouse count as duplicates."""
    batch = Batch(
        seen_fingerprints=set(known_fingerprints or ()), seen_statements=set(known_statements or ())
    )
    for path in files:
        try:
            parsed = parse_file(path, csv_layout, default_currency)
        except FileProblem as exc:
            batch.quarantine_file(path.name, str(exc), _head(path))
            continue
        except OSError as exc:
            raise LedgerlakeError(f"{path}: cannot read the file ({exc.strerror})") from exc
        except Exception as exc:  # a parser library's own bug must not stop the other files
            log.exception("unexpected error parsing %s", path)
            batch.quarantine_file(path.name, f"parser error ({type(exc).__name__}: {exc})", _head(path))
            continue
        batch.add_file(path.name, parsed, _content_hash(path))
    return batch


def _content_hash(path: Path) -> str:
    """The hash of a file's bytes: the same file loaded again (renamed or not) is not new."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:32]


def _head(path: Path) -> str:
    return path.read_bytes()[:2000].decode("utf-8", errors="replace")


@dlt.source(name=SOURCE)
def bank_files_source(batch: Batch) -> Any:
    """The batch as dlt resources: Arrow tables for transactions/statements, dict rows for quarantine."""

    @dlt.resource(name=TRANSACTIONS, write_disposition="merge", primary_key="fingerprint")
    def transactions() -> Iterator[pa.Table]:
        if batch.transactions:
            yield pa.Table.from_pylist(batch.transactions, schema=TRANSACTION_SCHEMA)

    @dlt.resource(name=STATEMENTS, write_disposition="merge", primary_key="statement_id")
    def statements() -> Iterator[pa.Table]:
        if batch.statements:
            yield pa.Table.from_pylist(batch.statements, schema=STATEMENT_SCHEMA)

    @dlt.resource(name="file_quarantine")
    def quarantine() -> Iterator[Any]:
        for row in batch.quarantine:
            yield to_quarantine(row)

    return transactions, statements, quarantine


def load_files(
    paths: list[Path],
    target: Target,
    *,
    csv_layout: CsvLayout | None = None,
    default_currency: str | None = None,
) -> SourceReport:
    """Load bank statement/export files (files or folders) into `raw_bank_files`.

    Lines, statements or files that break the contract go to `raw_bank_files.quarantine`; lines or
    statements already loaded (same fingerprint / statement_id) are counted as duplicates.
    """
    started = time.monotonic()
    files = expand_paths([Path(p) for p in paths])
    pipeline = make_pipeline(SOURCE, target)
    fingerprints = _existing(pipeline, TRANSACTIONS, "fingerprint")
    statement_ids = _existing(pipeline, STATEMENTS, "statement_id")
    batch = parse_batch(files, fingerprints, statement_ids, csv_layout, default_currency)
    if batch.transactions or batch.statements or batch.quarantine:
        pipeline.run(bank_files_source(batch))
    _count_written(batch, target)  # only once the load succeeded: it stores the files' hashes
    report = SourceReport(source=SOURCE, objects=batch.counts, seconds=time.monotonic() - started)
    log.info("bank files: %s", {name: vars(c) for name, c in batch.counts.items()})
    return report


def _count_written(batch: Batch, target: Target) -> None:
    """Set `written` (new or changed) of the batch's counts, and store the loaded files' hashes.

    Lines and statements already in the warehouse (same fingerprint / statement_id) are duplicates,
    never loaded again, so every row loaded is new. A file is new unless a file with the same bytes
    was loaded before (or earlier in this batch): hashes in `raw_ledgerlake.record_hashes`."""
    for name in (TRANSACTIONS, STATEMENTS):
        batch.counts[name].written = batch.counts[name].loaded
    try:
        stored = stored_hashes(target, SOURCE)
        known = set(stored.filter(pc.equal(stored["object"], FILE))["record_key"].to_pylist())
        new = list(dict.fromkeys(h for h in batch.file_hashes if h not in known))
        batch.counts[FILE].written = len(new)
        rows = {"source": [SOURCE] * len(new), "object": [FILE] * len(new), "record_key": new}
        store_hashes(target, pa.table({**rows, "content_hash": new}, schema=RECORD_HASHES_SCHEMA))
    except Exception as exc:  # noqa: BLE001 - a measurement, not a reason to fail the load
        log.warning("could not count the new statement files: %s", " ".join(str(exc).split())[:300])


def _existing(pipeline: dlt.Pipeline, table: str, column: str) -> set[str]:
    """Keys already in the destination table (empty on a first load)."""
    try:
        with pipeline.sql_client() as client:
            qualified = client.make_qualified_table_name(table)
            rows = client.execute_sql(f"select {column} from {qualified}")
    except DestinationUndefinedEntity:
        return set()
    except Exception as exc:  # drivers raise their own connection errors, unwrapped by dlt
        raise LedgerlakeError(
            f"cannot read {DATASET}.{table} from the warehouse ({pipeline.destination.destination_name}): {' '.join(str(exc).split())}"
        ) from exc
    return {row[0] for row in rows or []}

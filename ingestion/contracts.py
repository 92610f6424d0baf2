"""Type contracts: a record whose value for a known column has the wrong type goes to quarantine.

dlt on its own turns type drift into either a silent coercion (the string "1200" into a bigint
column, the number 5 into a text column) or a variant column (`amount__v_text`). The sources here
check every record against the column types already known before they yield it:

- known types: the source's dlt schema (`dlt.current.source_schema()`: the tables of earlier loads),
  the resource's declared column hints, and, within a run, the type of the first value seen for a
  new column (dlt infers a new column's type from its first value the same way);
- the record is walked the way dlt's relational normaliser flattens it (dicts -> `a__b` columns,
  lists -> child tables `<table>__<field>` with `value` for scalars, up to the resource's
  `max_table_nesting`; columns typed `json` are not descended into and accept anything);
- a value that does not fit its column's type makes `TypeContract.check` return the reason
  (`field amount: expected bigint, got text`); the caller quarantines the record and counts it;
- key columns (primary key, cursor) are frozen: declared with their type, checked from the first run.

New columns still evolve. As a backstop, every source sets `SCHEMA_CONTRACT` (`data_type: freeze`):
drift the pre-check misses fails the source (`contract_violation_message`) instead of loading a
variant column.

`guarded` is the one place every record of every API source passes on its way to dlt, so it also
hashes each record it lets through (`ingestion.common.RecordHashes`, under source, object and the
record's key): after the load the runner counts the records new or changed since earlier loads.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import dlt
from dlt.common.data_types.type_helpers import coerce_value
from dlt.common.normalizers.naming import snake_case
from dlt.common.schema import Schema
from dlt.common.schema import detections as dlt_detections
from dlt.common.schema.exceptions import DataValidationError

from ingestion.common import content_hash, quarantine_row, to_quarantine

SCHEMA_CONTRACT: dict[str, str] = {"tables": "evolve", "columns": "evolve", "data_type": "freeze"}
DEFAULT_NESTING = 1000  # dlt's default: unlimited
_PY_TYPES: dict[type, str] = {
    bool: "bool",
    int: "bigint",
    float: "double",
    Decimal: "decimal",
    str: "text",
    datetime: "timestamp",
    date: "date",
    time: "time",
    dict: "json",
    list: "json",
}
_NUMBERS = (int, float, Decimal)


def type_name(value: Any) -> str:
    """dlt's name for the type of a Python value (`text`, `bigint`, ...), else the Python name."""
    for py, name in _PY_TYPES.items():
        if type(value) is py:
            return name
    for py, name in (
        (datetime, "timestamp"),
        (date, "date"),
        (time, "time"),
    ):  # pendulum subclasses
        if isinstance(value, py):
            return name
    return type(value).__name__


def fits(expected: str, value: Any) -> bool:
    """Whether `value` may be loaded into a column of type `expected` without changing its meaning.

    Stricter than dlt's coercion on purpose: text never takes a number, a number never takes text.
    A bigint column takes an integral float (dlt stores it unchanged); date-time columns take ISO
    strings that dlt can parse. A `json` column takes any object or list, whatever its shape (those
    columns are JSON on purpose), and a string holding JSON; a bare number there would be a variant."""
    t = type(value)
    if expected == "json":
        if t is str:
            try:
                json.loads(value)
            except ValueError:
                return False
        return t in (dict, list, str)
    if expected == "text":
        return t is str
    if expected == "bool":
        return t is bool
    if expected == "bigint":
        return t is int or (t is float and value.is_integer())
    if expected in ("double", "decimal"):
        return t in _NUMBERS
    if expected in ("timestamp", "date", "time"):
        if isinstance(value, datetime | date | time):
            return True
        if t is not str:
            return False
        try:
            coerce_value(expected, "text", value)  # type: ignore[arg-type]
        except (ValueError, TypeError):
            return False
        return True
    return True  # types we do not check (binary, wei)


class TypeContract:
    """The column types of one resource's table (and its child tables) for one run.

    Create it inside the resource (so it reads the schema of this run) and call `check(record)`
    for each record before yielding it. `hints` are the resource's column hints; `keys` maps a key
    column (primary key, cursor) to its frozen type; `max_nesting` is the resource's
    `max_table_nesting`."""

    def __init__(
        self,
        table: str,
        hints: Mapping[str, Mapping[str, Any]] | None = None,
        keys: Mapping[str, str] | None = None,
        max_nesting: int | None = None,
    ) -> None:
        self._hints = dict(hints or {})
        self._keys = dict(keys or {})
        self._max_nesting = max_nesting
        self._schema: Schema | None = None
        self._naming: Any = None
        self._known: dict[str, dict[str, str]] | None = None
        self._names: dict[tuple[tuple[str, ...], str], tuple[str, str]] = {}
        self._dedup: tuple[str, str] | None = None
        self.table = table

    def _load(self) -> dict[str, dict[str, str]]:
        try:
            self._schema = dlt.current.source_schema()
        except Exception:  # noqa: BLE001 - outside a pipeline (unit use): hints only
            self._schema = None
        self._naming = self._schema.naming if self._schema is not None else snake_case.NamingConvention()
        norm = self._naming.normalize_path
        self.table = self._naming.normalize_tables_path(self.table)
        known: dict[str, dict[str, str]] = {self.table: {}}
        if self._schema is not None:
            for name, table in self._schema.tables.items():
                if name == self.table or name.startswith(self.table + "__"):
                    known[name] = {
                        c: col["data_type"]
                        for c, col in table.get("columns", {}).items()
                        if col.get("data_type") and not c.startswith("_dlt_") and not col.get("variant")
                    }
            stored = self._schema.tables.get(self.table, {}).get("x-normalizer", {}).get("max_nesting")
            if self._max_nesting is None and stored is not None:
                self._max_nesting = int(stored)
        for name, hint in self._hints.items():
            if hint.get("data_type"):
                known[self.table].setdefault(norm(name), hint["data_type"])
        self._keys = {norm(k): v for k, v in self._keys.items()}
        for name, data_type in self._keys.items():
            known[self.table][name] = data_type
        self._dedup = self._dedup_sort()
        self._known = known
        return known

    def _dedup_sort(self) -> tuple[str, str] | None:
        """(column, order) of the table's `dedup_sort` hint: which row of a key dlt's merge keeps."""
        assert self._naming is not None
        columns: dict[str, Mapping[str, Any]] = {
            self._naming.normalize_path(k): v for k, v in self._hints.items()
        }
        if self._schema is not None:
            columns.update(self._schema.tables.get(self.table, {}).get("columns", {}))
        return next(
            ((name, str(hint["dedup_sort"])) for name, hint in columns.items() if hint.get("dedup_sort")),
            None,
        )

    def dedup_rank(self, record: dict[str, Any]) -> tuple[Any, str | None]:
        """(the record's value of its table's `dedup_sort` column, the order), or (None, None)."""
        if self._known is None:
            self._load()
        if self._dedup is None:
            return None, None
        name, order = self._dedup
        if name in record:
            return record[name], order
        norm = self._naming.normalize_path
        return next((v for k, v in record.items() if norm(k) == name), None), order

    def _infer(self, value: Any) -> str:
        """The type dlt will give a new column from its first value (incl. its string detections)."""
        if type(value) is str and self._schema is not None:
            for detection in self._schema.settings.get("detections") or []:
                detect = getattr(dlt_detections, f"is_{detection}", None)
                found = detect(str, value) if detect is not None else None
                if found:
                    return str(found)
        return type_name(value)

    def _is_json(self, table: str, column: str, level: int) -> bool:
        assert self._known is not None
        return level <= 0 or self._known.get(table, {}).get(column) == "json"

    def _name(self, path: tuple[str, ...], key: str) -> tuple[str, str]:
        """(normalised key, column name) of `key` at `path`, as dlt names it (cached: names repeat)."""
        naming = self._naming
        norm = naming.normalize_path(key) if key and not key.isspace() else "_empty"
        column = naming.shorten_fragments(*path, norm) if path else norm
        self._names[(path, key)] = (norm, column)
        return norm, column

    def _cells(self, table: str, row: dict[str, Any], level: int) -> Iterator[tuple[str, str, Any]]:
        """(table, column, value) for every leaf of `row`, as dlt's normaliser would place it."""
        names = self._names
        stack: list[tuple[dict[str, Any], int, tuple[str, ...]]] = [(row, level, ())]
        while stack:
            current, lvl, path = stack.pop()
            for key, value in current.items():
                norm, column = names.get((path, key)) or self._name(path, key)
                if type(value) is dict and not self._is_json(table, column, lvl):
                    stack.append((value, lvl - 1, (*path, norm)))
                elif type(value) is list and not self._is_json(table, column, lvl):
                    child = self._naming.shorten_fragments(
                        table, *path, self._naming.normalize_tables_path(key)
                    )
                    for item in value:
                        if type(item) is dict:
                            yield from self._cells(child, item, level - 1)
                        elif type(item) is not list:  # lists of lists: not checked
                            yield child, "value", item
                else:
                    yield table, column, value

    def check(self, record: dict[str, Any]) -> str | None:
        """Why `record` breaks the known column types (None if it does not). Learns new columns."""
        known = self._known if self._known is not None else self._load()
        missing = set(self._keys)
        new: dict[tuple[str, str], str] = {}
        level = self._max_nesting if self._max_nesting is not None else DEFAULT_NESTING
        for table, column, value in self._cells(self.table, record, level):
            if value is None:
                continue
            if table == self.table:
                missing.discard(column)
            expected = known.get(table, {}).get(column) or new.get((table, column))
            if expected is None:
                new[(table, column)] = self._infer(value)
            elif not fits(expected, value):
                where = column if table == self.table else f"{table[len(self.table) + 2 :]}.{column}"
                return f"field {where}: expected {expected}, got {type_name(value)}"
        if missing:
            key = sorted(missing)[0]
            return f"key field {key}: expected {self._keys[key]}, got nothing"
        for (table, column), data_type in new.items():
            known.setdefault(table, {})[column] = data_type
        return None


def guarded(
    items: Iterable[Any], contract: TypeContract, source: str, obj: str, ref: Callable[[Any], Any]
) -> Iterator[Any]:
    """`items` with every record that breaks `contract` replaced by its quarantine row (counted).

    Records are dicts, or lists of dicts (a batch); anything else (a quarantine row) passes through.
    Every record let through is hashed under its key `ref(record)` (`ingestion.common.RecordHashes`)."""
    from ingestion.runner import counter, record_hashes  # the runner imports this module

    def verdict(record: dict[str, Any]) -> Any:
        reason = contract.check(record)
        if reason is None:
            rank, order = contract.dedup_rank(record)
            record_hashes.add(source, obj, str(ref(record)), content_hash(record), rank, order)
            return None
        counter.add(source, obj, quarantined=1)
        key = ref(record)
        return to_quarantine(quarantine_row(source, obj, str(key) if key else "?", reason, record))

    for item in items:
        if isinstance(item, dict):
            bad = verdict(item)
            yield item if bad is None else bad
        elif isinstance(item, list):
            good = []
            for record in item:
                bad = verdict(record) if isinstance(record, dict) else None
                if bad is None:
                    good.append(record)
                else:
                    yield bad
            if good:
                yield good
        else:
            yield item


def contract_violation_message(source: str, exc: BaseException) -> str | None:
    """One line for a schema-contract violation in `exc`'s chain (None if there is none)."""
    cur: BaseException | None = exc
    while cur is not None:
        if isinstance(cur, DataValidationError):
            column = f" column {cur.column_name}" if cur.column_name else ""
            base, variant, got = (cur.column_name or "").rpartition("__v_")
            if variant:  # `amount__v_text`: name the column and the two types
                known = ((cur.table_schema or {}).get("columns") or {}).get(base) or {}
                column = f" column {base} (expected {known.get('data_type', '?')}, got {got})"
            return (
                f"{source}: type drift in table {cur.table_name}{column} reached the loader "
                f"(schema contract `{cur.schema_entity}: {cur.contract_mode}`); nothing was loaded, "
                "fix the record or the column hint"
            )
        cur = cur.__cause__ or cur.__context__
    return None

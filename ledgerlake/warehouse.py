"""Connections to the warehouse, DuckDB or PostgreSQL, behind one small interface.

Python steps (forecasts, eval, the app) read marts as polars frames and write back whole tables.
SQL passed to `query` must be portable between DuckDB and PostgreSQL.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from ledgerlake.errors import LedgerlakeError

_PG_TYPES = {
    pl.Int8: "smallint",
    pl.Int16: "smallint",
    pl.Int32: "integer",
    pl.Int64: "bigint",
    pl.UInt32: "bigint",
    pl.UInt64: "numeric(20,0)",
    pl.Float32: "real",
    pl.Float64: "double precision",
    pl.Boolean: "boolean",
    pl.Date: "date",
    pl.Utf8: "text",
}


def _pg_type(dtype: pl.DataType) -> str:
    if isinstance(dtype, pl.Decimal):
        return f"numeric({dtype.precision or 38},{dtype.scale or 0})"
    if isinstance(dtype, pl.Datetime):
        return "timestamptz" if dtype.time_zone else "timestamp"
    for k, v in _PG_TYPES.items():
        if dtype == k:
            return v
    return "text"


@dataclass(frozen=True)
class Warehouse:
    kind: str  # "duckdb" | "postgres"
    duckdb_path: Path | None = None
    pg_dsn: str | None = None
    read_only: bool = False

    @contextmanager
    def _duck(self) -> Iterator[duckdb.DuckDBPyConnection]:
        assert self.duckdb_path is not None
        if self.read_only and not self.duckdb_path.exists():
            raise LedgerlakeError(
                f"warehouse file {self.duckdb_path} does not exist: run `ledgerlake run` first"
            )
        con = duckdb.connect(str(self.duckdb_path), read_only=self.read_only)
        try:
            yield con
        finally:
            con.close()

    @contextmanager
    def _pg(self) -> Iterator[Any]:
        import psycopg2

        try:
            con = psycopg2.connect(self.pg_dsn)
        except psycopg2.OperationalError as exc:
            from ledgerlake.config import mask_dsn

            reason = " ".join(str(exc).split()).replace(self.pg_dsn or "\0", mask_dsn(self.pg_dsn or ""))
            raise LedgerlakeError(
                f"cannot connect to PostgreSQL {mask_dsn(self.pg_dsn or '')} (LEDGERLAKE_PG_DSN): {reason}"
            ) from None
        try:
            if self.read_only:
                con.set_session(readonly=True)
            yield con
            con.commit()
        finally:
            con.close()

    def query(self, sql: str, params: list[Any] | None = None) -> pl.DataFrame:
        """Run a read query; `?`-style params on DuckDB, `%s` on PostgreSQL (use `self.param`)."""
        if self.kind == "duckdb":
            with self._duck() as con:
                rel = con.execute(sql, params or [])
                cols = [d[0] for d in rel.description or []]
                return pl.DataFrame(rel.fetchall(), schema=cols, orient="row", infer_schema_length=None)
        with self._pg() as con, con.cursor() as cur:
            cur.execute(sql, params or None)
            cols = [d[0] for d in cur.description or []]
            return pl.DataFrame(cur.fetchall(), schema=cols, orient="row", infer_schema_length=None)

    @property
    def param(self) -> str:
        return "?" if self.kind == "duckdb" else "%s"

    def scalar(self, sql: str, params: list[Any] | None = None) -> Any:
        df = self.query(sql, params)
        return None if df.is_empty() else df.item(0, 0)

    def table_exists(self, schema: str, table: str) -> bool:
        p = self.param
        sql = f"select count(*) from information_schema.tables where table_schema = {p} and table_name = {p}"
        return bool(self.scalar(sql, [schema, table]))

    def execute(self, sql: str) -> None:
        if self.kind == "duckdb":
            with self._duck() as con:
                con.execute(sql)
            return
        with self._pg() as con, con.cursor() as cur:
            cur.execute(sql)

    def write_table(self, schema: str, table: str, df: pl.DataFrame, mode: str = "replace") -> int:
        """Write a polars frame as `schema.table`; mode `replace` or `append`. Returns rows written."""
        if mode not in ("replace", "append"):
            raise ValueError(mode)
        if self.kind == "duckdb":
            with self._duck() as con:
                con.execute(f"create schema if not exists {schema}")
                con.register("_ll_frame", df.to_arrow())
                if mode == "replace":
                    con.execute(f"create or replace table {schema}.{table} as select * from _ll_frame")
                else:
                    con.execute(
                        f"create table if not exists {schema}.{table} as select * from _ll_frame limit 0"
                    )
                    con.execute(f"insert into {schema}.{table} by name select * from _ll_frame")
                con.unregister("_ll_frame")
            return df.height
        df = df.with_columns(
            pl.col(c).dt.convert_time_zone("UTC").dt.replace_time_zone(None)
            for c, t in df.schema.items()
            if isinstance(t, pl.Datetime) and t.time_zone
        )
        cols = ", ".join(f'"{c}" {_pg_type(t)}' for c, t in df.schema.items())
        with self._pg() as con, con.cursor() as cur:
            cur.execute(f"create schema if not exists {schema}")
            if mode == "replace":
                cur.execute(f"drop table if exists {schema}.{table} cascade")
            cur.execute(f"create table if not exists {schema}.{table} ({cols})")
            buf = io.StringIO()
            df.write_csv(buf, include_header=False, null_value="\\N", datetime_format="%Y-%m-%dT%H:%M:%S%.f")
            buf.seek(0)
            names = ", ".join(f'"{c}"' for c in df.columns)
            cur.copy_expert(f"copy {schema}.{table} ({names}) from stdin with (format csv, null '\\N')", buf)
        return df.height

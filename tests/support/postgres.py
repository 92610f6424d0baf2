"""A throwaway PostgreSQL cluster for tests: initdb into a temp dir, pg_ctl on a free port.

Uses LEDGERLAKE_PG_DSN instead when it is set (a database per test session is created there).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse, urlunparse


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise RuntimeError("PostgreSQL is not installed: run scripts/system-deps.sh (apt-get install postgresql)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def create_database(admin_dsn: str, name: str) -> str:
    import psycopg2

    con = psycopg2.connect(admin_dsn)
    con.autocommit = True
    with con.cursor() as cur:
        cur.execute(f'create database "{name}"')
    con.close()
    p = urlparse(admin_dsn)
    return urlunparse(p._replace(path=f"/{name}"))


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yields an admin DSN (database `postgres`) of a running server."""
    if os.environ.get("LEDGERLAKE_PG_DSN"):
        yield os.environ["LEDGERLAKE_PG_DSN"]
        return
    bindir = _pg_bin()
    base = Path(tempfile.mkdtemp(prefix="ll-pg-"))
    os.chmod(base, 0o777)
    data, sock, logf = base / "data", base / "sock", base / "pg.log"
    sock.mkdir()
    os.chmod(sock, 0o777)
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(sock, "postgres")
    port = _free_port()
    subprocess.run(
        _as_postgres([str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8"]),
        check=True, capture_output=True,
    )  # fmt: skip
    opts = f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
    subprocess.run(
        _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(logf), "-w", "start"]),
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        # trust auth ignores the password, but dlt insists on one being given
        yield f"postgresql://postgres:postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)


def fresh_database(admin_dsn: str, prefix: str = "ledgerlake_test") -> str:
    return create_database(admin_dsn, f"{prefix}_{uuid.uuid4().hex[:8]}")

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.postgres import fresh_database, postgres_server


@pytest.fixture(scope="session")
def pg_admin_dsn() -> Iterator[str]:
    """A running PostgreSQL server for the whole session (throwaway cluster or LEDGERLAKE_PG_DSN)."""
    with postgres_server() as dsn:
        yield dsn


@pytest.fixture
def pg_dsn(pg_admin_dsn: str) -> str:
    """A fresh, empty database on the session's server."""
    return fresh_database(pg_admin_dsn)

from __future__ import annotations

from ingestion.quickbooks import settings as qbo_settings
from ingestion.runner import SOURCES


def test_the_runner_counts_every_quickbooks_table_the_source_loads() -> None:
    tables = {qbo_settings.table_name(e) for e in qbo_settings.ENTITIES}
    assert set(SOURCES["quickbooks"].objects) == tables

"""Type contracts: a second run with drifted types quarantines the drifted records (reason naming the
field, the expected and the received type), adds new columns, and never creates a `__v_` variant."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from ingestion.common import SourceReport, Target
from ingestion.contracts import TypeContract
from ingestion.runner import run_api_sources
from sandbox.credentials import SOURCE_DEFAULTS
from sandbox.generate import generate
from sandbox.server import serve_in_thread


@pytest.fixture(scope="module")
def sandbox_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("contracts_sandbox")
    generate(seed=3, scale=0.05, out=out)
    return out


@pytest.fixture(autouse=True)
def _dlt_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
    for source in ("stripe", "shopify", "quickbooks", "hubspot"):
        for key, value in SOURCE_DEFAULTS[source].items():
            monkeypatch.setenv(f"SOURCES__{source.upper()}__{key.upper()}", value)


def _rows(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def _append(path: Path, records: list[dict]) -> None:
    with path.open("a") as f:
        f.writelines(json.dumps(r) + "\n" for r in records)


def _two_runs(
    sandbox_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    source: str,
    drift: Callable[[Path], None],
) -> tuple[Path, SourceReport]:
    """Load the clean sandbox, apply `drift` to its state files, load again; the second report."""
    root = tmp_path / "sbx"
    shutil.copytree(sandbox_dir, root)
    target = Target("duckdb", tmp_path / "w.duckdb", pipelines_dir=tmp_path / ".dlt")
    with serve_in_thread(root) as url:
        monkeypatch.setenv(f"SOURCES__{source.upper()}__BASE_URL", url)
        [first] = run_api_sources([source], target, record=False)
    assert first.error is None
    drift(root)
    with serve_in_thread(root) as url:  # a fresh server reads the edited state files
        monkeypatch.setenv(f"SOURCES__{source.upper()}__BASE_URL", url)
        [second] = run_api_sources([source], target, record=False)
    assert target.duckdb_path is not None
    return target.duckdb_path, second


def _assert_no_variants(db: Path, source: str) -> None:
    variants = _rows(
        db,
        "select table_name, column_name from information_schema.columns "
        f"where table_schema = 'raw_{source}' and strpos(column_name, '__v_') > 0",
    )
    assert variants == []


def _assert_counts_add_up(report: SourceReport) -> None:
    for obj, c in report.objects.items():
        assert c.seen == c.loaded + c.quarantined + c.duplicates, (obj, c)


def _quarantine(db: Path, source: str) -> dict[str, str]:
    return dict(_rows(db, f"select record_ref, reason from raw_{source}.quarantine"))


def test_stripe_type_drift_is_quarantined_and_new_columns_evolve(
    sandbox_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def drift(root: Path) -> None:
        path = root / "state/stripe/charges.jsonl"
        charges = _lines(path)
        newest = max(c["created"] for c in charges)
        refunded = next(c for c in charges if c["refunds"]["data"])

        def clone(base: dict, n: int, **changes: object) -> dict:
            return {**base, "id": f"ch_drift{n}", "created": newest + 10 + n, **changes}

        nested = json.loads(json.dumps(refunded))
        nested["refunds"]["data"][0]["amount"] = "500"
        _append(
            path,
            [
                clone(charges[0], 1, amount="1200"),  # money as a string
                clone(charges[0], 2, description=12345),  # a number where text was
                clone(charges[0], 3, outcome={**charges[0]["outcome"], "risk_level": 7}),  # nested field
                clone(nested, 4),  # in a child table: charges__refunds__data
                clone(charges[0], 5, loyalty_tier="gold"),  # a new column: evolves
            ],
        )

    db, report = _two_runs(sandbox_dir, tmp_path, monkeypatch, "stripe", drift)
    assert report.error is None
    assert _quarantine(db, "stripe") == {
        "ch_drift1": "field amount: expected integer minor units, got str",
        "ch_drift2": "field description: expected text, got bigint",
        "ch_drift3": "field outcome__risk_level: expected text, got bigint",
        "ch_drift4": "field refunds__data.amount: expected bigint, got text",
    }
    assert report.objects["charges"].quarantined == 4
    assert _rows(db, "select id, loyalty_tier from raw_stripe.charges where loyalty_tier is not null") == [
        ("ch_drift5", "gold")
    ]
    _assert_no_variants(db, "stripe")
    _assert_counts_add_up(report)


def test_quickbooks_type_drift_in_records_and_lines(
    sandbox_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def drift(root: Path) -> None:
        path = root / "state/quickbooks/Invoice.jsonl"
        invoices = _lines(path)
        base = next(i for i in invoices if len(i["Line"]) > 1)
        later = max(i["MetaData"]["LastUpdatedTime"] for i in invoices)

        def clone(n: int, **changes: object) -> dict:
            record = json.loads(json.dumps(base))
            record.update({"Id": f"9990{n}", "DocNumber": f"INV-DRIFT-{n}", **changes})
            record["MetaData"] = {**record["MetaData"], "LastUpdatedTime": later}
            return record

        bad_line = clone(3)
        bad_line["Line"][0]["Amount"] = "12.50"
        _append(
            path,
            [
                clone(1, TotalAmt="1200.00"),  # money as text (the source's own check)
                clone(2, DocNumber=1002),  # a number where text was
                bad_line,  # in the child table invoice__line
                clone(4, SalesChannel="web"),  # a new column: evolves
                clone(5, Balance=12),  # an int where a double was: compatible, loads
            ],
        )

    db, report = _two_runs(sandbox_dir, tmp_path, monkeypatch, "quickbooks", drift)
    assert report.error is None
    assert _quarantine(db, "quickbooks") == {
        "99901": "field TotalAmt: expected a number, got str",
        "99902": "field doc_number: expected text, got bigint",
        "99903": "field line.amount: expected double, got text",
    }
    assert report.objects["invoice"].quarantined == 3
    loaded = _rows(
        db, "select id, sales_channel from raw_quickbooks.invoice where id in ('99904', '99905') order by 1"
    )
    assert loaded == [("99904", "web"), ("99905", None)]
    _assert_no_variants(db, "quickbooks")
    _assert_counts_add_up(report)


def test_shopify_type_drift_quarantined_json_columns_keep_any_shape(
    sandbox_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def drift(root: Path) -> None:
        path = root / "state/shopify/orders.jsonl"
        orders = _lines(path)
        base = orders[0]

        def clone(n: int, **changes: object) -> dict:
            record = json.loads(json.dumps(base))
            record.update({"id": 990000 + n, "updated_at": "2099-01-01T00:00:00+00:00", **changes})
            return record

        bad_qty, odd_json = clone(2), clone(3)
        bad_qty["line_items"][0]["quantity"] = "two"
        # price_set.shop_money is past the nesting limit: a JSON column, any shape is fine
        odd_json["line_items"][0]["price_set"]["shop_money"] = {"amount": 29, "extra": [1, 2]}
        _append(path, [clone(1, total_price=29.0), bad_qty, odd_json, clone(4, channel_note="pos")])

    db, report = _two_runs(sandbox_dir, tmp_path, monkeypatch, "shopify", drift)
    assert report.error is None
    assert _quarantine(db, "shopify") == {
        "990001": "field total_price: expected text, got double",
        "990002": "field line_items.quantity: expected bigint, got text",
    }
    assert report.objects["orders"].quarantined == 2
    loaded = _rows(
        db, "select id, channel_note from raw_shopify.orders where id in (990003, 990004) order by 1"
    )
    assert loaded == [(990003, None), (990004, "pos")]
    _assert_no_variants(db, "shopify")
    _assert_counts_add_up(report)


def test_hubspot_property_as_a_number_where_text_was(
    sandbox_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def drift(root: Path) -> None:
        path = root / "state/hubspot/deals.jsonl"
        base = _lines(path)[0]
        stamp = "2099-01-01T00:00:00.000Z"

        def clone(n: int, **props: object) -> dict:
            properties = {**base["properties"], "hs_object_id": f"99{n}", "hs_lastmodifieddate": stamp}
            return {**base, "id": f"99{n}", "properties": {**properties, **props}, "updatedAt": stamp}

        _append(path, [clone(1, amount=6757.43), clone(2, dealname="ok")])

    db, report = _two_runs(sandbox_dir, tmp_path, monkeypatch, "hubspot", drift)
    assert report.error is None
    assert _quarantine(db, "hubspot") == {"991": "field properties__amount: expected text, got double"}
    assert report.objects["deals"].quarantined == 1
    assert _rows(db, "select id from raw_hubspot.deals where id like '99%'") == [("992",)]
    _assert_no_variants(db, "hubspot")
    _assert_counts_add_up(report)


def test_drift_the_precheck_misses_fails_the_source_instead_of_a_variant(
    sandbox_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ingestion.contracts.fits", lambda expected, value: True)

    def drift(root: Path) -> None:
        path = root / "state/shopify/orders.jsonl"
        order = {**_lines(path)[0], "id": 990100, "updated_at": "2099-01-01T00:00:00+00:00"}
        _append(path, [{**order, "total_weight": "heavy"}])

    db, report = _two_runs(sandbox_dir, tmp_path, monkeypatch, "shopify", drift)
    assert report.error is not None and "\n" not in report.error
    assert "table orders column total_weight (expected bigint, got text)" in report.error
    assert "data_type: freeze" in report.error
    _assert_no_variants(db, "shopify")
    assert _rows(db, "select count(*) from raw_shopify.orders where id = 990100") == [(0,)]


def test_contract_learns_new_columns_within_a_run_and_freezes_keys() -> None:
    contract = TypeContract(
        "things", {"note": {"data_type": "text"}, "body": {"data_type": "json"}}, {"id": "text"}
    )
    assert contract.check({"id": "a", "note": "x", "size": 3, "body": {"any": ["shape"]}}) is None
    assert contract.check({"id": "b", "size": "3"}) == "field size: expected bigint, got text"
    assert contract.check({"id": "c", "size": 4.0, "body": [1, 2]}) is None
    assert contract.check({"id": "d", "size": 4.5}) == "field size: expected bigint, got double"
    assert contract.check({"id": 5}) == "field id: expected text, got bigint"
    assert contract.check({"note": "no key"}) == "key field id: expected text, got nothing"
    assert contract.check({"id": "e", "items": [{"qty": 1}, {"qty": "1"}]}) == (
        "field items.qty: expected bigint, got text"
    )
    # a rejected record teaches nothing: `items.qty` is still unknown
    assert contract.check({"id": "f", "items": [{"qty": "1"}]}) is None

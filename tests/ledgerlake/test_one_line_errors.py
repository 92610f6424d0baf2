"""Bad config and unreachable targets: one line on stderr, exit 2, the secret never shown."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.ledgerlake.test_cli import ledgerlake


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends


def _one_line_exit_2(res, needle: str) -> None:  # noqa: ANN001 - CompletedProcess
    assert res.returncode == 2, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert needle in res.stderr, res.stderr


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ledgerlake.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("toml", "needle"),
    [
        ('[company]\nfunctinal_currency = "EUR"\n', "unknown key company.functinal_currency (did you mean functional_currency?)"),
        ('[rollout]\ngo_live = "2025-07-02"\n', "unknown key rollout.go_live (did you mean go_live_date?)"),
        ('[compnay]\nname = "x"\n', "unknown section [compnay]"),
        ('[company]\nfunctional_currency = "XYZ"\n', "company.functional_currency must be an ISO 4217"),
        ("[rollout]\nbaseline_days = -90\n", "rollout.baseline_days: must be a whole number of days from 1"),
        ("[forecast]\nhorizon_days = -5\n", "forecast.horizon_days: must be a whole number of days from 1"),
        ("[forecast]\nhorizon_days = 0\n", "forecast.horizon_days"),
        ("[kpi_targets]\nmanual_entry_hour = { relative = -0.7 }\n", "unknown key kpi_targets.manual_entry_hour"),
    ],
)  # fmt: skip
def test_config_typos_and_impossible_values_name_the_key(tmp_path: Path, toml: str, needle: str) -> None:
    config = _toml(tmp_path, toml)
    res = ledgerlake(
        "build", "--config", str(config), env={"LEDGERLAKE_WAREHOUSE": str(tmp_path / "w.duckdb")}
    )
    _one_line_exit_2(res, needle)
    assert str(config) in res.stderr


def test_a_config_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    config = tmp_path / "ledgerlake.toml"
    config.write_bytes('[company]\nname = "Müller GmbH"\n'.encode("latin-1"))
    res = ledgerlake(
        "build", "--config", str(config), env={"LEDGERLAKE_WAREHOUSE": str(tmp_path / "w.duckdb")}
    )
    _one_line_exit_2(res, "not UTF-8 text")


def test_the_toml_date_literal_is_accepted(tmp_path: Path) -> None:
    from ledgerlake.config import load_company

    company = load_company(_toml(tmp_path, "[rollout]\ngo_live_date = 2025-07-02\n"))
    assert company.go_live_date.isoformat() == "2025-07-02"


@pytest.mark.parametrize(
    ("dsn", "needle"),
    [
        ("postgresql://ll:s3cr3t-pw@127.0.0.1:99999/ledgerlake", "port 99999 is out of range"),
        ("postgresql://ll:s3cr3t-pw@127.0.0.1:abc/ledgerlake", "is not a postgresql://"),
        ("mysql://ll:s3cr3t-pw@127.0.0.1:5432/ledgerlake", "is not a postgresql://"),
    ],
)
def test_a_malformed_dsn_is_one_line_and_masks_the_password(tmp_path: Path, dsn: str, needle: str) -> None:
    res = ledgerlake(
        "build", "--target", "postgres",
        env={"LEDGERLAKE_PG_DSN": dsn, "LEDGERLAKE_WAREHOUSE": str(tmp_path / "w.duckdb")},
    )  # fmt: skip
    _one_line_exit_2(res, needle)
    assert "s3cr3t-pw" not in res.stderr + res.stdout


def test_postgres_on_a_closed_port_during_ingest_is_one_line(tmp_path: Path) -> None:
    dsn = f"postgresql://ll:s3cr3t-pw@127.0.0.1:{_closed_port()}/ledgerlake"
    res = ledgerlake(
        "ingest", "stripe", "--target", "postgres",
        env={"LEDGERLAKE_PG_DSN": dsn, "LEDGERLAKE_WAREHOUSE": str(tmp_path / "w.duckdb")},
    )  # fmt: skip
    _one_line_exit_2(res, "cannot connect to PostgreSQL")
    assert "s3cr3t-pw" not in res.stderr + res.stdout


def test_sandbox_serve_on_a_busy_port_is_one_line(tmp_path: Path) -> None:
    data = tmp_path / "sb"
    data.mkdir()
    (data / "sandbox.json").write_text("{}")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        res = ledgerlake("sandbox", "serve", "--data", str(data), "--port", str(port))
    _one_line_exit_2(res, f"cannot listen on 127.0.0.1:{port}")


@pytest.mark.parametrize(
    "args",
    [
        ["sandbox", "generate", "--scale", "-1", "--out", "OUT"],
        ["sandbox", "generate", "--scale", "0", "--out", "OUT"],
        ["run", "--scale", "-1"],
    ],
)
def test_an_impossible_scale_is_refused(tmp_path: Path, args: list[str]) -> None:
    args = [str(tmp_path / "sb") if a == "OUT" else a for a in args]
    res = ledgerlake(*args, env={"LEDGERLAKE_WAREHOUSE": str(tmp_path / "w.duckdb")})
    _one_line_exit_2(res, "--scale")
    assert not (tmp_path / "sb").exists()


@pytest.mark.parametrize("name", ["o'brien.duckdb", 'say "hi".duckdb'])
def test_a_warehouse_path_with_a_quote_is_refused_before_anything_is_written(
    tmp_path: Path, name: str
) -> None:
    warehouse = tmp_path / name
    ofx = Path(__file__).resolve().parents[1] / "fixtures" / "real" / "bank_ofx" / "checking.ofx"
    res = ledgerlake("ingest", "files", str(ofx), "--warehouse", str(warehouse))
    _one_line_exit_2(res, "cannot quote it in SQL")
    assert list(tmp_path.iterdir()) == []


def test_publish_quotes_the_paths_it_puts_in_sql(tmp_path: Path) -> None:
    """Our own SQL never splices a path: the snapshot of a file in a folder named o'brien is published."""
    import duckdb

    from ledgerlake.config import Company, Settings
    from ledgerlake.orchestrate import publish_snapshot

    folder = tmp_path / "o'brien"
    folder.mkdir()
    warehouse = folder / "w.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema marts; create table marts.t as select 42 as v")
    settings = Settings("duckdb", warehouse, None, Company(), None)
    snapshot = publish_snapshot(settings)
    with duckdb.connect(str(snapshot), read_only=True) as con:
        assert con.execute("select v from marts.t").fetchone() == (42,)

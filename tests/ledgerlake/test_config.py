from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from ledgerlake.config import load_company, load_settings
from ledgerlake.errors import LedgerlakeError


def test_defaults_point_at_the_duckdb_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("LEDGERLAKE_WAREHOUSE", raising=False)
    monkeypatch.delenv("LEDGERLAKE_TARGET", raising=False)
    monkeypatch.chdir(tmp_path)
    s = load_settings()
    assert s.target == "duckdb"
    assert s.warehouse_path == (tmp_path / "data" / "ledgerlake.duckdb").resolve()
    assert s.snapshot_path.name == "ledgerlake.snapshot.duckdb"


def test_env_overrides_and_flag_beats_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LEDGERLAKE_WAREHOUSE", str(tmp_path / "env.duckdb"))
    assert load_settings().warehouse_path == tmp_path / "env.duckdb"
    assert load_settings(warehouse=tmp_path / "flag.duckdb").warehouse_path == tmp_path / "flag.duckdb"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LEDGERLAKE_TARGET": "oracle"}, "target 'oracle' is unknown"),
        ({"LEDGERLAKE_TARGET": "postgres"}, "needs LEDGERLAKE_PG_DSN"),
        ({"LEDGERLAKE_TARGET": "postgres", "LEDGERLAKE_PG_DSN": "mysql://x@h/db"}, "is not a postgresql://"),
    ],
)
def test_bad_target_config_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    monkeypatch.delenv("LEDGERLAKE_PG_DSN", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(LedgerlakeError, match=message):
        load_settings()


def test_company_settings_are_read_and_validated(tmp_path: Path) -> None:
    cfg = tmp_path / "ledgerlake.toml"
    cfg.write_text(
        '[company]\nfunctional_currency = "eur"\n[rollout]\ngo_live_date = 2024-03-01\n'
        "[kpi_targets]\ninvoice_error_rate = { absolute = 0.02 }\n"
    )
    company = load_company(cfg)
    assert company.functional_currency == "EUR"
    assert company.go_live_date == date(2024, 3, 1)
    assert company.kpi_targets["invoice_error_rate"].kind == "absolute"

    cfg.write_text('[rollout]\ngo_live_date = "first of July"\n')
    with pytest.raises(LedgerlakeError, match=r"rollout.go_live_date: 'first of July' is not a date"):
        load_company(cfg)
    cfg.write_text("[kpi_targets]\nauto_match_rate = { better = 1 }\n")
    with pytest.raises(LedgerlakeError, match="kpi_targets.auto_match_rate must be"):
        load_company(cfg)
    cfg.write_text("[company\n")
    with pytest.raises(LedgerlakeError, match="not valid TOML"):
        load_company(cfg)

"""Project configuration: named targets, defaults and environment overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from kcrm_gov.config import load_config
from kcrm_gov.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent


def test_shipped_config_has_local_default_and_prod() -> None:
    config = load_config(REPO)
    local = config.target()
    assert local.name == "local" and local.type == "duckdb"
    assert local.path == REPO / ".kcrm" / "warehouse.duckdb"
    prod = config.target("prod")
    assert prod.type == "bigquery" and prod.project
    assert prod.dataset("core") == "kcrm_core"


def test_env_picks_target_and_overrides_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KCRM_GOV_TARGET", "prod")
    monkeypatch.setenv("KCRM_GOV_PROD__PROJECT", "kcrm-staging")
    monkeypatch.setenv("KCRM_GOV_PROD__DATASET_PREFIX", "stg_")
    target = load_config(REPO).target()
    assert target.name == "prod" and target.project == "kcrm-staging"
    assert target.dataset("marts") == "stg_marts"


def test_unknown_target_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown target 'staging' \(known: local, prod\)"):
        load_config(REPO).target("staging")


def test_missing_config_defaults_to_local_duckdb(tmp_path: Path) -> None:
    target = load_config(tmp_path).target()
    assert target.type == "duckdb" and target.path == tmp_path / ".kcrm" / "warehouse.duckdb"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("targets:\n  local:\n    type: postgres\n", "type must be one of duckdb, bigquery"),
        ("targets:\n  prod:\n    type: bigquery\n", "a bigquery target needs a project"),
        ("targets:\n  local:\n    type: duckdb\n    pasword: x\n", "unknown keys: pasword"),
        ("default_target: prod\ntargets:\n  local:\n    type: duckdb\n", "default_target 'prod' is not a target"),
        ("targets: [\n", "malformed YAML"),
    ],
)
def test_bad_config_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "kcrm_gov.yml").write_text(text)
    with pytest.raises(Exception, match=message) as info:
        load_config(tmp_path).target()
    assert "kcrm_gov.yml" in str(info.value)
    assert isinstance(info.value, ConfigError) or type(info.value).__name__ == "ContractError"

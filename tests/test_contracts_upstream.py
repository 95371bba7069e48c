"""Upstream datacontract-cli (its Python API) works on the shipped contracts: `lint`, `test` against the
built local warehouse through each contract's `servers` block, and `export` to BigQuery DDL and schema."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kcrm_gov.project import contract_files

REPO = Path(__file__).resolve().parent.parent
CONTRACTS = contract_files(REPO / "contracts")


@pytest.fixture(scope="module", autouse=True)
def _odcs_schema_checked_once() -> Iterator[None]:
    """Every datacontract call first checks the ODCS JSON Schema itself against its metaschema: the
    same schema each time, and 3/4 of a call (0.25 of 0.3 s). Check each schema once per module; the
    contracts are still validated against it on every call."""
    from jsonschema import validators

    checked: set[str] = set()
    with pytest.MonkeyPatch.context() as patch:
        for cls in {v for k, v in vars(validators).items() if k.startswith("Draft") and k.endswith("Validator")}:
            def check_schema(klass: Any, schema: Any, *args: Any, _real: Any = cls.check_schema.__func__,
                             **kwargs: Any) -> None:
                key = f"{klass.__name__}:{json.dumps(schema, sort_keys=True)}"
                if key not in checked:
                    _real(klass, schema, *args, **kwargs)
                    checked.add(key)

            patch.setattr(cls, "check_schema", classmethod(check_schema))
        yield


def test_the_project_ships_contracts() -> None:
    assert len(CONTRACTS) >= 20


@pytest.mark.parametrize("path", CONTRACTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_datacontract_lint_passes(path: Path) -> None:
    from datacontract.data_contract import DataContract

    run = DataContract(data_contract_file=str(path)).lint()
    failed = [c for c in run.checks if c.result != "passed"]
    assert run.result == "passed", [(c.name, c.reason) for c in failed]


def test_datacontract_lint_fails_on_a_broken_contract(tmp_path: Path) -> None:
    """The upstream linter really checks: the same file with an unknown key fails."""
    from datacontract.data_contract import DataContract

    broken = tmp_path / "broken.odcs.yaml"
    broken.write_text(CONTRACTS[0].read_text().replace("status: active", "status: active\nowner: nobody", 1))
    assert DataContract(data_contract_file=str(broken)).lint().result != "passed"


# --- datacontract test against the built local warehouse ------------------------------------------

@pytest.fixture(scope="module")
def built_warehouse(seeded_warehouse: Path) -> Path:
    """The real project, seeded at scale 1 and built on DuckDB (the session's warehouse, read only: both
    datacontract-cli and `kcrm-gov test` open it read-only)."""
    path = seeded_warehouse / ".kcrm" / "warehouse.duckdb"
    assert path.is_file()  # where the contracts' `local` server (a path relative to the project) finds it
    return path


@pytest.fixture
def seed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """datacontract measures freshness against pandas' clock: set it to the seeded sources' last
    loader sync, as `kcrm-gov test --now` does, so the SLAs are judged on data of that age."""
    import pandas as pd

    from kcrm_gov.seed.common import SYNC_END

    frozen = pd.Timestamp(SYNC_END, unit="us", tz="UTC")

    class SeedClock(pd.Timestamp):
        @classmethod
        def now(cls, tz: object = None) -> pd.Timestamp:
            return frozen

    monkeypatch.setattr(pd, "Timestamp", SeedClock)


@pytest.mark.slow
@pytest.mark.parametrize("path", CONTRACTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_datacontract_test_passes_on_the_built_warehouse(path: Path, built_warehouse: Path, seed_clock: None,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Upstream `datacontract test --server local` (its ibis engine, not Soda) runs the shipped contract's
    schema, quality and SLA checks on the table kcrm-gov built, found through the contract's own `servers`
    block: run from the project root, as a user would, so its relative DuckDB path and the layer's schema
    are what is tested. The quality SQL runs as written, untranslated, so it must mean on DuckDB what it
    means on BigQuery."""
    from datacontract.data_contract import DataContract

    monkeypatch.chdir(built_warehouse.parent.parent)
    run = DataContract(data_contract_file=str(path), server="local").test()
    failed = [(c.name, c.reason) for c in run.checks if str(c.result).endswith(("failed", "error"))]
    assert not failed
    passed = sum(1 for c in run.checks if str(c.result).endswith("passed"))
    properties = yaml.safe_load(path.read_text())["schema"][0]["properties"]
    assert passed > len(properties) > 0
    # every `type: sql` rule of the contract ran and passed (none was skipped or refused); an audit rule of
    # severity warning may warn instead (on the mess the seed plants: tests/test_audit_rules.py)
    rules = [q for q in _quality_rules(path) if q.get("type") == "sql"]
    sql_checks = [c for c in run.checks if str(c.type or "").endswith("quality_sql")]
    ran = [c for c in sql_checks if str(c.result).endswith("passed")]
    warned = [c for c in sql_checks if str(c.result).endswith("warning")]
    assert len(warned) <= sum(1 for q in rules if q.get("severity") == "warning")
    assert len(ran) + len(warned) == len(rules)


def _quality_rules(path: Path) -> list[dict]:
    table = yaml.safe_load(path.read_text())["schema"][0]
    rules = list(table.get("quality") or [])
    for prop in table["properties"]:
        rules.extend(prop.get("quality") or [])
    return rules


@pytest.mark.slow
def test_kcrm_gov_test_passes_on_the_same_warehouse(built_warehouse: Path) -> None:
    """kcrm-gov runs the same quality SQL translated from BigQuery to DuckDB: both tools agree."""
    from click.testing import CliRunner

    from kcrm_gov.cli import cli

    root = built_warehouse.parent.parent
    result = CliRunner().invoke(cli, ["--project-dir", str(root), "test", "--now", "2024-01-02T06:00:00Z"])
    assert result.exit_code == 0, result.output


# --- datacontract export ---------------------------------------------------------------------------

EXPORTED = REPO / "contracts" / "core" / "accounts.odcs.yaml"


def test_datacontract_export_sql_in_the_bigquery_dialect() -> None:
    from datacontract.data_contract import DataContract

    ddl = DataContract(data_contract_file=str(EXPORTED), server="prod").export("sql", sql_server_type="bigquery")
    assert "-- SQL Dialect: bigquery" in ddl
    assert "CREATE TABLE accounts (" in ddl
    assert "account_key STRING not null primary key" in ddl
    assert "zendesk_organization_ids ARRAY<INT64> not null" in ddl


def test_datacontract_export_bigquery_uses_the_prod_server() -> None:
    """`datacontract export bigquery` needs a bigquery server: the contract's `prod` one, from kcrm_gov.yml."""
    from datacontract.data_contract import DataContract

    table = json.loads(DataContract(data_contract_file=str(EXPORTED), server="prod").export("bigquery"))
    assert table["tableReference"] == {"projectId": "kcrm-analytics-prod", "datasetId": "kcrm_core",
                                       "tableId": "accounts"}
    fields = {f["name"]: f for f in table["schema"]["fields"]}
    assert fields["account_key"]["type"] == "STRING" and fields["account_key"]["mode"] == "REQUIRED"

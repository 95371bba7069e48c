"""Every shipped contract passes the upstream `datacontract lint` (datacontract-cli's Python API)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kcrm_gov.project import contract_files

REPO = Path(__file__).resolve().parent.parent
CONTRACTS = contract_files(REPO / "contracts")


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
def built_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real project, seeded at scale 1 and built on DuckDB, once for this module."""
    from click.testing import CliRunner
    from conftest import copy_project

    from kcrm_gov.cli import cli

    root = copy_project(tmp_path_factory.mktemp("upstream") / "project")
    result = CliRunner().invoke(cli, ["--project-dir", str(root), "build"])
    assert result.exit_code == 0, result.output
    return root / ".kcrm" / "warehouse.duckdb"


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
                                                         tmp_path: Path) -> None:
    """Upstream `datacontract test` (its ibis engine, not Soda) runs the contract's schema, quality and
    SLA checks on the table kcrm-gov built. kcrm-gov keeps locations in kcrm_gov.yml, so the test adds
    the `servers` entry datacontract needs, pointing at the local target's schema for the layer."""
    import yaml
    from datacontract.data_contract import DataContract

    from kcrm_gov.sql.transpile import to_duckdb

    data = yaml.safe_load(path.read_text())
    for rule in data["schema"][0].get("quality") or []:
        if rule.get("query"):  # rules are BigQuery SQL, like the models: translate them for DuckDB
            rule["query"] = to_duckdb(rule["query"].replace("${table}", "kcrm_table")).replace("kcrm_table", "${table}")
    data["servers"] = [{"server": "local", "type": "duckdb", "database": str(built_warehouse),
                        "schema": path.parent.name}]
    contract = tmp_path / path.name
    contract.write_text(yaml.safe_dump(data, sort_keys=False))
    run = DataContract(data_contract_file=str(contract), server="local",
                       config={"DATACONTRACT_DUCKDB_DATABASE": str(built_warehouse)}).test()
    failed = [(c.name, c.reason) for c in run.checks if str(c.result).endswith(("failed", "error"))]
    assert not failed
    assert sum(1 for c in run.checks if str(c.result).endswith("passed")) > len(data["schema"][0]["properties"])

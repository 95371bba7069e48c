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

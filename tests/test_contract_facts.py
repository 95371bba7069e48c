"""One source for every contract fact: lint, the checks, the freshness command, diff and the catalog
read the same typed contract, so they cannot disagree.

Before, the freshness SLA was parsed five times with four lists of units (``unit: hr`` was refused
by lint and Soda and accepted by freshness and diff; ``unit: minutes`` was refused by lint only; a
layer-qualified element was refused by lint and accepted by Soda and freshness), and "sensitive
column" was decided three times.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kcrm_gov.checks.sodacl import CheckGenerationError, generate_table_checks
from kcrm_gov.config import Target
from kcrm_gov.contracts import Contract, parse_contract
from kcrm_gov.errors import ContractError
from kcrm_gov.governance.freshness import FreshnessError, sla_of
from kcrm_gov.lint.rules import sla as kg007
from kcrm_gov.yamlsource import parse_yaml

REPO = Path(__file__).resolve().parent.parent
DUCKDB = Target(name="local", type="duckdb")


def owners_with(**sla: object) -> Contract:
    """raw.hubspot__owners as shipped, with its freshness SLA changed."""
    path = REPO / "contracts" / "raw" / "hubspot__owners.odcs.yaml"
    data = yaml.safe_load(path.read_text())
    for item in data["slaProperties"]:
        if item["property"] == "freshness":
            item.update(sla)
    doc = parse_yaml(yaml.safe_dump(data, sort_keys=False), Path("contracts/raw/hubspot__owners.odcs.yaml"))
    return parse_contract(doc, "raw", "hubspot__owners")


def verdicts(contract: Contract) -> dict[str, str]:
    """What each consumer says about the contract's freshness SLA: "ok" or its message."""
    out = {}
    findings = list(kg007(contract, None))  # type: ignore[arg-type]
    out["lint"] = findings[0].message if findings else "ok"
    try:
        checks = generate_table_checks(contract, DUCKDB, {})
        out["checks"] = next((s.key for s in checks.specs if s.kind == "freshness"), "no check")
    except CheckGenerationError as exc:
        out["checks"] = exc.message
    try:
        found = sla_of(contract)
        out["freshness"] = f"{found.hours:g} h" if found else "none"
    except FreshnessError as exc:
        out["freshness"] = exc.message
    return out


@pytest.mark.parametrize("unit, hours", [("h", 24), ("hr", 24), ("hours", 24), ("minutes", 24 / 60), ("d", 24 * 24)])
def test_every_consumer_accepts_the_same_units(unit: str, hours: float) -> None:
    contract = owners_with(unit=unit)
    found = verdicts(contract)
    assert found["lint"] == "ok"
    assert found["freshness"] == f"{hours:g} h"
    assert found["checks"].startswith("freshness(_fivetran_synced)")
    assert contract.freshness is not None and contract.freshness.hours == hours


@pytest.mark.parametrize("sla, problem", [
    ({"unit": "fortnight"}, "freshness unit 'fortnight' is not one of"),
    ({"value": -3}, "freshness value needs a positive number"),
    ({"element": "hubspot__owners.owner_id"}, "it must be a TIMESTAMP or DATE"),
    ({"element": "hubspot__companies._fivetran_synced"}, "must name a column of this table"),
    ({"element": "stg.hubspot__owners._fivetran_synced"}, "must name a column of this table"),
])
def test_every_consumer_refuses_the_same_slas_with_the_same_message(sla: dict[str, object], problem: str) -> None:
    contract = owners_with(**sla)
    found = verdicts(contract)
    assert problem in found["lint"]
    assert found["lint"] == found["checks"] == found["freshness"]
    with pytest.raises(ContractError) as raised:
        contract.freshness  # noqa: B018
    assert raised.value.location is not None and raised.value.location.line > 1


def test_a_layer_qualified_element_means_the_same_everywhere() -> None:
    found = verdicts(owners_with(element="raw.hubspot__owners._fivetran_synced"))
    assert found["lint"] == "ok" and found["freshness"] == "24 h"
    assert found["checks"].startswith("freshness(_fivetran_synced)")


def test_sensitive_columns_are_decided_once() -> None:
    from kcrm_gov.catalog.pages import _pii_count
    from kcrm_gov.checks.scan import sensitive_columns
    from kcrm_gov.project import Project

    project = Project.load(REPO)
    for contract in project.ordered():
        decided = {path for path, column in contract.all_columns() if column.is_sensitive}
        masked = sensitive_columns(contract)  # top-level columns whose values are masked in samples
        assert masked == {path.split(".")[0] for path in decided}, contract.qualified_name
        assert _pii_count(contract) == len(decided), contract.qualified_name  # the catalog's PII count


def test_a_confidential_column_without_a_pii_tag_is_sensitive() -> None:
    from kcrm_gov.project import Project

    contract = Project.load(REPO).contract("stg.hubspot__owners")
    confidential = [c for _, c in contract.all_columns() if c.classification == "confidential" and not c.is_pii]
    internal = [c for _, c in contract.all_columns() if c.classification == "internal" and not c.is_pii]
    assert all(c.is_sensitive for c in confidential)
    assert internal and not any(c.is_sensitive for c in internal)


def test_highest_classification_is_one_fact() -> None:
    from kcrm_gov.ddl.bigquery import table_labels
    from kcrm_gov.project import Project

    for contract in Project.load(REPO).ordered():
        assert table_labels(contract).get("classification") == contract.highest_classification

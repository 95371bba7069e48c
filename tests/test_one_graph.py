"""One table graph and one column-lineage graph, walked the same way by every consumer.

Before, the table graph was built four times (build, catalog, diff, `lineage show`) and column
lineage walked three times with three rules for nested fields: `lineage show` followed a field
only by its top-level column, so `raw.ga4__events.event_params.value.int_value` listed every reader
of `event_params`. And a contract's declared `transformSourceObjects` were never compared with the
lineage the SQL shows (they already disagreed for `core.subscriptions`).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import copy_project

from kcrm_gov.catalog.graph import load_lineage
from kcrm_gov.governance.diff.impact import downstream_columns
from kcrm_gov.lineage.graph import column_graph, show_lineage
from kcrm_gov.lint import lint_project
from kcrm_gov.project import Project

REPO = Path(__file__).resolve().parent.parent
FIELD = "raw.ga4__events.event_params.value.int_value"


@pytest.fixture(scope="module")
def project() -> Project:
    return Project.load(REPO)


def _tree_names(nodes: list[dict], key: str) -> set[str]:
    out: set[str] = set()
    for node in nodes:
        out.add(node["name"])
        out |= _tree_names(node.get(key, []), key)
    return out


def test_a_nested_field_is_followed_by_its_path_everywhere(project: Project) -> None:
    table, path = "raw.ga4__events", "event_params.value.int_value"
    graph = column_graph(project)
    expected = set(graph.downstream(table, [path]))
    shown = _tree_names(show_lineage(project, FIELD)["downstream"], "downstream")
    catalog = set(load_lineage(project).flows_from(FIELD))
    impact = set(downstream_columns(project, table, [path], list(project.dag.order())))
    assert shown == catalog == impact == expected
    # the field feeds a few columns, not everything read from event_params
    whole = set(graph.downstream(table, ["event_params"]))
    assert expected and expected < whole
    assert "stg.ga4__events.page_location" in whole and "stg.ga4__events.page_location" not in expected


def test_every_consumer_reads_the_projects_one_dag(project: Project) -> None:
    from kcrm_gov.governance.diff.impact import dependency_graph

    dag = project.dag
    assert load_lineage(project, columns=False).dag is dag
    assert dependency_graph(project) is dag.downstream
    report = show_lineage(project, "stg.hubspot__companies")
    assert {n["name"] for n in report["downstream"]} == set(dag.downstream["stg.hubspot__companies"])


def test_a_broken_project_still_has_its_readable_edges_with_located_problems(tmp_path: Path) -> None:
    root = copy_project(tmp_path / "project")
    model = root / "models" / "core" / "accounts.sql"
    model.write_text(model.read_text().replace("FROM stg.hubspot__companies", "FROM raw.hubspot__companies", 1))
    dag = Project.load(root).dag
    assert dag.problems, "a layer violation is a problem"
    problem = next(p for p in dag.problems if "layer violation" in p.message)
    assert problem.location is not None and str(problem.location.path) == "models/core/accounts.sql"
    assert problem.location.line > 1
    assert "raw.hubspot__companies" in dag.upstream["core.accounts"]  # the catalog still shows the edge


def test_declared_sources_that_disagree_with_the_sql_are_a_lint_finding(tmp_path: Path) -> None:
    root = copy_project(tmp_path / "project")
    path = root / "contracts" / "core" / "subscriptions.odcs.yaml"
    text = path.read_text()
    declared = ("transformSourceObjects: [stg.hubspot__products, stg.quickbooks__invoice_lines, "
                "stg.quickbooks__invoices]")
    assert declared in text
    path.write_text(text.replace(declared, "transformSourceObjects: [stg.quickbooks__invoices, stg.zendesk__tickets]",
                                 1))
    findings = [f for f in lint_project(Project.load(root, strict=False)).findings if f.rule == "KG017"]
    messages = " ".join(f.message for f in findings)
    assert "computed from stg.hubspot__products, stg.quickbooks__invoice_lines" in messages
    assert "declares stg.zendesk__tickets" in messages and "does not read it" in messages
    line = text.splitlines().index(next(x for x in text.splitlines() if declared in x)) + 1
    assert {f.line for f in findings} == {line}


def test_the_shipped_contracts_declare_what_their_sql_reads(project: Project) -> None:
    assert not [f for f in lint_project(project).findings if f.rule == "KG017"]

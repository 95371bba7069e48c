"""The governance workflow on a throwaway git repository holding the real raw and stg contracts.

The repository is committed once on ``main`` (raw + stg as shipped, plus a small core → retl /
marts chain so impact reaches syncs and dashboards); every test clones it, makes one change in
the working tree and runs the diff / the gate / freshness on it, as CI would on a pull request.
"""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import REPO
from gitrepo import commit_on_main, git, private_copy
from miniproject import contract_yaml, unbind_metrics

from kcrm_gov.cli import cli
from kcrm_gov.governance.diff import ADDITIVE, BREAKING, DOCUMENTATION, diff, to_markdown, widens
from kcrm_gov.project import Project
from kcrm_gov.typemap import parse_bigquery_type

STG = "contracts/stg/hubspot__companies.odcs.yaml"
INDUSTRY = "description: HubSpot industry picklist"
CORE_COLUMNS = [("company_id", "INT64", True), ("company_name", "STRING", False), ("city", "STRING", False),
                ("employee_count", "INT64", False), ("is_internal", "BOOL", True)]
CORE_SQL = """SELECT company_id, company_name, city, employee_count, is_internal
FROM stg.hubspot__companies
"""
RETL_SQL = ("SELECT company_id, city AS hs_city, TO_HEX(MD5(TO_JSON_STRING(STRUCT(city AS hs_city)))) AS row_hash\n"
            "FROM core.companies\n")
RETL_DESTINATION = """  - property: destination
    value:
      system: hubspot
      instance: kcrm-portal
      object: companies
      matchKey: hs_object_id
      fields:
        - {column: company_id, field: hs_object_id, write: false}
        - {column: hs_city, field: city}
"""
RETL_PROPERTIES = """system: hubspot
object: companies
properties:
  - {name: hs_object_id, type: number, readOnly: true, unique: true}
  - {name: city, type: string}
"""
MARTS_SQL = "SELECT COALESCE(city, 'unknown') AS city, COUNT(*) AS companies FROM core.companies GROUP BY 1\n"



def _write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _owned_by(text: str, team: str, username: str) -> str:
    return text.replace("name: revops", f"name: {team}").replace("username: maria.chen", f"username: {username}")


@pytest.fixture(scope="module")
def base_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git repository on ``main`` with the project committed, gate green."""
    from kcrm_gov.checks import generate_checks, write_checks
    from kcrm_gov.governance.codeowners import write_codeowners

    root = tmp_path_factory.mktemp("repo") / "kcrm"
    root.mkdir()
    for rel in ("kcrm_gov.yml", "catalog", "lineage", "contracts/raw", "contracts/stg", "models/stg"):
        src = REPO / rel
        if src.is_dir():
            shutil.copytree(src, root / rel)
        elif src.is_file():
            shutil.copy2(src, root / rel)
    unbind_metrics(root)  # this project has none of the marts tables the metrics name
    _write(root, ".gitignore", ".kcrm/\n")
    _write(root, "contracts/core/companies.odcs.yaml",
           contract_yaml("core", "companies", CORE_COLUMNS, ["company_id"], source=None))
    _write(root, "models/core/companies.sql", CORE_SQL)
    _write(root, "contracts/retl/hubspot__company_properties.odcs.yaml", _owned_by(
        contract_yaml("retl", "hubspot__company_properties", [("company_id", "INT64", True),
                                                              ("hs_city", "STRING", False),
                                                              ("row_hash", "STRING", True)], ["company_id"],
                      source="hubspot"), "customer-success", "david.kim") + RETL_DESTINATION)
    _write(root, "catalog/destinations/hubspot/companies.yml", RETL_PROPERTIES)
    _write(root, "models/retl/hubspot__company_properties.sql", RETL_SQL)
    _write(root, "contracts/marts/companies_by_city.odcs.yaml", _owned_by(
        contract_yaml("marts", "companies_by_city", [("city", "STRING", True), ("companies", "INT64", True)],
                      ["city"], source=None), "finance-data", "sofia.russo"))
    _write(root, "models/marts/companies_by_city.sql", MARTS_SQL)
    project = Project.load(root)
    write_checks(project, generate_checks(project, "duckdb"), complete=True)
    write_codeowners(project)
    from kcrm_gov.governance.servers import write_servers

    write_servers(project)  # the generated servers blocks, as `kcrm-gov generate servers` writes them
    from kcrm_gov.bi.lookml import generate_lookml, write_lookml

    project = Project.load(root)
    write_lookml(project, generate_lookml(project))  # the marts table's Looker view, as `generate lookml` writes it
    return commit_on_main(root)


@pytest.fixture
def repo(base_repo: Path, tmp_path: Path) -> Path:
    """A private clone of the base repository (working tree and history) for one change."""
    return private_copy(base_repo, tmp_path)


def edit(root: Path, rel: str, old: str, new: str, count: int = 1) -> None:
    path = root / rel
    text = path.read_text()
    assert text.count(old) >= count, f"{old!r} not in {rel}"
    path.write_text(text.replace(old, new, count))


def bump(root: Path, rel: str, version: str) -> None:
    edit(root, rel, "\nversion: 1.0.0\n", f"\nversion: {version}\n")


def kinds(report, table: str) -> dict[str, str]:
    t = next(t for t in report.tables if t.table == table)
    return {c.change: c.kind for c in t.changes}


def table_of(report, table: str):
    return next(t for t in report.tables if t.table == table)


def run_cli(root: Path, *args: str):
    return CliRunner().invoke(cli, ["--project-dir", str(root), *args], obj={}, catch_exceptions=False)


# --- diff: one change of each kind ----------------------------------------------------------------
def test_no_change_is_clean(repo: Path) -> None:
    report = diff(repo, "main")
    assert report.tables == [] and report.ok
    assert "No contract or model changed" in to_markdown(report)


def test_column_removed_is_breaking_with_column_level_impact(repo: Path) -> None:
    text = (repo / STG).read_text()
    start = text.index("      - name: city\n")
    end = text.index("      - name: phone\n")
    (repo / STG).write_text(text[:start] + text[end:])
    report = diff(repo, "main")
    t = table_of(report, "stg.hubspot__companies")
    assert kinds(report, "stg.hubspot__companies") == {"column_removed": BREAKING}
    assert t.version is not None and not t.version.ok and t.version.required == "major"
    assert "set it to 2.0.0" in t.version.message
    imp = t.impact
    assert imp is not None
    assert imp.tables == ["core.companies", "retl.hubspot__company_properties", "marts.companies_by_city"]
    assert imp.columns == ["core.companies.city", "retl.hubspot__company_properties.hs_city",
                           "retl.hubspot__company_properties.row_hash", "marts.companies_by_city.city"]
    assert imp.retl == ["retl.hubspot__company_properties"] and imp.marts == ["marts.companies_by_city"]
    assert imp.destinations == ["hubspot://kcrm-portal/companies.city"]  # through retl, to HubSpot
    approvers = {a.username: a.mention for a in imp.approvers}
    assert approvers == {"maria.chen": "@mchen-kcrm", "david.kim": "@dkim-cs", "sofia.russo": "@srusso"}
    markdown = to_markdown(report)
    assert "❌" in markdown and "`retl.hubspot__company_properties.hs_city`" in markdown and "@dkim-cs" in markdown
    result = run_cli(repo, "diff", "--base", "main", "--json")
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["violations"][0]["table"] == "stg.hubspot__companies"
    # with the major bump the rule is met
    bump(repo, STG, "2.0.0")
    assert run_cli(repo, "diff", "--base", "main").exit_code == 0


def test_column_renamed_is_breaking(repo: Path) -> None:
    edit(repo, STG, "      - name: company_name\n", "      - name: company_title\n")
    report = diff(repo, "main")
    assert kinds(report, "stg.hubspot__companies") == {"column_renamed": BREAKING}
    t = table_of(report, "stg.hubspot__companies")
    assert t.impact is not None and t.impact.columns == ["core.companies.company_name"]


def test_type_narrowed_changed_and_widened(repo: Path) -> None:
    edit(repo, STG, "physicalType: NUMERIC", "physicalType: INT64")  # annual_revenue_usd
    report = diff(repo, "main")
    assert kinds(report, "stg.hubspot__companies") == {"type_narrowed": BREAKING}

    edit(repo, STG, "physicalType: INT64", "physicalType: NUMERIC")  # put it back
    edit(repo, "contracts/core/companies.odcs.yaml", "physicalType: STRING\n        description: The city",
         "physicalType: INT64\n        description: The city")
    edit(repo, "contracts/core/companies.odcs.yaml", "logicalType: string\n        physicalType: INT64",
         "logicalType: integer\n        physicalType: INT64")
    report = diff(repo, "main")
    assert kinds(report, "core.companies") == {"type_changed": BREAKING}


def test_type_widened_needs_a_minor_bump(repo: Path) -> None:
    core = "contracts/core/companies.odcs.yaml"
    edit(repo, core, "logicalType: integer\n        physicalType: INT64\n        description: The employee_count",
         "logicalType: number\n        physicalType: NUMERIC\n        description: The employee_count")
    report = diff(repo, "main")
    assert kinds(report, "core.companies") == {"type_widened": ADDITIVE}
    t = table_of(report, "core.companies")
    assert t.version.required == "minor" and not t.version.ok and t.impact is None
    bump(repo, core, "1.1.0")
    report = diff(repo, "main")
    assert report.ok and table_of(report, "core.companies").version.actual == "minor"


def test_widening_lattice() -> None:
    def w(a: str, b: str) -> bool:
        return widens(parse_bigquery_type(a), parse_bigquery_type(b))

    assert w("INT64", "NUMERIC") and w("NUMERIC", "BIGNUMERIC") and w("INT64", "BIGNUMERIC")
    assert w("STRING(10)", "STRING(20)") and w("STRING(10)", "STRING") and w("NUMERIC(10, 2)", "NUMERIC(12, 2)")
    assert w("ARRAY<INT64>", "ARRAY<NUMERIC>")
    assert not w("INT64", "FLOAT64") and not w("NUMERIC", "FLOAT64")  # exact -> approximate
    assert not w("DATE", "TIMESTAMP") and not w("DATE", "DATETIME") and not w("INT64", "STRING")
    assert not w("BIGNUMERIC", "NUMERIC") and not w("NUMERIC(12, 2)", "NUMERIC(12, 4)")
    assert not w("STRING", "STRING(10)")


def test_column_made_required(repo: Path) -> None:
    edit(repo, STG, INDUSTRY, f"required: true\n        {INDUSTRY}")
    report = diff(repo, "main")
    assert kinds(report, "stg.hubspot__companies") == {"column_made_required": BREAKING}


def test_primary_key_changed(repo: Path) -> None:
    core = "contracts/core/companies.odcs.yaml"
    edit(repo, core, "physicalType: STRING\n        description: The company_name column.",
         "physicalType: STRING\n        description: The company_name column.\n        required: true\n"
         "        primaryKey: true\n        primaryKeyPosition: 2")
    report = diff(repo, "main")
    changes = kinds(report, "core.companies")
    assert changes["primary_key_changed"] == BREAKING
    assert table_of(report, "core.companies").impact.tables == ["retl.hubspot__company_properties",
                                                                 "marts.companies_by_city"]


def test_allowed_values_narrowed_and_widened(repo: Path) -> None:
    edit(repo, STG, "validValues: [subscriber, lead,", "validValues: [lead,")
    report = diff(repo, "main")
    assert kinds(report, "stg.hubspot__companies") == {"allowed_values_narrowed": BREAKING}
    edit(repo, STG, "validValues: [lead,", "validValues: [subscriber, partner, lead,")
    report = diff(repo, "main")
    assert kinds(report, "stg.hubspot__companies") == {"allowed_values_widened": ADDITIVE}


def test_classification_lowered_and_pii_mark_removed(repo: Path) -> None:
    text = (repo / STG).read_text()
    phone = text.index("      - name: phone\n")
    end = text.index("      - name: lifecycle_stage\n")
    block = text[phone:end].replace("classification: confidential", "classification: internal")
    (repo / STG).write_text(text[:phone] + block + text[end:])
    report = diff(repo, "main")
    assert kinds(report, "stg.hubspot__companies") == {"classification_lowered": BREAKING}
    (repo / STG).write_text(text[:phone] + text[phone:end].replace("        tags: [pii]\n", "") + text[end:])
    report = diff(repo, "main")
    assert kinds(report, "stg.hubspot__companies") == {"pii_mark_removed": BREAKING}


def test_sla_loosened_tightened_and_leaf(repo: Path) -> None:
    sla = "  - property: freshness\n    value: 24\n"
    edit(repo, STG, sla, "  - property: freshness\n    value: 48\n")
    report = diff(repo, "main")
    assert kinds(report, "stg.hubspot__companies") == {"sla_loosened": BREAKING}
    edit(repo, STG, "  - property: freshness\n    value: 48\n", "  - property: freshness\n    value: 12\n")
    report = diff(repo, "main")
    assert kinds(report, "stg.hubspot__companies") == {"sla_tightened": ADDITIVE}


def test_sla_loosened_on_a_table_nothing_reads_is_additive(repo: Path) -> None:
    # raw.hubspot__products is read by stg: loosen a contract's SLA whose table has no readers instead
    rel = "contracts/core/companies.odcs.yaml"
    text = (repo / rel).read_text()
    (repo / rel).write_text(text.replace("customProperties:\n", "slaProperties:\n  - property: freshness\n"
                                         "    value: 24\n    unit: h\n    element: companies.company_id\n"
                                         "customProperties:\n", 1))
    git(repo, "commit", "-qam", "core has an SLA")
    git(repo, "branch", "-f", "main", "HEAD")
    edit(repo, rel, "    value: 24\n    unit: h\n    element: companies.company_id", "    value: 48\n    unit: h\n"
         "    element: companies.company_id")
    report = diff(repo, "main")
    assert kinds(report, "core.companies") == {"sla_loosened": BREAKING}  # retl and marts read it
    edit(repo, "models/retl/hubspot__company_properties.sql", "core.companies", "stg.hubspot__companies")
    edit(repo, "models/marts/companies_by_city.sql", "core.companies", "stg.hubspot__companies")
    # the base still has readers: a loosening is judged on who read the table before the change too
    assert kinds(diff(repo, "main"), "core.companies")["sla_loosened"] == BREAKING


def test_quality_rule_removed(repo: Path) -> None:
    text = (repo / STG).read_text()
    start = text.index("        quality:\n          - type: library\n            metric: invalidValues")
    end = text.index("      - name: owner_id\n", start)
    (repo / STG).write_text(text[:start] + text[end:])
    report = diff(repo, "main")
    changes = kinds(report, "stg.hubspot__companies")
    assert changes["quality_rule_removed"] == BREAKING


def test_table_added_and_removed(repo: Path) -> None:
    _write(repo, "contracts/marts/companies_total.odcs.yaml",
           contract_yaml("marts", "companies_total", [("companies", "INT64", True)], ["companies"], source=None))
    _write(repo, "models/marts/companies_total.sql", "SELECT COUNT(*) AS companies FROM core.companies\n")
    report = diff(repo, "main")
    assert kinds(report, "marts.companies_total") == {"table_added": ADDITIVE}
    assert report.ok
    (repo / "contracts/marts/companies_by_city.odcs.yaml").unlink()
    (repo / "models/marts/companies_by_city.sql").unlink()
    report = diff(repo, "main")
    t = table_of(report, "marts.companies_by_city")
    assert t.changes[0].change == "table_removed" and t.changes[0].kind == BREAKING
    assert not t.version.ok and "deprecate it first" in t.version.message
    assert [a.mention for a in t.impact.approvers] == ["@srusso"]
    assert run_cli(repo, "diff", "--base", "main").exit_code == 1


def test_description_change_needs_a_patch(repo: Path) -> None:
    edit(repo, STG, "description: HubSpot industry picklist", "description: The HubSpot industry picklist")
    report = diff(repo, "main")
    assert kinds(report, "stg.hubspot__companies") == {"description_changed": DOCUMENTATION}
    t = table_of(report, "stg.hubspot__companies")
    assert t.version.required == "patch" and not t.version.ok
    bump(repo, STG, "1.0.1")
    assert diff(repo, "main").ok


def test_model_change_is_implementation_only(repo: Path) -> None:
    edit(repo, "models/marts/companies_by_city.sql", "'unknown'", "'(none)'")
    report = diff(repo, "main")
    assert kinds(report, "marts.companies_by_city") == {"model_changed": "implementation"}
    assert report.ok


def test_default_base_is_merge_base_with_main(repo: Path) -> None:
    edit(repo, STG, "description: HubSpot industry picklist", "description: The HubSpot industry picklist")
    git(repo, "commit", "-qam", "doc change on the branch")
    report = diff(repo)  # no --base: merge base of HEAD and main
    assert "merge base of HEAD and main" in report.base
    assert kinds(report, "stg.hubspot__companies") == {"description_changed": DOCUMENTATION}


def test_unknown_base_is_a_clear_error(repo: Path) -> None:
    result = run_cli(repo, "diff", "--base", "no-such-branch")
    assert result.exit_code == 2 and "unknown git ref 'no-such-branch'" in result.output


# --- check: the gate ------------------------------------------------------------------------------
def test_check_passes_on_main(repo: Path) -> None:
    result = run_cli(repo, "check", "--base", "main")
    assert result.exit_code == 0, result.output
    assert "ok   codeowners" in result.output and "ok   versions" in result.output


def test_check_fails_on_a_broken_contract(repo: Path) -> None:
    edit(repo, STG, "physicalType: NUMERIC", "physicalType: NUMBERS")
    result = run_cli(repo, "check", "--format", "github")
    assert result.exit_code != 0
    line = (repo / STG).read_text().splitlines().index("        physicalType: NUMBERS") + 1
    assert re.search(rf"::error file={re.escape(STG)},line={line},col=\d+,title=kcrm-gov lint", result.output), \
        result.output


def test_check_fails_when_a_model_no_longer_matches_its_contract(repo: Path) -> None:
    edit(repo, "models/core/companies.sql", "company_name, city", "company_name AS name, city")
    result = run_cli(repo, "check", "--format", "junit")
    assert result.exit_code == 1
    root = ET.fromstring(result.output.split("\n", 1)[1])
    suite = root.find("testsuite[@name='kcrm-gov.compile']")
    assert suite is not None and suite.get("failures") != "0"
    case = suite.find("testcase")
    assert case.get("file") == "models/core/companies.sql"
    assert "does not match its contract" in case.find("failure").text
    assert root.find("testsuite[@name='kcrm-gov.lint']").get("failures") == "0"


def test_check_fails_on_stale_codeowners(repo: Path) -> None:
    edit(repo, "catalog/teams.yml", "github: mchen-kcrm", "github: maria-chen")
    result = run_cli(repo, "check")
    assert result.exit_code == 1
    assert "FAIL codeowners: .github/CODEOWNERS: stale (run `kcrm-gov generate codeowners`)" in result.output
    assert "+/contracts/stg/hubspot__companies.odcs.yaml @maria-chen @kcrm/revops-data" in result.output
    assert run_cli(repo, "generate", "codeowners").exit_code == 0
    assert run_cli(repo, "generate", "codeowners", "--check").exit_code == 0


def test_check_fails_on_breaking_change_without_major_bump(repo: Path) -> None:
    edit(repo, STG, INDUSTRY, f"required: true\n        {INDUSTRY}")
    assert run_cli(repo, "generate", "checks").exit_code == 0  # the new missing-count check, as a dev would
    result = run_cli(repo, "check", "--base", "main", "--format", "github")
    assert result.exit_code == 1
    line = (repo / STG).read_text().splitlines().index("version: 1.0.0") + 1
    assert f"::error file={STG},line={line},col=1,title=kcrm-gov versions%3A version rule::" in result.output
    assert "needs a major version bump" in result.output
    result = run_cli(repo, "check", "--base", "main", "--json")
    data = json.loads(result.output)
    assert [s["name"] for s in data["steps"] if not s["ok"]] == ["versions"]
    bump(repo, STG, "2.0.0")
    assert run_cli(repo, "generate", "checks").exit_code == 0
    result = run_cli(repo, "check", "--base", "main")
    assert result.exit_code == 0, result.output


def test_codeowners_lists_each_contract_model_and_checks(base_repo: Path) -> None:
    text = (base_repo / ".github/CODEOWNERS").read_text()
    assert text.startswith("# Generated by `kcrm-gov generate codeowners`")
    assert re.search(r"^/contracts/raw/ga4__events\.odcs\.yaml +@lvogel @kcrm/marketing-data$", text, re.M)
    assert re.search(r"^/models/stg/ga4__events\.sql +@lvogel @kcrm/marketing-data$", text, re.M)
    assert re.search(r"^/checks/retl/hubspot__company_properties\.yml +@dkim-cs @kcrm/cs-data$", text, re.M)
    # a reference table's model is its CSV: a changed weight needs its steward's review
    assert re.search(r"^/models/stg/reference__internal_domains\.csv +@pnair @kcrm/data-platform$", text, re.M)
    assert "/models/stg/reference__internal_domains.sql" not in text
    # a mart's generated Looker view and explore are its stewards' too
    assert re.search(r"^/lookml/views/companies_by_city\.view\.lkml +@srusso @kcrm/finance-data$", text, re.M)
    assert re.search(r"^/lookml/explores/companies_by_city\.explore\.lkml +@srusso @kcrm/finance-data$", text, re.M)


# --- freshness ------------------------------------------------------------------------------------
def _value(col, when: datetime):
    import sqlglot.expressions as e

    T = e.DataType.Type
    if col.fields:
        if col.data_type.this == T.ARRAY:
            return []
        return {f.name: _value(f, when) for f in col.fields}
    kind = col.data_type.this
    if kind == T.ARRAY:
        return []
    return {T.BIGINT: 1, T.TEXT: "x", T.VARCHAR: "x", T.BOOLEAN: False, T.DOUBLE: 1.0,
            T.DECIMAL: Decimal(1), T.DATE: when.date(), T.TIMESTAMPTZ: when, T.TIMESTAMP: when.replace(tzinfo=None),
            }.get(kind, "x")


def load_rows(project: Project, table: str, stamps: list[dict[str, datetime]]) -> None:
    """Recreate ``table`` from its contract and write one row per entry (columns given, others defaulted)."""
    import pyarrow as pa

    from kcrm_gov.engines import open_engine
    from kcrm_gov.typemap import to_arrow

    contract = project.contract(table)
    schema = pa.schema([pa.field(c.name, to_arrow(c.data_type)) for c in contract.columns])
    rows = []
    for i, given in enumerate(stamps):
        anchor = next(iter(given.values()))
        row = {c.name: (_value(c, anchor) if c.required else None) for c in contract.columns}
        for c in contract.columns:
            if c.primary_key_position is not None and c.data_type.this.name in ("BIGINT", "TEXT", "VARCHAR"):
                row[c.name] = i + 1 if c.data_type.this.name == "BIGINT" else f"k{i}"
        row.update(given)
        rows.append(row)
    with open_engine(project) as engine:
        engine.write_arrow(contract, pa.Table.from_pylist(rows, schema=schema))


T0 = datetime(2024, 3, 10, 6, 0, tzinfo=UTC)


@pytest.fixture
def warehouse(repo: Path) -> Path:
    """A DuckDB warehouse with controlled load times in raw HubSpot companies and GA4 events."""
    project = Project.load(repo)
    load_rows(project, "raw.hubspot__companies", [{"_fivetran_synced": T0 - timedelta(hours=30)},
                                                  {"_fivetran_synced": T0}])
    load_rows(project, "raw.ga4__events", [{"_loaded_at": T0}])
    return repo


def fresh_at(root: Path, now: datetime, *select: str) -> tuple[int, dict[str, dict]]:
    args = ["freshness", "--now", now.isoformat(), "--json"]
    for s in select:
        args += ["--select", s]
    result = run_cli(root, *args)
    data = json.loads(result.output)
    return result.exit_code, {r["table"]: r for r in data["tables"]}


def test_freshness_fresh_warn_breach(warehouse: Path) -> None:
    code, res = fresh_at(warehouse, T0 + timedelta(hours=6), "raw.hubspot__companies")
    r = res["raw.hubspot__companies"]
    assert code == 0 and r["status"] == "fresh" and r["age_hours"] == 6.0 and r["latest"] == "2024-03-10T06:00:00Z"
    code, res = fresh_at(warehouse, T0 + timedelta(hours=13), "raw.hubspot__companies")
    assert code == 1 and res["raw.hubspot__companies"]["status"] == "warn"
    assert "over the 12 h warning threshold" in res["raw.hubspot__companies"]["message"]
    code, res = fresh_at(warehouse, T0 + timedelta(hours=25), "raw.hubspot__companies")
    assert code == 2 and res["raw.hubspot__companies"]["status"] == "breach"
    # kept for the catalog, and sent as OpenLineage data-quality assertions
    saved = json.loads((warehouse / ".kcrm/freshness_results.json").read_text())
    assert saved["tables"][0]["outcome"] == "breach" and saved["exit_code"] == 2
    assert list((warehouse / ".kcrm/runs").glob("*-freshness-*.json"))
    events = [json.loads(line) for line in
              (warehouse / ".kcrm/lineage/events/events.jsonl").read_text().splitlines()]
    complete = [e for e in events if e["job"]["name"] == "kcrm-gov.freshness" and e["eventType"] == "COMPLETE"]
    assertions = complete[-1]["inputs"][0]["inputFacets"]["dataQualityAssertions"]["assertions"]
    assert {"assertion": "freshness", "success": False, "column": "_fivetran_synced", "params": {}} in assertions


def test_freshness_missing_and_empty_tables_breach(warehouse: Path) -> None:
    code, res = fresh_at(warehouse, T0, "raw.zendesk__tickets")
    assert code == 2 and "does not exist" in res["raw.zendesk__tickets"]["message"]
    load_rows(Project.load(warehouse), "raw.zendesk__tickets", [])
    code, res = fresh_at(warehouse, T0, "raw.zendesk__tickets")
    assert code == 2 and res["raw.zendesk__tickets"]["message"] == "the table is empty"


def test_freshness_ga4_load_time_element_ignores_the_allowance(warehouse: Path) -> None:
    # GA4 measures _loaded_at: a restated old shard loaded now counts as a load (fresh) ...
    code, res = fresh_at(warehouse, T0 + timedelta(hours=2), "raw.ga4__events")
    r = res["raw.ga4__events"]
    assert code == 0 and r["status"] == "fresh" and r["element_kind"] == "load"
    assert r["provisional_since"] == "2024-03-07T06:00:00Z"  # rows loaded in the last 72 h may be restated
    # ... but no new shard for 40 h is a breach: the allowance does not excuse a missing load
    code, res = fresh_at(warehouse, T0 + timedelta(hours=40), "raw.ga4__events")
    assert code == 2 and res["raw.ga4__events"]["threshold_hours"] == 36


def test_freshness_ga4_late_arriving_event_time(repo: Path) -> None:
    # a steward measuring GA4 by event time: late rows fill in the past for up to 72 h
    rel = "contracts/stg/ga4__events.odcs.yaml"
    edit(repo, rel, "element: ga4__events.loaded_at", "element: ga4__events.event_at")
    project = Project.load(repo)
    load_rows(project, "stg.ga4__events", [{"event_at": T0, "loaded_at": T0 + timedelta(hours=30)}])
    code, res = fresh_at(repo, T0 + timedelta(hours=20), "stg.ga4__events")
    assert code == 0 and res["stg.ga4__events"]["element_kind"] == "event"
    code, res = fresh_at(repo, T0 + timedelta(hours=31), "stg.ga4__events")
    assert code == 1 and "over the 30 h warning threshold" in res["stg.ga4__events"]["message"]
    code, res = fresh_at(repo, T0 + timedelta(hours=60), "stg.ga4__events")
    r = res["stg.ga4__events"]
    assert code == 1 and r["status"] == "warn" and "within the 72 h late-arrival allowance" in r["message"]
    code, res = fresh_at(repo, T0 + timedelta(hours=109), "stg.ga4__events")
    r = res["stg.ga4__events"]
    assert code == 2 and r["threshold_hours"] == 108 and "late-arrival allowance 72 h" in r["message"]


def test_freshness_table_output_and_bad_now(warehouse: Path) -> None:
    result = run_cli(warehouse, "freshness", "--select", "raw.hubspot__companies", "--now", "2024-03-10T20:00:00Z")
    assert result.exit_code == 1
    assert "raw.hubspot__companies" in result.output and "warn" in result.output
    assert "contracts/raw/hubspot__companies.odcs.yaml:" in result.output
    result = run_cli(warehouse, "freshness", "--now", "yesterday")
    assert result.exit_code == 2 and "not an ISO timestamp" in result.output

"""kcrm-gov lint: ODCS validity, every governance rule, and bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from kcrm_gov.cli import cli

COMPANIES = Path("contracts/raw/hubspot__companies.odcs.yaml")


def run(project: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--project-dir", str(project), *args], catch_exceptions=False)
    return result.exit_code, result.output


def edit(project: Path, rel: Path, old: str, new: str, count: int = 1) -> int:
    """Replace ``old`` by ``new`` in a contract; return the 1-based line of the change."""
    path = project / rel
    text = path.read_text()
    assert old in text, f"{old!r} not in {rel}"
    line = text[: text.index(old)].count("\n") + 1
    path.write_text(text.replace(old, new, count))
    return line


def findings(project: Path, *args: str) -> tuple[int, list[dict]]:
    code, out = run(project, "lint", "--json", *args)
    return code, json.loads(out)["findings"]


def test_shipped_contracts_are_clean(project_dir: Path) -> None:
    code, out = run(project_dir, "lint")
    assert code == 0, out
    assert re.search(r"^\d+ contracts checked, 0 findings: all clean$", out, re.M)


def test_check_runs_lint_and_passes(project_dir: Path) -> None:
    code, out = run(project_dir, "check")
    assert code == 0, out
    assert "ok   lint:" in out


def test_findings_name_file_line_and_rule(project_dir: Path) -> None:
    line = edit(project_dir, COMPANIES, "name: revops", "name: nobody")
    code, out = run(project_dir, "lint")
    assert code == 1
    assert f"{COMPANIES}:{line}:3: KG002 unknown team 'nobody'" in out


@pytest.mark.parametrize(
    ("old", "new", "rule", "message"),
    [
        # KG001 naming: the contract's name must be layer.table
        ("name: raw.hubspot__companies", "name: raw.companies", "KG001", "name must be 'raw.hubspot__companies'"),
        ("id: kcrm.raw.hubspot__companies", "id: companies-v1", "KG001", "id must be"),
        # KG002 owner
        ("team:\n  name: revops", "team:\n  name: ghosts", "KG002", "unknown team 'ghosts'"),
        # KG003 steward: the named steward must be a steward of the team
        ("username: maria.chen", "username: lena.vogel", "KG003", "is not a data steward of team 'revops'"),
        ("role: data steward", "role: analyst", "KG003", "no data steward"),
        # KG004 descriptions
        ("description: HubSpot's numeric company id (hs_object_id).", "examples: [1]", "KG004",
         "column 'id' has no description"),
        # ODCS001: a key the standard does not know
        ("tenant: kcrm", "tenant: kcrm\nowner: revops", "ODCS001", "unknown key 'owner'"),
        # KG005 classification
        ("description: Main switchboard phone number.\n        classification: confidential",
         "description: Main switchboard phone number.\n        classification: internal", "KG005",
         "is PII but classified 'internal'"),
        ("classification: internal\n      - name: portal_id", "classification: secret\n      - name: portal_id",
         "KG005", "classification 'secret' is not one of"),
        # KG006 primary key
        ("primaryKeyPosition: 1", "primaryKeyPosition: 2", "KG006", "primaryKeyPosition values must be 1..1"),
        # KG007 SLA
        ("element: hubspot__companies._fivetran_synced", "element: hubspot__companies.property_name", "KG007",
         "must be a TIMESTAMP or DATE"),
        # KG008 version
        ("version: 2.0.0", "version: '1.0'", "KG008", "is not a semantic version"),
        # KG009 layer
        ("property: layer\n    value: raw", "property: layer\n    value: core", "KG009",
         "layer property 'core' does not match the folder 'raw'"),
        # KG013 types
        ("logicalType: integer\n        physicalType: INT64\n        description: HubSpot's",
         "logicalType: string\n        physicalType: INT64\n        description: HubSpot's", "KG013",
         "logicalType 'string' does not match physicalType INT64"),
        # KG014 PII marking
        ("description: Main switchboard phone number.\n        classification: confidential\n        tags: [pii]",
         "description: Main switchboard phone number.\n        classification: confidential", "KG014",
         "looks like personal data"),
    ],
)
def test_each_rule_catches_a_contract_that_breaks_it(project_dir: Path, old: str, new: str, rule: str,
                                                      message: str) -> None:
    line = edit(project_dir, COMPANIES, old, new)
    code, found = findings(project_dir)
    assert code == 1
    hits = [f for f in found if f["rule"] == rule and message in f["message"]]
    assert hits, found
    assert hits[0]["path"] == str(COMPANIES)
    # the finding points at the edited place or at the block that holds it, never past it
    assert 1 < hits[0]["line"] <= line + new.count("\n"), hits


def test_missing_limitations_is_kg004(project_dir: Path) -> None:
    text = (project_dir / COMPANIES).read_text()
    start = text.index("  limitations: >-")
    end = text.index("team:")
    (project_dir / COMPANIES).write_text(text[:start] + text[end:])
    _, found = findings(project_dir)
    assert any(f["rule"] == "KG004" and "description.limitations is missing" in f["message"] for f in found)


def test_missing_primary_key_is_kg006(project_dir: Path) -> None:
    path = project_dir / COMPANIES
    path.write_text(path.read_text().replace("        primaryKey: true\n", ""))
    _, found = findings(project_dir)
    assert any(f["rule"] == "KG006" and "no primary key" in f["message"] for f in found)


def test_raw_table_without_freshness_sla_is_kg007(project_dir: Path) -> None:
    edit(project_dir, COMPANIES, "property: freshness", "property: retention")
    _, found = findings(project_dir)
    assert any(f["rule"] == "KG007" and "without a freshness SLA" in f["message"] for f in found)


def test_duplicate_contract_id_is_kg010(project_dir: Path) -> None:
    other = Path("contracts/raw/hubspot__owners.odcs.yaml")
    line = edit(project_dir, other, "id: kcrm.raw.hubspot__owners", "id: kcrm.raw.hubspot__companies")
    _, found = findings(project_dir)
    hits = [f for f in found if f["rule"] == "KG010"]
    assert hits and hits[0]["path"] == str(other) and hits[0]["line"] == line
    assert str(COMPANIES) in hits[0]["message"]


def test_relationship_to_unknown_column_is_kg012(project_dir: Path) -> None:
    path = project_dir / "contracts/raw/hubspot__contacts.odcs.yaml"
    text = path.read_text()
    assert "to: hubspot__companies.id" in text
    path.write_text(text.replace("to: hubspot__companies.id", "to: hubspot__companies.company_uuid", 1))
    _, found = findings(project_dir)
    assert any(f["rule"] == "KG012" and "company_uuid" in f["message"] for f in found)


@pytest.mark.parametrize("bad_name", ['"name"', "`name`", "name;drop", "'first name'", "select", "Name"])
def test_unsafe_column_names_are_refused(project_dir: Path, bad_name: str) -> None:
    line = edit(project_dir, COMPANIES, "- name: property_name", f"- name: {json.dumps(bad_name)}")
    _, found = findings(project_dir)
    hits = [f for f in found if f["rule"] == "KG011"]
    assert hits, found
    assert hits[0]["line"] == line


def test_unsafe_table_name_from_file_is_refused(project_dir: Path) -> None:
    src = project_dir / COMPANIES
    src.rename(src.with_name("hubspot__bad name.odcs.yaml"))
    _, found = findings(project_dir)
    assert any(f["rule"] == "KG001" and "is not a safe identifier" in f["message"] for f in found)


def test_unsafe_label_is_refused(project_dir: Path) -> None:
    edit(project_dir, COMPANIES, "domain: sales", "domain: Sales Ops")
    _, found = findings(project_dir)
    assert any(f["rule"] == "KG011" and "is not a valid BigQuery label" in f["message"] for f in found)


# --- bad input --------------------------------------------------------------------------------------


def test_malformed_yaml_exits_2_with_file_and_line(project_dir: Path) -> None:
    line = edit(project_dir, COMPANIES, "status: active", "status: [active")
    code, out = run(project_dir, "lint")
    assert code == 2
    assert re.search(rf"{re.escape(str(COMPANIES))}:(\d+):\d+: KG000 malformed YAML", out)
    assert int(re.search(rf"{re.escape(str(COMPANIES))}:(\d+)", out).group(1)) >= line
    assert "Traceback" not in out


def test_duplicate_yaml_key_is_reported(project_dir: Path) -> None:
    line = edit(project_dir, COMPANIES, "status: active", "status: active\nstatus: draft")
    code, out = run(project_dir, "lint")
    assert code == 2
    assert f"{COMPANIES}:{line + 1}:1: KG000 duplicate key 'status'" in out


def test_file_that_is_not_odcs_exits_2(project_dir: Path) -> None:
    (project_dir / "contracts/raw/zendesk__notes.odcs.yaml").write_text("dataset: zendesk\ntables: [a, b]\n")
    code, out = run(project_dir, "lint")
    assert code == 2
    assert "contracts/raw/zendesk__notes.odcs.yaml:1:1: KG000 not an ODCS data contract" in out


def test_wrong_type_for_a_known_key(project_dir: Path) -> None:
    key = "        primaryKey: true\n        primaryKeyPosition: 1"
    line = edit(project_dir, COMPANIES, f"        required: true\n{key}", f"        required: 'yes please'\n{key}")
    code, out = run(project_dir, "lint")
    assert code in (1, 2)
    assert re.search(rf"{re.escape(str(COMPANIES))}:{line}:\d+: (ODCS001|KG000) .*required", out), out
    assert "Traceback" not in out


def test_empty_contracts_folder_exits_2(tmp_path: Path) -> None:
    (tmp_path / "contracts").mkdir()
    (tmp_path / "kcrm_gov.yml").write_text("targets:\n  local:\n    type: duckdb\n")
    code, out = run(tmp_path, "lint")
    assert code == 2
    assert "holds no *.odcs.yaml files" in out


def test_path_that_does_not_exist_exits_2(project_dir: Path) -> None:
    code, out = run(project_dir, "lint", "contracts/nowhere")
    assert code == 2
    assert "contracts/nowhere: no such file or folder" in out


def test_lint_can_be_limited_to_paths(project_dir: Path) -> None:
    edit(project_dir, Path("contracts/raw/zendesk__users.odcs.yaml"), "version: 2.0.0", "version: one")
    code, out = run(project_dir, "lint", str(project_dir / COMPANIES))
    assert code == 0, out
    assert out.startswith("1 contracts checked")
    code, _ = run(project_dir, "lint", str(project_dir / "contracts/raw/zendesk__users.odcs.yaml"))
    assert code == 1


def test_json_output_is_machine_readable(project_dir: Path) -> None:
    edit(project_dir, COMPANIES, "version: 2.0.0", "version: v1")
    code, out = run(project_dir, "lint", "--json")
    data = json.loads(out)
    assert code == 1 and data["exit_code"] == 1
    assert {"path", "line", "column", "rule", "message"} <= set(data["findings"][0])

"""Lint of reverse-ETL destinations (KG022-KG027) on the retl mini project: each bad input is reported
with its file, line and the field or column at fault; a good project lints clean."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import retlproject
from click.testing import CliRunner
from retlproject import PROPERTIES, RETL, edit

from kcrm_gov.cli import cli
from kcrm_gov.project import Project

CORE = Path("contracts/core/items.odcs.yaml")
MODEL = Path("models/retl/hubspot__companies.sql")


def lint(root: Path) -> tuple[int, list[dict], str]:
    result = CliRunner().invoke(cli, ["--project-dir", str(root), "lint", "--json"], catch_exceptions=False)
    data = json.loads(result.output) if result.output.startswith("{") else {"findings": []}
    return result.exit_code, data["findings"], result.output


def line_of(root: Path, rel: Path, text: str) -> int:
    source = (root / rel).read_text()
    assert text in source, f"{text!r} not in {rel}"
    return source[: source.index(text)].count("\n") + 1


@pytest.fixture
def retl(tmp_path: Path) -> Path:
    return retlproject.make(tmp_path / "retl")


def test_the_retl_project_is_clean_and_its_property_list_is_loaded(retl: Path) -> None:
    code, found, out = lint(retl)
    assert code == 0 and found == [], out
    obj = Project.load(retl).destinations[("hubspot", "companies")]
    assert obj.properties["hs_object_id"].read_only and obj.properties["hs_object_id"].unique
    assert obj.properties["kcrm_tier"].options == ("A", "B", "C")
    assert obj.properties["kcrm_tier"].location.line == line_of(retl, PROPERTIES, "{name: kcrm_tier")


# (edits [(file, old, new)], rule, (file, text on the expected line), words the message must hold)
MAPPING = "- {column: amount_usd, field: kcrm_amount}"
CASES = {
    "malformed destination": ([(RETL, "onDelete: clear", "onDelete: explode")], "KG022",
                              (RETL, "onDelete: explode"), ["onDelete", "explode"]),
    "primary key is not the match key's column": (
        [(RETL, "{column: company_id, field: hs_object_id, write: false}", "{column: company_id, field: name}"),
         (RETL, "{column: company_name, field: name}", "{column: company_name, field: hs_object_id, write: false}")],
        "KG022", (RETL, "{column: company_name, field: hs_object_id"), ["company_id", "company_name", "primary key"]),
    "field the destination does not have": ([(RETL, MAPPING, "- {column: amount_usd, field: kcrm_amount_usd}")],
                                            "KG023", (RETL, "field: kcrm_amount_usd"),
                                            ["amount_usd", "kcrm_amount_usd", PROPERTIES.as_posix()]),
    "written read-only field": ([(RETL, MAPPING, "- {column: amount_usd, field: hs_lastmodifieddate}")], "KG023",
                                (RETL, "field: hs_lastmodifieddate"), ["hs_lastmodifieddate", "read-only"]),
    "match key not unique in the list": ([(PROPERTIES, "readOnly: true, unique: true", "readOnly: true")], "KG023",
                                         (RETL, "{column: company_id, field: hs_object_id"),
                                         ["hs_object_id", "not unique"]),
    "unknown destination object": ([(RETL, "object: companies", "object: deals")], "KG023",
                                   (RETL, "object: deals"), ["deals", "catalog/destinations/hubspot/deals.yml"]),
    "mapped column not in the contract": ([(RETL, MAPPING, "- {column: amount_eur, field: kcrm_amount}")], "KG024",
                                          (RETL, "{column: amount_eur"), ["amount_eur", "retl.hubspot__companies"]),
    "value the picklist does not offer": ([(RETL, "validValues: [A, B]", "validValues: [A, B, Z]")], "KG024",
                                          (RETL, "validValues: [A, B, Z]"), ["size_tier", "Z", "kcrm_tier"]),
    "picklist filled by a column without allowed values": (
        [(RETL, "{column: company_name, field: name}", "{column: company_name, field: kcrm_tier}"),
         (RETL, "{column: size_tier, field: kcrm_tier}", "{column: size_tier, field: name}")],
        "KG024", (RETL, "{column: company_name, field: kcrm_tier}"), ["company_name", "kcrm_tier", "allowed values"]),
    "restricted column": ([(RETL, "description: The company_name column.\n        classification: internal",
                            "description: The company_name column.\n        classification: restricted")], "KG025",
                          (RETL, "classification: restricted"), ["company_name", "restricted"]),
    "classification the destination does not allow": (
        [(RETL, "description: The amount_usd column.\n        classification: internal",
          "description: The amount_usd column.\n        classification: confidential")],
        "KG025", (RETL, "classification: confidential"), ["amount_usd", "confidential", "allowedClassifications"]),
    "approvedPii naming a column that is not PII": ([(RETL, "approvedPii: []", "approvedPii: [company_name]")],
                                                    "KG025", (RETL, "approvedPii: [company_name]"),
                                                    ["company_name", "not a PII column"]),
    "row_hash missing a written field": ([(MODEL, "    amount_usd AS amount_usd,\n", "")], "KG027",
                                         (MODEL, "TO_HEX(MD5("), ["(company_name, size_tier)",
                                                                  "(company_name, amount_usd, size_tier)"]),
    "row_hash with a field that is not written": (
        [(MODEL, "    amount_usd AS amount_usd,\n", "    amount_usd AS amount_usd,\n    item_id AS company_id,\n")],
        "KG027", (MODEL, "TO_HEX(MD5("), ["company_id", "mapping order"]),
    "row_hash of another value than the written one": (
        [(MODEL, "    item_name AS company_name,", "    UPPER(item_name) AS company_name,")], "KG027",
        (MODEL, "TO_HEX(MD5("), ["UPPER(item_name)", "selects item_name AS company_name"]),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_each_bad_destination_names_file_line_and_field(retl: Path, case: str) -> None:
    edits, rule, (where, text), words = CASES[case]
    for rel, old, new in edits:
        edit(retl, rel, old, new)
    code, found, out = lint(retl)
    ours = [f for f in found if f["rule"] == rule]
    assert code == 1 and len(ours) == 1, out
    assert [f for f in found if f["rule"] != rule] == [], out  # the one fault is reported once, by one rule
    assert ours[0]["path"] == (where if where != PROPERTIES else RETL).as_posix()
    assert ours[0]["line"] == line_of(retl, where, text), ours[0]
    for word in words:
        assert word in ours[0]["message"], ours[0]["message"]


def test_retl_table_without_destination(retl: Path) -> None:
    (retl / RETL).write_text(retlproject.retl_contract(destination=""))
    code, found, out = lint(retl)
    assert code == 1 and [f["rule"] for f in found] == ["KG022"], out
    assert found[0]["path"] == RETL.as_posix() and found[0]["line"] == line_of(retl, RETL, "customProperties:")
    assert "without a destination" in found[0]["message"]


def test_non_retl_table_with_destination(retl: Path) -> None:
    with (retl / CORE).open("a") as f:
        f.write(retlproject.DESTINATION.replace("company_id", "item_id").replace("company_name", "item_name")
                .replace("        - {column: size_tier, field: kcrm_tier}\n", ""))
    code, found, out = lint(retl)
    assert code == 1, out
    assert [(f["path"], f["rule"]) for f in found] == [(CORE.as_posix(), "KG022")], out
    assert found[0]["line"] == line_of(retl, CORE, "    value:\n      system: hubspot")
    assert "core table core.items declares a destination" in found[0]["message"]


def test_pii_column_added_without_approval_fails_until_approved(retl: Path) -> None:
    """Done when: a PII column added to a retl table without approval fails lint."""
    pii = ("owner_email", "STRING", "confidential", ["tags: [pii]"])
    (retl / RETL).write_text(retlproject.retl_contract(columns=[*retlproject.COLUMNS, pii]))
    code, found, out = lint(retl)
    assert code == 1 and [f["rule"] for f in found] == ["KG025"], out
    assert found[0]["line"] == line_of(retl, RETL, "- name: owner_email")
    assert "owner_email" in found[0]["message"] and "approvedPii" in found[0]["message"]
    # mapped too: still refused, and the mapping does not hide it
    edit(retl, RETL, "        - {column: size_tier", "        - {column: owner_email, field: kcrm_owner_email}\n"
         "        - {column: size_tier")
    edit(retl, MODEL, "  TO_HEX(", "  CAST(NULL AS STRING) AS owner_email,\n  TO_HEX(")
    edit(retl, MODEL, "    CASE WHEN", "    CAST(NULL AS STRING) AS owner_email,\n    CASE WHEN")
    assert [f["rule"] for f in lint(retl)[1]] == ["KG025"]
    # a steward approves it: clean (PII is confidential, and the approval is the allowance for it)
    edit(retl, RETL, "approvedPii: []", "approvedPii: [owner_email]")
    code, found, out = lint(retl)
    assert code == 0 and found == [], out


def test_malformed_property_list_names_file_and_line(retl: Path) -> None:
    line = edit(retl, PROPERTIES, "{name: kcrm_amount, type: number}", "{name: kcrm_amount, type: number, readOnly: "
                "maybe}")
    result = CliRunner().invoke(cli, ["--project-dir", str(retl), "lint"], catch_exceptions=False)
    assert result.exit_code == 2, result.output
    assert f"{PROPERTIES.as_posix()}:{line}:" in result.output
    assert "kcrm_amount" in result.output and "readOnly must be true or false" in result.output
    edit(retl, PROPERTIES, "readOnly: maybe}", "readOnly: false}")
    edit(retl, PROPERTIES, "object: companies", "object: company")
    result = CliRunner().invoke(cli, ["--project-dir", str(retl), "lint"], catch_exceptions=False)
    assert result.exit_code == 2 and f"{PROPERTIES.as_posix()}:2:" in result.output, result.output


def test_retl_table_without_row_hash(retl: Path) -> None:
    (retl / RETL).write_text(retlproject.retl_contract(columns=[c for c in retlproject.COLUMNS if c[0] != "row_hash"]))
    code, found, out = lint(retl)
    assert code == 1 and [f["rule"] for f in found] == ["KG027"], out
    assert found[0]["line"] == line_of(retl, RETL, "    value:\n      system: hubspot")
    assert "no row_hash column" in found[0]["message"]

"""``kcrm-gov diff`` on reverse-ETL destinations, on a throwaway git repository holding the retl mini
project: a changed destination block is a change to an external system that names the destination
field and asks the stewards' approval; an upstream column change lists the destination fields it
reaches through retl (the one column-lineage graph)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import retlproject
from click.testing import CliRunner
from gitrepo import commit_on_main, private_copy
from retlproject import RETL, edit

from kcrm_gov.cli import cli
from kcrm_gov.governance.diff import ADDITIVE, BREAKING, diff, to_markdown, to_text

TABLE = "retl.hubspot__companies"
STEWARD = "maria.chen"



@pytest.fixture(scope="module")
def base_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The retl mini project committed on ``main``, a ``feature`` branch checked out."""
    root = retlproject.make(tmp_path_factory.mktemp("retl-repo") / "kcrm")
    (root / ".gitignore").write_text(".kcrm/\n")
    return commit_on_main(root)


@pytest.fixture
def repo(base_repo: Path, tmp_path: Path) -> Path:
    return private_copy(base_repo, tmp_path)


def changes(report) -> dict[str, tuple[str, str]]:
    t = next(t for t in report.tables if t.table == TABLE)
    return {c.change: (c.kind, c.message) for c in t.changes}


def test_unchanged_destination_is_no_change(repo: Path) -> None:
    assert diff(repo, "main").tables == []


SWAP = [("{column: company_name, field: name}", "{column: company_name, field: kcrm_amount}"),
        ("{column: amount_usd, field: kcrm_amount}", "{column: amount_usd, field: name}")]


# edits of the retl contract, the change expected (None: a swap, two re-pointings), its kind, words of its
# message, the text on its line in the new file, the external field or object the impact names
@pytest.mark.parametrize(("edits", "change", "kind", "words", "at", "field"), [
    ([("        - {column: size_tier, field: kcrm_tier}\n", "")], "destination_field_removed", BREAKING,
     ["hubspot://kcrm-portal/companies.kcrm_tier", "no longer synced"], "fields:",
     "hubspot://kcrm-portal/companies.kcrm_tier"),
    (SWAP, None, BREAKING, [], "{column: company_name, field: kcrm_amount}",
     "hubspot://kcrm-portal/companies.kcrm_amount"),
    ([("{column: size_tier, field: kcrm_tier}", "{column: size_tier, field: kcrm_tier}\n"
       "        - {column: row_hash, field: kcrm_owner_email}")], "destination_field_added", ADDITIVE,
     ["row_hash", "written to hubspot://kcrm-portal/companies.kcrm_owner_email"], "{column: row_hash",
     "hubspot://kcrm-portal/companies.kcrm_owner_email"),
    ([("{column: size_tier, field: kcrm_tier}", "{column: size_tier, field: kcrm_amount_tier}")],
     "destination_field_repointed", BREAKING,
     ["size_tier", "companies.kcrm_tier", "to hubspot://kcrm-portal/companies.kcrm_amount_tier"],
     "{column: size_tier", "hubspot://kcrm-portal/companies.kcrm_amount_tier"),
    ([("{column: amount_usd, field: kcrm_amount}", "{column: amount_usd, field: kcrm_amount, write: false}")],
     "destination_field_write_changed", BREAKING, ["companies.kcrm_amount", "no longer written"],
     "{column: amount_usd", "hubspot://kcrm-portal/companies.kcrm_amount"),
    ([("instance: kcrm-portal", "instance: kcrm-sandbox")], "destination_target_changed", BREAKING,
     ["hubspot://kcrm-portal companies", "hubspot://kcrm-sandbox companies"], "instance:",
     "hubspot://kcrm-sandbox companies"),
    ([("onDelete: clear", "onDelete: archive")], "destination_on_delete_changed", BREAKING, ["archive", "clear"],
     "onDelete:", None),
    ([("allowedClassifications: [public, internal]", "allowedClassifications: [public, internal, confidential]")],
     "destination_classifications_changed", ADDITIVE, ["confidential"], "allowedClassifications:", None),
    ([("approvedPii: []", "approvedPii: [company_name]")], "destination_pii_changed", ADDITIVE,
     ["approved for company_name"], "approvedPii:", None),
], ids=["removed", "swapped", "added", "repointed", "match-only", "instance", "on-delete", "classifications", "pii"])
def test_destination_change_is_a_change_to_an_external_system(repo: Path, edits: list[tuple[str, str]],
                                                              change: str | None, kind: str, words: list[str],
                                                              at: str, field: str | None) -> None:
    for old, new in edits:
        edit(repo, RETL, old, new)
    report = diff(repo, "main")
    found = changes(report)
    assert all(c.startswith("destination_") for c in found), found  # nothing reported twice as metadata
    if change is None:  # two columns swap their fields: each re-pointed
        assert set(found) == {"destination_field_repointed"} and found["destination_field_repointed"][0] == kind
        change = "destination_field_repointed"
    assert found[change][0] == kind, found
    for word in words:
        assert word in found[change][1], found[change][1]
    t = next(t for t in report.tables if t.table == TABLE)
    assert t.version is not None and t.version.required == ("major" if kind == BREAKING else "minor")
    # every destination change asks the owning stewards, whatever its kind, and names the external field
    assert t.impact is not None and [a.username for a in t.impact.approvers] == [STEWARD]
    if field:
        assert field in t.impact.destinations, t.impact.destinations
    text = (repo / RETL).read_text()
    line = next(c.line for c in t.changes if c.change == change)
    assert line == text[: text.index(at)].count("\n") + 1
    markdown = to_markdown(report)
    assert "### Changes to external systems (approval required)" in markdown
    assert t.impact.approvers[0].mention in markdown


def test_a_new_retl_table_is_a_new_sync_for_approval(repo: Path) -> None:
    text = (repo / RETL).read_text().replace("hubspot__companies", "hubspot__accounts")
    (repo / "contracts/retl/hubspot__accounts.odcs.yaml").write_text(text)
    report = diff(repo, "main")
    t = next(t for t in report.tables if t.table == "retl.hubspot__accounts")
    assert {c.change: c.kind for c in t.changes} == {"table_added": ADDITIVE, "destination_added": ADDITIVE}
    assert t.impact is not None and [a.username for a in t.impact.approvers] == [STEWARD]
    assert "hubspot://kcrm-portal/companies.kcrm_tier" in next(c.message for c in t.changes
                                                                if c.change == "destination_added")


def test_upstream_column_change_lists_the_destination_fields_it_reaches(repo: Path) -> None:
    # core.items.amount_usd -> retl.hubspot__companies.amount_usd (written to kcrm_amount) and row_hash
    edit(repo, Path("contracts/core/items.odcs.yaml"), "physicalType: NUMERIC", "physicalType: INT64")
    edit(repo, Path("contracts/core/items.odcs.yaml"), "logicalType: number", "logicalType: integer")
    report = diff(repo, "main")
    t = next(t for t in report.tables if t.table == "core.items")
    assert t.kind == BREAKING and t.impact is not None
    assert "retl.hubspot__companies.amount_usd" in t.impact.columns
    assert t.impact.destinations == ["hubspot://kcrm-portal/companies.kcrm_amount"]
    assert "hubspot://kcrm-portal/companies.kcrm_amount" in to_markdown(report)
    assert "external: hubspot://kcrm-portal/companies.kcrm_amount" in to_text(report)
    data = json.loads(CliRunner().invoke(cli, ["--project-dir", str(repo), "diff", "--base", "main", "--json"],
                                         obj={}, catch_exceptions=False).output)
    impact = next(x for x in data["tables"] if x["table"] == "core.items")["impact"]
    assert impact["destinations"] == ["hubspot://kcrm-portal/companies.kcrm_amount"]

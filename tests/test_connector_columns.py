"""Raw contracts against the loaders' real column lists (catalog/connectors/, issue 14).

An invented or renamed raw column fails unless it is declared a known gap with its reason, and a
declared gap that stops being one fails too, so the known-gap list can only shrink.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kcrm_gov.governance.connectors import MAPPING_FILE, column_gaps, load_connector_tables
from kcrm_gov.project import Project

ROOT = Path(__file__).resolve().parent.parent


def gaps(root: Path) -> list[str]:
    return [str(g) for g in column_gaps(Project.load(root))]


def test_every_raw_column_is_the_loaders_or_a_declared_gap() -> None:
    assert gaps(ROOT) == []


def test_every_connector_table_lists_its_columns_and_cites_its_source() -> None:
    tables = load_connector_tables(ROOT)
    assert {t.source for t in tables.values()} == {"hubspot", "zendesk", "quickbooks", "mixpanel", "ga4"}
    for name, table in tables.items():
        assert table.columns, name
    # nested GA4 fields are dotted paths, the way a contract's nested properties are walked
    assert "event_params.value.string_value" in tables["ga4.events_YYYYMMDD"].columns
    assert not tables["hubspot.product"].verified and tables["hubspot.deal"].verified


def test_an_invented_column_is_named_at_its_line(project_dir: Path) -> None:
    path = project_dir / "contracts/raw/zendesk__users.odcs.yaml"
    lines = path.read_text().splitlines(keepends=True)
    line = next(i for i, text in enumerate(lines) if text.strip() == "- name: email")
    lines[line] = lines[line].replace("name: email", "name: email_address")
    path.write_text("".join(lines))
    assert gaps(project_dir) == [
        f"contracts/raw/zendesk__users.odcs.yaml:{line + 1}:9: raw.zendesk__users.email_address: "
        "not a column of zendesk.user"]


def test_a_gap_that_is_fixed_must_leave_the_list(project_dir: Path) -> None:
    path = project_dir / MAPPING_FILE
    text = path.read_text().replace(
        "  raw.zendesk__users:\n    table: zendesk.user\n",
        "  raw.zendesk__users:\n    table: zendesk.user\n    known_gaps:\n      email: once invented\n")
    path.write_text(text)
    [finding] = gaps(project_dir)
    assert finding.endswith("raw.zendesk__users.email: declared a known gap but zendesk.user has it (stale)")
    assert finding.startswith(f"{MAPPING_FILE}:")


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("  raw.zendesk__users:\n    table: zendesk.user\n", "",
     "raw.zendesk__users.*: not mapped to a connector table in catalog/connectors/raw_contracts.yml"),
    ("table: zendesk.user\n", "table: zendesk.users\n",
     "raw.zendesk__users.*: connector table zendesk.users is in no catalog/connectors file"),
    ("  raw.zendesk__tickets:\n    table: zendesk.ticket\n",
     "  raw.zendesk__tickets:\n    table: zendesk.ticket\n    known_gaps:\n      priority_label: never was\n",
     "raw.zendesk__tickets.priority_label: declared a known gap but the contract has no such column"),
])
def test_mapping_mistakes_are_findings(project_dir: Path, old: str, new: str, expected: str) -> None:
    path = project_dir / MAPPING_FILE
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    [finding] = gaps(project_dir)
    assert finding.endswith(expected)

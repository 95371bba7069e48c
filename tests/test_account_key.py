"""The cross-source account key is computed once (core.account_company_map) and read everywhere else.

Issue 14 found the key formula written out in 11 core models, in two forms, and product events
keyed on a domain's hash without checking that the account exists. Now every core table takes
the key from core.accounts (by domain) or the map (by HubSpot company), so an event of a domain
no account has gets no key instead of a key that joins nothing.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from conftest import copy_warehouse, warehouse_path

from kcrm_gov.cli import cli

NOW = "2024-01-02T06:00:00Z"
ROOT = Path(__file__).resolve().parent.parent
STRANGER = "unknown-startup.example"


def invoke(root: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--project-dir", str(root), *args], env={"KCRM_GOV_NOW": NOW})
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory, seeded_warehouse: Path) -> Path:
    """A copy of the seeded warehouse, one product event moved to a domain no account has, core rebuilt."""
    root = copy_warehouse(seeded_warehouse, tmp_path_factory.mktemp("account-key") / "project")
    path = warehouse_path(root)
    with duckdb.connect(str(path)) as con:
        [(insert_id, domain)] = con.execute("""
            SELECT insert_id, json_extract_string(properties, '$.account_domain') FROM raw.mixpanel__events
            WHERE name = 'Report Created' AND properties LIKE '%"account_domain":%'
            ORDER BY insert_id LIMIT 1""").fetchall()
        con.execute("UPDATE raw.mixpanel__events SET properties = replace(properties, ?, ?) WHERE insert_id = ?",
                    [f'"account_domain":"{domain}"', f'"account_domain":"{STRANGER}"', insert_id])
    # the copy is built from the same raw: only the models downstream of the changed events are rebuilt, in
    # full (they are incremental on the loader's sync time, and this edit, unlike a loader's, keeps it)
    invoke(root, "build", "--full-refresh", "--select", "stg.mixpanel__events core.usage_events")
    return root


def rows(root: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse_path(root)), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_the_key_formula_is_written_in_one_model() -> None:
    writers = sorted(p.name for p in (ROOT / "models").rglob("*.sql")
                     if re.search(r"MD5\([^()]*domain", p.read_text()) or "'hubspot_company:'" in p.read_text())
    assert writers == ["account_company_map.sql"]


def test_every_hubspot_company_maps_to_one_account(warehouse: Path) -> None:
    [(companies, mapped, accounts, primaries, orphans)] = rows(warehouse, """
        SELECT (SELECT COUNT(*) FROM stg.hubspot__companies),
               (SELECT COUNT(DISTINCT hubspot_company_id) FROM core.account_company_map),
               (SELECT COUNT(*) FROM core.accounts),
               (SELECT COUNT(*) FROM core.account_company_map WHERE is_primary_company),
               (SELECT COUNT(*) FROM core.account_company_map AS m
                LEFT JOIN core.accounts AS a USING (account_key) WHERE a.account_key IS NULL)""")
    assert companies == mapped > 1000
    assert accounts == primaries
    assert orphans == 0
    # the primary company is the one core.accounts describes the account by
    assert rows(warehouse, """
        SELECT COUNT(*) FROM core.accounts AS a JOIN core.account_company_map AS m
          ON m.account_key = a.account_key AND m.is_primary_company
        WHERE m.hubspot_company_id != a.hubspot_company_id""") == [(0,)]


def test_an_event_of_an_unknown_domain_has_no_account(warehouse: Path) -> None:
    assert rows(warehouse, f"""
        SELECT account_key FROM core.usage_events WHERE account_domain = '{STRANGER}'""") == [(None,)]
    # every other event's key is the account of its domain, and only that
    assert rows(warehouse, """
        SELECT COUNT(*) FROM core.usage_events AS e LEFT JOIN core.accounts AS a ON a.domain = e.account_domain
        WHERE e.account_key IS DISTINCT FROM a.account_key""") == [(0,)]


def test_the_foreign_key_checks_hold_on_the_built_tables(warehouse: Path) -> None:
    output = invoke(warehouse, "test", "--select",
                    "core.usage_events core.invoices core.account_company_map")
    assert "3 tables:" in output and "0 failed, 0 errors" in output
    for table in ("usage_events", "invoices", "account_company_map"):  # the check that passed is there
        checks = (warehouse / "checks" / "core" / f"{table}.yml").read_text()
        assert "values in (account_key) must exist in accounts (account_key)" in checks, table

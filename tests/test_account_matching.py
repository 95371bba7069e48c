"""Company matching in core: the seed's duplicate companies, rebrands and subsidiaries (issue 14).

The seed plants them (``kcrm_gov.seed.hubspot.company_plan``); built through the real engine, each
must land where core.accounts' contract says: duplicates collapse into their account (every
HubSpot company id in core.account_company_map, one primary), a rebranded customer's billing
reaches the HubSpot account by its billing email's domain, and so does a subsidiary's whose website
in billing is its parent's. Expected counts come from the plan, not literals.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from conftest import copy_warehouse, warehouse_path
from conftest import query_rows as rows

from kcrm_gov.cli import cli
from kcrm_gov.seed import build_world
from kcrm_gov.seed.hubspot import company_plan

NOW = "2024-01-02T06:00:00Z"


@pytest.fixture(scope="module")
def warehouse(seeded_warehouse: Path) -> Path:
    """The shipped project, seeded (seed 42, scale 1) and built."""
    return seeded_warehouse


@pytest.fixture(scope="module")
def plan() -> dict:
    world = build_world(42, 1.0)
    return {**company_plan(world), "acc_id": world.acc_id, "acc_domain": world.acc_domain.to_pylist()}



def ids(values) -> str:
    return ", ".join(str(int(v)) for v in values)


def strings(values) -> str:
    return ", ".join("'" + str(v).replace("'", "''") + "'" for v in values)


def test_duplicates_exist_in_raw_and_collapse_in_core(warehouse: Path, plan: dict) -> None:
    dups, originals = plan["dup_id"], plan["acc_id"][plan["dup_account"]]
    assert 0.02 * len(plan["acc_id"]) < len(dups) < 0.04 * len(plan["acc_id"])  # ~3 % of the accounts
    [(raw, mapped, primary)] = rows(warehouse, f"""
        SELECT (SELECT COUNT(DISTINCT id) FROM raw.hubspot__companies WHERE id IN ({ids(dups)})),
               COUNT(*), COUNT(*) FILTER (WHERE is_primary_company)
        FROM core.account_company_map WHERE hubspot_company_id IN ({ids(dups)})""")
    assert raw == mapped == len(dups)
    assert primary <= 0.1 * len(dups)  # the older record stays primary (unless it was archived)
    # each duplicate shares its original's account, and that account counts both companies
    pairs = " UNION ALL ".join(f"SELECT {d} AS dup, {o} AS original" for d, o in zip(dups, originals, strict=True))
    [(live_pairs, same_key, counted)] = rows(warehouse, f"""
        SELECT COUNT(*), COUNT(*) FILTER (WHERE d.account_key = o.account_key),
               COUNT(*) FILTER (WHERE a.hubspot_company_count >= 2)
        FROM ({pairs}) AS p
        JOIN core.account_company_map AS d ON d.hubspot_company_id = p.dup
        JOIN core.account_company_map AS o ON o.hubspot_company_id = p.original
        JOIN core.accounts AS a ON a.account_key = d.account_key""")
    assert live_pairs >= 0.9 * len(dups)
    assert same_key == counted == live_pairs
    [(multi,)] = rows(warehouse, "SELECT COUNT(*) FROM core.accounts WHERE hubspot_company_count > 1")
    assert multi == live_pairs


def test_one_primary_company_per_account(warehouse: Path) -> None:
    assert rows(warehouse, """
        SELECT COUNT(*) FROM (SELECT account_key FROM core.account_company_map GROUP BY 1
                              HAVING COUNT(*) FILTER (WHERE is_primary_company) != 1)""") == [(0,)]
    assert rows(warehouse, """
        SELECT COUNT(*) FROM core.accounts AS a
        JOIN (SELECT account_key, COUNT(*) AS n FROM core.account_company_map GROUP BY 1) AS m USING (account_key)
        WHERE a.hubspot_company_count != m.n""") == [(0,)]


def test_records_on_a_duplicate_reach_the_account(warehouse: Path, plan: dict) -> None:
    dups = ids(plan["dup_id"])
    [(contacts, contacts_ok)] = rows(warehouse, f"""
        SELECT COUNT(*), COUNT(*) FILTER (WHERE c.account_key = m.account_key)
        FROM core.contacts AS c JOIN core.account_company_map AS m ON m.hubspot_company_id = c.hubspot_company_id
        WHERE c.hubspot_company_id IN ({dups})""")
    [(deals, deals_ok)] = rows(warehouse, f"""
        SELECT COUNT(*), COUNT(*) FILTER (WHERE o.account_key = m.account_key)
        FROM core.opportunities AS o JOIN core.account_company_map AS m ON m.hubspot_company_id = o.hubspot_company_id
        WHERE o.hubspot_company_id IN ({dups})""")
    assert contacts > 0 and deals > 0
    assert contacts_ok == contacts and deals_ok == deals


def test_rebranded_customers_are_billed_on_the_hubspot_account(warehouse: Path, plan: dict) -> None:
    old = plan["rebrand_old_domain"].to_pylist()
    new = [plan["acc_domain"][i] for i in plan["rebrand_account"]]
    assert 0 < len(old) <= 0.02 * len(plan["acc_id"])
    got = rows(warehouse, f"""
        WITH old AS (SELECT customer_id, domain FROM stg.quickbooks__customers WHERE domain IN ({strings(old)})),
        account_customers AS (SELECT a.account_key, a.domain, u.customer_id
                              FROM core.accounts AS a CROSS JOIN UNNEST(a.quickbooks_customer_ids) AS u(customer_id))
        SELECT o.domain, ac.domain,
               (SELECT COUNT(*) FROM stg.quickbooks__invoices AS i WHERE i.customer_id = o.customer_id),
               a.invoice_count,
               (SELECT COUNT(*) FROM stg.quickbooks__invoices AS i
                WHERE i.customer_id IN (SELECT customer_id FROM account_customers AS x
                                        WHERE x.account_key = ac.account_key))
        FROM old AS o
        LEFT JOIN account_customers AS ac ON ac.customer_id = o.customer_id
        LEFT JOIN core.accounts AS a ON a.account_key = ac.account_key""")
    assert sorted((o, a) for o, a, *_ in got) == sorted(zip(old, new, strict=True))
    for _, _, own, on_account, of_account_customers in got:
        assert own > 0
        assert on_account == of_account_customers >= own


def test_a_subsidiary_on_its_parents_website_is_billed_on_its_own_account(warehouse: Path, plan: dict) -> None:
    subs = [plan["acc_domain"][i] for i in plan["subsidiary_account"]]
    parents = [plan["acc_domain"][i] for i in plan["subsidiary_parent"]]
    assert 0 < len(subs) <= 0.01 * len(plan["acc_id"])
    got = rows(warehouse, f"""
        WITH placed AS (SELECT a.*, u.customer_id
                        FROM core.accounts AS a CROSS JOIN UNNEST(a.quickbooks_customer_ids) AS u(customer_id))
        SELECT a.domain, c.domain, a.quickbooks_customer_count,
               (SELECT quickbooks_customer_count FROM core.accounts AS x WHERE x.domain = c.domain)
        FROM stg.quickbooks__customers AS c
        JOIN placed AS a ON a.customer_id = c.customer_id
        WHERE REGEXP_EXTRACT(c.billing_email, '@([^@]+)$', 1) IN ({strings(subs)})""")
    # the customer's website is the parent's domain, its account the subsidiary's; the parent keeps its own
    assert sorted((s, p) for s, p, *_ in got) == sorted(zip(subs, parents, strict=True))
    for *_, sub_customers, parent_customers in got:
        assert sub_customers == 1 and parent_customers == 1


def test_every_billed_customer_is_on_one_account(warehouse: Path) -> None:
    [(billed, matched, placements)] = rows(warehouse, """
        WITH billed AS (SELECT DISTINCT customer_id FROM stg.quickbooks__invoices),
        placed AS (SELECT u.customer_id
                   FROM core.accounts AS a CROSS JOIN UNNEST(a.quickbooks_customer_ids) AS u(customer_id))
        SELECT (SELECT COUNT(*) FROM billed),
               (SELECT COUNT(*) FROM billed WHERE customer_id IN (SELECT customer_id FROM placed)),
               (SELECT COUNT(*) - COUNT(DISTINCT customer_id) FROM placed)""")
    assert billed > 800
    assert matched == billed
    assert placements == 0


# --- a hand-made case: five companies, five customers, one invoice each ------------------------
# (string literals: DuckDB casts them to the raw columns' TIMESTAMP / DATE)
HAND_COMPANIES = """
INSERT INTO raw.hubspot__companies (id, portal_id, is_deleted, property_name, property_domain, property_lifecyclestage,
                                    property_createdate, _fivetran_synced, _fivetran_deleted) VALUES
  (101, 1, false, 'Acme', 'acme.com', 'customer', '2022-01-01', '2023-12-01', false),
  (102, 1, false, 'Acme', 'WWW.Acme.com', 'lead', '2023-01-01', '2023-12-01', false),
  (201, 1, false, 'Nova', 'nova.io', 'customer', '2022-02-01', '2023-12-01', false),
  (301, 1, false, 'Parent', 'parent.com', 'customer', '2022-03-01', '2023-12-01', false),
  (302, 1, false, 'Sub', 'sub-parent.de', 'customer', '2022-04-01', '2023-12-01', false)"""
HAND_CUSTOMERS = """
INSERT INTO raw.quickbooks__customers (id, display_name, website, email, active, currency_id, created_at,
                                       updated_at, _fivetran_synced, _fivetran_deleted) VALUES
  ('1', 'Acme', 'https://acme.com', 'billing@acme.com', true, 'USD', '2022-01-01', '2023-12-01', '2023-12-01', false),
  ('2', 'Nova', 'getnova.io', 'ap@nova.io', true, 'USD', '2022-01-01', '2023-12-01', '2023-12-01', false),
  ('3', 'Parent', 'parent.com', 'finance@parent.com', true, 'USD', '2022-01-01', '2023-12-01', '2023-12-01', false),
  ('4', 'Sub', 'parent.com/', 'billing@sub-parent.de', true, 'USD', '2022-01-01', '2023-12-01', '2023-12-01', false),
  ('5', 'Stray', 'nobody.example', 'someone@gmail.com', true, 'USD', '2022-01-01', '2023-12-01', '2023-12-01', false)"""
HAND_INVOICES = """
INSERT INTO raw.quickbooks__invoices (id, customer_id, transaction_date, total_amount, balance, currency_id,
                                      exchange_rate, created_at, updated_at, _fivetran_synced, _fivetran_deleted)
VALUES
  ('11', '1', '2023-01-05', 100, 0, 'USD', 1, '2023-01-05', '2023-01-05', '2023-12-01', false),
  ('12', '2', '2023-01-05', 200, 0, 'USD', 1, '2023-01-05', '2023-01-05', '2023-12-01', false),
  ('13', '3', '2023-01-05', 300, 0, 'USD', 1, '2023-01-05', '2023-01-05', '2023-12-01', false),
  ('14', '4', '2023-02-05', 400, 0, 'USD', 1, '2023-01-05', '2023-01-05', '2023-12-01', false),
  ('15', '5', '2023-01-05', 500, 0, 'USD', 1, '2023-01-05', '2023-01-05', '2023-12-01', false)"""


@pytest.fixture(scope="module")
def handmade(tmp_path_factory: pytest.TempPathFactory, seeded_warehouse: Path) -> Path:
    """A copy of the seeded warehouse with HubSpot companies, QuickBooks customers and invoices replaced by
    hand in raw, the models between them and core.accounts rebuilt."""
    root = copy_warehouse(seeded_warehouse, tmp_path_factory.mktemp("account-matching-hand") / "project")
    invoke = CliRunner().invoke
    with duckdb.connect(str(warehouse_path(root))) as con:
        for table, insert in (("hubspot__companies", HAND_COMPANIES), ("quickbooks__customers", HAND_CUSTOMERS),
                              ("quickbooks__invoices", HAND_INVOICES)):
            con.execute(f"DELETE FROM raw.{table}")
            con.execute(insert)
    # the models downstream of the three raw tables replaced by hand (the rest of the copy is built from the
    # same raw as a full rebuild would leave it)
    result = invoke(cli, ["--project-dir", str(root), "build", "--select", "stg.hubspot__companies "
                          "stg.quickbooks__customers stg.quickbooks__invoices core.account_company_map core.accounts"],
                    env={"KCRM_GOV_NOW": NOW})
    assert result.exit_code == 0, result.output
    return root


def test_hand_made_duplicate_rebrand_and_subsidiary(handmade: Path) -> None:
    assert rows(handmade, """
        SELECT domain, hubspot_company_id, hubspot_company_count, quickbooks_customer_id, quickbooks_customer_ids,
               is_billed, invoice_count, lifetime_billed_usd
        FROM core.accounts ORDER BY domain""") == [
        ("acme.com", 101, 2, "1", ["1"], True, 1, 100),          # the www./upper-case duplicate collapses
        ("nova.io", 201, 1, "2", ["2"], True, 1, 200),           # billed on the old domain, email at the new
        ("parent.com", 301, 1, "3", ["3"], True, 1, 300),
        ("sub-parent.de", 302, 1, "4", ["4"], True, 1, 400),     # on its parent's website, its own billing email
    ]
    assert rows(handmade, """
        SELECT hubspot_company_id, is_primary_company,
               account_key = (SELECT account_key FROM core.account_company_map WHERE hubspot_company_id = 101)
        FROM core.account_company_map WHERE hubspot_company_id IN (101, 102) ORDER BY 1""") == [
        (101, True, True), (102, False, True)]

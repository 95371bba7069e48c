"""enr.icp_fit: ICP points, tier, fired rules and missing inputs from the enr.icp_points rules (issue 15).

Built through the real engine on the seeded scale-1 world: the customer rate rises from tier D to
tier A and matches the seed's ground truth per tier; hand-made accounts written into core.accounts
get the points, tier, rules and missing inputs worked out by hand; a changed points row shows in
the diff with enr.icp_fit downstream.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from conftest import connect_warehouse, copy_project, copy_warehouse, run_cli
from conftest import query_rows as rows

from kcrm_gov.governance.diff import diff_projects
from kcrm_gov.project import Project
from kcrm_gov.seed.truth import ground_truth, lookup

# (account_key, industry, employee_count, country, is_internal) -> (points, tier, rules_fired, missing_inputs)
HAND_MADE = {
    ("hand-a", "COMPUTER_SOFTWARE", 20, "United Kingdom", False):  # 40 + 40 + 20
        ("100", "A", ["country_gb", "industry_computer_software", "size_20_500"], []),
    ("hand-b", None, 2000, "Canada", False): ("32", "D", ["country_ca", "size_501_2000"], ["industry"]),
    ("hand-c", "FINANCIAL_SERVICES", 501, "Australia", False):  # 32 + 16 + 12: exactly the B bound
        ("60", "B", ["country_au", "industry_financial_services", "size_501_2000"], []),
    ("hand-d", "REAL_ESTATE", None, None, False):
        ("16", "D", ["industry_real_estate"], ["employee_count", "country"]),
    ("hand-e", "COMPUTER_SOFTWARE", 500, "Germany", False):  # 40 + 40: exactly the A bound
        ("80", "A", ["industry_computer_software", "size_20_500"], []),
    ("hand-f", "REAL_ESTATE", 10, "Canada", False):  # 16 + 16 + 16: a C
        ("48", "C", ["country_ca", "industry_real_estate", "size_10_19"], []),
    ("hand-g", "COMPUTER_SOFTWARE", 9, "France", False):  # 40 alone: exactly the C bound
        ("40", "C", ["industry_computer_software"], []),
    ("hand-h", None, None, None, False): ("0", "D", [], ["industry", "employee_count", "country"]),
    ("hand-i", "HOSPITALITY", 9, "France", False): ("0", "D", [], []),
}
INTERNAL = ("hand-internal", "COMPUTER_SOFTWARE", 100, "United States", True)


@pytest.fixture(scope="module")
def warehouse(seeded_warehouse: Path) -> Path:
    """The seeded, fully built project, with enr.icp_fit's checks run on it."""
    run_cli(seeded_warehouse, "test", "--select", "enr.icp_fit enr.icp_points enr.icp_tiers")
    return seeded_warehouse


def test_every_real_account_once_and_no_internal(warehouse: Path) -> None:
    [(real, scored, distinct, internal)] = rows(warehouse, """
        SELECT (SELECT COUNT(*) FROM core.accounts WHERE NOT is_internal),
               (SELECT COUNT(*) FROM enr.icp_fit),
               (SELECT COUNT(DISTINCT account_key) FROM enr.icp_fit),
               (SELECT COUNT(*) FROM enr.icp_fit JOIN core.accounts USING (account_key) WHERE is_internal)""")
    assert real > 1000
    assert scored == distinct == real
    assert internal == 0


def test_customer_rate_rises_by_tier_and_matches_ground_truth(warehouse: Path) -> None:
    rate = dict(rows(warehouse, """
        SELECT f.icp_tier, AVG(CASE WHEN a.lifecycle_stage = 'customer' THEN 1.0 ELSE 0.0 END)
        FROM enr.icp_fit AS f JOIN core.accounts AS a USING (account_key) GROUP BY f.icp_tier"""))
    assert set(rate) == {"A", "B", "C", "D"}
    assert rate["A"] > rate["B"] > rate["C"] > rate["D"]
    truth = ground_truth(seed=42, scale=1.0)
    for tier in "ABCD":
        expected = lookup(truth, "fit", f"customer_rate_tier_{tier}")
        assert abs(float(rate[tier]) - expected) <= 0.1, (tier, rate[tier], expected)


def test_closed_won_rate_rises_from_tier_d_to_tier_a(warehouse: Path) -> None:
    won = dict(rows(warehouse, """
        SELECT f.icp_tier, AVG(CASE WHEN o.is_won THEN 1.0 ELSE 0.0 END)
        FROM core.opportunities AS o JOIN enr.icp_fit AS f USING (account_key)
        WHERE o.is_closed AND o.deal_type = 'newbusiness' GROUP BY f.icp_tier"""))
    assert won["A"] > won["B"] > won["C"] > won["D"]
    assert won["A"] - won["D"] > 0.3


def test_missing_inputs_are_the_null_firmographics(warehouse: Path) -> None:
    [(wrong, with_missing)] = rows(warehouse, """
        SELECT COUNT(*) FILTER (WHERE f.missing_inputs != list_filter(
                   ['industry', 'employee_count', 'country'],
                   x -> (x = 'industry' AND a.industry IS NULL) OR (x = 'employee_count' AND a.employee_count IS NULL)
                        OR (x = 'country' AND a.country IS NULL))),
               COUNT(*) FILTER (WHERE len(f.missing_inputs) > 0)
        FROM enr.icp_fit AS f JOIN core.accounts AS a USING (account_key)""")
    assert wrong == 0
    assert with_missing > 50  # the seed leaves some industries and sizes unknown


def test_hand_made_accounts_get_hand_computed_scores(warehouse: Path, tmp_path: Path) -> None:
    root = copy_warehouse(warehouse, tmp_path / "project")
    with connect_warehouse(root, read_only=False) as con:
        for i, (key, industry, employees, country, internal) in enumerate([*HAND_MADE, INTERNAL]):
            con.execute("""
                INSERT INTO core.accounts
                SELECT * REPLACE (? AS account_key, ? AS domain, ? AS hubspot_company_id, ? AS industry,
                                  CAST(? AS BIGINT) AS employee_count, ? AS country, ? AS is_internal)
                FROM core.accounts WHERE NOT is_internal ORDER BY account_key LIMIT 1""",
                        [key, f"{key}.example", -1 - i, industry, employees, country, internal])
    run_cli(root, "build", "--select", "enr.icp_fit")
    got = {key: (points, tier, fired, missing) for key, points, tier, fired, missing in rows(root, """
        SELECT account_key, icp_points, icp_tier, rules_fired, missing_inputs FROM enr.icp_fit
        WHERE account_key LIKE 'hand-%'""")}
    expected = {key[0]: (Decimal(p), t, fired, missing) for key, (p, t, fired, missing) in HAND_MADE.items()}
    assert got == expected  # and the internal one is not scored
    run_cli(root, "test", "--select", "enr.icp_fit")


def test_changing_a_points_row_shows_in_the_diff_with_icp_fit_downstream(tmp_path: Path) -> None:
    base = copy_project(tmp_path / "base")
    head = copy_project(tmp_path / "head")
    csv = head / "models" / "enr" / "icp_points.csv"
    text = csv.read_text()
    assert "size_20_500,employee_band,,20,500,40," in text
    csv.write_text(text.replace("size_20_500,employee_band,,20,500,40,", "size_20_500,employee_band,,20,500,45,"))
    report = diff_projects(Project.load(base, strict=False), Project.load(head, strict=False))
    [table] = [t for t in report.tables if t.table == "enr.icp_points"]
    assert [c.message for c in table.changes] == [
        "models/enr/icp_points.csv: row rule_id=size_20_500: points '40' -> '45'"]
    assert table.impact is not None and "enr.icp_fit" in table.impact.tables
    assert table.version is not None and table.version.ok

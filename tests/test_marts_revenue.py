"""Revenue marts and metrics bound to columns (issue 16).

Known answers: hand-made accounts are written into core.account_mrr_months and core.accounts of a copy
of the seeded warehouse, enr.account_mrr_monthly and the three revenue marts are rebuilt through the
real engine (``build --select``), and every expected figure below is worked out by hand: RevOps' three-
account example rolled up into one segment x plan group, a customer moving between plans (an upgrade
with expansion, then a downgrade with contraction), NRR and GRR with an account new since m-12 left
out, cohort retention and the logo churn rate. On the seeded scale-1 build every contract rule holds.
A metric bound to a column that does not exist fails lint at its line of catalog/metrics.yml, and a
bound column's catalog row links to its metric.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import connect_warehouse, copy_warehouse, run_cli
from conftest import query_rows as rows

from kcrm_gov.cli import cli

MARTS = "marts.revenue_mrr_monthly marts.revenue_retention_monthly marts.revenue_cohorts"
MONTHS = [f"{y}-{m:02d}" for y in (2022, 2023) for m in range(1, 13)][:16]  # 2022-01 .. 2023-04, the data's end


def _paying(amount: float, first: str, last: str = "2023-04") -> dict[str, float]:
    return {m: amount for m in MONTHS if first <= m <= last}


# account -> (segment (None: unknown employee count), left-censored, {month: (MRR, plan)})
ACCOUNTS: dict[str, tuple[str | None, bool, dict[str, tuple[float, str]]]] = {
    # RevOps' example, all smb / starter: A 100, 100, 150, 0; B 0, 200, 120, 120; C 50, 0, 0, 60
    "kat-a": ("smb", False, {"2022-01": (100, "starter"), "2022-02": (100, "starter"), "2022-03": (150, "starter")}),
    "kat-b": ("smb", False, {m: (200 if m == "2022-02" else 120, "starter") for m in _paying(0, "2022-02")}),
    "kat-c": ("smb", False, {"2022-01": (50, "starter"), **{m: (60, "starter") for m in _paying(0, "2022-04")}}),
    # D moves between groups: growth 300 -> pro 500 (an upgrade) -> growth 250 (a downgrade), then stays
    "kat-d": ("mid_market", False, {"2022-01": (300, "growth"), "2022-02": (500, "pro"),
                                    **{m: (250, "growth") for m in _paying(0, "2022-03")}}),
    # E expands from 100 to 400 in June 2022: NRR above GRR
    "kat-e": ("enterprise", False, {m: (100 if m < "2022-06" else 400, "enterprise") for m in _paying(0, "2022-01")}),
    # L was already paying when the data starts: opening, never new, in no cohort
    "kat-l": ("smb", True, {m: (80, "pro") for m in _paying(0, "2022-01")}),
    # F: unknown segment, 40 in January and February, churns in March
    "kat-f": (None, False, {"2022-01": (40, "growth"), "2022-02": (40, "growth")}),
}


def _load(root: Path) -> None:
    with connect_warehouse(root, read_only=False) as con:
        con.execute("DELETE FROM core.account_mrr_months")
        for i, (account, (segment, censored, months)) in enumerate(ACCOUNTS.items()):
            con.execute("""
                INSERT INTO core.accounts
                SELECT * REPLACE (? AS account_key, ? AS domain, ? AS hubspot_company_id, ? AS segment,
                                  FALSE AS is_internal)
                FROM core.accounts WHERE NOT is_internal ORDER BY account_key LIMIT 1""",
                        [account, f"{account}.example", -1 - i, segment])
            for month, (mrr, plan) in months.items():
                con.execute("""
                    INSERT INTO core.account_mrr_months BY NAME
                    SELECT ? AS customer_id, CAST(? AS DATE) AS month_start, LAST_DAY(CAST(? AS DATE)) AS month_end,
                           ? AS account_key, FALSE AS is_internal, 'USD' AS currency_code, ? AS plan, 1 AS seats,
                           CAST(? AS NUMERIC) AS mrr_usd_constant, CAST(? AS NUMERIC) AS mrr_usd_finance,
                           CAST(0 AS NUMERIC) AS fx_effect_usd, CAST(? AS NUMERIC) AS mrr, TRUE AS is_billed,
                           FALSE AS is_bridged, ? AS is_left_censored, 1 AS run_number, FALSE AS is_first_month,
                           DATE '2021-06-01' AS first_paid_date, LAST_DAY(CAST(? AS DATE)) AS paid_through_date""",
                            [f"qb-{account}", f"{month}-01", f"{month}-01", account, plan, mrr, mrr, mrr, censored,
                             f"{month}-01"])


@pytest.fixture(scope="module")
def kat(seeded_warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the seeded warehouse whose MRR is only ACCOUNTS, with enr and the marts rebuilt and tested."""
    root = copy_warehouse(seeded_warehouse, tmp_path_factory.mktemp("marts-revenue") / "project")
    _load(root)
    run_cli(root, "build", "--select", f"enr.account_mrr_monthly {MARTS}")
    run_cli(root, "test", "--select", MARTS)  # every invariant holds on the hand-made months too
    return root


def _num(value: object) -> object:
    return float(value) if isinstance(value, Decimal) else value


def bridge(root: Path, segment: str, plan: str, months: int = 4) -> dict[str, tuple]:
    return {r[0].strftime("%Y-%m"): tuple(_num(v) for v in r[1:]) for r in rows(root, f"""
        SELECT month_start, opening_mrr_usd, new_mrr, expansion_mrr, contraction_mrr, churned_mrr, reactivation_mrr,
               transfer_in_mrr, transfer_out_mrr, closing_mrr_usd, opening_customers, new_customers,
               reactivated_customers, churned_customers, customers_moved_in, customers_moved_out, customers
        FROM marts.revenue_mrr_monthly WHERE segment = '{segment}' AND plan = '{plan}'
          AND month_start < DATE '2022-01-01' + INTERVAL {months} MONTH ORDER BY month_start""")}


def test_revops_example_rolls_up_into_its_group(kat: Path) -> None:
    # opening, new, expansion, contraction, churned, reactivation, in, out, closing | customers: opening, new,
    # reactivated, churned, moved in, moved out, closing
    assert bridge(kat, "smb", "starter") == {
        "2022-01": (0, 150, 0, 0, 0, 0, 0, 0, 150, 0, 2, 0, 0, 0, 0, 2),
        "2022-02": (150, 200, 0, 0, -50, 0, 0, 0, 300, 2, 1, 0, 1, 0, 0, 2),
        "2022-03": (300, 0, 50, -80, 0, 0, 0, 0, 270, 2, 0, 0, 0, 0, 0, 2),
        "2022-04": (270, 0, 0, 0, -150, 60, 0, 0, 180, 2, 0, 1, 1, 0, 0, 2),
    }
    got = rows(kat, """SELECT arr_usd, net_new_arr_usd, arpa_usd, fx_impact_usd, closing_mrr_usd_finance
                       FROM marts.revenue_mrr_monthly WHERE segment = 'smb' AND plan = 'starter'
                       ORDER BY month_start LIMIT 4""")
    assert [tuple(_num(v) for v in r) for r in got] == [
        (1800, 1800, 75, 0, 150), (3600, 1800, 150, 0, 300), (3240, -360, 135, 0, 270), (2160, -1080, 90, 0, 180)]
    # L was already paying when the data starts: it opens in its group, never new; F's segment is unknown
    assert bridge(kat, "smb", "pro", 1) == {"2022-01": (80, 0, 0, 0, 0, 0, 0, 0, 80, 1, 0, 0, 0, 0, 0, 1)}
    assert bridge(kat, "unknown", "growth") == {
        "2022-01": (0, 40, 0, 0, 0, 0, 0, 0, 40, 0, 1, 0, 0, 0, 0, 1),
        "2022-02": (40, 0, 0, 0, 0, 0, 0, 0, 40, 1, 0, 0, 0, 0, 0, 1),
        "2022-03": (40, 0, 0, 0, -40, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0),  # then no row: nobody pays there
    }


def test_a_customer_moving_between_groups_keeps_every_bridge(kat: Path) -> None:
    # D: growth 300 in January; pro 500 in February (moves out of growth, in to pro with +200 expansion); growth
    # 250 in March (moves out of pro, in to growth with -250 contraction)
    assert bridge(kat, "mid_market", "growth") == {
        "2022-01": (0, 300, 0, 0, 0, 0, 0, 0, 300, 0, 1, 0, 0, 0, 0, 1),
        "2022-02": (300, 0, 0, 0, 0, 0, 0, -300, 0, 1, 0, 0, 0, 0, 1, 0),
        "2022-03": (0, 0, 0, -250, 0, 0, 500, 0, 250, 0, 0, 0, 0, 1, 0, 1),
        "2022-04": (250, 0, 0, 0, 0, 0, 0, 0, 250, 1, 0, 0, 0, 0, 0, 1),
    }
    assert bridge(kat, "mid_market", "pro") == {
        "2022-02": (0, 0, 200, 0, 0, 0, 300, 0, 500, 0, 0, 0, 0, 1, 0, 1),
        "2022-03": (500, 0, 0, 0, 0, 0, 0, -500, 0, 1, 0, 0, 0, 0, 1, 0),
    }
    # summed over the groups, the company's bridge is RevOps' example plus D, E, L and F: no transfer left
    company = rows(kat, """
        SELECT month_start, SUM(opening_mrr_usd), SUM(new_mrr), SUM(expansion_mrr), SUM(contraction_mrr),
               SUM(churned_mrr), SUM(reactivation_mrr), SUM(transfer_in_mrr + transfer_out_mrr), SUM(closing_mrr_usd),
               SUM(customers), SUM(net_new_arr_usd)
        FROM marts.revenue_mrr_monthly GROUP BY 1 ORDER BY 1 LIMIT 6""")
    assert [tuple(_num(v) for v in r[1:]) for r in company] == [
        (80, 150 + 300 + 100 + 40, 0, 0, 0, 0, 0, 670, 6, 12 * 590),
        (670, 200, 200, 0, -50, 0, 0, 1020, 6, 12 * 350),
        (1020, 0, 50, -80 - 250, -40, 0, 0, 700, 5, 12 * -320),
        (700, 0, 0, 0, -150, 60, 0, 610, 5, 12 * -90),
        (610, 0, 0, 0, 0, 0, 0, 610, 5, 0),
        (610, 0, 300, 0, 0, 0, 0, 910, 5, 12 * 300),  # June: E expands from 100 to 400
    ]


def test_nrr_and_grr_leave_out_accounts_new_since_m12(kat: Path) -> None:
    got = {r[0].strftime("%Y-%m"): tuple(_num(v) for v in r[1:]) for r in rows(kat, """
        SELECT month_start, has_full_year, cohort_accounts, retained_accounts, base_mrr_usd, current_mrr_usd,
               retained_mrr_capped_usd, nrr, grr, logo_retention
        FROM marts.revenue_retention_monthly ORDER BY month_start""")}
    assert list(got) == MONTHS
    assert all(v == (False, 0, 0, 0, 0, 0, None, None, None) for m, v in got.items() if m < "2023-01")
    # January 2023 against January 2022: A 100 -> 0, C 50 -> 60, D 300 -> 250, E 100 -> 400, L 80 -> 80,
    # F 40 -> 0; B (new in February 2022, 120 now) is out
    base, current, capped = 100 + 50 + 300 + 100 + 80 + 40, 0 + 60 + 250 + 400 + 80 + 0, 0 + 50 + 250 + 100 + 80
    assert got["2023-01"] == (True, 6, 4, base, current, capped, round(current / base, 9), round(capped / base, 9),
                              round(4 / 6, 9))
    assert got["2023-01"][6:8] == (pytest.approx(1.179104478), pytest.approx(0.716417910))
    # February 2023 against February 2022: A 100 -> 0, B 200 -> 120, D 500 -> 250, E 100 -> 400, L 80, F 40 -> 0;
    # C (in its gap then, 60 now) is out
    base, current, capped = 100 + 200 + 500 + 100 + 80 + 40, 0 + 120 + 250 + 400 + 80, 0 + 120 + 250 + 100 + 80
    assert got["2023-02"] == (True, 6, 4, base, current, capped, round(current / base, 9), round(capped / base, 9),
                              round(4 / 6, 9))


def test_logo_churn_rate_is_churned_over_customers_a_month_before(kat: Path) -> None:
    got = {r[0].strftime("%Y-%m"): tuple(_num(v) for v in r[1:]) for r in rows(kat, """
        SELECT month_start, customers_at_start, churned_customers, logo_churn_rate
        FROM marts.revenue_retention_monthly WHERE month_start < DATE '2022-06-01' ORDER BY month_start""")}
    assert got == {
        "2022-01": (0, 0, None),  # nothing is known about the month before the data
        "2022-02": (6, 1, round(1 / 6, 9)),  # A C D E L F paid in January; C churns
        "2022-03": (6, 1, round(1 / 6, 9)),  # A B D E L F; F churns
        "2022-04": (5, 1, 0.2),  # A B D E L (C is in its gap); A churns
        "2022-05": (5, 0, 0.0),  # B C D E L
    }


def test_cohort_retention_by_months_since_start(kat: Path) -> None:
    got = {(r[0].strftime("%Y-%m"), r[1]): tuple(_num(v) for v in r[2:]) for r in rows(kat, """
        SELECT cohort_month, months_since, cohort_accounts, active_accounts, logo_retention, start_mrr_usd, mrr_usd,
               revenue_retention FROM marts.revenue_cohorts""")}
    # January 2022: A C D E F (L was already paying: no cohort); February 2022: B
    assert sorted({k[0] for k in got}) == ["2022-01", "2022-02"]
    assert len(got) == 16 + 15  # each cohort runs to the data's last month, April 2023
    start = 100 + 50 + 300 + 100 + 40
    assert got[("2022-01", 0)] == (5, 5, 1, start, start, 1)
    assert got[("2022-01", 1)] == (5, 4, 0.8, start, 740, round(740 / start, 9))  # C gone, D upgraded
    assert got[("2022-01", 2)] == (5, 3, 0.6, start, 500, round(500 / start, 9))  # F gone too
    assert got[("2022-01", 3)] == (5, 3, 0.6, start, 410, round(410 / start, 9))  # A gone, C back at 60
    assert got[("2022-01", 12)] == (5, 3, 0.6, start, 710, round(710 / start, 9))  # E at 400
    assert got[("2022-02", 0)] == (1, 1, 1, 200, 200, 1)
    assert got[("2022-02", 1)] == (1, 1, 1, 200, 120, 0.6)
    assert rows(kat, """SELECT month_start FROM marts.revenue_cohorts
                        WHERE cohort_month = DATE '2022-02-01' AND months_since = 14""") == [(date(2023, 4, 1),)]


def test_a_broken_bridge_fails_its_rule(kat: Path, tmp_path: Path) -> None:
    """The invariants really check: one cent taken off a closing balance fails the bridge and continuity rules."""
    root = copy_warehouse(kat, tmp_path / "broken")
    with connect_warehouse(root, read_only=False) as con:
        con.execute("""UPDATE marts.revenue_mrr_monthly SET closing_mrr_usd = closing_mrr_usd - 0.01
                       WHERE segment = 'smb' AND plan = 'starter' AND month_start = DATE '2022-03-01'""")
        con.execute("UPDATE marts.revenue_retention_monthly SET grr = nrr + 0.01 WHERE month_start = DATE '2023-01-01'")
    result = CliRunner().invoke(cli, ["--project-dir", str(root), "test", "--select",
                                      "marts.revenue_mrr_monthly marts.revenue_retention_monthly", "--json"])
    assert result.exit_code == 1, result.output
    failed = {c["name"].rsplit(" ", 1)[-1] for t in json.loads(result.stdout)["tables"] for c in t["checks"]
              if c["outcome"] == "fail"}
    assert failed == {"closing_is_opening_plus_movements", "opening_is_last_months_closing", "arr_is_twelve_times_mrr",
                      "company_bridge_matches_account_movements", "grr_not_above_nrr_nor_one",
                      "rates_are_their_ratios"}


# --- the seeded scale-1 build ----------------------------------------------------------------------
def test_seeded_revenue_marts_pass_their_rules_and_agree_with_enr(seeded_warehouse: Path) -> None:
    run_cli(seeded_warehouse, "test", "--select", MARTS)
    [(months, groups, moves, closing, enr_closing)] = rows(seeded_warehouse, """
        SELECT COUNT(DISTINCT month_start), COUNT(*), SUM(customers_moved_in),
               (SELECT SUM(closing_mrr_usd) FROM marts.revenue_mrr_monthly WHERE month_start = DATE '2023-11-01'),
               (SELECT SUM(closing_mrr_usd) FROM enr.account_mrr_monthly WHERE month_start = DATE '2023-11-01')
        FROM marts.revenue_mrr_monthly""")
    assert months == 24 and groups > 100
    assert moves > 20  # plan switches move customers between groups on the seeded world
    assert closing == enr_closing > 0
    [(nrr, grr)] = rows(seeded_warehouse, """SELECT nrr, grr FROM marts.revenue_retention_monthly
                                              WHERE month_start = DATE '2023-11-01'""")
    assert 0.5 < grr < nrr < 1.5


# --- metrics bound to columns -----------------------------------------------------------------------
def test_a_metric_bound_to_a_missing_column_fails_lint_at_its_line(project_dir: Path) -> None:
    path = project_dir / "catalog" / "metrics.yml"
    text = path.read_text()
    bound = "    columns: [marts.revenue_mrr_monthly.arr_usd]\n"
    assert bound in text
    line = text[: text.index(bound)].count("\n") + 1
    path.write_text(text.replace(bound, "    columns: [marts.revenue_mrr_monthly.arr, marts.planned_table.arr,\n"
                                        "              enr.account_mrr_monthly.closing_mrr_usd]\n"))
    result = CliRunner().invoke(cli, ["--project-dir", str(project_dir), "lint", "--json"])
    assert result.exit_code == 1, result.output
    found = [(f["path"], f["line"], f["message"]) for f in json.loads(result.stdout)["findings"]
             if f["rule"] == "KG020"]
    assert [(p, n) for p, n, _ in found] == [("catalog/metrics.yml", line)] * 2 + [("catalog/metrics.yml", line + 1)]
    assert "marts.revenue_mrr_monthly has no column 'arr'" in found[0][2]
    assert "table marts.planned_table does not exist" in found[1][2]
    assert "metrics are bound to marts columns" in found[2][2]
    # a metric without columns: is fine (not bound yet), as are the planned tables under sources: (marts.cs_health)
    assert "marts.cs_health" in text
    path.write_text(text.replace(bound, ""))
    assert CliRunner().invoke(cli, ["--project-dir", str(project_dir), "lint"]).exit_code == 0


def test_a_bound_column_links_to_its_metric_in_the_catalog(project_dir: Path) -> None:
    from kcrm_gov.catalog.pages import collect, render_site
    from kcrm_gov.project import Project

    pages = render_site(collect(Project.load(project_dir), git_history=False, column_lineage=False))
    table = pages["tables/marts/revenue_retention_monthly.md"]
    row = next(line for line in table.splitlines() if line.startswith('<tr id="col-nrr">'))
    assert 'Metric: <a href="../../../metrics/&#35;nrr">Net revenue retention (NRR)</a>' in row
    assert "Metric:" not in next(line for line in table.splitlines() if line.startswith('<tr id="col-month_end">'))
    metrics = pages["metrics.md"]
    section = metrics[metrics.index("{#grr}"):metrics.index("{#logo-retention}")]
    assert "Columns</td><td><a href=\"../tables/marts/revenue&#95;retention&#95;monthly/&#35;col-grr\">" in section

"""The executive mart (issue 16): one row per month, read only from the other marts.

On the seeded scale-1 build every rule passes and each headline figure is the number its own mart
holds. Known answers: a hand-made month (January 2030, outside the data) written into the five marts
it reads, with two segments, two deal types, two CSMs and a trial cohort, gives ARR, ARPA, net new
ARR, the new-business win rate and pipeline, NPS and CSAT recomputed from counts (never averaged),
all worked out by hand. A corrupted row breaks exactly the rules it should.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from conftest import clone_row, connect_warehouse, copy_warehouse, failing_rules, run_cli
from conftest import query_rows as rows

EXEC = "marts.executive_monthly"
JAN = "2030-01-01"


@pytest.fixture(scope="module")
def warehouse(seeded_warehouse: Path) -> Path:
    run_cli(seeded_warehouse, "test", "--select", EXEC)
    return seeded_warehouse


def test_seeded_executive_mart(warehouse: Path) -> None:
    [(months, first, last)] = rows(warehouse, f"SELECT COUNT(*), MIN(month_start), MAX(month_start) FROM {EXEC}")
    assert months == 24 and str(first) == "2022-01-01" and str(last) == "2023-12-01"
    # every headline is its own mart's number
    [(arr, mrr, nrr, win_rate, activation)] = rows(warehouse, f"""
        SELECT arr_usd, mrr_usd, nrr, win_rate, activation_rate FROM {EXEC} WHERE month_start = DATE '2023-11-01'""")
    [(closing, retention, won, closed, trial_rate)] = rows(warehouse, """
        SELECT (SELECT SUM(closing_mrr_usd) FROM marts.revenue_mrr_monthly WHERE month_start = DATE '2023-11-01'),
               (SELECT nrr FROM marts.revenue_retention_monthly WHERE month_start = DATE '2023-11-01'),
               (SELECT won_deals FROM marts.sales_monthly
                WHERE month_start = DATE '2023-11-01' AND deal_type = 'newbusiness'),
               (SELECT closed_deals FROM marts.sales_monthly
                WHERE month_start = DATE '2023-11-01' AND deal_type = 'newbusiness'),
               (SELECT activation_rate FROM marts.trial_conversion_monthly WHERE month_start = DATE '2023-11-01')""")
    assert mrr == closing and arr == 12 * closing and nrr == retention and activation == trial_rate
    assert abs(win_rate - Decimal(won) / Decimal(closed)) < Decimal("1e-9")
    # ARR grew over the two years and NRR is a plausible B2B figure
    [(arr_first,)] = rows(warehouse, f"SELECT arr_usd FROM {EXEC} WHERE month_start = DATE '2022-01-01'")
    assert arr > arr_first and Decimal("0.8") < nrr < Decimal("1.2")


def test_executive_known_answers(warehouse: Path, tmp_path: Path) -> None:
    root = copy_warehouse(warehouse, tmp_path / "p")
    with connect_warehouse(root, read_only=False) as con:
        clone_row(con, "marts.revenue_retention_monthly", {
            "month_start": JAN, "month_end": "2030-01-31", "nrr": "1.05", "grr": "0.9", "logo_retention": "0.8",
            "logo_churn_rate": "0.02"})
        for segment, opening, closing, net_new_arr, customers in (("smb", 900, 1000, 1200, 10),
                                                                   ("enterprise", 5000, 5000, 0, 2)):
            clone_row(con, "marts.revenue_mrr_monthly", {
                "month_start": JAN, "month_end": "2030-01-31", "segment": segment, "plan": "pro",
                "opening_mrr_usd": opening, "closing_mrr_usd": closing, "arr_usd": 12 * closing,
                "net_new_arr_usd": net_new_arr, "customers": customers})
        for deal_type, created, deals, won, closed in (("newbusiness", 30000, 6, 2, 5),
                                                       ("existingbusiness", 9000, 3, 3, 3)):
            clone_row(con, "marts.sales_monthly", {
                "month_start": JAN, "month_end": "2030-01-31", "deal_type": deal_type,
                "pipeline_created_usd": created, "pipeline_created_deals": deals, "won_deals": won,
                "closed_deals": closed})
        for csm, responses, promoters, detractors, ratings, good in (("1", 10, 5, 2, 4, 3), ("2", 10, 2, 5, 6, 3)):
            clone_row(con, "marts.cs_health_monthly", {
                "month_start": JAN, "month_end": "2030-01-31", "csm_key": csm, "risk_band": "low",
                "nps_responses": responses, "nps_promoters": promoters, "nps_detractors": detractors,
                "csat_ratings": ratings, "csat_good_ratings": good})
        clone_row(con, "marts.trial_conversion_monthly", {"month_start": JAN, "activation_rate": "0.6"})
    run_cli(root, "build", "--select", EXEC)
    [row] = rows(root, f"""
        SELECT mrr_usd, arr_usd, net_new_arr_usd, customers, arpa_usd, nrr, grr, logo_churn_rate, pipeline_created_usd,
               won_deals, closed_deals, win_rate, nps_responses, nps, csat_ratings, csat, activation_rate
        FROM {EXEC} WHERE month_start = DATE '{JAN}'""")
    assert row == (
        6000, 72000, 1200, 12, Decimal("500"),           # MRR over both segments; ARPA = 6000 / 12
        Decimal("1.05"), Decimal("0.9"), Decimal("0.02"),
        30000, 2, 5, Decimal("0.4"),                     # new business only: 2 won of 5 closed
        20, Decimal("0"), 10, Decimal("0.6"),            # NPS 100 x (7 - 7) / 20, not the CSMs' average; CSAT 6 / 10
        Decimal("0.6"))
    run_cli(root, "test", "--select", EXEC)

    with connect_warehouse(root, read_only=False) as con:
        con.execute(f"UPDATE {EXEC} SET arr_usd = arr_usd + 1, grr = nrr + 0.1 WHERE month_start = DATE '{JAN}'")
    assert failing_rules(root, EXEC) == {"arr_is_twelve_times_mrr", "grr_within_nrr_and_100_percent"}

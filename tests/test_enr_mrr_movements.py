"""enr.account_mrr_monthly: MRR movements per account and month (issue 15).

Known answers: hand-made rows are written into core.account_mrr_months of a copied, seeded project and
only enr.account_mrr_monthly is rebuilt through the real engine (``build --select``); every expected
movement below is worked out by hand. On the seeded scale-1 build, the MRR bridge holds on every row
and the reactivations are exactly the world's win-backs.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from conftest import connect_warehouse as connect
from conftest import copy_warehouse
from conftest import query_rows as rows
from conftest import run_cli as invoke

from kcrm_gov.seed.world import build_world

MODEL = "enr.account_mrr_monthly"


# --- known answers ----------------------------------------------------------------------------------
# core rows: (customer, account, month, mrr_usd_constant, mrr_usd_finance, seats, plan, left-censored,
# bridged, internal). Months run 2022-01 .. 2022-06 (the data's last month: L, E and M pay in it).
MONTHS = ["2022-01", "2022-02", "2022-03", "2022-04", "2022-05", "2022-06"]
CORE: list[tuple] = [
    # A: new 100 -> expansion to 150 -> contraction to 120 -> churn in April
    ("A", "acc-a", "2022-01", 100, 100, 10, "starter", False, False, False),
    ("A", "acc-a", "2022-02", 150, 150, 15, "starter", False, False, False),
    ("A", "acc-a", "2022-03", 120, 120, 12, "starter", False, False, False),
    # L: already paying when the data starts (left-censored): opening 200, never new
    *[("L", "acc-l", m, 200, 200, 20, "growth", True, False, False) for m in MONTHS],
    # W: 80 in Jan-Feb, nothing in Mar-Apr (churn in March), back at 90 in May (a win-back)
    ("W", "acc-w", "2022-01", 80, 80, 8, "starter", False, False, False),
    ("W", "acc-w", "2022-02", 80, 80, 8, "starter", False, False, False),
    ("W", "acc-w", "2022-05", 90, 90, 9, "starter", False, False, False),
    ("W", "acc-w", "2022-06", 90, 90, 9, "starter", False, False, False),
    # B: February bridged by core (a voided invoice): unchanged, no churn, no reactivation
    ("B", "acc-b", "2022-01", 50, 50, 5, "starter", False, False, False),
    ("B", "acc-b", "2022-02", 50, 50, 5, "starter", False, True, False),
    ("B", "acc-b", "2022-03", 50, 50, 5, "starter", False, False, False),
    # E: EUR 100 at a constant 1.08 = 108; the finance rate moves to 1.10 from February
    ("E", "acc-e", "2022-01", 108, 108, 10, "pro", False, False, False),
    *[("E", "acc-e", m, 108, 110, 10, "pro", False, False, False) for m in MONTHS[1:]],
    # M1 + M2: two QuickBooks customers of one account; M2 starts in March (an account-level expansion)
    *[("M1", "acc-m", m, 100, 100, 10, "growth", False, False, False) for m in MONTHS],
    *[("M2", "acc-m", m, 300, 300, 30, "enterprise", False, False, False) for m in MONTHS[2:]],
    # I: K CRM's own demo customer: out
    *[("I", "acc-i", m, 999, 999, 1, "pro", False, False, True) for m in MONTHS],
]


def _load(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("DELETE FROM core.account_mrr_months")
    for customer, account, month, usd, finance, seats, plan, censored, bridged, internal in CORE:
        con.execute("""INSERT INTO core.account_mrr_months BY NAME
                       SELECT ? AS customer_id, CAST(? AS DATE) AS month_start, LAST_DAY(CAST(? AS DATE)) AS month_end,
                              ? AS account_key, ? AS is_internal, 'USD' AS currency_code, ? AS plan, ? AS seats,
                              CAST(? AS NUMERIC) AS mrr_usd_constant, CAST(? AS NUMERIC) AS mrr_usd_finance,
                              CAST(? AS NUMERIC) - CAST(? AS NUMERIC) AS fx_effect_usd,
                              CAST(? AS NUMERIC) AS mrr, NOT ? AS is_billed, ? AS is_bridged, ? AS is_left_censored,
                              1 AS run_number, FALSE AS is_first_month, DATE '2021-06-01' AS first_paid_date,
                              LAST_DAY(CAST(? AS DATE)) AS paid_through_date""",
                    [customer, f"{month}-01", f"{month}-01", account, internal, plan, seats, usd, finance,
                     finance, usd, usd, bridged, bridged, censored, f"{month}-01"])


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory, seeded_warehouse: Path) -> Path:
    """A copy of the seeded warehouse whose core.account_mrr_months holds only CORE, the model rebuilt on it."""
    root = copy_warehouse(seeded_warehouse, tmp_path_factory.mktemp("mrr-movements-tiny") / "project")
    with connect(root, read_only=False) as con:
        _load(con)
    invoke(root, "build", "--select", MODEL)
    return root


COLUMNS = ("movement_type, opening_mrr_usd, new_mrr, expansion_mrr, contraction_mrr, churned_mrr, reactivation_mrr,"
           " closing_mrr_usd")


def movements(root: Path, account: str, columns: str = COLUMNS) -> dict[str, tuple]:
    return {r[0].strftime("%Y-%m"): tuple(float(x) if isinstance(x, Decimal) else x for x in r[1:])
            for r in rows(root, f"SELECT month_start, {columns} FROM {MODEL} WHERE account_key = '{account}' "
                                "ORDER BY month_start")}


def test_new_expansion_contraction_churn_by_hand(tiny: Path) -> None:
    # type, opening, new, expansion, contraction, churned, reactivation, closing
    assert movements(tiny, "acc-a") == {
        "2022-01": ("new", 0, 100, 0, 0, 0, 0, 100),
        "2022-02": ("expansion", 100, 0, 50, 0, 0, 0, 150),
        "2022-03": ("contraction", 150, 0, 0, -30, 0, 0, 120),
        "2022-04": ("churn", 120, 0, 0, 0, -120, 0, 0),  # the churn month closes at 0; no row after it
    }
    assert movements(tiny, "acc-a", "seats, plan, mrr_usd_finance")["2022-04"] == (0, None, 0)


def test_left_censored_account_opens_and_is_never_new(tiny: Path) -> None:
    got = movements(tiny, "acc-l")
    assert got["2022-01"] == ("opening", 200, 0, 0, 0, 0, 0, 200)
    assert [v[0] for k, v in got.items() if k != "2022-01"] == ["unchanged"] * 5
    assert list(got) == MONTHS  # still paying in the data's last month: no churn row


def test_win_back_is_a_reactivation_after_a_gap(tiny: Path) -> None:
    assert movements(tiny, "acc-w") == {
        "2022-01": ("new", 0, 80, 0, 0, 0, 0, 80),
        "2022-02": ("unchanged", 80, 0, 0, 0, 0, 0, 80),
        "2022-03": ("churn", 80, 0, 0, 0, -80, 0, 0),
        "2022-04": ("unchanged", 0, 0, 0, 0, 0, 0, 0),
        "2022-05": ("reactivation", 0, 0, 0, 0, 0, 90, 90),
        "2022-06": ("unchanged", 90, 0, 0, 0, 0, 0, 90),
    }
    # a month core bridged is neither churn nor reactivation
    assert {k: v[0] for k, v in movements(tiny, "acc-b").items()} == {
        "2022-01": "new", "2022-02": "unchanged", "2022-03": "unchanged", "2022-04": "churn"}
    assert rows(tiny, f"SELECT month_start FROM {MODEL} WHERE is_bridged") == [(date(2022, 2, 1),)]


def test_eur_rate_move_is_fx_effect_not_expansion(tiny: Path) -> None:
    got = movements(tiny, "acc-e", COLUMNS + ", fx_effect_usd, mrr_usd_finance")
    assert got["2022-01"] == ("new", 0, 108, 0, 0, 0, 0, 108, 0, 108)
    for month in MONTHS[1:]:
        assert got[month] == ("unchanged", 108, 0, 0, 0, 0, 0, 108, 2, 110)


def test_customers_of_one_account_are_summed_and_internal_is_out(tiny: Path) -> None:
    got = movements(tiny, "acc-m", "movement_type, expansion_mrr, closing_mrr_usd, seats, plan")
    assert got["2022-02"] == ("unchanged", 0, 100, 10, "growth")
    assert got["2022-03"] == ("expansion", 300, 400, 40, "enterprise")  # the plan of the larger customer
    assert rows(tiny, f"SELECT COUNT(*) FROM {MODEL} WHERE account_key = 'acc-i'") == [(0,)]
    # the month bridge, summed over all accounts
    assert [tuple(float(x) for x in r[1:]) for r in rows(tiny, f"""
        SELECT month_start, SUM(opening_mrr_usd), SUM(new_mrr), SUM(expansion_mrr), SUM(contraction_mrr),
               SUM(churned_mrr), SUM(reactivation_mrr), SUM(closing_mrr_usd)
        FROM {MODEL} GROUP BY 1 ORDER BY 1""")] == [
        (200, 100 + 80 + 50 + 108 + 100, 0, 0, 0, 0, 638),
        (638, 0, 50, 0, 0, 0, 688),
        (688, 0, 300, -30, -80, 0, 878),
        (878, 0, 0, 0, -170, 0, 708),
        (708, 0, 0, 0, 0, 90, 798),
        (798, 0, 0, 0, 0, 0, 798),
    ]


# --- the seeded scale-1 build ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def seeded(seeded_warehouse: Path) -> Path:
    return seeded_warehouse


def test_seeded_bridge_holds_and_reactivations_are_the_win_backs(seeded: Path) -> None:
    assert rows(seeded, f"""SELECT COUNT(*) FROM {MODEL} WHERE closing_mrr_usd != opening_mrr_usd + new_mrr
                            + expansion_mrr + contraction_mrr + churned_mrr + reactivation_mrr
                            OR closing_mrr_usd < 0""") == [(0,)]
    [(reactivations, news_late, total)] = rows(seeded, f"""
        SELECT COUNT(*) FILTER (WHERE movement_type = 'reactivation'),
               COUNT(*) FILTER (WHERE movement_type = 'new'
                                  AND month_start > (SELECT MIN(month_start) FROM {MODEL} f
                                                     WHERE f.account_key = m.account_key)),
               COUNT(*)
        FROM {MODEL} m""")
    assert total > 1000
    assert reactivations == len(build_world(42, 1.0).winback_account) > 0
    assert news_late == 0
    # closing MRR of a month equals core's constant-currency MRR of its external customers
    assert rows(seeded, f"""
        SELECT COUNT(*) FROM (SELECT month_start, SUM(closing_mrr_usd) AS s FROM {MODEL} GROUP BY 1) e
        FULL JOIN (SELECT month_start, SUM(mrr_usd_constant) AS s FROM core.account_mrr_months
                   WHERE NOT is_internal GROUP BY 1) c USING (month_start)
        WHERE e.s IS DISTINCT FROM c.s""") == [(0,)]

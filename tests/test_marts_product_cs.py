"""Product, segmentation and customer-success marts (issue 16).

On the seeded scale-1 build every table passes its contract's checks, DAU / WAU / MAU agree with a
brute-force distinct count on sample days, and the segmentation's customers are enr.account_health's
paying accounts. Known answers, through the real engine on a copy of the seeded warehouse:

- adoption: hand-made accounts use a feature on 3 distinct days (adopted at exactly 20 % of 5 active
  users), on 2 days (three events, not adopted), on 3 days at 1 user of 6 (below 20 %) and on 3 days
  one of which falls a day before the 28-day window; an internal account is out. The same events give
  DAU / WAU / MAU worked out by hand on the window edges;
- logo churn: hand-made MRR histories churn, contract and stay in known churn-risk bands, and the
  logo churn rate, MRR at risk, NPS and CSAT of their CSM's rows are worked out by hand; the seeded
  company-wide logo churn rate of every month equals a direct count on the MRR movements, and the
  high churn-risk band churns several times more often than the others.

The invariants are shown to fail on a corrupted row.
"""

from __future__ import annotations

import calendar
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from conftest import clone_row, connect_warehouse, copy_warehouse, failing_rules, run_cli
from conftest import query_rows as rows

PRODUCT = "marts.product_adoption_thresholds marts.product_adoption_monthly marts.product_engagement_daily"
SEGMENTATION = "marts.country_regions marts.account_segmentation"
CS = "marts.cs_health_monthly"
TRIALS = "marts.trial_conversion_monthly"


@pytest.fixture(scope="module")
def warehouse(seeded_warehouse: Path) -> Path:
    """The seeded, fully built project, with the marts' checks run on it."""
    run_cli(seeded_warehouse, "test", "--select", f"{PRODUCT} {SEGMENTATION} {CS} {TRIALS}")
    return seeded_warehouse


class Core:
    """Writes hand-made rows into core and enr tables by copying one real row and replacing the columns that
    matter."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.n = 0

    def clone(self, table: str, where: str, values: dict[str, Any]) -> None:
        self.n += 1
        clone_row(self.con, table, values, where)

    def account(self, key: str, segment: str = "smb", internal: bool = False) -> None:
        self.clone("core.accounts", "NOT is_internal", {
            "account_key": key, "domain": f"{key}.example", "hubspot_company_id": -1 - self.n, "segment": segment,
            "employee_count": 20, "is_internal": internal})

    def event(self, account: str, day: str, user: str, feature: str | None = None, internal: bool = False) -> None:
        """A tracked action: a usage event, or a feature event when ``feature`` is named."""
        table = "core.feature_adoption_events" if feature else "core.usage_events"
        values: dict[str, Any] = {
            "event_id": f"hand-{self.n}", "event_name": "Feature Used" if feature else "Deal Updated",
            "event_at": f"{day} 12:00:00+00", "event_date": day, "distinct_id": user, "user_email": user,
            "is_identified": True, "account_key": account, "is_internal": internal}
        if feature:
            values["feature_name"] = feature
        self.clone(table, "TRUE", values)

    def mrr(self, account: str, month: str, previous: int, closing: int, movement: str) -> None:
        """The account's enr.account_mrr_monthly row of a month, with its movement."""
        year, mon = int(month[:4]), int(month[5:7])
        amount = {"new": closing, "churn": -previous, "contraction": closing - previous}.get(movement, 0)
        self.clone("enr.account_mrr_monthly", "TRUE", {
            "month_start": month, "month_end": f"{month[:8]}{calendar.monthrange(year, mon)[1]}",
            "account_key": account, "opening_mrr_usd": previous, "new_mrr": amount if movement == "new" else 0,
            "expansion_mrr": 0, "contraction_mrr": amount if movement == "contraction" else 0,
            "churned_mrr": amount if movement == "churn" else 0, "reactivation_mrr": 0, "closing_mrr_usd": closing,
            "movement_type": movement, "fx_effect_usd": 0, "is_left_censored": False, "is_bridged": False})

    def risk(self, account: str, month_end: str, band: str) -> None:
        score = {"low": 0, "medium": 30, "high": 60}[band]
        self.clone("enr.churn_risk", "TRUE", {
            "account_key": account, "month_end": month_end, "month_start": f"{month_end[:8]}01",
            "churn_risk_score": score, "risk_band": band, "is_current": False})

    def nps(self, account: str, day: str, score: int, internal: bool = False) -> None:
        self.clone("core.nps_responses", "TRUE", {
            "nps_response_id": -1000 - self.n, "account_key": account, "score": score, "is_internal": internal,
            "responded_at": f"{day} 15:00:00+00"})

    def csat(self, account: str, day: str, rating: str | None) -> None:
        self.clone("core.tickets", "TRUE", {
            "ticket_id": -1000 - self.n, "account_key": account, "csat_score": rating,
            "is_satisfied": None if rating is None else rating == "good",
            "rated_at": rating and f"{day} 10:00:00+00", "is_internal": False})


# --- seeded figures ------------------------------------------------------------------------------------
def test_seeded_product_marts(warehouse: Path) -> None:
    [(cells, months, features, segments)] = rows(warehouse, """
        SELECT COUNT(*), COUNT(DISTINCT month_start), COUNT(DISTINCT feature_name), COUNT(DISTINCT segment)
        FROM marts.product_adoption_monthly""")
    assert (months, features, segments) == (24, 8, 4) and cells == 24 * 8 * 4
    adoption = dict(rows(warehouse, """
        SELECT feature_name, SUM(adopting_accounts) / SUM(active_accounts) FROM marts.product_adoption_monthly
        WHERE month_start >= DATE '2023-01-01' GROUP BY feature_name"""))
    # the seed's feature events are sparse: few accounts reach 3 days a user; email tracking leads
    assert max(adoption, key=lambda f: adoption[f]) == "email_tracking"
    assert 0.01 < adoption["email_tracking"] < 0.1

    # DAU / WAU / MAU equal a brute-force distinct count of (account, user) over the window on sample days
    brute = rows(warehouse, """
        WITH users AS (
            SELECT d.activity_date, COALESCE(a.segment, 'unknown') AS segment, d.account_key || '|' || u AS user_key
            FROM enr.account_usage_daily AS d JOIN core.accounts AS a USING (account_key),
                 UNNEST(d.active_user_ids) AS t(u))
        SELECT x.day, s.segment,
               COUNT(DISTINCT CASE WHEN s.activity_date = x.day THEN s.user_key END),
               COUNT(DISTINCT CASE WHEN s.activity_date > x.day - 7 THEN s.user_key END),
               COUNT(DISTINCT s.user_key)
        FROM (SELECT UNNEST([DATE '2022-01-01', DATE '2022-01-27', DATE '2022-07-15', DATE '2023-03-01',
                             DATE '2023-12-31']) AS day) AS x
        JOIN users AS s ON s.activity_date > x.day - 28 AND s.activity_date <= x.day
        GROUP BY x.day, s.segment ORDER BY 1, 2""")
    built = rows(warehouse, """
        SELECT activity_date, segment, dau, wau, mau FROM marts.product_engagement_daily
        WHERE activity_date IN ('2022-01-01', '2022-01-27', '2022-07-15', '2023-03-01', '2023-12-31') AND mau > 0
        ORDER BY 1, 2""")
    assert built == brute and len(built) == 20
    [(stickiness,)] = rows(warehouse, """
        SELECT SUM(dau) / SUM(mau) FROM marts.product_engagement_daily WHERE activity_date >= DATE '2023-12-01'""")
    assert 0.1 < stickiness < 0.3


def test_seeded_segmentation(warehouse: Path) -> None:
    stages = dict(rows(warehouse, "SELECT lifecycle_stage, COUNT(*) FROM marts.account_segmentation GROUP BY 1"))
    [(real, paying, churned_accounts)] = rows(warehouse, """
        SELECT (SELECT COUNT(*) FROM core.accounts WHERE NOT is_internal), (SELECT COUNT(*) FROM enr.account_health),
               (SELECT COUNT(DISTINCT account_key) FROM enr.account_mrr_monthly WHERE account_key NOT IN
                  (SELECT account_key FROM enr.account_health) AND closing_mrr_usd > 0)""")
    assert sum(stages.values()) == real
    assert stages["customer"] == paying > 500
    assert stages["churned"] == churned_accounts > 50
    assert stages["trial"] > 100 and stages["prospect"] > 100
    assert rows(warehouse, "SELECT COUNT(*) FROM marts.account_segmentation WHERE region = 'unknown'") == [(0,)]


def test_seeded_cs_health(warehouse: Path) -> None:
    by_band = {band: (customers, rate) for band, customers, rate in rows(warehouse, """
        SELECT risk_band, SUM(customers), SUM(churned_customers) / NULLIF(SUM(customers), 0)
        FROM marts.cs_health_monthly GROUP BY risk_band""")}
    assert set(by_band) == {"low", "medium", "high", "unscored"} and by_band["unscored"][0] == 0
    # the band scored at the end of the month before foretells the month's churn
    assert by_band["high"][1] > 5 * by_band["medium"][1] > 5 * by_band["low"][1] > 0
    # the company's logo churn rate of a month, straight from the MRR movements, is the sum over CSMs and bands
    [(months, equal)] = rows(warehouse, """
        WITH direct AS (
            SELECT c.month_start, COUNT(*) FILTER (WHERE c.movement_type = 'churn') AS churned, COUNT(*) AS customers
            FROM enr.account_mrr_monthly AS p
            JOIN enr.account_mrr_monthly AS c ON c.account_key = p.account_key
                 AND c.month_start = p.month_start + INTERVAL 1 MONTH
            WHERE p.closing_mrr_usd > 0 GROUP BY c.month_start)
        SELECT COUNT(*), COUNT(*) FILTER (WHERE d.churned / d.customers = h.rate)
        FROM direct AS d JOIN (SELECT month_start, SUM(churned_customers) / SUM(customers) AS rate
                               FROM marts.cs_health_monthly GROUP BY month_start) AS h USING (month_start)""")
    assert months == equal == 23


# --- known answers: adoption and engagement ----------------------------------------------------------------
USERS = {"kat-3days": 5, "kat-2days": 5, "kat-share": 6, "kat-window": 5}
FEATURE_DAYS = {  # the forecasting days of each account's first user (u1)
    "kat-3days": ["2023-06-05", "2023-06-12", "2023-06-20"],  # 3 days, 1 of 5 users = 20 %: adopted
    "kat-2days": ["2023-06-05", "2023-06-05", "2023-06-12"],  # three events on 2 days: not adopted
    "kat-share": ["2023-06-05", "2023-06-12", "2023-06-20"],  # 3 days but 1 of 6 users < 20 %: not adopted
    "kat-window": ["2023-06-02", "2023-06-10", "2023-06-20"],  # June 2 is before the window (June 3-30)
}


def _product_cells(root: Path) -> dict[tuple[str, str], tuple[int, ...]]:
    return {(str(m), f): tuple(r) for m, f, *r in rows(root, """
        SELECT month_start, feature_name, active_accounts, using_accounts, adopting_accounts, active_users,
               feature_users, habitual_users
        FROM marts.product_adoption_monthly
        WHERE segment = 'smb' AND month_start IN ('2023-05-01', '2023-06-01', '2023-07-01')""")}


def _engagement(root: Path) -> dict[str, tuple[int, int, int]]:
    return {str(d): (dau, wau, mau) for d, dau, wau, mau in rows(root, """
        SELECT activity_date, dau, wau, mau FROM marts.product_engagement_daily
        WHERE segment = 'smb' AND activity_date BETWEEN '2023-05-25' AND '2023-07-25'""")}


def test_adoption_threshold_and_engagement_known_answers(warehouse: Path, tmp_path: Path) -> None:
    before_cells, before_days = _product_cells(warehouse), _engagement(warehouse)
    root = copy_warehouse(warehouse, tmp_path / "project")
    with connect_warehouse(root, read_only=False) as con:
        core = Core(con)
        for key, users in USERS.items():
            core.account(key)
            for i in range(1, users + 1):
                core.event(key, "2023-06-10", f"u{i}@{key}.example")  # every user active on June 10
            for day in FEATURE_DAYS[key]:
                core.event(key, day, f"u1@{key}.example", feature="forecasting")
        core.account("kat-internal", internal=True)
        for day in FEATURE_DAYS["kat-3days"]:  # an internal account's habit counts nowhere
            core.event("kat-internal", day, "u1@kat-internal.example", feature="forecasting", internal=True)
    # --full-refresh: the hand-made events are on old days, before the incremental daily table's window
    run_cli(root, "build", "--full-refresh", "--select", f"enr.account_usage_daily {PRODUCT}")

    after = _product_cells(root)
    delta = {cell: tuple(a - b for a, b in zip(after[cell], before_cells[cell], strict=True)) for cell in after}
    # (active accounts, using, adopting, active users, feature users, habitual users) added in smb
    assert delta[("2023-06-01", "forecasting")] == (4, 4, 1, 21, 4, 2)  # kat-3days adopts; kat-share's u1 is habitual
    for feature in ("email_tracking", "sequences", "ai_assist"):
        assert delta[("2023-06-01", feature)] == (4, 0, 0, 21, 0, 0)
    assert {v for (month, _), v in delta.items() if month != "2023-06-01"} == {(0, 0, 0, 0, 0, 0)}

    days = _engagement(root)
    added = {d: tuple(a - b for a, b in zip(days[d], before_days[d], strict=True)) for d in days}
    expected = {  # (DAU, WAU, MAU) added on the days that change
        "2023-06-02": (1, 1, 1), "2023-06-03": (0, 1, 1), "2023-06-05": (3, 4, 4), "2023-06-08": (0, 4, 4),
        "2023-06-09": (0, 3, 4), "2023-06-10": (21, 21, 21), "2023-06-12": (3, 21, 21), "2023-06-16": (0, 21, 21),
        "2023-06-17": (0, 3, 21), "2023-06-19": (0, 0, 21), "2023-06-20": (3, 3, 21), "2023-06-26": (0, 3, 21),
        "2023-06-27": (0, 0, 21), "2023-06-29": (0, 0, 21), "2023-07-07": (0, 0, 21), "2023-07-08": (0, 0, 4),
        "2023-07-17": (0, 0, 3), "2023-07-18": (0, 0, 0), "2023-05-31": (0, 0, 0),
    }
    assert {d: added[d] for d in expected} == expected

    # every check passes on the hand-made rows but the ones a corrupted row breaks: more adopting than
    # using accounts, a DAU above its WAU
    with connect_warehouse(root, read_only=False) as con:
        con.execute("UPDATE marts.product_adoption_monthly SET adopting_accounts = using_accounts + 1 "
                    "WHERE month_start = '2023-06-01' AND feature_name = 'forecasting' AND segment = 'smb'")
        con.execute("UPDATE marts.product_engagement_daily SET dau = wau + 1 "
                    "WHERE activity_date = '2023-06-10' AND segment = 'smb'")
    assert failing_rules(root, PRODUCT) == {
        "funnel_of_accounts_and_users", "adoption_rate_is_adopting_over_active", "dau_within_wau_within_mau",
        "every_active_user_day_counted_once"}


# --- known answers: logo churn rate, MRR at risk, NPS and CSAT by CSM and band ------------------------------
CSM = -501  # a hand-made CSM whose book is only the hand-made accounts
HISTORIES = {  # account: [(month, previous MRR, closing MRR, movement)], bands scored at month ends
    "kat-a1": [("2023-02-01", 0, 100, "new"), ("2023-03-01", 100, 100, "unchanged"), ("2023-04-01", 100, 0, "churn")],
    "kat-a2": [("2023-02-01", 0, 200, "new"), ("2023-03-01", 200, 200, "unchanged"),
               ("2023-04-01", 200, 200, "unchanged")],
    "kat-a3": [("2023-03-01", 0, 300, "new"), ("2023-04-01", 300, 150, "contraction")],
    "kat-a4": [("2023-03-01", 0, 50, "new"), ("2023-04-01", 50, 0, "churn")],
    "kat-a5": [("2023-04-01", 0, 80, "new")],
    "kat-a6": [("2023-03-01", 0, 120, "new"), ("2023-04-01", 120, 120, "unchanged")],
}
BANDS = {
    "kat-a1": {"2023-02-28": "low", "2023-03-31": "high"},
    "kat-a2": {"2023-02-28": "medium", "2023-03-31": "low", "2023-04-30": "low"},
    "kat-a3": {"2023-03-31": "low", "2023-04-30": "medium"},
    "kat-a4": {"2023-03-31": "high"},
    "kat-a5": {"2023-04-30": "low"},
    "kat-a6": {"2023-03-31": "medium", "2023-04-30": "low"},
}


def _april(root: Path) -> tuple[int, int]:
    [(customers, churned)] = rows(root, """
        SELECT SUM(customers), SUM(churned_customers) FROM marts.cs_health_monthly WHERE month_start = '2023-04-01'""")
    return customers, churned


def test_logo_churn_rate_by_csm_and_band_known_answers(warehouse: Path, tmp_path: Path) -> None:
    seeded_april = _april(warehouse)
    root = copy_warehouse(warehouse, tmp_path / "project")
    with connect_warehouse(root, read_only=False) as con:
        core = Core(con)
        core.clone("core.users", "TRUE", {"user_id": CSM, "full_name": "Kat Csm", "email": "kat.csm@kcrm.io"})
        for key, history in HISTORIES.items():
            core.account(key)
            core.clone("core.account_notes", "NOT is_internal", {
                "note_id": f"kat-note-{key}", "account_key": key, "author_user_id": CSM, "is_internal": False,
                "created_at": "2023-06-01 10:00:00+00"})
            for month, previous, closing, movement in history:
                core.mrr(key, month, previous, closing, movement)
            for month_end, band in BANDS[key].items():
                core.risk(key, month_end, band)
        core.nps("kat-a2", "2023-04-03", 10)  # a promoter in the low band
        core.nps("kat-a3", "2023-04-04", 5)  # a detractor in the low band
        core.nps("kat-a4", "2023-04-05", 7)  # a passive in the high band
        core.nps("kat-a5", "2023-04-06", 9)  # won in April, unscored when it entered: its answer is 'unscored'
        core.nps("kat-a2", "2023-04-07", 0, internal=True)  # internal: out
        core.csat("kat-a6", "2023-04-10", "good")
        core.csat("kat-a6", "2023-04-11", "bad")
        core.csat("kat-a1", "2023-04-15", "good")  # rated in the month it churned: still its band of March 31
        core.csat("kat-a1", "2023-04-16", None)  # not rated: out
    # icp_fit: the new accounts get a tier; account_profile: their lifecycle, MRR and CSM, which the mart reads
    run_cli(root, "build", "--select", f"enr.icp_fit enr.account_profile {SEGMENTATION} {CS}")

    got = {(str(m), band): tuple(r) for m, band, *r in rows(root, f"""
        SELECT month_start, risk_band, customers, opening_mrr_usd, mrr_at_risk_usd, churned_customers,
               churned_mrr_usd, logo_churn_rate, nps_responses, nps, csat_ratings, csat
        FROM marts.cs_health_monthly WHERE csm_key = '{CSM}'""")}
    d = Decimal
    expected = {  # customers, opening MRR, at risk, churned, churned MRR, logo churn rate, NPS n, NPS, CSAT n, CSAT
        ("2023-03-01", "low"): (1, d(100), d(0), 0, d(0), d(0), 0, None, 0, None),  # a1, scored low on Feb 28
        ("2023-03-01", "medium"): (1, d(200), d(0), 0, d(0), d(0), 0, None, 0, None),  # a2
        ("2023-04-01", "high"): (2, d(150), d(150), 2, d(150), d(1), 1, d(0), 1, d(1)),  # a1 and a4 both churn
        ("2023-04-01", "low"): (2, d(500), d(0), 0, d(0), d(0), 2, d(0), 0, None),  # a2; a3 contracts, not churn
        ("2023-04-01", "medium"): (1, d(120), d(0), 0, d(0), d(0), 0, None, 2, d("0.5")),  # a6
        ("2023-04-01", "unscored"): (0, d(0), d(0), 0, d(0), None, 1, d(100), 0, None),  # a5's answer
        ("2023-05-01", "low"): (3, d(400), d(0), 0, d(0), d(0), 0, None, 0, None),  # a2, a5, a6
        ("2023-05-01", "medium"): (1, d(150), d(0), 0, d(0), d(0), 0, None, 0, None),  # a3 after contracting
    }
    assert got == expected
    [(name, rate)] = rows(root, f"""
        SELECT MAX(csm_name), SUM(churned_customers) / SUM(customers) FROM marts.cs_health_monthly
        WHERE csm_key = '{CSM}' AND month_start = '2023-04-01'""")
    assert (name, rate) == ("Kat Csm", 0.4)  # 2 of the 5 customers entering April churned in it
    customers, churned = _april(root)
    assert (customers - seeded_april[0], churned - seeded_april[1]) == (5, 2)

    # every check passes on the hand-made rows but the ones a corrupted row breaks: more churned customers
    # than customers, so more churns than enr.account_mrr_monthly holds
    with connect_warehouse(root, read_only=False) as con:
        con.execute(f"UPDATE {CS} SET churned_customers = customers + 1 WHERE csm_key = '{CSM}' "
                    "AND month_start = '2023-04-01' AND risk_band = 'high'")
    assert failing_rules(root, CS) == {"counts_and_rates_are_consistent", "every_customer_and_churn_counted_once"}


# --- trial conversion -------------------------------------------------------------------------------------
def test_seeded_trial_conversion(warehouse: Path) -> None:
    [(trials, activated, closed, converted_activated, converted_other)] = rows(warehouse, """
        SELECT SUM(trials), SUM(activated_trials), SUM(activation_window_closed),
               SUM(activated_trials * activated_conversion_rate),
               SUM((activation_window_closed - activated_trials) * not_activated_conversion_rate)
        FROM marts.trial_conversion_monthly""")
    assert trials == rows(warehouse, "SELECT COUNT(*) FROM enr.activation")[0][0] > 500
    # the seed makes activation matter: activated trials pay far more often than the others
    assert converted_activated / activated > 2 * converted_other / (closed - activated)


def test_trial_conversion_known_answers(warehouse: Path, tmp_path: Path) -> None:
    """Five hand-made trials of January 2030 (a month the data does not hold), each a different path."""
    root = copy_warehouse(warehouse, tmp_path / "p")
    trials = {  # key: (activation window open, activated, PQL window open, PQL, paying)
        "t-a": (False, True, False, True, True),     # activated, PQL, paid
        "t-b": (False, True, False, False, False),   # activated, no PQL, did not pay
        "t-c": (False, False, False, False, True),   # not activated, paid anyway
        "t-d": (False, False, False, False, False),  # not activated, did not pay
        "t-e": (True, False, True, False, False),    # windows still open: counts as a trial only
    }
    with connect_warehouse(root, read_only=False) as con:
        core = Core(con)
        for key, (open_a, activated, open_p, pql, paying) in trials.items():
            paid = "2030-01-20" if paying else None
            core.clone("enr.activation", "TRUE", {
                "account_key": key, "signed_up_at": "2030-01-05 09:00:00+00", "paying_since": paid,
                "is_window_open": open_a, "is_activated": activated})
            core.clone("enr.pql_accounts", "TRUE", {
                "account_key": key, "signed_up_at": "2030-01-05 09:00:00+00", "paying_since": paid,
                "is_window_open": open_p, "is_pql": pql})
    run_cli(root, "build", "--select", TRIALS)
    [row] = rows(root, """
        SELECT trials, activation_window_closed, activated_trials, activation_rate, pql_window_closed, pqls, pql_rate,
               converted_trials, trial_conversion_rate, activated_conversion_rate, not_activated_conversion_rate
        FROM marts.trial_conversion_monthly WHERE month_start = DATE '2030-01-01'""")
    assert row == (5, 4, 2, Decimal("0.5"), 4, 1, Decimal("0.25"), 2, Decimal("0.4"), Decimal("0.5"), Decimal("0.5"))
    run_cli(root, "test", "--select", TRIALS)

    # a PQL counted in a month whose PQL window count is 0 breaks the funnel rule
    with connect_warehouse(root, read_only=False) as con:
        con.execute(f"UPDATE {TRIALS} SET pqls = trials + 1 WHERE month_start = DATE '2030-01-01'")
    assert failing_rules(root, TRIALS) == {"funnel_never_widens", "rates_are_their_counts"}

"""enr.account_usage_daily, enr.account_health and enr.expansion_signals (issue 15).

Known answers: hand-made accounts are written into the core tables of a copy of the seeded warehouse
(events, seat subscriptions, MRR months, tickets, NPS answers, invoices, payments) and only the enr
tables are rebuilt through the real engine (``build --select``). Four accounts sit exactly on the
health bounds (70 green, 69 yellow, 40 yellow, 39 red) with the rules that fired worked out by hand,
every metric is tested on its window edge, a usage day counts two users and three logins with an
internal event left out, and seat utilisation of 9 in 10 seats signals an upsell where 8 in 10 does not.
The contract's invariants are shown to fail on a corrupted row. On the seeded scale-1 build, red
accounts use fewer of their seats and answer NPS lower than green ones.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner
from conftest import SEED_NOW, connect_warehouse, copy_warehouse, run_cli
from conftest import query_rows as rows

from kcrm_gov.cli import cli

TABLES = ("enr.account_usage_daily enr.account_health enr.expansion_signals enr.health_points enr.health_bands "
          "enr.expansion_rules enr.feature_plans")
AS_OF = date(2023, 12, 31)  # the seeded world's last day of product activity; every hand-made row is on or before it


@pytest.fixture(scope="module")
def warehouse(seeded_warehouse: Path) -> Path:
    """The seeded, fully built project, with the seven tables' checks run on it."""
    run_cli(seeded_warehouse, "test", "--select", TABLES)
    return seeded_warehouse


def test_seeded_health_bands_follow_usage_and_nps(warehouse: Path) -> None:
    [(paying, scored, as_of)] = rows(warehouse, """
        SELECT (SELECT COUNT(*) FROM enr.account_mrr_monthly
                WHERE month_start = (SELECT MAX(month_start) FROM enr.account_mrr_monthly) AND closing_mrr_usd > 0),
               (SELECT COUNT(*) FROM enr.account_health), (SELECT MAX(as_of_date) FROM enr.account_health)""")
    assert scored == paying > 500
    assert as_of == AS_OF
    by_band = {band: (n, utilisation, nps) for band, n, utilisation, nps in rows(warehouse, """
        SELECT health_band, COUNT(*), AVG(seat_utilisation), AVG(latest_nps_score)
        FROM enr.account_health GROUP BY health_band""")}
    assert set(by_band) == {"green", "yellow", "red"}
    assert all(n >= 0.05 * scored for n, _, _ in by_band.values())  # no band is empty or degenerate
    assert by_band["red"][1] < by_band["yellow"][1] < by_band["green"][1]  # seat utilisation
    assert by_band["red"][2] < by_band["yellow"][2] < by_band["green"][2]  # latest NPS
    # the seed draws expanders by seat utilisation: accounts with the upsell signal expanded more often
    [(with_signal, without)] = rows(warehouse, """
        SELECT AVG(CASE WHEN s.account_key IS NOT NULL THEN e.expanded END),
               AVG(CASE WHEN s.account_key IS NULL THEN e.expanded END)
        FROM enr.account_health AS h
        JOIN (SELECT account_key, MAX(CASE WHEN expansion_mrr > 0 THEN 1.0 ELSE 0.0 END) AS expanded
              FROM enr.account_mrr_monthly GROUP BY account_key) AS e USING (account_key)
        LEFT JOIN enr.expansion_signals AS s
          ON s.account_key = h.account_key AND s.signal_id = 'seat_utilisation_90pct'""")
    assert with_signal > 1.5 * without


# --- known answers ---------------------------------------------------------------------------------------
class Core:
    """Writes hand-made rows into core tables by copying one real row and replacing the columns that matter."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.n = 0

    def _clone(self, table: str, where: str, values: dict[str, Any]) -> None:
        self.n += 1
        replace = ", ".join(f"CAST(? AS {self._type(table, c)}) AS {c}" for c in values)
        self.con.execute(f"INSERT INTO {table} SELECT * REPLACE ({replace}) FROM {table} WHERE {where} LIMIT 1",
                         list(values.values()))

    def _type(self, table: str, column: str) -> str:
        schema, name = table.split(".")
        [(type_,)] = self.con.execute("SELECT data_type FROM information_schema.columns WHERE table_schema = ? "
                                      "AND table_name = ? AND column_name = ?", [schema, name, column]).fetchall()
        return str(type_)

    def event(self, account: str, day: str, user: str | None, kind: str = "usage", name: str = "Deal Updated",
              feature: str | None = None, internal: bool = False) -> None:
        """One event; by default a tracked action (a usage event), which makes its user active."""
        table = {"login": "core.login_events", "usage": "core.usage_events",
                 "feature": "core.feature_adoption_events"}[kind]
        values: dict[str, Any] = {
            "event_id": f"hand-{self.n}", "event_name": name, "event_at": f"{day} 12:00:00+00", "event_date": day,
            "distinct_id": user or f"$device:hand{self.n}", "user_email": user, "is_identified": user is not None,
            "account_key": account, "is_internal": internal}
        if feature:
            values["feature_name"] = feature
        self._clone(table, "TRUE", values)

    def paying(self, account: str, month: str = "2023-12-01") -> None:
        """MRR in the month (the data's last month by default): a paying account."""
        self._clone("core.account_mrr_months", "NOT is_internal AND mrr_usd_constant > 0 AND NOT is_left_censored",
                    {"customer_id": f"hand-{account}", "account_key": account, "month_start": month,
                     "month_end": f"{month[:8]}{'31' if month[5:7] in ('10', '12') else '30'}",
                     "is_bridged": False, "is_internal": False})

    def seats(self, account: str, plan: str, seats: int, start: str, end: str) -> None:
        self._clone("core.subscriptions", "product_kind = 'seat_plan'",
                    {"subscription_id": f"hand-{self.n}", "account_key": account, "customer_id": f"hand-{account}",
                     "is_internal": False, "plan": plan, "seats": seats, "period_start_date": start,
                     "period_end_date": end})

    def ticket(self, account: str, created: str, priority: str = "normal", solved: bool = True,
               csat: str | None = None, rated: str | None = None, subject: str = "Password reset",
               internal: bool = False) -> int:
        ticket_id = -1000 - self.n
        self._clone("core.tickets", "TRUE", {
            "ticket_id": ticket_id, "account_key": account, "subject": subject, "priority": priority,
            "status": "solved" if solved else "open", "is_solved": solved, "csat_score": csat,
            "is_satisfied": None if csat is None else csat == "good", "rated_at": rated and f"{rated} 10:00:00+00",
            "is_internal": internal, "created_at": f"{created} 09:00:00+00", "updated_at": f"{created} 09:00:00+00"})
        return ticket_id

    def nps(self, account: str, day: str, score: int) -> None:
        self._clone("core.nps_responses", "TRUE", {
            "nps_response_id": -1000 - self.n, "account_key": account, "score": score, "is_internal": False,
            "responded_at": f"{day} 15:00:00+00"})

    def invoice(self, account: str, due: str, balance: int, paid_on: str | None = None) -> None:
        invoice_id = f"hand-inv-{self.n}"
        self._clone("core.invoices", "invoice_status = 'paid'", {
            "invoice_id": invoice_id, "account_key": account, "is_internal": False, "due_date": due,
            "invoice_date": due, "balance_amount": balance, "invoice_status": "unpaid" if balance else "paid"})
        if paid_on:
            self._clone("core.payments", "invoice_id IS NOT NULL", {
                "payment_id": f"hand-pay-{self.n}", "account_key": account, "invoice_id": invoice_id,
                "payment_date": paid_on, "is_internal": False})


def _hand_made(core: Core) -> dict[str, int]:
    """The hand-made accounts; returns the ids of the tickets the expected rows name."""
    # hand-70: 8 of 10 seats active (40) + no urgent ticket (15) + CSAT 1 good of 3 (0) + detractor (0)
    #          + nothing overdue (15) = 70, green
    core.paying("hand-70")
    core.seats("hand-70", "starter", 10, "2023-12-15", "2024-01-14")
    core.seats("hand-70", "starter", 50, "2023-11-15", "2023-12-14")  # an earlier period: not on the as-of date
    for i in range(1, 9):
        core.event("hand-70", "2023-12-20", f"u{i}@hand-70.example")
        core.event("hand-70", "2023-12-20", f"u{i}@hand-70.example", "login", "Session Start")
    core.event("hand-70", "2023-12-03", "u9@hand-70.example")  # 28 days before the as-of date: out of the window
    core.event("hand-70", "2023-12-20", "u10@hand-70.example", "login", "Session Start")  # a login alone: not active
    core.event("hand-70", "2023-12-20", "staff@kcrm.io", internal=True)  # an internal user: not a user
    core.event("hand-70", "2023-12-21", "u1@hand-70.example", "usage", "Invite Sent")
    core.event("hand-70", "2023-12-22", "u2@hand-70.example", "feature", "Feature Used", "forecasting")  # a pro feature
    core.event("hand-70", "2023-12-22", "u2@hand-70.example", "feature", "Feature Used", "email_tracking")  # starter's
    core.ticket("hand-70", "2023-12-01", csat="good", rated="2023-12-05")
    core.ticket("hand-70", "2023-12-01", csat="bad", rated="2023-12-06")
    core.ticket("hand-70", "2023-12-01", csat="bad", rated="2023-07-05")  # 179 days before: in the window
    core.ticket("hand-70", "2023-06-01", csat="good", rated="2023-07-04")  # 180 days before: out
    core.ticket("hand-70", "2023-12-01", priority="urgent", solved=False, internal=True)  # internal: out
    core.nps("hand-70", "2023-03-01", 10)
    core.nps("hand-70", "2023-11-01", 6)  # the latest answer
    core.invoice("hand-70", "2024-01-10", 500)  # not due yet
    core.invoice("hand-70", "2023-10-02", 500)  # due 90 days before: out of the window
    core.invoice("hand-70", "2023-12-01", 0)  # paid

    # hand-69: 9 of 10 seats (40) + one urgent open (7) + no CSAT (5) + no NPS in 365 days (10)
    #          + one overdue (7) = 69, yellow
    core.paying("hand-69")
    core.seats("hand-69", "growth", 10, "2023-12-01", "2023-12-31")
    for i in range(1, 10):
        core.event("hand-69", "2023-12-04", f"u{i}@hand-69.example")  # 27 days before: in the window
    core.event("hand-69", "2023-12-30", None, "login", "Session Start")  # anonymous: an event, not a user
    core.ticket("hand-69", "2023-12-28", priority="urgent", solved=False)
    core.ticket("hand-69", "2023-12-28", priority="urgent", solved=True)
    core.ticket("hand-69", "2023-12-28", priority="high", solved=False)
    core.ticket("hand-69", "2023-05-01", csat="bad", rated="2023-05-02")  # out of the CSAT window
    core.nps("hand-69", "2022-12-31", 10)  # 365 days before: out of the window
    core.invoice("hand-69", "2023-12-30", 120)

    # hand-40: 4 of 10 seats (28) + two urgent open (0) + CSAT 1 of 2 good (5) + detractor (0)
    #          + one invoice paid only after the as-of date (7) = 40, yellow
    core.paying("hand-40")
    core.seats("hand-40", "pro", 10, "2023-12-10", "2024-01-09")
    for i in range(1, 5):
        core.event("hand-40", "2023-12-31", f"u{i}@hand-40.example")
    seats_ticket = core.ticket("hand-40", "2023-12-10", priority="urgent", solved=False, subject="Add more seats")
    core.ticket("hand-40", "2023-12-11", priority="urgent", solved=False)
    core.ticket("hand-40", "2023-10-02", subject="add more SEATS please")  # 90 days before: out of the window
    core.ticket("hand-40", "2023-11-01", csat="good", rated="2023-11-02")
    core.ticket("hand-40", "2023-11-01", csat="bad", rated="2023-11-03")
    core.nps("hand-40", "2023-12-01", 0)
    core.invoice("hand-40", "2023-12-15", 0, paid_on="2024-01-01")

    # hand-39: 3 of 20 seats (12) + no urgent (15) + no CSAT (5) + detractor (0) + one overdue (7) = 39, red
    core.paying("hand-39")
    core.seats("hand-39", "enterprise", 20, "2023-01-01", "2023-12-31")
    for i in range(1, 4):
        core.event("hand-39", "2023-12-15", f"u{i}@hand-39.example", "feature", "Feature Used", "ai_assist")
    core.nps("hand-39", "2023-10-01", 3)
    core.invoice("hand-39", "2023-11-30", 80)

    # hand-noseat: paying, but no seat plan covers the as-of date (12) + 15 + 5 + promoter (20) + 15 = 67
    core.paying("hand-noseat")
    core.seats("hand-noseat", "starter", 5, "2023-12-01", "2023-12-30")
    core.event("hand-noseat", "2023-12-29", "a@hand-noseat.example", "feature", "Feature Used", "forecasting")
    core.event("hand-noseat", "2023-12-29", "b@hand-noseat.example")
    core.nps("hand-noseat", "2023-12-01", 9)

    # not paying in the data's last month: no health row, no signal
    core.paying("hand-gone", "2023-10-01")
    core.seats("hand-gone", "starter", 1, "2023-12-01", "2024-12-31")
    core.event("hand-gone", "2023-12-20", "u1@hand-gone.example")

    # usage day: two users, three logins, an invitation and a feature; an internal event left out
    for user in ("a@hand-u.example", "a@hand-u.example", "b@hand-u.example"):
        core.event("hand-u", "2023-12-20", user, "login", "Session Start")
    core.event("hand-u", "2023-12-20", "a@hand-u.example", "usage", "Invite Sent")
    core.event("hand-u", "2023-12-20", "b@hand-u.example", "feature", "Feature Used", "sequences")
    core.event("hand-u", "2023-12-20", "c@kcrm.io", internal=True)
    # the next day only logins, one anonymous: events, and no active user
    core.event("hand-u", "2023-12-21", "d@hand-u.example", "login", "Session Start")
    core.event("hand-u", "2023-12-21", None, "login", "Session Start")
    return {"seats_ticket": seats_ticket}


HEALTH = "account_key, health_score, health_band, health_reasons, usage_points, support_points, sentiment_points, " \
         "billing_points"
EXPECTED_HEALTH = {
    "hand-70": (70, "green", ["billing_no_overdue", "sentiment_detractor", "support_csat_under_50pct",
                              "support_no_urgent_open", "usage_seats_70pct_plus"], 40, 15, 0, 15),
    "hand-69": (69, "yellow", ["billing_one_overdue", "sentiment_no_recent_nps", "support_csat_unrated",
                               "support_one_urgent_open", "usage_seats_70pct_plus"], 40, 12, 10, 7),
    "hand-40": (40, "yellow", ["billing_one_overdue", "sentiment_detractor", "support_csat_50_80pct",
                               "support_urgent_open_2plus", "usage_seats_40_70pct"], 28, 5, 0, 7),
    "hand-39": (39, "red", ["billing_one_overdue", "sentiment_detractor", "support_csat_unrated",
                            "support_no_urgent_open", "usage_seats_15_40pct"], 12, 20, 0, 7),
    "hand-noseat": (67, "yellow", ["billing_no_overdue", "sentiment_promoter", "support_csat_unrated",
                                   "support_no_urgent_open", "usage_no_seat_plan"], 12, 20, 20, 15),
}
MEASURED = "account_key, as_of_date, plan, paid_seats, active_users, seat_utilisation, urgent_open_tickets, " \
           "csat_rated_tickets, csat_good_share, latest_nps_score, overdue_invoices"
EXPECTED_MEASURED = {  # plan, seats, active users, utilisation, urgent, rated, good share, NPS, overdue
    "hand-70": ("starter", 10, 8, "0.8", 0, 3, "0.333333333", 6, 0),
    "hand-69": ("growth", 10, 9, "0.9", 1, 0, None, None, 1),
    "hand-40": ("pro", 10, 4, "0.4", 2, 2, "0.5", 0, 1),
    "hand-39": ("enterprise", 20, 3, "0.15", 0, 0, None, 3, 1),
    "hand-noseat": (None, None, 2, None, 0, 0, None, 9, 0),
}


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def test_hand_made_accounts_get_hand_computed_health_signals_and_usage(warehouse: Path, tmp_path: Path) -> None:
    root = copy_warehouse(warehouse, tmp_path / "project")
    with connect_warehouse(root, read_only=False) as con:
        ids = _hand_made(Core(con))
    # --full-refresh: the hand-made events are on old days, before the incremental daily table's window
    run_cli(root, "build", "--full-refresh", "--select",
            "enr.account_mrr_monthly enr.account_usage_daily enr.account_health enr.expansion_signals")

    # usage by day: sparse, users are identified users, internal events out
    assert rows(root, """
        SELECT activity_date, active_users, logins, usage_events, feature_events, total_events, invites_sent,
               features_used, active_user_ids
        FROM enr.account_usage_daily WHERE account_key = 'hand-u' ORDER BY activity_date""") == [
        (date(2023, 12, 20), 2, 3, 1, 1, 5, 1, ["sequences"], ["a@hand-u.example", "b@hand-u.example"]),
        (date(2023, 12, 21), 0, 2, 0, 0, 2, 0, [], []),
    ]
    assert rows(root, "SELECT active_users, logins, usage_events, active_user_ids FROM enr.account_usage_daily "
                      "WHERE account_key = 'hand-70' AND activity_date = '2023-12-20'") == [
        (8, 9, 8, [f"u{i}@hand-70.example" for i in range(1, 9)])]

    # health: the four bounds and the unknown-seats case, with the rules that fired
    got = {r[0]: (int(r[1]), r[2], r[3], *(int(x) for x in r[4:])) for r in rows(root, f"""
        SELECT {HEALTH} FROM enr.account_health WHERE account_key LIKE 'hand-%'""")}
    assert got == EXPECTED_HEALTH  # hand-gone (not paying in the last month) and hand-u have no row
    measured = {r[0]: r[1:] for r in rows(root, f"SELECT {MEASURED} FROM enr.account_health "
                                               "WHERE account_key LIKE 'hand-%'")}
    assert measured == {key: (AS_OF, plan, seats, users, _dec(util), urgent, rated, _dec(share), nps, overdue)
                        for key, (plan, seats, users, util, urgent, rated, share, nps, overdue)
                        in EXPECTED_MEASURED.items()}

    # expansion: 9 of 10 seats fires, 8 of 10 does not; each signal with its play and evidence
    signals = {(r[0], r[1]): r[2:] for r in rows(root, """
        SELECT account_key, signal_id, play, signal_value, threshold, evidence FROM enr.expansion_signals
        WHERE account_key LIKE 'hand-%'""")}
    assert signals == {
        ("hand-69", "seat_utilisation_90pct"): ("seat_upsell", Decimal("0.9"), Decimal("0.9"), []),
        ("hand-70", "invites_sent"): ("seat_upsell", Decimal(1), Decimal(1), []),
        ("hand-70", "higher_tier_feature"): ("tier_upgrade", Decimal(1), Decimal(1), ["forecasting"]),
        ("hand-40", "add_seats_ticket"): ("seat_upsell", Decimal(1), Decimal(1), [str(ids["seats_ticket"])]),
        ("hand-noseat", "promoter_nps"): ("add_on", Decimal(9), Decimal(9), []),
    }  # enterprise's ai_assist and a plan-less account's forecasting signal nothing

    run_cli(root, "test", "--select", "enr.account_usage_daily enr.account_health enr.expansion_signals")

    # the invariants bite: a score that is not the sum of its rules, in the wrong band, fails the checks
    with connect_warehouse(root, read_only=False) as con:
        con.execute("UPDATE enr.account_health SET health_score = 71 WHERE account_key = 'hand-69'")
    result = CliRunner().invoke(cli, ["--project-dir", str(root), "test", "--select", "enr.account_health"],
                                env={"KCRM_GOV_NOW": SEED_NOW})
    assert result.exit_code != 0
    assert "score_is_the_sum_of_fired_points" in result.output
    assert "band_matches_score_and_bounds" in result.output

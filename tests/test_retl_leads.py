"""retl.hubspot__contacts, retl.hubspot__lead_routing and retl.hubspot__usage_triggers (issue 17).

Built through the real engine: on the shared seeded warehouse (read only) every table has one row per
destination key and passes its contract's checks; in private copies, hand-made rows written into core
and enr tables get the owners, priorities and triggers worked out by hand below, and rebuilds give the
same assignments and trigger ids.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from conftest import REPO, clone_row, connect_warehouse, copy_warehouse, run_cli
from conftest import query_rows as rows

from kcrm_gov.project import Project

TABLES = {  # retl table -> (its destination key column, HubSpot object)
    "retl.hubspot__contacts": ("hubspot_contact_id", "contacts"),
    "retl.hubspot__lead_routing": ("hubspot_lead_id", "leads"),
    "retl.hubspot__usage_triggers": ("trigger_id", "p_kcrm_usage_triggers"),
}


@pytest.fixture(scope="module")
def warehouse(seeded_warehouse: Path) -> Path:
    """The seeded, fully built project, with the three tables' checks (and the priorities') run on it."""
    run_cli(seeded_warehouse, "test", "--select", " ".join([*TABLES, "enr.lead_routing_priorities"]))
    return seeded_warehouse


def test_one_row_per_destination_key_and_mapped_fields_exist(warehouse: Path) -> None:
    project = Project.load(warehouse)
    for table, (key, obj) in TABLES.items():
        [(total, keys, null_hashes)] = rows(warehouse, f"""
            SELECT COUNT(*), COUNT(DISTINCT {key}), COUNT(*) FILTER (WHERE row_hash IS NULL) FROM {table}""")
        assert total == keys > 0, table
        assert null_hashes == 0, table
        contract = project.contracts[table]
        destination = contract.destination
        assert destination is not None and destination.system == "hubspot" and destination.object == obj
        assert destination.key_column == key
        shipped = yaml.safe_load((REPO / "catalog" / "destinations" / "hubspot" / f"{obj}.yml").read_text())
        properties = {p["name"]: p for p in shipped["properties"]}
        assert properties[destination.match_key].get("unique") is True
        assert {m.field for m in destination.fields} <= set(properties), table
        # row_hash hashes exactly the written fields, in mapping order (what the sync compares)
        struct = ", ".join(f"{m.column} := {m.column}" for m in destination.written)
        [(wrong,)] = rows(warehouse, f"""SELECT COUNT(*) FILTER (WHERE row_hash !=
            md5(CAST(to_json(struct_pack({struct})) AS VARCHAR))) FROM {table}""")
        assert wrong == 0, table
    [(scored, synced, open_leads, routed)] = rows(warehouse, """
        SELECT (SELECT COUNT(*) FROM enr.lead_scores), (SELECT COUNT(*) FROM retl.hubspot__contacts),
               (SELECT COUNT(*) FROM core.leads WHERE is_open AND NOT is_internal),
               (SELECT COUNT(*) FROM retl.hubspot__lead_routing)""")
    assert scored == synced and open_leads == routed


def test_contacts_never_carry_a_lifecycle_stage(warehouse: Path) -> None:
    columns = [c for (c,) in rows(warehouse, """
        SELECT column_name FROM information_schema.columns
        WHERE table_schema = 'retl' AND table_name = 'hubspot__contacts'""")]
    assert columns and not [c for c in columns if "lifecycle" in c]
    contract = Project.load(warehouse).contracts["retl.hubspot__contacts"]
    assert contract.destination is not None
    assert "lifecyclestage" not in {m.field for m in contract.destination.fields}
    shipped = yaml.safe_load((REPO / "catalog" / "destinations" / "hubspot" / "contacts.yml").read_text())
    assert "lifecyclestage" in {p["name"] for p in shipped["properties"]}  # it exists; we just never map it
    # the synced scores are enr.lead_scores' to one decimal
    [(wrong,)] = rows(warehouse, """
        SELECT COUNT(*) FROM retl.hubspot__contacts AS r
        JOIN enr.lead_scores AS s ON s.contact_id = r.hubspot_contact_id
        WHERE r.lead_score != ROUND(s.lead_score, 1) OR r.mql_date IS DISTINCT FROM CAST(s.mql_at AS DATE)""")
    assert wrong == 0


def test_seeded_round_robin_follows_the_lead_sequence(warehouse: Path) -> None:
    """Every round-robin lead sits at seat (lead_sequence - 1) mod n of the active SDRs by user id."""
    [(wrong, round_robin, inactive)] = rows(warehouse, """
        WITH sdrs AS (
          SELECT user_id, ROW_NUMBER() OVER (ORDER BY user_id) - 1 AS seat, COUNT(*) OVER () AS n
          FROM core.users WHERE is_active AND department = 'sales_development')
        SELECT COUNT(*) FILTER (WHERE r.routing_reason = 'round_robin'
                                  AND s.user_id IS DISTINCT FROM r.hubspot_owner_id),
               COUNT(*) FILTER (WHERE r.routing_reason = 'round_robin'),
               (SELECT COUNT(*) FROM retl.hubspot__lead_routing AS x JOIN core.users AS u
                  ON u.user_id = x.hubspot_owner_id WHERE NOT u.is_active)
        FROM retl.hubspot__lead_routing AS r
        LEFT JOIN sdrs AS s ON s.seat = (r.lead_sequence - 1) % s.n""")
    assert round_robin > 100 and wrong == 0 and inactive == 0


# Hand-made users (core.users): three active SDRs (seats 0, 1, 2 by user id), a deactivated SDR, an
# active CSM, a deactivated AE and an active AE.
SDR_1, SDR_2, SDR_3, SDR_GONE = 900000001, 900000002, 900000003, 900000004
CSM, AE_GONE, AE = 900000010, 900000011, 900000012
USERS = {SDR_1: ("sales_development", True), SDR_2: ("sales_development", True),
         SDR_3: ("sales_development", True), SDR_GONE: ("sales_development", False),
         CSM: ("customer_success", True), AE_GONE: ("sales", False), AE: ("sales", True)}
# Hand-made accounts: key -> (owner, pays in the data's last month, ICP tier, PQL)
ACCOUNTS = {
    "hand-cust": (CSM, True, "A", False),
    "hand-ae": (AE, False, "A", False),
    "hand-cust-gone": (AE_GONE, True, "B", False),
    "hand-ae-gone": (AE_GONE, False, "C", False),
    "hand-sdr-gone": (SDR_GONE, False, "D", True),
}
SEEDED_LEADS = 4930  # real leads of seed 42, scale 1: the hand-made lead k gets lead_sequence 4930 + k
# lead k (created 2024-01-01 00:00 + k minutes, lead_id k, contact -k): (account, contact is MQL)
LEADS = {1: ("hand-cust", True), 2: ("hand-ae", False), 3: ("hand-cust-gone", False),
         4: ("hand-ae-gone", True), 5: (None, False), 6: ("hand-sdr-gone", True),
         **{k: (None, False) for k in range(7, 14)}}
# Round robin seat of lead k = (4930 + k - 1) mod 3: k = 3 -> 4932 mod 3 = 0 (SDR_1), then 1, 2, 0, ...
SEAT = {0: SDR_1, 1: SDR_2, 2: SDR_3}
EXPECTED = {  # lead k -> (owner, reason, priority, rule, SLA hours)
    1: (CSM, "customer_owner", "P1", "mql_tier_a", 1),  # a customer: its active owner, MQL at tier A
    2: (AE, "account_ae", "P2", "tier_a", 4),  # an active AE owns it; tier A without an MQL
    3: (SDR_1, "round_robin", "P3", "tier_b", 24),  # the customer's owner is deactivated: round robin
    4: (SDR_2, "round_robin", "P3", "mql", 24),  # deactivated AE owner; an MQL at tier C
    5: (SDR_3, "round_robin", "P4", "other", 72),  # no account
    6: (SDR_1, "round_robin", "P1", "pql", 1),  # owned by a deactivated SDR; PQL beats the MQL rule
    **{k: (SEAT[(SEEDED_LEADS + k - 1) % 3], "round_robin", "P4", "other", 72) for k in range(7, 14)},
}
BASE = datetime(2024, 1, 1, tzinfo=UTC)


def _routing(root: Path) -> dict[int, tuple]:
    return {lead: rest for lead, *rest in rows(root, """
        SELECT hubspot_lead_id, hubspot_owner_id, routing_reason, priority, priority_rule, response_sla_hours,
               response_due_at, lead_sequence, row_hash FROM retl.hubspot__lead_routing""")}


def _add_lead(con: object, k: int, account: str | None) -> None:
    clone_row(con, "core.leads", {"lead_id": k, "contact_id": -k, "hubspot_contact_id": -k, "account_key": account,
                                  "is_open": True, "is_qualified": False, "is_disqualified": False,
                                  "is_internal": False, "lead_status": "NEW",
                                  "created_at": BASE + timedelta(minutes=k)}, "NOT is_internal")


def test_routing_known_answers_and_stability(warehouse: Path, tmp_path: Path) -> None:
    root = copy_warehouse(warehouse, tmp_path / "p")
    with connect_warehouse(root, read_only=False) as con:
        [(seeded,)] = con.execute("SELECT COUNT(*) FROM core.leads WHERE NOT is_internal").fetchall()
        assert seeded == SEEDED_LEADS
        # only the hand-made SDRs stay active, so the round robin has exactly three seats
        con.execute("UPDATE core.users SET is_active = FALSE WHERE department = 'sales_development'")
        for user, (department, active) in USERS.items():
            clone_row(con, "core.users", {"user_id": user, "department": department, "is_active": active})
        [(last_month,)] = con.execute("SELECT MAX(month_start) FROM enr.account_mrr_monthly").fetchall()
        for i, (key, (owner, pays, tier, pql)) in enumerate(ACCOUNTS.items()):
            clone_row(con, "core.accounts", {"account_key": key, "owner_user_id": owner, "is_internal": False,
                                             "hubspot_company_id": -1 - i}, "NOT is_internal")
            clone_row(con, "enr.icp_fit", {"account_key": key, "icp_tier": tier})
            if pays:
                clone_row(con, "enr.account_mrr_monthly", {"account_key": key, "closing_mrr_usd": 100},
                          f"month_start = DATE '{last_month}'")
            if pql:
                clone_row(con, "enr.pql_accounts", {"account_key": key, "is_pql": True})
        for k, (account, mql) in LEADS.items():
            _add_lead(con, k, account)
            clone_row(con, "enr.lead_scores", {"contact_id": -k, "account_key": account, "is_mql": mql})
    run_cli(root, "build", "--select", "enr.account_profile retl.hubspot__lead_routing")
    first = _routing(root)
    got = {k: tuple(first[k][:5]) for k in LEADS}
    assert got == EXPECTED
    for k, (*_, sla) in EXPECTED.items():
        assert first[k][5] == BASE + timedelta(minutes=k, hours=sla)  # response_due_at
        assert first[k][6] == SEEDED_LEADS + k  # lead_sequence
    # load balanced: the eleven round-robin leads 3..13 are 4 / 4 / 3 over the three SDRs
    load = [sum(1 for k in range(3, 14) if got[k][0] == sdr) for sdr in SEAT.values()]
    assert load == [4, 4, 3] and max(load) - min(load) <= 1
    assert not {SDR_GONE, AE_GONE} & {r[0] for r in first.values()}  # deactivated owners get nothing
    run_cli(root, "test", "--select", "retl.hubspot__lead_routing")

    run_cli(root, "build", "--select", "retl.hubspot__lead_routing")
    assert _routing(root) == first  # a rebuild moves nothing, row hashes included

    # close hand lead 7 and a seeded round-robin lead, and create lead 14: nothing else moves
    [(closed_seeded,)] = rows(root, """SELECT MIN(hubspot_lead_id) FROM retl.hubspot__lead_routing
                                      WHERE routing_reason = 'round_robin' AND hubspot_lead_id > 100""")
    with connect_warehouse(root, read_only=False) as con:
        con.execute("UPDATE core.leads SET is_open = FALSE, lead_status = 'QUALIFIED' WHERE lead_id IN (7, ?)",
                    [closed_seeded])
        _add_lead(con, 14, None)
    run_cli(root, "build", "--select", "retl.hubspot__lead_routing")
    after = _routing(root)
    assert set(after) == set(first) - {7, closed_seeded} | {14}
    assert {k: v for k, v in after.items() if k != 14} == {k: v for k, v in first.items() if k in after}
    # lead 14: sequence 4930 + 14 = 4944, seat (4944 - 1) mod 3 = 2 -> SDR_3, no account: P4
    assert tuple(after[14][:5]) == (SDR_3, "round_robin", "P4", "other", 72) and after[14][6] == 4944


# Usage triggers. The as-of date is the seeded data's last product day, 2023-12-31, so the look-back
# keeps triggers from 2023-10-03 (90 days ending on it).
D = date.fromisoformat


def _day(con: object, account: str, day: str, logins: int = 0, usage: int = 0, users: tuple[str, ...] = ()) -> None:
    clone_row(con, "enr.account_usage_daily", {
        "account_key": account, "activity_date": day, "logins": logins, "usage_events": usage,
        "feature_events": 0, "invites_sent": 0, "total_events": logins + usage, "active_users": len(users),
        "active_user_ids": list(users), "features_used": []})


def _tid(account: str, trigger: str, day: str) -> str:
    return hashlib.md5(f"{account}|{trigger}|{day}".encode()).hexdigest()


EXPECTED_TRIGGERS = {
    # hand-login: a login on each of Nov 1-10, then Nov 27 and 28, then none to Dec 31.
    #  no_login_14d holds when the day and the 13 before have no login: Nov 24-26 (three days: one row,
    #  dated Nov 24), false on the logins of Nov 27-28, true again from Dec 12 (28 + 14) to Dec 31: a
    #  second row. usage_drop (28-day usage below half of the 28 days before): on day Nov 28 + j the last
    #  28 days hold 12 - j units (j <= 10) and the prior 28 hold j, true from j = 9 (Dec 7: 3 < 9 / 2,
    #  ratio 3/9) and every day after (Dec 26: 0 of 12; Dec 31: 0 of 7), so one row.
    ("hand-login", "no_login_14d", "2023-11-24"): 14.0,
    ("hand-login", "no_login_14d", "2023-12-12"): 14.0,
    ("hand-login", "usage_drop", "2023-12-07"): 0.3333,
    # hand-seats: 2 paid seats from Oct 1 to Dec 31; u1 active Nov 1 and Dec 10, u2 Nov 5 and Dec 10,
    #  one usage event each day. Users in the 28-day window: 1 from Nov 1, 2 from Nov 5, 1 from Nov 29
    #  (u1's Nov 1 leaves), 0 from Dec 3, 2 from Dec 10: seat limit runs Nov 5-28 and Dec 10-31, two rows
    #  at utilisation 2/2. usage_drop: the prior window first holds usage on Nov 29; Dec 3-9 the last 28
    #  days hold 0 and the prior 2 (Nov 1, Nov 5), true; Dec 10 brings 1, not below 2/2: one row, ratio 0.
    #  No login ever, so no no_login_14d.
    ("hand-seats", "seat_limit_reached", "2023-11-05"): 1.0,
    ("hand-seats", "seat_limit_reached", "2023-12-10"): 1.0,
    ("hand-seats", "usage_drop", "2023-12-03"): 0.0,
    # hand-events: activated Nov 15, PQL Nov 20; churn risk high at Sep 30 and Oct 31 (one run that
    #  started before the look-back: no row), medium at Nov 30, high again at Dec 31 (score 75): one row.
    ("hand-events", "activated", "2023-11-15"): None,
    ("hand-events", "pql_reached", "2023-11-20"): None,
    ("hand-events", "churn_risk_high", "2023-12-31"): 75.0,
}


def _triggers(root: Path) -> dict[str, tuple]:
    return {tid: rest for tid, *rest in rows(root, """
        SELECT trigger_id, account_key, trigger_type, CAST(trigger_date AS VARCHAR), metric_value, row_hash
        FROM retl.hubspot__usage_triggers""")}


def test_trigger_known_answers_and_stable_ids(warehouse: Path, tmp_path: Path) -> None:
    root = copy_warehouse(warehouse, tmp_path / "p")
    with connect_warehouse(root, read_only=False) as con:
        [(as_of,)] = con.execute("SELECT MAX(activity_date) FROM enr.account_usage_daily").fetchall()
        assert as_of == D("2023-12-31")
        for i, (key, internal) in enumerate([("hand-login", False), ("hand-seats", False), ("hand-events", False),
                                            ("hand-internal", True)]):
            clone_row(con, "core.accounts", {"account_key": key, "is_internal": internal,
                                             "hubspot_company_id": -1 - i}, "NOT is_internal")
        for day in range(1, 11):
            _day(con, "hand-login", f"2023-11-{day:02d}", logins=1)
        _day(con, "hand-login", "2023-11-27", logins=1)
        _day(con, "hand-login", "2023-11-28", logins=1)
        _day(con, "hand-internal", "2023-11-01", logins=1)  # an internal account: no_login would fire
        clone_row(con, "core.subscriptions", {"subscription_id": "hand-seats-1", "account_key": "hand-seats",
                                              "product_kind": "seat_plan",
                                              "is_internal": False, "seats": 2, "period_start_date": "2023-10-01",
                                              "period_end_date": "2023-12-31"}, "product_kind = 'seat_plan'")
        _day(con, "hand-seats", "2023-11-01", usage=1, users=("u1@hand-seats.example",))
        _day(con, "hand-seats", "2023-11-05", usage=1, users=("u2@hand-seats.example",))
        _day(con, "hand-seats", "2023-12-10", usage=1, users=("u1@hand-seats.example", "u2@hand-seats.example"))
        clone_row(con, "enr.activation", {"account_key": "hand-events", "is_activated": True,
                                          "activated_at": "2023-11-15 10:00:00+00"})
        clone_row(con, "enr.pql_accounts", {"account_key": "hand-events", "is_pql": True,
                                            "pql_at": "2023-11-20 23:59:00+00"})
        for month_end, band, score in [("2023-09-30", "high", 70), ("2023-10-31", "high", 65),
                                       ("2023-11-30", "medium", 40), ("2023-12-31", "high", 75)]:
            clone_row(con, "enr.churn_risk", {"account_key": "hand-events", "month_end": month_end,
                                              "month_start": month_end[:8] + "01", "risk_band": band,
                                              "churn_risk_score": score})
    run_cli(root, "build", "--select", "retl.hubspot__usage_triggers")
    first = _triggers(root)
    got = {(a, t, d): v for a, t, d, v, _ in first.values() if a.startswith("hand-")}
    assert got == EXPECTED_TRIGGERS  # and nothing for the internal account
    for a, t, d in EXPECTED_TRIGGERS:
        assert _tid(a, t, d) in first
    run_cli(root, "test", "--select", "retl.hubspot__usage_triggers")
    run_cli(root, "build", "--select", "retl.hubspot__usage_triggers")
    assert _triggers(root) == first  # every trigger_id and row hash again


def test_trigger_thresholds_are_the_rules_table(warehouse: Path, tmp_path: Path) -> None:
    """A steward's edit of enr.usage_trigger_rules moves the triggers: no_login_14d's window 14 -> 10 days,
    usage_drop's look-back 90 -> 20 days, and the activated row removed."""
    root = copy_warehouse(warehouse, tmp_path / "p")
    csv = root / "models" / "enr" / "usage_trigger_rules.csv"
    lines = csv.read_text().splitlines()
    edits = {"no_login_14d,14,": "no_login_14d,10,", "usage_drop,28,0.5,,90,": "usage_drop,28,0.5,,20,"}
    edited = [next((line.replace(a, b) for a, b in edits.items() if line.startswith(a)), line)
              for line in lines if not line.startswith("activated,")]
    kept = [line for line in lines if not line.startswith("activated,")]
    assert len(kept) == len(lines) - 1 and sum(e != line for e, line in zip(edited, kept, strict=True)) == 2
    csv.write_text("\n".join(edited) + "\n")
    with connect_warehouse(root, read_only=False) as con:
        clone_row(con, "core.accounts", {"account_key": "hand-login", "is_internal": False, "hubspot_company_id": -1},
                  "NOT is_internal")
        for day in [*range(1, 11), 27, 28]:
            _day(con, "hand-login", f"2023-11-{day:02d}", logins=1)
    run_cli(root, "build", "--select", "enr.usage_trigger_rules retl.hubspot__usage_triggers")
    got = {(a, t, d): v for a, t, d, v, _ in _triggers(root).values() if a == "hand-login"}
    # no login on the day or the 9 before: Nov 20-26 (Nov 11-20 empty), then from Dec 8 (Nov 29 - Dec 8);
    # the usage drop of Dec 7 is before the 20 days ending on Dec 31 (from Dec 12): gone
    assert got == {("hand-login", "no_login_14d", "2023-11-20"): 10.0,
                   ("hand-login", "no_login_14d", "2023-12-08"): 10.0}
    assert rows(root, "SELECT COUNT(*) FROM retl.hubspot__usage_triggers WHERE trigger_type = 'activated' "
                      "OR (trigger_type = 'usage_drop' AND trigger_date <= DATE '2023-12-11')") == [(0,)]

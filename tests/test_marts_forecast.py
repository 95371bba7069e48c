"""Sales marts: stage win probabilities, the pipeline forecast and sales by month (pipeline created, win rate).

On the seeded scale-1 build every table passes its contract's checks (weighted and commit within the open
pipeline, forecast = won + weighted, probabilities in [0, 1], the last snapshot is today's open pipeline).
Known answers, through the real engine on a copy of the seeded warehouse: a hand-made pipeline whose stages'
historical win probabilities come from a small closed history (one stage exactly at the commit bound, one
below the closed-deal minimum, which falls back to its configured probability), hand-made open deals in
different stages, quarters and deal types (a renewal kept apart, a deal that moved stage after the snapshot,
a deal open past its close date, an internal deal left out) owned by a deactivated owner, and the pipeline
created and win rate of their months, dated before the seeded data starts so their months hold them alone.
The invariants are shown to fail on corrupted rows.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from conftest import clone_row, connect_warehouse, copy_warehouse, failing_rules, run_cli
from conftest import query_rows as rows

MARTS = "marts.stage_probabilities marts.pipeline_forecast marts.sales_monthly"
ALL = f"marts.forecast_parameters core.deal_pipeline_stages {MARTS}"
OWNER = -701  # a hand-made, deactivated owner whose deals are only the hand-made ones
D = Decimal


@pytest.fixture(scope="module")
def warehouse(seeded_warehouse: Path) -> Path:
    """The seeded, fully built project, with the sales marts' checks run on it (a failed check fails here)."""
    run_cli(seeded_warehouse, "test", "--select", ALL)
    return seeded_warehouse


def test_seeded_sales_marts(warehouse: Path) -> None:
    stages = {label: (source, float(p), float(c)) for label, source, p, c in rows(warehouse, """
        SELECT stage_label, probability_source, probability, configured_probability FROM marts.stage_probabilities
        WHERE pipeline_id = 'default'""")}
    # the sales pipeline's open stages all have enough history; the further the stage, the likelier the win
    order = ["Discovery", "Qualified", "Demo", "Proposal", "Contract sent"]
    assert all(stages[s][0] == "historical" for s in order)
    assert [stages[s][1] for s in order] == sorted(stages[s][1] for s in order)
    assert stages["Contract sent"][1] >= 0.8 > stages["Proposal"][1]  # only Contract sent is in the commit
    assert stages["Legal review (old)"][:2] == ("configured", 0.7)  # archived, never entered: HubSpot's value

    # the company-wide win rate of the months is a direct count on core.opportunities
    [(won, closed, rate)] = rows(warehouse, """
        SELECT SUM(won_deals), SUM(closed_deals), SUM(won_deals) / SUM(closed_deals) FROM marts.sales_monthly""")
    assert rows(warehouse, """
        SELECT COUNT(*) FILTER (WHERE is_won), COUNT(*) FILTER (WHERE is_closed) FROM core.opportunities
        WHERE NOT is_internal""") == [(won, closed)]
    assert 0.25 < rate < 0.45

    # deactivated owners keep their rows; both deal types are forecast; one snapshot per month end
    [(inactive, types, snapshots, months)] = rows(warehouse, """
        SELECT COUNT(*) FILTER (WHERE NOT owner_is_active), COUNT(DISTINCT deal_type), COUNT(DISTINCT snapshot_date),
               (SELECT COUNT(DISTINCT month_start) FROM marts.sales_monthly) FROM marts.pipeline_forecast""")
    assert inactive > 0 and types == 2 and snapshots == months > 40


class Crm:
    """Writes hand-made rows into core tables by copying one real row and replacing the columns that matter."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.n = 0

    def clone(self, table: str, values: dict[str, Any]) -> None:
        clone_row(self.con, table, values)

    def stage(self, stage_id: str, probability: float, won: bool = False, lost: bool = False) -> None:
        self.clone("core.deal_pipeline_stages", {
            "pipeline_id": "kat", "pipeline_label": "Kat pipeline", "stage_id": stage_id, "stage_label": stage_id,
            "probability": probability, "is_closed_stage": won or lost, "is_won_stage": won, "is_lost_stage": lost,
            "is_active": True})

    def deal(self, path: list[tuple[str, str]], amount: int, deal_type: str = "newbusiness",
             expected: str | None = None, internal: bool = False) -> None:
        """A deal that entered the stages of ``path`` ((stage, day) in order); closed when its last stage is."""
        self.n += 1
        last = path[-1][0]
        won, lost = last == "kat-won", last == "kat-lost"
        self.clone("core.opportunities", {
            "opportunity_id": -7000 - self.n, "owner_user_id": OWNER, "deal_type": deal_type, "pipeline_id": "kat",
            "stage_id": last, "is_closed": won or lost, "is_won": won, "is_lost": lost, "amount_usd": amount,
            "is_internal": internal, "created_at": f"{path[0][1]} 09:00:00+00",
            "expected_close_at": None if won or lost else f"{expected} 12:00:00+00",
            "closed_at": f"{path[-1][1]} 09:00:00+00" if won or lost else None})
        for i, (stage, day) in enumerate(path):
            following = path[i + 1][1] if i + 1 < len(path) else None
            self.clone("core.deal_stage_history", {
                "opportunity_id": -7000 - self.n, "entry_number": i + 1, "pipeline_id": "kat", "stage_id": stage,
                "is_closed_stage": stage in ("kat-won", "kat-lost"), "is_won_stage": stage == "kat-won",
                "entered_at": f"{day} 09:00:00+00", "exited_at": following and f"{following} 09:00:00+00",
                "is_current": following is None, "is_internal": internal})


def test_forecast_probabilities_and_win_rate_known_answers(warehouse: Path, tmp_path: Path) -> None:
    root = copy_warehouse(warehouse, tmp_path / "project")
    with connect_warehouse(root, read_only=False) as con:
        # a stage's history counts from 3 closed deals here (the parameters table is not rebuilt below)
        con.execute("UPDATE marts.forecast_parameters SET value = 3 WHERE parameter = 'min_closed_deals'")
        crm = Crm(con)
        crm.clone("core.users", {"user_id": OWNER, "full_name": "Kat Owner", "email": "kat.owner@kcrm.io",
                                 "is_active": False})
        crm.stage("kat-disc", 0.1)
        crm.stage("kat-prop", 0.6)
        crm.stage("kat-commit", 0.7)
        crm.stage("kat-rare", 0.3)
        crm.stage("kat-won", 1.0, won=True)
        crm.stage("kat-lost", 0.0, lost=True)
        # The closed history, all in 2019 (before the seeded deals): commit 4 won of 5 closed = 0.8, proposal
        # 2 of 4 = 0.5, discovery 1 of 4 = 0.25, rare 0 of 1 (below 3 closed: its configured 0.3 is used).
        crm.deal([("kat-disc", "2019-04-01"), ("kat-prop", "2019-04-10"), ("kat-commit", "2019-05-01"),
                  ("kat-won", "2019-05-20")], 5000)  # W1: won in Q2, to date at the June snapshot
        crm.deal([("kat-prop", "2019-02-01"), ("kat-commit", "2019-02-15"), ("kat-won", "2019-03-15")], 7000)
        crm.deal([("kat-commit", "2019-01-10"), ("kat-won", "2019-02-10")], 3000, "existingbusiness")
        crm.deal([("kat-commit", "2019-01-05"), ("kat-lost", "2019-02-20")], 4000)
        crm.deal([("kat-prop", "2019-01-05"), ("kat-lost", "2019-03-01")], 1000)
        crm.deal([("kat-prop", "2019-02-05"), ("kat-lost", "2019-03-10")], 2000, "existingbusiness")
        crm.deal([("kat-disc", "2019-01-02"), ("kat-lost", "2019-02-01")], 1500)
        crm.deal([("kat-disc", "2019-01-03"), ("kat-lost", "2019-02-02")], 1500)
        crm.deal([("kat-disc", "2019-01-04"), ("kat-lost", "2019-03-03")], 1500)
        crm.deal([("kat-rare", "2019-01-06"), ("kat-lost", "2019-03-04")], 900)
        # O3: open in commit at the June snapshot, won on Aug 1 (its close quarter is Q3)
        crm.deal([("kat-commit", "2019-06-10"), ("kat-won", "2019-08-01")], 8000)
        # The open deals
        crm.deal([("kat-disc", "2019-05-10")], 10000, expected="2019-08-15")  # O1
        crm.deal([("kat-prop", "2019-06-01"), ("kat-commit", "2019-07-05")], 20000, expected="2019-09-20")  # O2
        crm.deal([("kat-rare", "2019-06-15")], 12345, expected="2019-12-10")  # O4: fallback 0.3
        crm.deal([("kat-commit", "2019-06-05")], 6000, "existingbusiness", expected="2019-07-30")  # R1: renewal
        crm.deal([("kat-disc", "2019-05-01")], 99999, expected="2019-08-15", internal=True)  # internal: out
    run_cli(root, "build", "--select", MARTS)

    probabilities = {s: tuple(r) for s, *r in rows(root, """
        SELECT stage_id, deals_entered, closed_deals, won_deals, historical_probability, probability,
               probability_source FROM marts.stage_probabilities WHERE pipeline_id = 'kat'""")}
    assert probabilities == {
        "kat-disc": (5, 4, 1, D("0.25"), D("0.25"), "historical"),
        "kat-prop": (5, 4, 2, D("0.5"), D("0.5"), "historical"),
        "kat-commit": (7, 5, 4, D("0.8"), D("0.8"), "historical"),
        "kat-rare": (2, 1, 0, D(0), D("0.3"), "configured"),
        "kat-won": (4, 4, 4, D(1), D(1), "configured"),
        "kat-lost": (7, 7, 0, D(0), D(0), "configured"),
    }

    got = {(str(s), str(q), t): tuple(r) for s, q, t, *r in rows(root, f"""
        SELECT snapshot_date, close_quarter, deal_type, open_deals, open_amount_usd, weighted_amount_usd,
               commit_deals, commit_amount_usd, won_deals, won_amount_usd, forecast_amount_usd
        FROM marts.pipeline_forecast WHERE owner_key = '{OWNER}'
          AND snapshot_date IN ('2019-06-30', '2019-07-31', '2019-12-31')""")}
    expected = {  # open deals, open, weighted, commit deals, commit, won deals, won, forecast
        # June: O1 (10000 x 0.25), O2 still in proposal (20000 x 0.5), O3 in commit (8000 x 0.8, commit)
        ("2019-06-30", "2019-07-01", "newbusiness"): (3, D(38000), D(18900), 1, D(8000), 0, D(0), D(18900)),
        ("2019-06-30", "2019-10-01", "newbusiness"): (1, D(12345), D("3703.50"), 0, D(0), 0, D(0), D("3703.50")),
        ("2019-06-30", "2019-04-01", "newbusiness"): (0, D(0), D(0), 0, D(0), 1, D(5000), D(5000)),  # W1 won
        ("2019-06-30", "2019-07-01", "existingbusiness"): (1, D(6000), D(4800), 1, D(6000), 0, D(0), D(4800)),
        # July: O2 moved to commit on July 5 (20000 x 0.8, commit); R1, due July 30, stays in Q3 (this quarter)
        ("2019-07-31", "2019-07-01", "newbusiness"): (3, D(38000), D(24900), 2, D(28000), 0, D(0), D(24900)),
        ("2019-07-31", "2019-10-01", "newbusiness"): (1, D(12345), D("3703.50"), 0, D(0), 0, D(0), D("3703.50")),
        ("2019-07-31", "2019-07-01", "existingbusiness"): (1, D(6000), D(4800), 1, D(6000), 0, D(0), D(4800)),
        # December: O3 won in Q3 is gone; O1, O2 and R1, open past their close dates, are forecast into Q4
        ("2019-12-31", "2019-10-01", "newbusiness"): (3, D(42345), D("22203.50"), 1, D(20000), 0, D(0),
                                                      D("22203.50")),
        ("2019-12-31", "2019-10-01", "existingbusiness"): (1, D(6000), D(4800), 1, D(6000), 0, D(0), D(4800)),
    }
    assert got == expected
    # the deactivated owner keeps their rows, with their name
    assert rows(root, f"""SELECT DISTINCT owner_name, owner_is_active FROM marts.pipeline_forecast
                          WHERE owner_key = '{OWNER}'""") == [("Kat Owner", False)]

    monthly = {(str(m), t): tuple(r) for m, t, *r in rows(root, """
        SELECT month_start, deal_type, pipeline_created_deals, pipeline_created_usd, closed_deals, won_deals,
               win_rate FROM marts.sales_monthly WHERE month_start < '2019-06-01'""")}
    assert monthly == {  # created deals, created amount, closed, won, win rate
        ("2019-01-01", "newbusiness"): (6, D(10400), 0, 0, None),
        ("2019-01-01", "existingbusiness"): (1, D(3000), 0, 0, None),
        ("2019-02-01", "newbusiness"): (1, D(7000), 3, 0, D(0)),
        ("2019-02-01", "existingbusiness"): (1, D(2000), 1, 1, D(1)),
        ("2019-03-01", "newbusiness"): (0, D(0), 4, 1, D("0.25")),
        ("2019-03-01", "existingbusiness"): (0, D(0), 1, 0, D(0)),
        ("2019-04-01", "newbusiness"): (1, D(5000), 0, 0, None),
        ("2019-04-01", "existingbusiness"): (0, D(0), 0, 0, None),
        ("2019-05-01", "newbusiness"): (1, D(10000), 1, 1, D(1)),  # the internal deal of May 1 is out
        ("2019-05-01", "existingbusiness"): (0, D(0), 0, 0, None),
    }

    # every check passes on the hand-made rows but the ones a corrupted row breaks: a weighted amount above its
    # open amount (so no longer forecast - won), a probability above 1 (not the one chosen), a win rate that is
    # not won / closed
    run_cli(root, "test", "--select", MARTS)
    with connect_warehouse(root, read_only=False) as con:
        con.execute(f"UPDATE marts.pipeline_forecast SET weighted_amount_usd = open_amount_usd + 1 "
                    f"WHERE owner_key = '{OWNER}' AND snapshot_date = '2019-06-30' AND close_quarter = '2019-07-01' "
                    "AND deal_type = 'newbusiness'")
        con.execute("UPDATE marts.stage_probabilities SET probability = 1.2 WHERE stage_id = 'kat-rare'")
        con.execute("UPDATE marts.sales_monthly SET win_rate = 0.5 "
                    "WHERE month_start = '2019-02-01' AND deal_type = 'newbusiness'")
    assert failing_rules(root, MARTS) == {
        "weighted_and_commit_within_open", "forecast_is_won_plus_weighted", "probabilities_in_unit_range",
        "probability_is_the_one_chosen", "win_rate_is_won_over_closed"}

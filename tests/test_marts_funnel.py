"""Marketing funnel and revenue attribution marts.

On the seeded scale-1 build both tables pass their contracts' checks, the cohorts hold every MQL of
enr.lead_scores once, the funnel narrows at every stage and each attribution model adds up to the won
new-business bookings. Known answers, through the real engine on a copy of the seeded warehouse:

- windows: of four hand-made MQLs of March 2023 (original channel unknown) one gets its opportunity on
  day 89 of the 90-day window and wins it in August (counted in March, not August), one on day 91 (out),
  one on day 30 but wins it on day 181 of the 180-day window (opportunity, not won), one that was never an
  SQL gets an opportunity on day 60 (outside the sequential funnel); an April MQL on the same deal as the
  first counts as an opportunity and a win but not the deal's amount, already counted in March; an
  internal contact is out;
- channel: HubSpot's original source wins over the first GA4 visit; without it the first visit decides,
  even one older than attribution's lookback;
- attribution: a 3-touch journey whose first visit converted (first touch 100/0/0 %, W-shaped
  60/10/30 %), a 4-touch journey whose second visit converted (W-shaped 30/30/10/30 %), touches after
  the deal's creation, older than the lookback or internal left out, and a deal without a visit
  unattributed.

The invariants are shown to fail on corrupted rows.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner
from conftest import SEED_NOW, connect_warehouse, copy_warehouse, run_cli
from conftest import query_rows as rows

from kcrm_gov.cli import cli

MARTS = "marts.funnel_windows marts.funnel_monthly marts.revenue_attribution"


@pytest.fixture(scope="module")
def warehouse(seeded_warehouse: Path) -> Path:
    """The seeded, fully built project, with the funnel marts' checks run on it."""
    run_cli(seeded_warehouse, "test", "--select", MARTS)
    return seeded_warehouse


class Rows:
    """Writes hand-made rows by copying one real row and replacing the columns that matter."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.n = 0

    def clone(self, table: str, where: str, values: dict[str, Any]) -> None:
        self.n += 1
        schema, name = table.split(".")
        types = dict(self.con.execute("SELECT column_name, data_type FROM information_schema.columns "
                                      "WHERE table_schema = ? AND table_name = ?", [schema, name]).fetchall())
        replace = ", ".join(f"CAST(? AS {types[c]}) AS {c}" for c in values)
        self.con.execute(f"INSERT INTO {table} SELECT * REPLACE ({replace}) FROM {table} WHERE {where} LIMIT 1",
                         list(values.values()))

    def contact(self, contact_id: int, source: str | None, mql_at: str, sql_at: str | None,
                internal: bool = False) -> None:
        """A contact created on 2023-02-15 and its enr.lead_scores row: an MQL, an SQL when ``sql_at``."""
        self.clone("core.contacts", "NOT is_internal", {
            "contact_id": contact_id, "original_source": source, "created_at": "2023-02-15 09:00:00+00",
            "is_internal": internal})
        self.clone("enr.lead_scores", "is_mql", {
            "contact_id": contact_id, "mql_at": mql_at, "is_mql": True, "sql_at": sql_at, "is_sql": sql_at is not None,
            "sql_reason": sql_at and "lead_qualified"})

    def deal(self, opportunity_id: int, contacts: list[int], amount: int, created_at: str,
             won_at: str | None) -> None:
        """A new-business deal of ``contacts``, won at ``won_at`` or open."""
        self.clone("core.opportunities", "is_won AND deal_type = 'newbusiness' AND NOT is_internal", {
            "opportunity_id": opportunity_id, "amount_usd": amount, "created_at": created_at, "closed_at": won_at,
            "is_won": won_at is not None, "is_closed": won_at is not None, "is_lost": False})
        for contact_id in contacts:
            self.clone("core.opportunity_contacts", "NOT is_internal", {
                "opportunity_id": opportunity_id, "contact_id": contact_id, "is_internal": False})

    def touch(self, touch_id: str, contact_id: int, at: str, channel: str, conversion: bool = False,
              internal: bool = False) -> None:
        self.clone("core.marketing_touches", "contact_id IS NOT NULL AND NOT is_internal", {
            "touch_id": touch_id, "contact_id": contact_id, "touched_at": f"{at} 10:00:00+00", "touch_date": at,
            "channel": channel, "has_conversion": conversion, "is_internal": internal})


def _failing_rules(root: Path, select: str) -> set[str]:
    """The names of the checks ``kcrm-gov test`` fails on ``select`` (it must fail some)."""
    result = CliRunner().invoke(cli, ["--project-dir", str(root), "test", "--select", select],
                                env={"KCRM_GOV_NOW": SEED_NOW})
    assert result.exit_code != 0, result.output
    failed = {m.group(1) for m in re.finditer(r"^fail marts\.\w+: quality: table #\d+ (\w+) ", result.output, re.M)}
    assert f", {len(failed)} failed, 0 errors" in result.output, result.output  # nothing else failed
    return failed


# --- seeded figures ------------------------------------------------------------------------------------
def test_seeded_funnel_and_attribution(warehouse: Path) -> None:
    [(mqls, sqls, opps, wins, contacts, pipeline, won_usd)] = rows(warehouse, """
        SELECT SUM(mql_contacts), SUM(sql_contacts), SUM(opportunity_contacts), SUM(won_contacts),
               SUM(new_contacts), SUM(pipeline_created_usd), SUM(won_usd)
        FROM marts.funnel_monthly""")
    [(real_mqls, enr_sqls, real_contacts)] = rows(warehouse, """
        SELECT COUNT(*) FILTER (WHERE l.is_mql), COUNT(*) FILTER (WHERE l.is_sql), COUNT(*)
        FROM enr.lead_scores AS l JOIN core.contacts AS c USING (contact_id) WHERE NOT c.is_internal""")
    # every MQL in one cohort; with the shipped 30-day window the funnel's SQLs are enr's
    assert (mqls, sqls, contacts) == (real_mqls, enr_sqls, real_contacts)
    mql_to_sql, win_rate = sqls / mqls, wins / opps
    print(f"\nseeded funnel: {contacts} contacts, {mqls} MQLs, {sqls} SQLs ({mql_to_sql:.1%}), {opps} opportunities, "
          f"{wins} won (win rate {win_rate:.1%}, MQL to won {wins / mqls:.1%}), pipeline {pipeline:,.0f} USD, "
          f"won {won_usd:,.0f} USD")
    assert contacts > mqls > sqls > opps > wins > 0
    assert 0.05 < mql_to_sql < 0.5 and 0.2 < win_rate < 0.9 and 0 < won_usd < pipeline

    by_channel = dict(rows(warehouse, """
        SELECT channel, SUM(mql_contacts) FROM marts.funnel_monthly GROUP BY channel"""))
    assert max(by_channel, key=lambda c: by_channel[c]) == "organic_search"
    assert "unknown" not in by_channel  # every seeded contact has a HubSpot original source

    # each model credits exactly the won new-business bookings; unattributed is what no visit explains
    [(deals, first_touch, w_shaped, bookings, unattributed)] = rows(warehouse, """
        SELECT COUNT(DISTINCT a.opportunity_id), SUM(a.first_touch_credit_usd), SUM(a.w_shaped_credit_usd),
               (SELECT SUM(amount_usd) FROM core.opportunities
                WHERE is_won AND deal_type = 'newbusiness' AND NOT is_internal),
               SUM(a.w_shaped_credit_usd) FILTER (WHERE a.channel = 'unattributed')
        FROM marts.revenue_attribution AS a""")
    assert abs(first_touch - bookings) < Decimal("0.01") and abs(w_shaped - bookings) < Decimal("0.01")
    print(f"seeded attribution: {deals} won deals, {bookings:,.0f} USD, unattributed {unattributed / bookings:.1%}")
    assert 0 < unattributed < bookings


# --- known answers ---------------------------------------------------------------------------------------
A, B, C, D, E, G, H, J = -801, -802, -803, -804, -805, -807, -808, -810  # hand-made contacts


def _cells(root: Path) -> dict[tuple[str, str], tuple[Any, ...]]:
    return {(str(m), ch): tuple(r) for m, ch, *r in rows(root, """
        SELECT month_start, channel, touches, new_contacts, mql_contacts, sql_contacts, opportunity_contacts,
               won_contacts, unqualified_opportunity_contacts, pipeline_opportunities, pipeline_created_usd,
               won_opportunities, won_usd
        FROM marts.funnel_monthly""")}


def test_funnel_windows_channels_and_attribution_known_answers(warehouse: Path, tmp_path: Path) -> None:
    before = _cells(warehouse)
    root = copy_warehouse(warehouse, tmp_path / "project")
    with connect_warehouse(root, read_only=False) as con:
        w = Rows(con)
        # March 2023 MQLs without an original source or a visit: channel unknown
        w.contact(A, None, "2023-03-10 12:00:00+00", "2023-03-15 12:00:00+00")
        w.contact(B, None, "2023-03-20 12:00:00+00", "2023-03-25 12:00:00+00")
        w.contact(C, None, "2023-03-05 12:00:00+00", "2023-03-06 12:00:00+00")
        w.contact(D, None, "2023-03-25 12:00:00+00", None)
        w.contact(G, None, "2023-04-10 12:00:00+00", "2023-04-12 12:00:00+00")
        w.contact(J, None, "2023-03-11 12:00:00+00", "2023-03-12 12:00:00+00", internal=True)
        w.deal(-701, [A, G, J], 1000, "2023-06-07 12:00:00+00", "2023-08-20 12:00:00+00")  # A: day 89, G: day 58
        w.deal(-702, [B], 2000, "2023-06-19 12:00:00+00", "2023-07-01 12:00:00+00")  # B: day 91, out
        w.deal(-703, [C], 4000, "2023-04-04 12:00:00+00", "2023-09-02 12:00:00+00")  # day 30; won on day 181
        w.deal(-704, [D], 8000, "2023-05-24 12:00:00+00", None)  # day 60, but D was never an SQL
        # channel: HubSpot's original source first (H), else the first GA4 visit (E: organic search)
        w.contact(H, "PAID_SEARCH", "2023-03-12 12:00:00+00", None)
        w.contact(E, None, "2023-03-14 12:00:00+00", None)
        w.touch("kat-e0", E, "2022-03-01", "organic_search")  # 396 days before the deal: out of the lookback
        w.touch("kat-e1", E, "2023-01-05", "referral", conversion=True)
        w.touch("kat-e2", E, "2023-02-10", "email")
        w.touch("kat-ex", E, "2023-02-20", "email", internal=True)  # internal: out everywhere
        w.touch("kat-e3", E, "2023-03-20", "paid_search")
        w.touch("kat-e4", E, "2023-04-05", "direct")  # after the deal's creation: not in its journey
        w.deal(-705, [E], 9000, "2023-04-01 12:00:00+00", "2023-05-10 12:00:00+00")
        w.touch("kat-h1", H, "2023-02-01", "organic_search")
        w.touch("kat-h2", H, "2023-02-15", "paid_search", conversion=True)
        w.touch("kat-h3", H, "2023-02-20", "email")
        w.touch("kat-h4", H, "2023-03-01", "direct")
        w.deal(-706, [H], 1000, "2023-03-05 12:00:00+00", "2023-03-30 12:00:00+00")  # before H's MQL: no funnel
    run_cli(root, "build", "--select", MARTS)
    run_cli(root, "test", "--select", MARTS)  # every rule holds on the hand-made rows

    after = _cells(root)
    zero = (0, 0, 0, 0, 0, 0, 0, 0, Decimal(0), 0, Decimal(0))
    delta = {cell: tuple(a - b for a, b in zip(after[cell], before.get(cell, zero), strict=True)) for cell in after}
    changed = {cell: d for cell, d in delta.items() if d != zero}
    d = Decimal
    expected = {  # touches, new contacts, MQL, SQL, opportunity, won, unqualified, pipeline n, USD, won n, USD
        # A (day 89, won in August), B (day 91), C (won on day 181), D (never an SQL): March's cohort
        ("2023-03-01", "unknown"): (0, 0, 4, 3, 2, 1, 1, 2, d(5000), 1, d(1000)),
        # G is on A's deal: an opportunity and a win, but the deal's amount is in A's cohort
        ("2023-04-01", "unknown"): (0, 0, 1, 1, 1, 1, 0, 0, d(0), 0, d(0)),
        ("2023-02-01", "unknown"): (0, 5, 0, 0, 0, 0, 0, 0, d(0), 0, d(0)),
        # H: HubSpot says paid search although its first visit was organic; its deal came before the MQL
        ("2023-03-01", "paid_search"): (1, 0, 1, 0, 0, 0, 0, 0, d(0), 0, d(0)),
        ("2023-02-01", "paid_search"): (1, 1, 0, 0, 0, 0, 0, 0, d(0), 0, d(0)),
        # E: no original source, so its first visit's channel (organic search, in 2022, even though that
        # visit is too old for the deal's attribution); its deal on day 18 without an SQL
        ("2023-03-01", "organic_search"): (0, 0, 1, 0, 0, 0, 1, 0, d(0), 0, d(0)),
        ("2023-02-01", "organic_search"): (1, 1, 0, 0, 0, 0, 0, 0, d(0), 0, d(0)),  # + H's first visit
        # the visits, by their own channel and month (the internal one is out)
        ("2022-03-01", "organic_search"): (1, 0, 0, 0, 0, 0, 0, 0, d(0), 0, d(0)),
        ("2023-01-01", "referral"): (1, 0, 0, 0, 0, 0, 0, 0, d(0), 0, d(0)),
        ("2023-02-01", "email"): (2, 0, 0, 0, 0, 0, 0, 0, d(0), 0, d(0)),
        ("2023-03-01", "direct"): (1, 0, 0, 0, 0, 0, 0, 0, d(0), 0, d(0)),
        ("2023-04-01", "direct"): (1, 0, 0, 0, 0, 0, 0, 0, d(0), 0, d(0)),
    }
    assert changed == expected
    [(sql_rate, opp_rate, won_rate, mql_won, complete)] = rows(root, """
        SELECT mql_to_sql_rate, sql_to_opportunity_rate, opportunity_to_won_rate, mql_to_won_rate, is_cohort_complete
        FROM marts.funnel_monthly WHERE month_start = '2023-03-01' AND channel = 'unknown'""")
    assert (sql_rate, opp_rate, won_rate, mql_won, complete) == (d("0.75"), d("0.666666667"), d("0.5"), d("0.25"), True)

    credits = {(o, n): (t, ch, ft, ws) for o, n, t, ch, ft, ws in rows(root, """
        SELECT opportunity_id, touch_number, touch_id, channel, first_touch_credit_usd, w_shaped_credit_usd
        FROM marts.revenue_attribution WHERE opportunity_id < -700""")}
    assert credits == {
        # E's journey: e1 first and lead-creation touch (60 points), e2 the one in between (10), e3 the last
        # before the deal (30); e0 is older than 365 days, ex internal, e4 after the deal's creation
        (-705, 1): ("kat-e1", "referral", d(9000), d(5400)),
        (-705, 2): ("kat-e2", "email", d(0), d(900)),
        (-705, 3): ("kat-e3", "paid_search", d(0), d(2700)),
        # H's journey: 30 first, 30 lead creation, 10 between, 30 opportunity creation
        (-706, 1): ("kat-h1", "organic_search", d(1000), d(300)),
        (-706, 2): ("kat-h2", "paid_search", d(0), d(300)),
        (-706, 3): ("kat-h3", "email", d(0), d(100)),
        (-706, 4): ("kat-h4", "direct", d(0), d(300)),
        # won deals of contacts without a visit (C's too: won, if outside the funnel's window)
        (-701, 1): (None, "unattributed", d(1000), d(1000)),
        (-702, 1): (None, "unattributed", d(2000), d(2000)),
        (-703, 1): (None, "unattributed", d(4000), d(4000)),
    }

    # the invariants fail on corrupted rows: an SQL count above the MQLs, a credit that breaks the sum
    with connect_warehouse(root, read_only=False) as con:
        con.execute("UPDATE marts.funnel_monthly SET sql_contacts = mql_contacts + 1 "
                    "WHERE month_start = '2023-03-01' AND channel = 'unknown'")
        con.execute("UPDATE marts.revenue_attribution SET w_shaped_credit_usd = w_shaped_credit_usd + 1 "
                    "WHERE opportunity_id = -705 AND touch_number = 2")
    assert _failing_rules(root, MARTS) == {"stages_never_increase", "rates_are_their_ratios", "credits_sum_to_amount"}

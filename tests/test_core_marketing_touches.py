"""core.marketing_touches on the seeded world: GA4 sessions, form identity, pre-sale engagement (issue 14).

Built through the real engine: the seed's GA4 export has sessions of several events with
organic and direct traffic, the HubSpot form submissions identify prospects, core keeps about
30,000 touches at scale 1 (the company's volume, kcrm_gov.seed.ga4.BASE_SESSIONS), and accounts
with more pre-sale touches become customers more often (the world chose customers partly by the
buying intent that drives their pre-sale sessions).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import query_rows as rows

from kcrm_gov.cli import cli
from kcrm_gov.seed.ga4 import BASE_SESSIONS

NOW = "2024-01-02T06:00:00Z"
SELECT = "+core.marketing_touches"


@pytest.fixture(scope="module")
def warehouse(seeded_warehouse: Path) -> Path:
    """The shipped project, seeded and built."""
    return seeded_warehouse



def test_sessions_have_several_events(warehouse: Path) -> None:
    [(sessions, events)] = rows(warehouse, """
        SELECT COUNT(DISTINCT session_key), COUNT(*) FROM stg.ga4__events WHERE session_key IS NOT NULL""")
    assert events / sessions > 3
    [(avg_events,)] = rows(warehouse, "SELECT AVG(event_count) FROM core.marketing_touches")
    assert avg_events > 3


def test_organic_direct_referral_paid_and_email_traffic_exist(warehouse: Path) -> None:
    channels = dict(rows(warehouse, "SELECT channel, COUNT(*) FROM core.marketing_touches GROUP BY 1"))
    total = sum(channels.values())
    for channel in ("organic_search", "direct", "referral", "paid_search", "paid_social", "email"):
        assert channels.get(channel, 0) > 0.03 * total, channel
    assert channels["organic_search"] > 0.15 * total and channels["direct"] > 0.15 * total


def test_touch_count_is_the_company_volume(warehouse: Path) -> None:
    [(touches, visits)] = rows(warehouse, """
        SELECT (SELECT COUNT(*) FROM core.marketing_touches),
               (SELECT COUNT(DISTINCT session_key) FROM stg.ga4__events)""")
    assert abs(touches - 30_000) <= 0.02 * 30_000
    assert BASE_SESSIONS == 30_000 and touches == visits


def test_form_submissions_identify_prospects(warehouse: Path) -> None:
    by_rule = dict(rows(warehouse, "SELECT identity_source, COUNT(*) FROM core.marketing_touches GROUP BY 1"))
    assert by_rule["form_submission"] > 0.1 * sum(by_rule.values())
    assert by_rule["anonymous"] > 0.2 * sum(by_rule.values())  # visitors who never identify exist
    # most submissions find their GA4 form_submit (a few visitors refused analytics cookies)
    [(matched, submissions)] = rows(warehouse, """
        SELECT (SELECT COUNT(DISTINCT contact_id) FROM core.marketing_touches
                WHERE identity_source = 'form_submission'),
               (SELECT COUNT(DISTINCT contact_id) FROM stg.hubspot__contact_form_submissions)""")
    assert 0.75 * submissions <= matched <= submissions
    # a good share of the touched contacts belong to accounts that never became customers
    [(prospects, touched)] = rows(warehouse, """
        WITH won AS (SELECT DISTINCT account_key FROM core.opportunities WHERE is_won AND deal_type = 'newbusiness')
        SELECT COUNT(DISTINCT t.contact_id) FILTER (WHERE won.account_key IS NULL), COUNT(DISTINCT t.contact_id)
        FROM core.marketing_touches AS t LEFT JOIN won ON won.account_key = t.account_key
        WHERE t.contact_id IS NOT NULL AND NOT t.is_internal""")
    assert prospects > 0.2 * touched


def test_known_touches_are_mostly_pre_sale(warehouse: Path) -> None:
    counts = dict(rows(warehouse, """
        SELECT is_pre_sale, COUNT(*) FROM core.marketing_touches
        WHERE account_key IS NOT NULL AND NOT is_internal GROUP BY 1"""))
    assert counts[True] > 2 * counts[False] > 0


def test_accounts_with_more_pre_sale_touches_become_customers_more_often(warehouse: Path) -> None:
    """Terciles of pre-sale touch count, over prospects and accounts won from mid-2022 on.

    Customers won before 2022-07-01 are left out: their pre-sale window (150 days) is not fully
    inside the data. The world weights becoming a customer by exp(0.5 · log intent) and draws
    pre-sale sessions as Poisson(K · intent); the tercile gap must be wide.
    """
    rates = rows(warehouse, """
        WITH won AS (
          SELECT account_key, MIN(closed_at) AS won_at FROM core.opportunities
          WHERE is_won AND deal_type = 'newbusiness' AND account_key IS NOT NULL GROUP BY 1
        ),
        eligible AS (
          SELECT a.account_key, won.won_at IS NOT NULL AS became_customer
          FROM core.accounts AS a LEFT JOIN won ON won.account_key = a.account_key
          WHERE NOT a.is_internal AND (won.won_at IS NULL OR won.won_at >= TIMESTAMP '2022-07-01')
        ),
        counted AS (
          SELECT e.account_key, e.became_customer, COUNT(t.touch_id) AS pre_sale_touches
          FROM eligible AS e
          LEFT JOIN core.marketing_touches AS t ON t.account_key = e.account_key AND t.is_pre_sale
          GROUP BY 1, 2
        )
        SELECT tercile, AVG(CAST(became_customer AS INT)), AVG(pre_sale_touches), COUNT(*)
        FROM (SELECT *, NTILE(3) OVER (ORDER BY pre_sale_touches, account_key) AS tercile FROM counted)
        GROUP BY 1 ORDER BY 1""")
    (_, bottom, _, n_bottom), _, (_, top, _, n_top) = rates
    assert n_bottom > 200 and n_top > 200
    assert top > bottom + 0.2, rates


def test_contract_checks_pass(warehouse: Path) -> None:
    result = CliRunner().invoke(cli, ["--project-dir", str(warehouse), "test", "--select",
                                      "core.marketing_touches stg.hubspot__contact_form_submissions"],
                                env={"KCRM_GOV_NOW": NOW})
    assert result.exit_code == 0, result.output

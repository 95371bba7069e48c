"""core.opportunity_line_items: the products on each deal, consistent with the deal (issue 14).

Built through the real engine from the seeded world. The seed's rule (kcrm_gov/seed/hubspot_line_items.py):
the recurring lines of a deal, amount / term, add up to the deal's MRR; won new business carries a
seat-plan line of the deal's SKU; every line's deal exists and keys are unique.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import query_rows as rows


@pytest.fixture(scope="module")
def warehouse(seeded_warehouse: Path) -> Path:
    """The shipped project, seeded and built."""
    return seeded_warehouse



def test_a_few_thousand_lines_with_unique_keys(warehouse: Path) -> None:
    [(raw, raw_ids, assoc, assoc_ids, core, core_ids)] = rows(warehouse, """
        SELECT (SELECT COUNT(*) FROM raw.hubspot__line_items),
               (SELECT COUNT(DISTINCT id) FROM raw.hubspot__line_items),
               (SELECT COUNT(*) FROM raw.hubspot__line_item_deals),
               (SELECT COUNT(DISTINCT (line_item_id, deal_id, type_id)) FROM raw.hubspot__line_item_deals),
               (SELECT COUNT(*) FROM core.opportunity_line_items),
               (SELECT COUNT(DISTINCT line_item_id) FROM core.opportunity_line_items)""")
    assert 3_000 < raw < 10_000
    assert raw == raw_ids and assoc == assoc_ids and core == core_ids
    assert core > 0.95 * raw


def test_associations_point_at_existing_deals_and_lines(warehouse: Path) -> None:
    assert rows(warehouse, """
        SELECT COUNT(*) FILTER (WHERE d.deal_id IS NULL), COUNT(*) FILTER (WHERE l.id IS NULL)
        FROM raw.hubspot__line_item_deals AS a
        LEFT JOIN raw.hubspot__deals AS d ON d.deal_id = a.deal_id
        LEFT JOIN raw.hubspot__line_items AS l ON l.id = a.line_item_id""") == [(0, 0)]
    assert rows(warehouse, """
        SELECT COUNT(*) FROM core.opportunity_line_items AS l
        WHERE NOT EXISTS (SELECT 1 FROM core.opportunities AS o WHERE o.opportunity_id = l.opportunity_id)""") == [(0,)]


def test_every_won_new_business_deal_has_its_seat_plan_line(warehouse: Path) -> None:
    [(won, with_line)] = rows(warehouse, """
        SELECT COUNT(*), COUNT(*) FILTER (WHERE EXISTS (
                 SELECT 1 FROM core.opportunity_line_items AS l
                 WHERE l.opportunity_id = o.opportunity_id AND l.is_deal_seat_plan
                   AND l.product_sku = o.product_sku AND l.quantity >= 1))
        FROM core.opportunities AS o
        WHERE o.is_won AND o.deal_type = 'newbusiness'""")
    assert won > 1_000
    assert with_line == won


def test_line_mrr_matches_the_deal_mrr(warehouse: Path) -> None:
    [(deals, off, won)] = rows(warehouse, """
        WITH lines AS (
          SELECT opportunity_id, SUM(mrr_usd) AS mrr FROM core.opportunity_line_items
          WHERE is_recurring GROUP BY 1)
        SELECT COUNT(*),
               COUNT(*) FILTER (WHERE ABS(l.mrr - o.mrr_usd) > 0.01 * o.mrr_usd),
               COUNT(*) FILTER (WHERE o.is_won)
        FROM lines AS l JOIN core.opportunities AS o USING (opportunity_id)
        WHERE o.mrr_usd > 0""")
    assert deals > 2_500 and won > 1_000
    assert off == 0


def test_amount_discount_and_one_off_lines(warehouse: Path) -> None:
    [(bad_amount, discounted, one_off, one_off_mrr)] = rows(warehouse, """
        SELECT COUNT(*) FILTER (WHERE ABS(amount_usd - (CAST(quantity AS DECIMAL(38, 9)) * unit_price_usd
                                                        - discount_usd)) > 0.01),
               COUNT(*) FILTER (WHERE discount_usd > 0),
               COUNT(*) FILTER (WHERE NOT is_recurring),
               COUNT(*) FILTER (WHERE NOT is_recurring AND mrr_usd IS NOT NULL)
        FROM core.opportunity_line_items""")
    assert bad_amount == 0 and discounted > 50 and one_off > 100 and one_off_mrr == 0
    # the onboarding package is never discounted (the discount stays on the recurring lines)
    assert rows(warehouse, """
        SELECT COUNT(*) FROM core.opportunity_line_items
        WHERE product_sku = 'ONBOARDING-PACKAGE' AND discount_usd <> 0""") == [(0,)]

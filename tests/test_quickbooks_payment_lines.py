"""QuickBooks as the connector lands it: payments applied through payment lines, items by SKU (issue 14).

Built through the real engine from the seeded world: stg.quickbooks__payments takes each payment's
invoice from raw.quickbooks__payment_lines, a payment's lines plus its unapplied amount make its
total, and raw.quickbooks__items holds the 12 products of the catalog by SKU.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import query_rows as rows

from kcrm_gov.seed.world import PRODUCTS


@pytest.fixture(scope="module")
def warehouse(seeded_warehouse: Path) -> Path:
    """The shipped project, seeded and built."""
    return seeded_warehouse



def test_stg_invoice_ids_are_the_payment_lines(warehouse: Path) -> None:
    [(payments, applied, mismatched, unapplied_with_line)] = rows(warehouse, """
        WITH lines AS (SELECT payment_id, MIN(invoice_id) AS invoice_id FROM raw.quickbooks__payment_lines
                       GROUP BY payment_id)
        SELECT COUNT(*), COUNT(p.invoice_id),
               COUNT(*) FILTER (WHERE p.invoice_id IS DISTINCT FROM l.invoice_id),
               COUNT(*) FILTER (WHERE p.unapplied_amount > 0 AND l.payment_id IS NOT NULL)
        FROM stg.quickbooks__payments p LEFT JOIN lines l ON l.payment_id = p.payment_id""")
    assert payments > 1000
    assert applied > 0.9 * payments
    assert mismatched == 0
    assert unapplied_with_line == 0  # a prepayment has no line


def test_lines_plus_unapplied_make_the_payment_total(warehouse: Path) -> None:
    [(checked, off)] = rows(warehouse, """
        WITH lines AS (SELECT payment_id, SUM(amount) AS applied FROM raw.quickbooks__payment_lines
                       GROUP BY payment_id)
        SELECT COUNT(*),
               COUNT(*) FILTER (WHERE ABS(COALESCE(l.applied, 0) + p.unapplied_amount - p.total_amount) > 0.005)
        FROM raw.quickbooks__payments p LEFT JOIN lines l ON l.payment_id = p.id
        WHERE p.total_amount IS NOT NULL""")
    assert checked > 1000
    assert off == 0


def test_every_line_settles_a_landed_invoice(warehouse: Path) -> None:
    [(orphans,)] = rows(warehouse, """
        SELECT COUNT(*) FROM raw.quickbooks__payment_lines l
        WHERE NOT EXISTS (SELECT 1 FROM raw.quickbooks__invoices i WHERE i.id = l.invoice_id)""")
    assert orphans == 0


def test_items_are_the_12_skus(warehouse: Path) -> None:
    skus = {r[0] for r in rows(warehouse, "SELECT sku FROM stg.quickbooks__items")}
    assert skus == {p["sku"] for p in PRODUCTS}
    assert len(skus) == 12
    [(unknown,)] = rows(warehouse, """
        SELECT COUNT(*) FROM raw.quickbooks__invoice_lines l
        WHERE l.sales_item_item_id IS NOT NULL
          AND l.sales_item_item_id NOT IN (SELECT id FROM raw.quickbooks__items)""")
    assert unknown == 0


def test_payment_methods_keep_their_names(warehouse: Path) -> None:
    pairs = set(rows(warehouse, "SELECT DISTINCT payment_method_id, payment_method FROM stg.quickbooks__payments"))
    assert pairs == {("1", "Credit Card"), ("2", "ACH"), ("3", "Wire"), ("4", "Check")}

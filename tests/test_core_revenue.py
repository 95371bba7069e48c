"""core.account_mrr_months, core.subscriptions and core.invoices: revenue that tells the truth (issue 14).

Known answers: a tiny hand-made billing history is written into the stg tables of a copied,
seeded project and only the core revenue models are rebuilt through the real engine
(``build --select``); every expected figure below is worked out by hand. Effects: on the seeded
scale-1 build, billed expansion, win-backs and the lines of paid invoices are checked against
the world the seed drew.
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

REVENUE = "core.subscriptions core.invoices core.account_mrr_months"


# --- known answers ----------------------------------------------------------------------------------
# (customer, currency, [(invoice id, invoice date, total, rate, service date, [(sku, qty, unit, amount)],
#   discount)]). Months run from 2021-12 (D's first monthly invoice) to 2022-04.
SEAT = "STARTER-SEAT-MONTHLY"
ANNUAL = "STARTER-SEAT-ANNUAL"
ONBOARD = "ONBOARDING-PACKAGE"


def monthly(customer: str, first_id: int, amounts: dict[str, float], currency: str = "USD",
            rates: dict[str, float] | None = None) -> list[tuple]:
    out = []
    for i, (day, amount) in enumerate(sorted(amounts.items())):
        rate = (rates or {}).get(day, 1.0)
        out.append((customer, currency, f"{first_id + i}", day, amount, rate, None,
                    [(SEAT, amount / 10, 10.0, amount)], 0.0))
    return out


INVOICES: list[tuple] = [
    # the REVOPS example: A 100, 100, 150, 0; B 0, 200, 120, 120; C 50, 0, 0, 60 (Jan..Apr 2022)
    *monthly("A", 100, {"2022-01-03": 100, "2022-02-03": 100, "2022-03-03": 150}),
    *monthly("B", 110, {"2022-02-10": 200, "2022-03-10": 120, "2022-04-10": 120}),
    *monthly("C", 120, {"2022-01-05": 50, "2022-04-05": 60}),
    # D: billed from the data's first month (2021-12): left-censored
    *monthly("D", 130, {"2021-12-01": 10, "2022-01-01": 10, "2022-02-01": 10, "2022-03-01": 10, "2022-04-01": 10}),
    # E: EUR 100 a month; the rate moves from 1.08 (the first month's, the constant rate) to 1.10
    *monthly("E", 140, {"2021-12-02": 100, "2022-01-02": 100, "2022-02-02": 100}, currency="EUR",
             rates={"2021-12-02": 1.08, "2022-01-02": 1.10, "2022-02-02": 1.10}),
    # V: the February invoice is voided and replaced on 02-05 by a correction for the period from 02-01
    ("V", "USD", "150", "2022-01-01", 100.0, 1.0, None, [(SEAT, 10, 10.0, 100.0)], 0.0),
    ("V", "USD", "151", "2022-02-01", 0.0, 1.0, None, [(SEAT, 10, 10.0, 0.0)], 0.0),
    ("V", "USD", "152", "2022-02-05", 100.0, 1.0, "2022-02-01", [(SEAT, 10, 10.0, 100.0)], 0.0),
    ("V", "USD", "153", "2022-03-01", 100.0, 1.0, None, [(SEAT, 10, 10.0, 100.0)], 0.0),
    # W: the February invoice (02-27) is voided and its correction (03-02) states no service date, so
    # February's last day is not covered: a one-month gap, bridged
    ("W", "USD", "160", "2022-01-27", 100.0, 1.0, None, [(SEAT, 10, 10.0, 100.0)], 0.0),
    ("W", "USD", "161", "2022-02-27", 0.0, 1.0, None, [(SEAT, 10, 10.0, 0.0)], 0.0),
    ("W", "USD", "162", "2022-03-02", 100.0, 1.0, None, [(SEAT, 10, 10.0, 100.0)], 0.0),
    ("W", "USD", "163", "2022-03-27", 100.0, 1.0, None, [(SEAT, 10, 10.0, 100.0)], 0.0),
    ("W", "USD", "164", "2022-04-27", 100.0, 1.0, None, [(SEAT, 10, 10.0, 100.0)], 0.0),
    # Y: an annual plan sold in 2021 (5 seats x 240 = 1,200 a year = 100 a month), renewed 2022-06-15
    ("Y", "USD", "170", "2021-06-15", 1200.0, 1.0, None, [(ANNUAL, 5, 240.0, 1200.0)], 0.0),
    # Z: new in March with the onboarding package; the 10 % discount is on the subscription line only
    ("Z", "USD", "180", "2022-03-20", 1680.0, 1.0, None,
     [(SEAT, 20, 10.0, 200.0), (ONBOARD, 1, 1500.0, 1500.0)], 20.0),
    ("Z", "USD", "181", "2022-04-20", 180.0, 1.0, None, [(SEAT, 20, 10.0, 200.0)], 20.0),
]


def _load(con: duckdb.DuckDBPyConnection) -> None:
    for table in ("quickbooks__invoices", "quickbooks__invoice_lines", "quickbooks__customers"):
        con.execute(f"DELETE FROM stg.{table}")
    con.execute("DELETE FROM core.churn_events")
    customers = sorted({i[0] for i in INVOICES})
    for c in customers:
        con.execute("""INSERT INTO stg.quickbooks__customers BY NAME
                       SELECT ? AS customer_id, ? AS display_name, ? AS domain, FALSE AS is_internal, TRUE AS is_active,
                              ? AS currency_code, TIMESTAMP '2021-01-01' AS created_at,
                              TIMESTAMP '2021-01-01' AS updated_at, TIMESTAMP '2024-01-01' AS synced_at""",
                    [c, f"Customer {c}", f"{c.lower()}.example", "EUR" if c == "E" else "USD"])
    for customer, currency, inv, day, total, rate, service, lines, discount in INVOICES:
        con.execute("""INSERT INTO stg.quickbooks__invoices BY NAME
                       SELECT ? AS invoice_id, ? AS invoice_number, ? AS customer_id,
                              CAST(? AS DATE) AS invoice_date, CAST(? AS DATE) + 30 AS due_date,
                              CAST(? AS NUMERIC) AS total_amount, CAST(0 AS NUMERIC) AS balance,
                              ? AS currency_code, CAST(? AS NUMERIC) AS exchange_rate,
                              TIMESTAMP '2022-01-01' AS created_at, TIMESTAMP '2022-01-01' AS updated_at,
                              TIMESTAMP '2024-01-01' AS synced_at""",
                    [inv, inv, customer, day, day, total, currency, rate])
        items = [(sku, q, u, a, "sales_item") for sku, q, u, a in lines]
        if discount:
            items.insert(1, (None, None, None, discount, "discount"))
        for index, (sku, qty, unit, amount, kind) in enumerate(items):
            con.execute("""INSERT INTO stg.quickbooks__invoice_lines BY NAME
                           SELECT ? AS invoice_id, ? AS line_index, ? AS line_type, ? AS item_id,
                                  CAST(? AS NUMERIC) AS quantity, CAST(? AS NUMERIC) AS unit_price,
                                  CAST(? AS NUMERIC) AS amount, ? AS currency_code,
                                  CAST(? AS DATE) AS service_date, TIMESTAMP '2024-01-01' AS synced_at""",
                        [inv, index, kind, sku, qty, unit, amount, currency,
                         service if kind == "sales_item" else None])


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory, seeded_warehouse: Path) -> Path:
    """A copy of the seeded warehouse whose QuickBooks stg tables hold only INVOICES, the revenue models
    rebuilt on them."""
    root = copy_warehouse(seeded_warehouse, tmp_path_factory.mktemp("revenue-tiny") / "project")
    with connect(root, read_only=False) as con:
        _load(con)
    invoke(root, "build", "--select", REVENUE)
    return root


def mrr(root: Path, customer: str, column: str = "mrr") -> dict[str, Decimal]:
    return {m.strftime("%Y-%m"): v for m, v in rows(root, f"""
        SELECT month_start, {column} FROM core.account_mrr_months WHERE customer_id = '{customer}'
        ORDER BY month_start""")}


MOVEMENTS = """
WITH months AS (SELECT DISTINCT month_start FROM core.account_mrr_months),
customers AS (SELECT DISTINCT customer_id FROM core.account_mrr_months WHERE customer_id IN ('A', 'B', 'C')),
grid AS (
  SELECT c.customer_id, m.month_start, COALESCE(b.mrr_usd_constant, 0) AS mrr, b.run_number, b.is_left_censored
  FROM customers c CROSS JOIN months m
  LEFT JOIN core.account_mrr_months b ON b.customer_id = c.customer_id AND b.month_start = m.month_start),
moves AS (
  SELECT *, COALESCE(LAG(mrr) OVER (PARTITION BY customer_id ORDER BY month_start), 0) AS prev FROM grid)
SELECT strftime(month_start, '%Y-%m'),
  SUM(IF(prev = 0 AND mrr > 0 AND run_number = 1 AND NOT is_left_censored, mrr, 0)),
  SUM(IF(prev = 0 AND mrr > 0 AND run_number > 1, mrr, 0)),
  SUM(IF(prev > 0 AND mrr > prev, mrr - prev, 0)),
  SUM(IF(prev > 0 AND mrr > 0 AND mrr < prev, prev - mrr, 0)),
  SUM(IF(prev > 0 AND mrr = 0, prev, 0)),
  SUM(mrr)
FROM moves WHERE month_start >= DATE '2022-01-01' GROUP BY 1 ORDER BY 1
"""


def test_three_customers_four_months_by_hand(tiny: Path) -> None:
    assert mrr(tiny, "A") == {"2022-01": 100, "2022-02": 100, "2022-03": 150}
    assert mrr(tiny, "B") == {"2022-02": 200, "2022-03": 120, "2022-04": 120}
    assert mrr(tiny, "C") == {"2022-01": 50, "2022-04": 60}
    # new, reactivation, expansion, contraction, churn, closing per month (REVOPS's worked example)
    assert [tuple(float(x) for x in r[1:]) for r in rows(tiny, MOVEMENTS)] == [
        (150, 0, 0, 0, 0, 150),
        (200, 0, 0, 0, 50, 300),
        (0, 0, 50, 80, 0, 270),
        (0, 60, 0, 0, 150, 180),
    ]
    # churn is dated at the end of the last paid period, on the last month with MRR
    assert rows(tiny, """SELECT customer_id, month_start, churn_date, run_number FROM core.account_mrr_months
                         WHERE churn_date IS NOT NULL AND customer_id IN ('A', 'B', 'C') ORDER BY 1""") == [
        ("A", date(2022, 3, 1), date(2022, 4, 2), 1),
        ("C", date(2022, 1, 1), date(2022, 2, 4), 1),
    ]
    assert rows(tiny, """SELECT customer_id, is_left_censored, BOOL_OR(is_bridged) FROM core.account_mrr_months
                         WHERE customer_id IN ('A', 'B', 'C', 'D') GROUP BY ALL ORDER BY 1""") == [
        ("A", False, False), ("B", False, False), ("C", False, False), ("D", True, False)]


def test_eur_rate_moves_without_expansion(tiny: Path) -> None:
    assert mrr(tiny, "E") == {"2021-12": 100, "2022-01": 100, "2022-02": 100}
    # constant currency: the first month's EUR rate (1.08) every month, so no expansion
    assert set(mrr(tiny, "E", "constant_rate").values()) == {Decimal("1.08")}
    assert mrr(tiny, "E", "mrr_usd_constant") == {"2021-12": 108, "2022-01": 108, "2022-02": 108}
    assert mrr(tiny, "E", "mrr_usd_finance") == {"2021-12": 108, "2022-01": 110, "2022-02": 110}
    assert mrr(tiny, "E", "fx_effect_usd") == {"2021-12": 0, "2022-01": 2, "2022-02": 2}


def test_voided_and_replaced_invoice_bills_once_without_churn(tiny: Path) -> None:
    # the correction bills the voided period: every month once, one run, nothing bridged or churned
    assert mrr(tiny, "V") == {"2022-01": 100, "2022-02": 100, "2022-03": 100}
    assert rows(tiny, """SELECT COUNT(*) FILTER (WHERE is_bridged), MAX(run_number) FROM core.account_mrr_months
                         WHERE customer_id = 'V'""") == [(0, 1)]
    assert rows(tiny, "SELECT period_start_date FROM core.subscriptions WHERE invoice_id = '152'") == [
        (date(2022, 2, 1),)]
    assert rows(tiny, "SELECT invoice_status FROM core.invoices WHERE invoice_id = '151'") == [("voided",)]
    # without a service date the correction leaves February uncovered: bridged, not churn + reactivation
    assert mrr(tiny, "W") == {"2022-01": 100, "2022-02": 100, "2022-03": 100, "2022-04": 100}
    assert rows(tiny, """SELECT month_start, is_billed FROM core.account_mrr_months
                         WHERE customer_id = 'W' AND is_bridged""") == [(date(2022, 2, 1), False)]
    assert rows(tiny, """SELECT MAX(run_number), COUNT(churn_date) FROM core.account_mrr_months
                         WHERE customer_id = 'W'""") == [(1, 0)]


def test_annual_customer_sold_in_2021_is_not_new(tiny: Path) -> None:
    # 1,200 a year is 100 a month in every month of the window, starting in its first month
    assert mrr(tiny, "Y") == {m: 100 for m in ("2021-12", "2022-01", "2022-02", "2022-03", "2022-04")}
    assert rows(tiny, """SELECT DISTINCT is_left_censored, first_paid_date FROM core.account_mrr_months
                         WHERE customer_id = 'Y'""") == [(True, date(2021, 6, 15))]


def test_discount_is_on_subscription_lines_only(tiny: Path) -> None:
    # 200 of seats less the 20 discount; the 1,500 onboarding line is one-off and takes no share
    assert mrr(tiny, "Z") == {"2022-03": 180, "2022-04": 180}
    assert rows(tiny, "SELECT lines_add_up FROM core.invoices WHERE customer_id = 'Z'") == [(True,), (True,)]


# --- effects on the seeded scale-1 build ---------------------------------------------------------
@pytest.fixture(scope="module")
def seeded(seeded_warehouse: Path) -> Path:
    return seeded_warehouse


GRID = """
WITH m AS (SELECT * FROM core.account_mrr_months WHERE NOT is_internal),
grid AS (
  SELECT c.customer_id, mo.month_start, b.account_key, COALESCE(b.mrr, 0) AS mrr,
         COALESCE(b.mrr_usd_constant, 0) AS usd, b.run_number
  FROM (SELECT DISTINCT customer_id FROM m) c CROSS JOIN (SELECT DISTINCT month_start FROM m) mo
  LEFT JOIN m b ON b.customer_id = c.customer_id AND b.month_start = mo.month_start),
moves AS (
  SELECT *, LAG(mrr) OVER w AS prev, LAG(usd) OVER w AS prev_usd
  FROM grid WINDOW w AS (PARTITION BY customer_id ORDER BY month_start))
"""


def test_billed_expansion_matches_hubspot_expansion_deals(seeded: Path) -> None:
    [(local, constant, finance, deals)] = rows(seeded, GRID + """
        SELECT COUNT(*) FILTER (WHERE prev > 0 AND mrr > prev),
               COUNT(*) FILTER (WHERE prev_usd > 0 AND usd > prev_usd),
               (SELECT COUNT(*) FROM core.account_mrr_months a JOIN core.account_mrr_months b
                  ON a.customer_id = b.customer_id AND b.month_start = a.month_start + INTERVAL 1 MONTH
                WHERE b.mrr_usd_finance > a.mrr_usd_finance),
               (SELECT COUNT(*) FROM core.opportunities WHERE is_won AND deal_type = 'existingbusiness')
        FROM moves""")
    assert deals > 100
    assert abs(local - deals) <= 0.05 * deals  # expansions billed after the data ends are not seen
    assert constant == local  # a moving rate is never expansion in constant currency
    assert finance > 2 * local  # ... while at the month's rate it would be


def test_win_backs_return_after_a_gap_and_nothing_else_reactivates(seeded: Path) -> None:
    world = build_world(42, 1.0)
    expected = sorted(world.acc_domain.take(world.winback_account).to_pylist())
    returns = rows(seeded, GRID + """,
        returns AS (
          SELECT moves.account_key, moves.month_start,
                 (SELECT MAX(p.month_start) FROM moves p WHERE p.customer_id = moves.customer_id AND p.mrr > 0
                    AND p.month_start < moves.month_start) AS last_paid_month
          FROM moves WHERE prev = 0 AND mrr > 0)
        SELECT a.domain, DATE_DIFF('month', r.last_paid_month, r.month_start)
        FROM returns r JOIN core.accounts a ON a.account_key = r.account_key
        WHERE r.last_paid_month IS NOT NULL ORDER BY 1""")
    assert len(expected) > 0
    assert [d for d, _ in returns] == expected
    assert all(gap >= 2 for _, gap in returns)
    assert rows(seeded, "SELECT COUNT(*) FROM core.account_mrr_months WHERE run_number > 1 AND is_first_month") == [
        (0,)]


def test_paid_invoices_all_have_lines_that_add_up(seeded: Path) -> None:
    [(paid, bad, voided)] = rows(seeded, """
        SELECT COUNT(*) FILTER (WHERE invoice_status = 'paid'),
               COUNT(*) FILTER (WHERE invoice_status = 'paid' AND (NOT lines_add_up OR line_count = 0)),
               COUNT(*) FILTER (WHERE invoice_status = 'voided')
        FROM core.invoices""")
    assert paid > 5_000 and voided > 10
    assert bad == 0


def test_left_censored_customers_and_churn_reasons(seeded: Path) -> None:
    world = build_world(42, 1.0)
    legacy_annual = int((world.acc_is_customer & ~world.acc_is_test & world.acc_annual
                         & (world.acc_start < 1640995200 * 10**6) & (world.acc_churn < 0)).sum())
    [(censored, annual_censored, churns, with_reason, before_end)] = rows(seeded, """
        SELECT COUNT(DISTINCT customer_id) FILTER (WHERE is_left_censored),
               COUNT(DISTINCT customer_id) FILTER (WHERE is_left_censored AND first_paid_date < DATE '2022-01-01'),
               COUNT(churn_date), COUNT(churn_event_id),
               COUNT(*) FILTER (WHERE churn_date < month_end)
        FROM core.account_mrr_months WHERE NOT is_internal""")
    assert censored > 200
    assert annual_censored >= legacy_annual > 0
    assert churns > 100 and with_reason >= 0.9 * churns
    assert before_end == 0

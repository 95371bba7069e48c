-- marts.revenue_mrr_monthly: the MRR bridge by month x segment x plan, rolled up from the account
-- movements of enr.account_mrr_monthly (constant-currency USD), with ARR, net new ARR, customers and ARPA.
-- An account belongs each month to one group (its segment and plan of that month). When the group
-- changes, the account's opening MRR leaves the old group as transfer_out and enters the new one as
-- transfer_in, and the month's movement is booked in the new group: every group's closing = opening +
-- movements + transfers, and the transfers of a month cancel out over all groups.
WITH account_months AS (
  SELECT
    m.account_key,
    m.month_start,
    m.opening_mrr_usd,
    m.new_mrr,
    m.expansion_mrr,
    m.contraction_mrr,
    m.churned_mrr,
    m.reactivation_mrr,
    m.closing_mrr_usd,
    m.fx_effect_usd,
    m.movement_type,
    -- the segment of the month: core keeps one (current) segment per account
    COALESCE(a.segment, 'unknown') AS segment,
    -- the plan of the month while the account pays; in a churn month or a gap, the plan of its last paid
    -- month (a churn is lost from the plan the account was on)
    COALESCE(LAST_VALUE(IF(m.closing_mrr_usd > 0, COALESCE(m.plan, 'none'), NULL) IGNORE NULLS) OVER (
      PARTITION BY m.account_key ORDER BY m.month_start ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
    ), 'none') AS plan
  FROM enr.account_mrr_monthly AS m
  LEFT JOIN core.accounts AS a
    ON a.account_key = m.account_key
),

moves AS (
  SELECT
    x.*,
    -- the account paid last month in another group: its opening MRR moves with it
    x.opening_mrr_usd > 0 AND (x.segment != x.previous_segment OR x.plan != x.previous_plan) AS is_moved
  FROM (
    SELECT
      am.*,
      COALESCE(LAG(am.segment) OVER (PARTITION BY am.account_key ORDER BY am.month_start), am.segment)
        AS previous_segment,
      COALESCE(LAG(am.plan) OVER (PARTITION BY am.account_key ORDER BY am.month_start), am.plan) AS previous_plan
    FROM account_months AS am
  ) AS x
),

legs AS (
  -- the account in its group of the month: opening (unless it moved in), movements, closing
  SELECT
    month_start,
    segment,
    plan,
    IF(is_moved, 0, opening_mrr_usd) AS opening_mrr_usd,
    IF(is_moved, opening_mrr_usd, 0) AS transfer_in_mrr,
    0 AS transfer_out_mrr,
    new_mrr,
    expansion_mrr,
    contraction_mrr,
    churned_mrr,
    reactivation_mrr,
    closing_mrr_usd,
    fx_effect_usd,
    IF(opening_mrr_usd > 0 AND NOT is_moved, 1, 0) AS opening_customers,
    IF(is_moved, 1, 0) AS customers_moved_in,
    0 AS customers_moved_out,
    IF(movement_type = 'new', 1, 0) AS new_customers,
    IF(movement_type = 'reactivation', 1, 0) AS reactivated_customers,
    IF(movement_type = 'churn', 1, 0) AS churned_customers,
    IF(closing_mrr_usd > 0, 1, 0) AS customers
  FROM moves
  UNION ALL
  -- the account that moved, in last month's group: it opens there and leaves
  SELECT
    month_start,
    previous_segment AS segment,
    previous_plan AS plan,
    opening_mrr_usd,
    0 AS transfer_in_mrr,
    -opening_mrr_usd AS transfer_out_mrr,
    0 AS new_mrr,
    0 AS expansion_mrr,
    0 AS contraction_mrr,
    0 AS churned_mrr,
    0 AS reactivation_mrr,
    0 AS closing_mrr_usd,
    0 AS fx_effect_usd,
    1 AS opening_customers,
    0 AS customers_moved_in,
    1 AS customers_moved_out,
    0 AS new_customers,
    0 AS reactivated_customers,
    0 AS churned_customers,
    0 AS customers
  FROM moves
  WHERE is_moved
),

groups AS (
  SELECT
    month_start,
    segment,
    plan,
    SUM(opening_mrr_usd) AS opening_mrr_usd,
    SUM(new_mrr) AS new_mrr,
    SUM(expansion_mrr) AS expansion_mrr,
    SUM(contraction_mrr) AS contraction_mrr,
    SUM(churned_mrr) AS churned_mrr,
    SUM(reactivation_mrr) AS reactivation_mrr,
    SUM(transfer_in_mrr) AS transfer_in_mrr,
    SUM(transfer_out_mrr) AS transfer_out_mrr,
    SUM(closing_mrr_usd) AS closing_mrr_usd,
    SUM(fx_effect_usd) AS fx_impact_usd,
    SUM(opening_customers) AS opening_customers,
    SUM(new_customers) AS new_customers,
    SUM(reactivated_customers) AS reactivated_customers,
    SUM(churned_customers) AS churned_customers,
    SUM(customers_moved_in) AS customers_moved_in,
    SUM(customers_moved_out) AS customers_moved_out,
    SUM(customers) AS customers
  FROM legs
  GROUP BY month_start, segment, plan
  -- a group nobody paid in last month or this month (accounts in a gap) has nothing to show
  HAVING SUM(opening_customers) > 0 OR SUM(customers) > 0
)

SELECT
  g.month_start,
  LAST_DAY(g.month_start) AS month_end,
  g.segment,
  g.plan,
  CAST(g.opening_mrr_usd AS NUMERIC) AS opening_mrr_usd,
  CAST(g.new_mrr AS NUMERIC) AS new_mrr,
  CAST(g.expansion_mrr AS NUMERIC) AS expansion_mrr,
  CAST(g.contraction_mrr AS NUMERIC) AS contraction_mrr,
  CAST(g.churned_mrr AS NUMERIC) AS churned_mrr,
  CAST(g.reactivation_mrr AS NUMERIC) AS reactivation_mrr,
  CAST(g.transfer_in_mrr AS NUMERIC) AS transfer_in_mrr,
  CAST(g.transfer_out_mrr AS NUMERIC) AS transfer_out_mrr,
  CAST(g.closing_mrr_usd AS NUMERIC) AS closing_mrr_usd,
  CAST(g.fx_impact_usd AS NUMERIC) AS fx_impact_usd,
  CAST(g.closing_mrr_usd + g.fx_impact_usd AS NUMERIC) AS closing_mrr_usd_finance,
  CAST(12 * g.closing_mrr_usd AS NUMERIC) AS arr_usd,
  CAST(12 * (g.new_mrr + g.expansion_mrr + g.contraction_mrr + g.churned_mrr + g.reactivation_mrr) AS NUMERIC)
    AS net_new_arr_usd,
  CAST(g.opening_customers AS INT64) AS opening_customers,
  CAST(g.new_customers AS INT64) AS new_customers,
  CAST(g.reactivated_customers AS INT64) AS reactivated_customers,
  CAST(g.churned_customers AS INT64) AS churned_customers,
  CAST(g.customers_moved_in AS INT64) AS customers_moved_in,
  CAST(g.customers_moved_out AS INT64) AS customers_moved_out,
  CAST(g.customers AS INT64) AS customers,
  IF(g.customers > 0, CAST(g.closing_mrr_usd / g.customers AS NUMERIC), NULL) AS arpa_usd
FROM groups AS g

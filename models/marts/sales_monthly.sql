-- marts.sales_monthly: the sales figures an executive view needs, by month and deal type (new business
-- apart from existing business: renewals and expansions): the pipeline created (deals created in the month,
-- their count and amount) and the deals closed in the month, won and lost, with the win rate = won / closed.
-- One row per month and deal type from the month of the first deal to the data's latest month, zeros
-- included, so a month without deals still shows. Internal deals are out.
WITH params AS (
  -- The months come from the data (first deal, data's latest date), never the wall clock.
  SELECT
    CAST((SELECT MIN(created_at) FROM core.opportunities) AS DATE) AS first_day,
    (SELECT MAX(as_of_date) FROM marts.stage_probabilities) AS as_of_date
),

months AS (
  SELECT month_start
  FROM params AS p
  CROSS JOIN UNNEST(GENERATE_DATE_ARRAY(DATE_TRUNC(p.first_day, MONTH), p.as_of_date, INTERVAL 1 MONTH)) AS month_start
),

deal_types AS (
  SELECT DISTINCT deal_type
  FROM core.opportunities
  WHERE NOT is_internal
),

facts AS (
  -- A deal counts in the month it was created and, once closed, in the month it closed.
  SELECT
    DATE_TRUNC(CAST(created_at AS DATE), MONTH) AS month_start,
    deal_type,
    1 AS created_deals,
    COALESCE(amount_usd, 0) AS created_amount_usd,
    0 AS closed_deals,
    0 AS won_deals,
    0 AS won_amount_usd
  FROM core.opportunities
  WHERE NOT is_internal
  UNION ALL
  SELECT
    DATE_TRUNC(CAST(closed_at AS DATE), MONTH) AS month_start,
    deal_type,
    0 AS created_deals,
    0 AS created_amount_usd,
    1 AS closed_deals,
    IF(is_won, 1, 0) AS won_deals,
    IF(is_won, COALESCE(amount_usd, 0), 0) AS won_amount_usd
  FROM core.opportunities
  WHERE NOT is_internal
    AND is_closed
),

grouped AS (
  SELECT
    month_start,
    deal_type,
    SUM(created_deals) AS created_deals,
    SUM(created_amount_usd) AS created_amount_usd,
    SUM(closed_deals) AS closed_deals,
    SUM(won_deals) AS won_deals,
    SUM(won_amount_usd) AS won_amount_usd
  FROM facts
  GROUP BY month_start, deal_type
)

SELECT
  CAST(m.month_start AS DATE) AS month_start,
  CAST(LAST_DAY(m.month_start) AS DATE) AS month_end,
  CAST(t.deal_type AS STRING) AS deal_type,
  CAST(COALESCE(g.created_deals, 0) AS INT64) AS pipeline_created_deals,
  CAST(COALESCE(g.created_amount_usd, 0) AS NUMERIC) AS pipeline_created_usd,
  CAST(COALESCE(g.closed_deals, 0) AS INT64) AS closed_deals,
  CAST(COALESCE(g.won_deals, 0) AS INT64) AS won_deals,
  CAST(COALESCE(g.closed_deals, 0) - COALESCE(g.won_deals, 0) AS INT64) AS lost_deals,
  CAST(COALESCE(g.won_amount_usd, 0) AS NUMERIC) AS won_amount_usd,
  CAST(SAFE_DIVIDE(CAST(g.won_deals AS NUMERIC), CAST(g.closed_deals AS NUMERIC)) AS NUMERIC) AS win_rate
FROM months AS m
CROSS JOIN deal_types AS t
LEFT JOIN grouped AS g
  ON g.month_start = m.month_start
  AND g.deal_type = t.deal_type

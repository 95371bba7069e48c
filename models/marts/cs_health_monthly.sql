-- marts.cs_health_monthly: customer-success health by month, CSM and churn-risk band. A row holds the
-- customers entering the month (closing MRR above 0 at the end of the month before) in the band they were
-- scored in at that month end (enr.churn_risk, computed from point-in-time features), their MRR, the MRR at
-- risk (the top band's), how many of them churned during the month (logo churn) and the NPS answers and
-- CSAT ratings of the month. Answers of accounts that were not customers entering the month (new, churned,
-- prospects, unknown) sit in the band 'unscored', so the month's totals hold every answer.
WITH months AS (
  -- The months of enr.account_mrr_monthly (from the data).
  SELECT DISTINCT
    month_start,
    month_end
  FROM enr.account_mrr_monthly
),

top_band AS (
  -- The band whose customers' MRR is at risk: the one with the highest min_score (high as shipped).
  SELECT band
  FROM enr.churn_risk_bands
  WHERE min_score = (SELECT MAX(min_score) FROM enr.churn_risk_bands)
),

opening AS (
  -- Customers entering month m: closing MRR above 0 at the end of m - 1, with the band scored then (a
  -- forecast made before the month, never after), and the churn movement of m if they churned in it.
  SELECT
    m.month_start,
    p.account_key,
    p.closing_mrr_usd AS opening_mrr_usd,
    COALESCE(r.risk_band, 'unscored') AS risk_band,
    COALESCE(c.movement_type = 'churn', FALSE) AS churned,
    COALESCE(-c.churned_mrr, 0) AS churned_mrr_usd
  FROM enr.account_mrr_monthly AS p
  JOIN months AS m
    ON m.month_start = DATE_ADD(p.month_start, INTERVAL 1 MONTH)
  LEFT JOIN enr.account_mrr_monthly AS c
    ON c.account_key = p.account_key
    AND c.month_start = m.month_start
  LEFT JOIN enr.churn_risk AS r
    ON r.account_key = p.account_key
    AND r.month_end = p.month_end
  WHERE p.closing_mrr_usd > 0
),

answers AS (
  -- NPS answers and CSAT ratings by the month they were given; internal ones are out.
  SELECT
    DATE_TRUNC(CAST(responded_at AS DATE), MONTH) AS month_start,
    account_key,
    1 AS nps_responses,
    IF(score >= 9, 1, 0) AS nps_promoters,
    IF(score <= 6, 1, 0) AS nps_detractors,
    0 AS csat_ratings,
    0 AS csat_good_ratings
  FROM core.nps_responses
  WHERE NOT is_internal
  UNION ALL
  SELECT
    DATE_TRUNC(CAST(rated_at AS DATE), MONTH) AS month_start,
    account_key,
    0 AS nps_responses,
    0 AS nps_promoters,
    0 AS nps_detractors,
    1 AS csat_ratings,
    IF(is_satisfied, 1, 0) AS csat_good_ratings
  FROM core.tickets
  WHERE NOT is_internal
    AND csat_score IS NOT NULL
),

facts AS (
  SELECT
    o.month_start,
    o.account_key,
    o.risk_band,
    1 AS customers,
    o.opening_mrr_usd,
    IF(o.risk_band = t.band, o.opening_mrr_usd, 0) AS mrr_at_risk_usd,
    IF(o.churned, 1, 0) AS churned_customers,
    o.churned_mrr_usd,
    0 AS nps_responses,
    0 AS nps_promoters,
    0 AS nps_detractors,
    0 AS csat_ratings,
    0 AS csat_good_ratings
  FROM opening AS o
  CROSS JOIN top_band AS t
  UNION ALL
  -- An answer goes to the band its account entered the month in, else to 'unscored'.
  SELECT
    a.month_start,
    a.account_key,
    COALESCE(o.risk_band, 'unscored') AS risk_band,
    0 AS customers,
    0 AS opening_mrr_usd,
    0 AS mrr_at_risk_usd,
    0 AS churned_customers,
    0 AS churned_mrr_usd,
    a.nps_responses,
    a.nps_promoters,
    a.nps_detractors,
    a.csat_ratings,
    a.csat_good_ratings
  FROM answers AS a
  JOIN months AS m
    ON m.month_start = a.month_start
  LEFT JOIN opening AS o
    ON o.account_key = a.account_key
    AND o.month_start = a.month_start
),

grouped AS (
  -- The CSM is the account's current CSM (marts.account_segmentation); unassigned without one.
  SELECT
    f.month_start,
    COALESCE(CAST(s.csm_user_id AS STRING), 'unassigned') AS csm_key,
    s.csm_user_id,
    f.risk_band,
    SUM(f.customers) AS customers,
    SUM(f.opening_mrr_usd) AS opening_mrr_usd,
    SUM(f.mrr_at_risk_usd) AS mrr_at_risk_usd,
    SUM(f.churned_customers) AS churned_customers,
    SUM(f.churned_mrr_usd) AS churned_mrr_usd,
    SUM(f.nps_responses) AS nps_responses,
    SUM(f.nps_promoters) AS nps_promoters,
    SUM(f.nps_detractors) AS nps_detractors,
    SUM(f.csat_ratings) AS csat_ratings,
    SUM(f.csat_good_ratings) AS csat_good_ratings
  FROM facts AS f
  LEFT JOIN marts.account_segmentation AS s
    ON s.account_key = f.account_key
  GROUP BY f.month_start, COALESCE(CAST(s.csm_user_id AS STRING), 'unassigned'), s.csm_user_id, f.risk_band
)

SELECT
  g.month_start,
  m.month_end,
  g.csm_key,
  g.csm_user_id,
  u.full_name AS csm_name,
  g.risk_band,
  CAST(g.customers AS INT64) AS customers,
  CAST(g.opening_mrr_usd AS NUMERIC) AS opening_mrr_usd,
  CAST(g.mrr_at_risk_usd AS NUMERIC) AS mrr_at_risk_usd,
  CAST(g.churned_customers AS INT64) AS churned_customers,
  CAST(g.churned_mrr_usd AS NUMERIC) AS churned_mrr_usd,
  CAST(SAFE_DIVIDE(g.churned_customers, g.customers) AS NUMERIC) AS logo_churn_rate,
  CAST(g.nps_responses AS INT64) AS nps_responses,
  CAST(g.nps_promoters AS INT64) AS nps_promoters,
  CAST(g.nps_detractors AS INT64) AS nps_detractors,
  CAST(SAFE_DIVIDE(100 * (g.nps_promoters - g.nps_detractors), g.nps_responses) AS NUMERIC) AS nps,
  CAST(g.csat_ratings AS INT64) AS csat_ratings,
  CAST(g.csat_good_ratings AS INT64) AS csat_good_ratings,
  CAST(SAFE_DIVIDE(g.csat_good_ratings, g.csat_ratings) AS NUMERIC) AS csat
FROM grouped AS g
JOIN months AS m
  ON m.month_start = g.month_start
LEFT JOIN core.users AS u
  ON u.user_id = g.csm_user_id

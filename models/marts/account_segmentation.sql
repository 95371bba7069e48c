-- marts.account_segmentation: one row per real account with the attributes reporting cuts by: lifecycle
-- (from billing and the product, not HubSpot's hand-set stage), segment, ICP tier, region, current plan
-- and MRR, health and churn-risk bands and the account's CSM. As of the latest month of enr.account_mrr_monthly (from
-- the data, never the wall clock).
WITH latest AS (
  SELECT MAX(month_start) AS month_start
  FROM enr.account_mrr_monthly
),

revenue AS (
  -- Per account: its closing MRR and plan in the latest month, the first month it paid and the month of
  -- its latest churn movement.
  SELECT
    m.account_key,
    SUM(IF(m.month_start = l.month_start, m.closing_mrr_usd, 0)) AS mrr_usd,
    MAX(IF(m.month_start = l.month_start AND m.closing_mrr_usd > 0, m.plan, NULL)) AS plan,
    MIN(IF(m.closing_mrr_usd > 0, m.month_start, NULL)) AS first_paid_month,
    MAX(IF(m.movement_type = 'churn', m.month_start, NULL)) AS last_churn_month
  FROM enr.account_mrr_monthly AS m
  CROSS JOIN latest AS l
  GROUP BY m.account_key
),

activity AS (
  SELECT
    account_key,
    MAX(activity_date) AS last_activity_date
  FROM enr.account_usage_daily
  GROUP BY account_key
),

csm AS (
  -- The account's CSM: the author of its latest CS note (the CS log holds no assignment table).
  SELECT
    n.account_key,
    n.author_user_id AS csm_user_id,
    u.full_name AS csm_name
  FROM core.account_notes AS n
  LEFT JOIN core.users AS u
    ON u.user_id = n.author_user_id
  WHERE NOT n.is_internal
    AND n.account_key IS NOT NULL
    AND n.author_user_id IS NOT NULL
  QUALIFY ROW_NUMBER() OVER (PARTITION BY n.account_key ORDER BY n.created_at DESC, n.note_id DESC) = 1
)

SELECT
  a.account_key,
  a.account_name,
  l.month_start AS as_of_month,
  -- ordered rules, first match wins: paying now, paid before, signed up for a trial, else a prospect
  CASE
    WHEN COALESCE(r.mrr_usd, 0) > 0 THEN 'customer'
    WHEN r.first_paid_month IS NOT NULL THEN 'churned'
    WHEN t.account_key IS NOT NULL THEN 'trial'
    ELSE 'prospect'
  END AS lifecycle_stage,
  a.lifecycle_stage AS hubspot_lifecycle_stage,
  COALESCE(a.segment, 'unknown') AS segment,
  a.employee_count,
  a.industry,
  f.icp_tier,
  f.icp_points,
  a.country,
  COALESCE(g.region, 'unknown') AS region,
  r.plan,
  CAST(COALESCE(r.mrr_usd, 0) AS NUMERIC) AS mrr_usd,
  r.first_paid_month,
  IF(COALESCE(r.mrr_usd, 0) > 0, NULL, r.last_churn_month) AS churned_month,
  h.health_band,
  h.health_score,
  k.risk_band AS churn_risk_band,
  k.churn_risk_score,
  c.csm_user_id,
  c.csm_name,
  a.owner_user_id,
  t.signed_up_at AS trial_signed_up_at,
  v.last_activity_date
FROM core.accounts AS a
CROSS JOIN latest AS l
LEFT JOIN revenue AS r
  ON r.account_key = a.account_key
LEFT JOIN enr.icp_fit AS f
  ON f.account_key = a.account_key
LEFT JOIN marts.country_regions AS g
  ON g.country = a.country
LEFT JOIN enr.account_health AS h
  ON h.account_key = a.account_key
LEFT JOIN enr.churn_risk AS k
  ON k.account_key = a.account_key
  AND k.is_current
LEFT JOIN enr.activation AS t
  ON t.account_key = a.account_key
LEFT JOIN activity AS v
  ON v.account_key = a.account_key
LEFT JOIN csm AS c
  ON c.account_key = a.account_key
WHERE NOT a.is_internal

-- marts.account_segmentation: one row per real account with the attributes reporting cuts by: lifecycle
-- (from billing and the product, not HubSpot's hand-set stage), segment, ICP tier, region, current plan
-- and MRR, health and churn-risk bands and the account's CSM. As of the latest month of enr.account_mrr_monthly (from
-- the data, never the wall clock). The lifecycle, MRR, CSM and last activity are enr.account_profile's (the values
-- the retl tables send), so their rules are written once.
WITH latest AS (
  SELECT MAX(month_start) AS month_start
  FROM enr.account_mrr_monthly
),

revenue AS (
  -- Per account: its plan in the latest month, the first month it paid and the month of its latest churn
  -- movement.
  SELECT
    m.account_key,
    MAX(IF(m.month_start = l.month_start AND m.closing_mrr_usd > 0, m.plan, NULL)) AS plan,
    MIN(IF(m.closing_mrr_usd > 0, m.month_start, NULL)) AS first_paid_month,
    MAX(IF(m.movement_type = 'churn', m.month_start, NULL)) AS last_churn_month
  FROM enr.account_mrr_monthly AS m
  CROSS JOIN latest AS l
  GROUP BY m.account_key
),

profile AS (
  SELECT account_key, lifecycle, mrr_usd, csm_user_id, last_active_date
  FROM enr.account_profile
)

SELECT
  a.account_key,
  a.account_name,
  l.month_start AS as_of_month,
  p.lifecycle AS lifecycle_stage,
  a.lifecycle_stage AS hubspot_lifecycle_stage,
  COALESCE(a.segment, 'unknown') AS segment,
  a.employee_count,
  a.industry,
  f.icp_tier,
  f.icp_points,
  a.country,
  COALESCE(g.region, 'unknown') AS region,
  r.plan,
  CAST(COALESCE(p.mrr_usd, 0) AS NUMERIC) AS mrr_usd,
  r.first_paid_month,
  IF(COALESCE(p.mrr_usd, 0) > 0, NULL, r.last_churn_month) AS churned_month,
  h.health_band,
  h.health_score,
  k.risk_band AS churn_risk_band,
  k.churn_risk_score,
  p.csm_user_id,
  c.full_name AS csm_name,
  a.owner_user_id,
  t.signed_up_at AS trial_signed_up_at,
  p.last_active_date AS last_activity_date
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
LEFT JOIN profile AS p
  ON p.account_key = a.account_key
LEFT JOIN core.users AS c
  ON c.user_id = p.csm_user_id
WHERE NOT a.is_internal

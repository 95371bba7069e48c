-- enr.account_profile: one row per real account, the attributes the reverse-ETL tables send to HubSpot,
-- Salesforce and Gainsight and the lifecycle marts.account_segmentation reports, joined once here so the
-- retl tables and the mart never repeat (or drift apart on) the same rules. The retl tables keep the
-- accounts with a HubSpot company. Scores are read from their enr tables, never recomputed.
-- As of the data's last day of product activity (the as-of date of enr.account_health), MRR of the
-- latest month of enr.account_mrr_monthly, churn risk of the latest month end of enr.churn_risk.
WITH params AS (
  -- One as-of date from the data (never the wall clock) and the usage window of enr.health_points,
  -- so active_users and seat_utilisation here agree with enr.account_health.
  SELECT
    (SELECT MAX(activity_date) FROM enr.account_usage_daily) AS as_of_date,
    (SELECT MAX(month_start) FROM enr.account_mrr_monthly) AS mrr_month,
    (SELECT MAX(window_days) FROM enr.health_points WHERE metric = 'seat_utilisation') AS usage_days
),

revenue AS (
  -- Closing MRR of the latest month, and whether the account ever paid (lifecycle churned vs prospect).
  SELECT
    m.account_key,
    SUM(IF(m.month_start = x.mrr_month, m.closing_mrr_usd, 0)) AS mrr_usd,
    LOGICAL_OR(m.closing_mrr_usd > 0) AS ever_paid
  FROM enr.account_mrr_monthly AS m
  CROSS JOIN params AS x
  GROUP BY m.account_key
),

active AS (
  -- Distinct identified users with a product action in the usage window ending on the as-of date:
  -- enr.account_health's rule, counted here for every account (trials and churned ones too), where
  -- account_health holds only the paying ones.
  SELECT d.account_key, COUNT(DISTINCT user_id) AS active_users
  FROM enr.account_usage_daily AS d
  CROSS JOIN params AS x
  CROSS JOIN UNNEST(d.active_user_ids) AS user_id
  WHERE d.activity_date > DATE_SUB(x.as_of_date, INTERVAL x.usage_days DAY)
    AND d.activity_date <= x.as_of_date
  GROUP BY d.account_key
),

activity AS (
  -- The last day with any product event (a login counts), by the as-of date.
  SELECT d.account_key, MAX(d.activity_date) AS last_active_date
  FROM enr.account_usage_daily AS d
  CROSS JOIN params AS x
  WHERE d.activity_date <= x.as_of_date
  GROUP BY d.account_key
),

renewals AS (
  -- The next renewal: the day after the earliest end of the seat-plan periods covering the as-of date.
  SELECT
    s.account_key,
    DATE_ADD(MIN(s.period_end_date), INTERVAL 1 DAY) AS renewal_date
  FROM core.subscriptions AS s
  CROSS JOIN params AS x
  WHERE NOT s.is_internal
    AND s.product_kind = 'seat_plan'
    AND s.period_start_date <= x.as_of_date
    AND s.period_end_date >= x.as_of_date
  GROUP BY s.account_key
),

nps AS (
  -- The account's latest NPS answer by the as-of date (ties: the higher response id).
  SELECT
    n.account_key,
    n.score AS last_nps_score,
    DATE(n.responded_at) AS last_nps_date
  FROM core.nps_responses AS n
  CROSS JOIN params AS x
  WHERE NOT n.is_internal
    AND n.account_key IS NOT NULL
    AND DATE(n.responded_at) <= x.as_of_date
  QUALIFY ROW_NUMBER() OVER (PARTITION BY n.account_key ORDER BY n.responded_at DESC, n.nps_response_id DESC) = 1
),

tickets AS (
  -- Tickets opened by the as-of date and not solved or closed (status as of the latest sync).
  SELECT t.account_key, COUNT(*) AS open_tickets
  FROM core.tickets AS t
  CROSS JOIN params AS x
  WHERE NOT t.is_internal
    AND t.account_key IS NOT NULL
    AND NOT t.is_solved
    AND DATE(t.created_at) <= x.as_of_date
  GROUP BY t.account_key
),

csm AS (
  -- The account's CSM: the author of its latest CS note by the as-of date (the CS log holds no
  -- assignment table; the same rule as the segmentation mart).
  SELECT n.account_key, n.author_user_id AS csm_user_id
  FROM core.account_notes AS n
  CROSS JOIN params AS x
  WHERE NOT n.is_internal
    AND n.account_key IS NOT NULL
    AND n.author_user_id IS NOT NULL
    AND DATE(n.created_at) <= x.as_of_date
  QUALIFY ROW_NUMBER() OVER (PARTITION BY n.account_key ORDER BY n.created_at DESC, n.note_id DESC) = 1
)

SELECT
  a.account_key,
  a.account_name,
  a.domain,
  a.hubspot_company_id,
  x.as_of_date,
  x.mrr_month,
  -- ordered rules, first match wins: paying now, paid before, signed up for a trial, else a prospect
  CASE
    WHEN COALESCE(r.mrr_usd, 0) > 0 THEN 'customer'
    WHEN COALESCE(r.ever_paid, FALSE) THEN 'churned'
    WHEN q.account_key IS NOT NULL THEN 'trial'
    ELSE 'prospect'
  END AS lifecycle,
  a.owner_user_id,
  c.csm_user_id,
  f.icp_points AS icp_fit_score,
  f.icp_tier,
  h.health_score,
  h.health_band,
  k.churn_risk_score,
  k.risk_band AS churn_risk_band,
  k.risk_reasons AS churn_risk_reasons,
  CAST(COALESCE(r.mrr_usd, 0) AS NUMERIC) AS mrr_usd,
  CAST(12 * COALESCE(r.mrr_usd, 0) AS NUMERIC) AS arr_usd,
  h.plan,
  h.paid_seats,
  COALESCE(v.active_users, 0) AS active_users,
  h.seat_utilisation,
  u.last_active_date,
  COALESCE(q.is_pql, FALSE) AS is_pql,
  q.pql_at,
  w.renewal_date,
  n.last_nps_score,
  n.last_nps_date,
  COALESCE(t.open_tickets, 0) AS open_tickets
FROM core.accounts AS a
CROSS JOIN params AS x
LEFT JOIN revenue AS r ON r.account_key = a.account_key
LEFT JOIN enr.pql_accounts AS q ON q.account_key = a.account_key
LEFT JOIN enr.icp_fit AS f ON f.account_key = a.account_key
LEFT JOIN enr.account_health AS h ON h.account_key = a.account_key
LEFT JOIN enr.churn_risk AS k ON k.account_key = a.account_key AND k.is_current
LEFT JOIN active AS v ON v.account_key = a.account_key
LEFT JOIN activity AS u ON u.account_key = a.account_key
LEFT JOIN renewals AS w ON w.account_key = a.account_key
LEFT JOIN nps AS n ON n.account_key = a.account_key
LEFT JOIN tickets AS t ON t.account_key = a.account_key
LEFT JOIN csm AS c ON c.account_key = a.account_key
WHERE NOT a.is_internal

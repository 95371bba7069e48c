-- enr.account_health: the customer-success health of every paying account as of the data's last day of
-- product activity. Five metrics (seat utilisation, urgent open tickets, CSAT, latest NPS, overdue
-- invoices) are measured on the windows of enr.health_points; each fires the one rule of
-- enr.health_points whose range holds its value (or its if_missing rule when it is unknown); the score
-- is the sum of the fired rules' points and the band the enr.health_bands row with the highest
-- min_score it reaches.
WITH params AS (
  -- The as-of date is the last day with product activity (never the wall clock); the windows are
  -- reference data (one window_days per metric of enr.health_points).
  SELECT
    (SELECT MAX(activity_date) FROM enr.account_usage_daily) AS as_of_date,
    (SELECT MAX(window_days) FROM enr.health_points WHERE metric = 'seat_utilisation') AS usage_days,
    (SELECT MAX(window_days) FROM enr.health_points WHERE metric = 'csat_good_share') AS csat_days,
    (SELECT MAX(window_days) FROM enr.health_points WHERE metric = 'latest_nps') AS nps_days,
    (SELECT MAX(window_days) FROM enr.health_points WHERE metric = 'overdue_invoices') AS overdue_days
),

paying AS (
  -- Paying accounts: closing MRR above zero in the latest month of enr.account_mrr_monthly.
  SELECT account_key
  FROM enr.account_mrr_monthly
  WHERE month_start = (SELECT MAX(month_start) FROM enr.account_mrr_monthly)
    AND closing_mrr_usd > 0
),

plan_tiers AS (
  SELECT plan_family AS plan, MIN(plan_tier) AS plan_tier
  FROM core.products
  WHERE plan_tier IS NOT NULL
  GROUP BY plan_family
),

seat_plans AS (
  -- Paid seats: the seat-plan subscription periods that cover the as-of date; the plan is the highest.
  SELECT
    s.account_key,
    SUM(s.seats) AS paid_seats,
    ARRAY_AGG(s.plan ORDER BY t.plan_tier DESC, s.plan LIMIT 1)[OFFSET(0)] AS plan
  FROM core.subscriptions AS s
  CROSS JOIN params AS x
  LEFT JOIN plan_tiers AS t ON t.plan = s.plan
  WHERE NOT s.is_internal
    AND s.product_kind = 'seat_plan'
    AND s.period_start_date <= x.as_of_date
    AND s.period_end_date >= x.as_of_date
  GROUP BY s.account_key
),

active AS (
  -- Distinct users with any product event in the usage window ending on the as-of date.
  SELECT d.account_key, COUNT(DISTINCT user_id) AS active_users
  FROM enr.account_usage_daily AS d
  CROSS JOIN params AS x
  CROSS JOIN UNNEST(d.active_user_ids) AS user_id
  WHERE d.activity_date > DATE_SUB(x.as_of_date, INTERVAL x.usage_days DAY)
    AND d.activity_date <= x.as_of_date
  GROUP BY d.account_key
),

urgent AS (
  -- Urgent tickets opened by the as-of date and not solved (status as of the latest sync).
  SELECT t.account_key, COUNT(*) AS urgent_open_tickets
  FROM core.tickets AS t
  CROSS JOIN params AS x
  WHERE NOT t.is_internal
    AND t.priority = 'urgent'
    AND NOT t.is_solved
    AND DATE(t.created_at) <= x.as_of_date
  GROUP BY t.account_key
),

csat AS (
  SELECT
    t.account_key,
    COUNT(*) AS csat_rated_tickets,
    CAST(COUNTIF(t.is_satisfied) / COUNT(*) AS NUMERIC) AS csat_good_share
  FROM core.tickets AS t
  CROSS JOIN params AS x
  WHERE NOT t.is_internal
    AND t.csat_score IS NOT NULL
    AND DATE(t.rated_at) > DATE_SUB(x.as_of_date, INTERVAL x.csat_days DAY)
    AND DATE(t.rated_at) <= x.as_of_date
  GROUP BY t.account_key
),

nps AS (
  -- The account's latest NPS answer in the window (ties: the higher response id).
  SELECT n.account_key, n.score AS latest_nps_score, n.responded_at AS latest_nps_at
  FROM core.nps_responses AS n
  CROSS JOIN params AS x
  WHERE NOT n.is_internal
    AND n.account_key IS NOT NULL
    AND DATE(n.responded_at) > DATE_SUB(x.as_of_date, INTERVAL x.nps_days DAY)
    AND DATE(n.responded_at) <= x.as_of_date
  QUALIFY ROW_NUMBER() OVER (PARTITION BY n.account_key ORDER BY n.responded_at DESC, n.nps_response_id DESC) = 1
),

overdue AS (
  -- Invoices due in the window before the as-of date and unpaid on it: a balance left at the latest
  -- sync, or a payment on it that arrived after the as-of date.
  SELECT i.account_key, COUNT(*) AS overdue_invoices
  FROM core.invoices AS i
  CROSS JOIN params AS x
  WHERE NOT i.is_internal
    AND i.invoice_status != 'voided'
    AND i.due_date < x.as_of_date
    AND i.due_date > DATE_SUB(x.as_of_date, INTERVAL x.overdue_days DAY)
    AND (
      i.balance_amount > 0
      OR EXISTS (
        SELECT 1 FROM core.payments AS p
        WHERE p.invoice_id = i.invoice_id AND p.payment_date > x.as_of_date
      )
    )
  GROUP BY i.account_key
),

measured AS (
  SELECT
    p.account_key,
    x.as_of_date,
    s.plan,
    s.paid_seats,
    COALESCE(a.active_users, 0) AS active_users,
    IF(s.paid_seats > 0, CAST(COALESCE(a.active_users, 0) / s.paid_seats AS NUMERIC), NULL) AS seat_utilisation,
    COALESCE(u.urgent_open_tickets, 0) AS urgent_open_tickets,
    COALESCE(c.csat_rated_tickets, 0) AS csat_rated_tickets,
    c.csat_good_share,
    n.latest_nps_score,
    n.latest_nps_at,
    COALESCE(o.overdue_invoices, 0) AS overdue_invoices
  FROM paying AS p
  CROSS JOIN params AS x
  LEFT JOIN seat_plans AS s ON s.account_key = p.account_key
  LEFT JOIN active AS a ON a.account_key = p.account_key
  LEFT JOIN urgent AS u ON u.account_key = p.account_key
  LEFT JOIN csat AS c ON c.account_key = p.account_key
  LEFT JOIN nps AS n ON n.account_key = p.account_key
  LEFT JOIN overdue AS o ON o.account_key = p.account_key
),

metric_values AS (
  SELECT account_key, 'seat_utilisation' AS metric, seat_utilisation AS value FROM measured
  UNION ALL
  SELECT account_key, 'urgent_open_tickets' AS metric, CAST(urgent_open_tickets AS NUMERIC) AS value FROM measured
  UNION ALL
  SELECT account_key, 'csat_good_share' AS metric, csat_good_share AS value FROM measured
  UNION ALL
  SELECT account_key, 'latest_nps' AS metric, CAST(latest_nps_score AS NUMERIC) AS value FROM measured
  UNION ALL
  SELECT account_key, 'overdue_invoices' AS metric, CAST(overdue_invoices AS NUMERIC) AS value FROM measured
),

fired AS (
  -- A known value fires the rule whose [min_value, max_value) holds it (an empty bound is open); an
  -- unknown value fires the metric's if_missing rule.
  SELECT v.account_key, r.rule_id, r.component, r.points
  FROM metric_values AS v
  JOIN enr.health_points AS r
    ON r.metric = v.metric
    AND (
      (v.value IS NULL AND r.if_missing)
      OR (
        v.value IS NOT NULL AND NOT r.if_missing
        AND (r.min_value IS NULL OR v.value >= r.min_value)
        AND (r.max_value IS NULL OR v.value < r.max_value)
      )
    )
),

scored AS (
  SELECT
    account_key,
    SUM(IF(component = 'usage', points, 0)) AS usage_points,
    SUM(IF(component = 'support', points, 0)) AS support_points,
    SUM(IF(component = 'sentiment', points, 0)) AS sentiment_points,
    SUM(IF(component = 'billing', points, 0)) AS billing_points,
    SUM(points) AS health_score,
    ARRAY_AGG(rule_id ORDER BY rule_id) AS health_reasons
  FROM fired
  GROUP BY account_key
),

totals AS (
  SELECT
    m.*,
    COALESCE(s.health_score, CAST(0 AS NUMERIC)) AS health_score,
    COALESCE(s.usage_points, CAST(0 AS NUMERIC)) AS usage_points,
    COALESCE(s.support_points, CAST(0 AS NUMERIC)) AS support_points,
    COALESCE(s.sentiment_points, CAST(0 AS NUMERIC)) AS sentiment_points,
    COALESCE(s.billing_points, CAST(0 AS NUMERIC)) AS billing_points,
    COALESCE(s.health_reasons, ARRAY<STRING>[]) AS health_reasons
  FROM measured AS m
  LEFT JOIN scored AS s ON s.account_key = m.account_key
)

SELECT
  t.account_key,
  t.as_of_date,
  CAST(t.health_score AS NUMERIC) AS health_score,
  b.band AS health_band,
  t.health_reasons,
  CAST(t.usage_points AS NUMERIC) AS usage_points,
  CAST(t.support_points AS NUMERIC) AS support_points,
  CAST(t.sentiment_points AS NUMERIC) AS sentiment_points,
  CAST(t.billing_points AS NUMERIC) AS billing_points,
  t.plan,
  CAST(t.paid_seats AS INT64) AS paid_seats,
  CAST(t.active_users AS INT64) AS active_users,
  t.seat_utilisation,
  CAST(t.urgent_open_tickets AS INT64) AS urgent_open_tickets,
  CAST(t.csat_rated_tickets AS INT64) AS csat_rated_tickets,
  t.csat_good_share,
  t.latest_nps_score,
  t.latest_nps_at,
  CAST(t.overdue_invoices AS INT64) AS overdue_invoices
FROM totals AS t
JOIN enr.health_bands AS b ON b.min_score <= t.health_score
QUALIFY ROW_NUMBER() OVER (PARTITION BY t.account_key ORDER BY b.min_score DESC) = 1

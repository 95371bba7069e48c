-- retl.hubspot__usage_triggers: one event row per account, trigger type and run of consecutive days on
-- which the trigger's condition holds, dated the run's first day, for the HubSpot custom object that
-- marketing and CS workflows enrol on. A condition true for three days in a row is one row; true again
-- after a day it was false is a new row. The trigger_id hashes the account, the type and the first day,
-- so a rebuild gives every row the same id. Every condition is evaluated on the data's own days (the
-- last day of product activity is the as-of date), never the wall clock.
WITH params AS (
  SELECT
    MAX(activity_date) AS as_of_date,
    -- the look-back: triggers whose first day falls in the 90 days ending on the as-of date
    DATE_SUB(MAX(activity_date), INTERVAL 89 DAY) AS window_start
  FROM enr.account_usage_daily
),

accounts AS (
  SELECT account_key, hubspot_company_id
  FROM core.accounts
  WHERE NOT is_internal
),

activity AS (
  SELECT d.*
  FROM enr.account_usage_daily AS d
  JOIN accounts AS a
    ON a.account_key = d.account_key
),

grid AS (
  -- Every day from the account's first product activity to the as-of date, active or not: the
  -- rolling windows below count rows, so a day without activity must be a row with zeros.
  SELECT
    s.account_key,
    day
  FROM (
    SELECT account_key, MIN(activity_date) AS first_day
    FROM activity
    GROUP BY account_key
  ) AS s
  CROSS JOIN params AS x
  CROSS JOIN UNNEST(GENERATE_DATE_ARRAY(s.first_day, x.as_of_date, INTERVAL 1 DAY)) AS day
),

user_days AS (
  -- One row per active user of an account and day, with the user's next active day there.
  SELECT
    d.account_key,
    d.activity_date,
    LEAD(d.activity_date) OVER (PARTITION BY d.account_key, user_id ORDER BY d.activity_date) AS next_active_date
  FROM activity AS d
  CROSS JOIN UNNEST(d.active_user_ids) AS user_id
),

user_changes AS (
  -- A user is in the 28-day window of day x when their latest active day up to x is less than 28 days
  -- before x: +1 on an active day, -1 on the next active day or 28 days later, whichever comes first
  -- (the next active day adds its own +1). The running sum counts each user in the window once.
  SELECT account_key, day, SUM(change) AS change
  FROM (
    SELECT account_key, activity_date AS day, 1 AS change
    FROM user_days
    UNION ALL
    SELECT
      account_key,
      LEAST(COALESCE(next_active_date, DATE_ADD(activity_date, INTERVAL 28 DAY)),
            DATE_ADD(activity_date, INTERVAL 28 DAY)) AS day,
      -1 AS change
    FROM user_days
  ) AS c
  GROUP BY account_key, day
),

seats AS (
  -- Paid seats on each grid day: the seat-plan periods that cover it.
  SELECT
    g.account_key,
    g.day,
    SUM(s.seats) AS paid_seats
  FROM grid AS g
  JOIN core.subscriptions AS s
    ON s.account_key = g.account_key
    AND s.product_kind = 'seat_plan'
    AND NOT s.is_internal
    AND s.period_start_date <= g.day
    AND s.period_end_date >= g.day
  GROUP BY g.account_key, g.day
),

daily AS (
  SELECT
    g.account_key,
    g.day,
    COALESCE(d.usage_events, 0) + COALESCE(d.logins, 0) AS usage,
    COALESCE(d.logins, 0) AS logins,
    COALESCE(c.change, 0) AS user_change,
    s.paid_seats
  FROM grid AS g
  LEFT JOIN activity AS d
    ON d.account_key = g.account_key
    AND d.activity_date = g.day
  LEFT JOIN user_changes AS c
    ON c.account_key = g.account_key
    AND c.day = g.day
  LEFT JOIN seats AS s
    ON s.account_key = g.account_key
    AND s.day = g.day
),

rolling AS (
  SELECT
    account_key,
    day,
    paid_seats,
    SUM(usage) OVER (PARTITION BY account_key ORDER BY day ROWS BETWEEN 27 PRECEDING AND CURRENT ROW) AS usage_28d,
    SUM(usage) OVER (PARTITION BY account_key ORDER BY day ROWS BETWEEN 55 PRECEDING AND 28 PRECEDING)
      AS usage_prior_28d,
    SUM(logins) OVER (PARTITION BY account_key ORDER BY day ROWS BETWEEN 13 PRECEDING AND CURRENT ROW) AS logins_14d,
    SUM(logins) OVER (PARTITION BY account_key ORDER BY day ROWS UNBOUNDED PRECEDING) AS logins_to_date,
    SUM(user_change) OVER (PARTITION BY account_key ORDER BY day ROWS UNBOUNDED PRECEDING) AS active_users_28d
  FROM daily
),

condition_days AS (
  -- (account, trigger, day, value) for every day a daily condition holds.
  SELECT account_key, 'usage_drop' AS trigger_type, day,
    CAST(usage_28d / usage_prior_28d AS FLOAT64) AS metric_value
  FROM rolling
  WHERE usage_prior_28d > 0
    AND usage_28d < 0.5 * usage_prior_28d
  UNION ALL
  SELECT account_key, 'no_login_14d' AS trigger_type, day, CAST(14 AS FLOAT64) AS metric_value
  FROM rolling
  WHERE logins_to_date > 0  -- an account that never signed in has no login to miss
    AND logins_14d = 0
  UNION ALL
  SELECT account_key, 'seat_limit_reached' AS trigger_type, day,
    CAST(active_users_28d / paid_seats AS FLOAT64) AS metric_value
  FROM rolling
  WHERE paid_seats > 0
    AND active_users_28d >= paid_seats
),

runs AS (
  -- Gaps and islands: a day whose previous condition day is not the day before starts a run.
  SELECT
    account_key,
    trigger_type,
    day,
    metric_value,
    DATE_SUB(day, INTERVAL 1 DAY) IS DISTINCT FROM LAG(day) OVER (PARTITION BY account_key, trigger_type ORDER BY day)
      AS is_first_day
  FROM condition_days
),

churn_risk_runs AS (
  -- Churn risk is a monthly snapshot that holds from its month end to the next: the condition starts at
  -- a month end whose band is high when the previous month end's was not (or had no row).
  SELECT
    r.account_key,
    'churn_risk_high' AS trigger_type,
    r.month_end AS day,
    CAST(r.churn_risk_score AS FLOAT64) AS metric_value
  FROM enr.churn_risk AS r
  LEFT JOIN enr.churn_risk AS prev
    ON prev.account_key = r.account_key
    AND prev.month_end = DATE_SUB(r.month_start, INTERVAL 1 DAY)
  WHERE r.risk_band = 'high'
    AND (prev.risk_band IS NULL OR prev.risk_band <> 'high')
),

onsets AS (
  SELECT account_key, trigger_type, day, metric_value
  FROM runs
  WHERE is_first_day
  UNION ALL
  SELECT account_key, trigger_type, day, metric_value
  FROM churn_risk_runs
  UNION ALL
  -- activation and PQL happen once: the condition holds from that day on
  SELECT account_key, 'activated' AS trigger_type, DATE(activated_at) AS day, CAST(NULL AS FLOAT64) AS metric_value
  FROM enr.activation
  WHERE is_activated
  UNION ALL
  SELECT account_key, 'pql_reached' AS trigger_type, DATE(pql_at) AS day, CAST(NULL AS FLOAT64) AS metric_value
  FROM enr.pql_accounts
  WHERE is_pql
)

SELECT
  CAST(TO_HEX(MD5(CONCAT(o.account_key, '|', o.trigger_type, '|', CAST(o.day AS STRING)))) AS STRING) AS trigger_id,
  CAST(o.account_key AS STRING) AS account_key,
  CAST(a.hubspot_company_id AS INT64) AS hubspot_company_id,
  CAST(o.trigger_type AS STRING) AS trigger_type,
  CAST(o.day AS DATE) AS trigger_date,
  CAST(ROUND(o.metric_value, 4) AS FLOAT64) AS metric_value,
  CAST(TO_HEX(MD5(TO_JSON_STRING(STRUCT(
    o.account_key AS account_key,
    a.hubspot_company_id AS hubspot_company_id,
    o.trigger_type AS trigger_type,
    o.day AS trigger_date,
    ROUND(o.metric_value, 4) AS metric_value
  )))) AS STRING) AS row_hash
FROM onsets AS o
JOIN accounts AS a
  ON a.account_key = o.account_key
CROSS JOIN params AS x
WHERE o.day >= x.window_start
  AND o.day <= x.as_of_date

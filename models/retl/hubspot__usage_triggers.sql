-- retl.hubspot__usage_triggers: one event row per account, trigger type and run of consecutive days on
-- which the trigger's condition holds, dated the run's first day, for the HubSpot custom object that
-- marketing and CS workflows enrol on. A condition true for three days in a row is one row; true again
-- after a day it was false is a new row. The trigger_id hashes the account, the type and the first day,
-- so a rebuild gives every row the same id. Every condition is evaluated on the data's own days (the
-- last day of product activity is the as-of date), never the wall clock. Windows, thresholds, the churn
-- band and the look-back are the rows of enr.usage_trigger_rules; a trigger type absent there has no row.
WITH params AS (
  SELECT
    (SELECT MAX(activity_date) FROM enr.account_usage_daily) AS as_of_date,
    (SELECT MAX(window_days) FROM enr.usage_trigger_rules WHERE trigger_type = 'usage_drop') AS usage_days,
    (SELECT MAX(threshold) FROM enr.usage_trigger_rules WHERE trigger_type = 'usage_drop') AS usage_drop_ratio,
    (SELECT MAX(window_days) FROM enr.usage_trigger_rules WHERE trigger_type = 'no_login_14d') AS login_days,
    (SELECT MAX(window_days) FROM enr.usage_trigger_rules WHERE trigger_type = 'seat_limit_reached') AS user_days,
    (SELECT MAX(threshold) FROM enr.usage_trigger_rules WHERE trigger_type = 'seat_limit_reached') AS seat_share,
    (SELECT MAX(match_value) FROM enr.usage_trigger_rules WHERE trigger_type = 'churn_risk_high') AS churn_band,
    (SELECT MAX(lookback_days) FROM enr.usage_trigger_rules) AS lookback_days
),

bounds AS (
  -- The grid's first day. Only onsets in the look-back are kept, and an onset is a condition day whose
  -- day before is not one, so conditions are needed from the day before the look-back on; each of
  -- those reads windows reaching at most the longest window (two usage windows) further back. A grid
  -- of every day since the account's first activity gave the same rows and took 507 s and 16 GB at
  -- scale 100 (two years of days for 200,000 accounts).
  SELECT DATE_SUB(x.as_of_date, INTERVAL x.lookback_days + GREATEST(
    2 * COALESCE(x.usage_days, 0), COALESCE(x.login_days, 0), COALESCE(x.user_days, 0)) DAY) AS grid_start
  FROM params AS x
),

accounts AS (
  SELECT account_key, hubspot_company_id
  FROM core.accounts
  WHERE NOT is_internal
),

history AS (
  -- Per account: its first day of product activity, and its sign-ins before the grid's first day.
  -- Each CTE below is read once or twice, and what it holds is narrow: DuckDB keeps a CTE read more
  -- than once in memory for the whole query, and the day rows with their user lists, the running
  -- totals read four times and the rolling windows read three times ran out of 16 GB at scale 100.
  SELECT
    d.account_key,
    MIN(d.activity_date) AS first_day,
    SUM(IF(d.activity_date < b.grid_start, d.logins, 0)) AS logins_before
  FROM enr.account_usage_daily AS d
  JOIN accounts AS a
    ON a.account_key = d.account_key
  CROSS JOIN bounds AS b
  GROUP BY d.account_key
),

grid AS (
  -- Every day from the account's first product activity (or the grid's first day, if later) to the
  -- as-of date, active or not: the rolling windows below count rows, so a day without activity must be
  -- a row with zeros.
  SELECT
    s.account_key,
    day
  FROM history AS s
  CROSS JOIN params AS x
  CROSS JOIN bounds AS b
  CROSS JOIN UNNEST(GENERATE_DATE_ARRAY(GREATEST(s.first_day, b.grid_start), x.as_of_date, INTERVAL 1 DAY)) AS day
),

user_days AS (
  -- One row per active user of an account and day, with the user's next active day there. A user's
  -- day more than the window before the grid's first day adds and removes them before it (net 0).
  SELECT
    d.account_key,
    d.activity_date,
    LEAD(d.activity_date) OVER (PARTITION BY d.account_key, user_id ORDER BY d.activity_date) AS next_active_date
  FROM enr.account_usage_daily AS d
  JOIN accounts AS a
    ON a.account_key = d.account_key
  CROSS JOIN params AS x
  CROSS JOIN bounds AS b
  CROSS JOIN UNNEST(d.active_user_ids) AS user_id
  WHERE d.activity_date >= DATE_SUB(b.grid_start, INTERVAL x.user_days DAY)
),

user_changes AS (
  -- A user is in the N-day window of day x (N = seat_limit_reached's window_days) when their latest
  -- active day up to x is less than N days before x: +1 on an active day, -1 on the next active day or
  -- N days later, whichever comes first (the next active day adds its own +1). The running sum counts
  -- each user in the window once.
  SELECT account_key, day, SUM(change) AS change
  FROM (
    SELECT
      u.account_key,
      IF(s.change = 1, u.activity_date,
         LEAST(COALESCE(u.next_active_date, DATE_ADD(u.activity_date, INTERVAL x.user_days DAY)),
               DATE_ADD(u.activity_date, INTERVAL x.user_days DAY))) AS day,
      s.change
    FROM user_days AS u
    CROSS JOIN params AS x
    CROSS JOIN (SELECT 1 AS change UNION ALL SELECT -1 AS change) AS s
  ) AS c
  GROUP BY account_key, day
),

before_grid AS (
  -- What happened before the grid's first day and still counts on it: the sign-ins (no_login_14d
  -- needs the account's first sign-in) and the active-user changes (users still in the window).
  SELECT
    account_key,
    SUM(logins) AS logins,
    SUM(user_change) AS user_change
  FROM (
    SELECT h.account_key, h.logins_before AS logins, 0 AS user_change
    FROM history AS h
    UNION ALL
    SELECT c.account_key, 0 AS logins, c.change AS user_change
    FROM user_changes AS c
    CROSS JOIN bounds AS b
    WHERE c.day < b.grid_start
  ) AS e
  GROUP BY account_key
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
  LEFT JOIN enr.account_usage_daily AS d  -- the grid holds only the accounts above
    ON d.account_key = g.account_key
    AND d.activity_date = g.day
  LEFT JOIN user_changes AS c
    ON c.account_key = g.account_key
    AND c.day = g.day
  LEFT JOIN seats AS s
    ON s.account_key = g.account_key
    AND s.day = g.day
),

cumulative AS (
  -- Running totals from the account's first grid day; the grid has every day, so a window of N days
  -- ending on a day is its total minus the total N days earlier (none earlier: 0). Window lengths are
  -- data, and a ROWS frame takes only a literal. Sign-ins and active users also count what came
  -- before the grid.
  SELECT
    d.account_key,
    d.day,
    d.paid_seats,
    SUM(d.usage) OVER (PARTITION BY d.account_key ORDER BY d.day ROWS UNBOUNDED PRECEDING) AS usage_to_date,
    COALESCE(b.logins, 0)
      + SUM(d.logins) OVER (PARTITION BY d.account_key ORDER BY d.day ROWS UNBOUNDED PRECEDING) AS logins_to_date,
    COALESCE(b.user_change, 0)
      + SUM(d.user_change) OVER (PARTITION BY d.account_key ORDER BY d.day ROWS UNBOUNDED PRECEDING)
      AS active_users_window
  FROM daily AS d
  LEFT JOIN before_grid AS b
    ON b.account_key = d.account_key
),

offsets AS (
  -- The look-backs of the windows: the usage window, twice it, and the sign-in window.
  SELECT 'usage' AS kind, usage_days AS days FROM params
  UNION ALL
  SELECT 'usage_prior' AS kind, 2 * usage_days AS days FROM params
  UNION ALL
  SELECT 'logins' AS kind, login_days AS days FROM params
),

rolling AS (
  -- One join of each day and look-back with the running totals, then back to one row per day.
  SELECT
    c.account_key,
    c.day,
    c.paid_seats,
    c.logins_to_date,
    c.active_users_window,
    c.usage_to_date - COALESCE(MAX(IF(o.kind = 'usage', p.usage_to_date, NULL)), 0) AS usage_window,
    COALESCE(MAX(IF(o.kind = 'usage', p.usage_to_date, NULL)), 0)
      - COALESCE(MAX(IF(o.kind = 'usage_prior', p.usage_to_date, NULL)), 0) AS usage_prior_window,
    c.logins_to_date - COALESCE(MAX(IF(o.kind = 'logins', p.logins_to_date, NULL)), 0) AS logins_window
  FROM cumulative AS c
  CROSS JOIN offsets AS o
  LEFT JOIN cumulative AS p
    ON p.account_key = c.account_key
    AND p.day = DATE_SUB(c.day, INTERVAL o.days DAY)
  GROUP BY c.account_key, c.day, c.paid_seats, c.logins_to_date, c.active_users_window, c.usage_to_date
),

condition_days AS (
  -- (account, trigger, day, value) for every day a daily condition holds: one pass over the days.
  SELECT account_key, trigger_type, day, metric_value
  FROM (
    SELECT
      r.account_key,
      t.trigger_type,
      r.day,
      CASE t.trigger_type
        WHEN 'usage_drop' THEN r.usage_prior_window > 0
          AND r.usage_window < x.usage_drop_ratio * r.usage_prior_window
        -- an account that never signed in has no login to miss
        WHEN 'no_login_14d' THEN r.logins_to_date > 0 AND r.logins_window = 0
        ELSE r.paid_seats > 0 AND r.active_users_window >= x.seat_share * r.paid_seats
      END AS holds,
      CASE t.trigger_type
        WHEN 'usage_drop' THEN IF(r.usage_prior_window > 0,
                                  CAST(r.usage_window / r.usage_prior_window AS FLOAT64), NULL)
        WHEN 'no_login_14d' THEN CAST(x.login_days AS FLOAT64)
        ELSE IF(r.paid_seats > 0, CAST(r.active_users_window / r.paid_seats AS FLOAT64), NULL)
      END AS metric_value
    FROM rolling AS r
    CROSS JOIN params AS x
    CROSS JOIN (
      SELECT 'usage_drop' AS trigger_type
      UNION ALL
      SELECT 'no_login_14d' AS trigger_type
      UNION ALL
      SELECT 'seat_limit_reached' AS trigger_type
    ) AS t
  ) AS c
  WHERE holds
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
  -- a month end whose band is the rule's (high) when the previous month end's was not (or had no row).
  SELECT
    r.account_key,
    'churn_risk_high' AS trigger_type,
    r.month_end AS day,
    CAST(r.churn_risk_score AS FLOAT64) AS metric_value
  FROM enr.churn_risk AS r
  CROSS JOIN params AS x
  LEFT JOIN enr.churn_risk AS prev
    ON prev.account_key = r.account_key
    AND prev.month_end = DATE_SUB(r.month_start, INTERVAL 1 DAY)
  WHERE r.risk_band = x.churn_band
    AND (prev.risk_band IS NULL OR prev.risk_band <> x.churn_band)
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
JOIN enr.usage_trigger_rules AS t
  ON t.trigger_type = o.trigger_type
CROSS JOIN params AS x
-- the look-back: triggers whose first day falls in the lookback_days days ending on the as-of date
WHERE o.day > DATE_SUB(x.as_of_date, INTERVAL t.lookback_days DAY)
  AND o.day <= x.as_of_date

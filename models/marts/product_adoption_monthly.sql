-- marts.product_adoption_monthly: feature adoption by month, feature and segment. A feature is adopted by an
-- account in a month when at least min_user_share of the account's active users used it on at least
-- min_active_days distinct days in the trailing window_days days ending on the month's last day (the
-- thresholds of marts.product_adoption_thresholds: 20 %, 3 days, 28 days as shipped). One row per month,
-- feature and segment, zeros included, so a feature nobody adopted still shows.
WITH params AS (
  -- Thresholds are reference data; the months come from the data (first and last day of product
  -- activity), never the wall clock.
  SELECT
    CAST((SELECT MAX(value) FROM marts.product_adoption_thresholds WHERE threshold = 'window_days') AS INT64)
      AS window_days,
    CAST((SELECT MAX(value) FROM marts.product_adoption_thresholds WHERE threshold = 'min_active_days') AS INT64)
      AS min_active_days,
    (SELECT MAX(value) FROM marts.product_adoption_thresholds WHERE threshold = 'min_user_share') AS min_user_share,
    (SELECT MIN(activity_date) FROM enr.account_usage_daily) AS first_day,
    (SELECT MAX(activity_date) FROM enr.account_usage_daily) AS last_day
),

months AS (
  -- The window ends on the month's last day, or on the data's last day in the month the data ends in.
  SELECT
    month_start,
    LAST_DAY(month_start) AS month_end,
    DATE_SUB(LEAST(LAST_DAY(month_start), p.last_day), INTERVAL p.window_days - 1 DAY) AS window_start,
    LEAST(LAST_DAY(month_start), p.last_day) AS window_end
  FROM params AS p
  CROSS JOIN UNNEST(GENERATE_DATE_ARRAY(DATE_TRUNC(p.first_day, MONTH), p.last_day, INTERVAL 1 MONTH)) AS month_start
),

segments AS (
  SELECT
    account_key,
    COALESCE(segment, 'unknown') AS segment
  FROM core.accounts
  WHERE NOT is_internal
),

active AS (
  -- Active users of each account in each month's window: identified users with a tracked action (a
  -- usage or feature event), counted once however many days they were active.
  SELECT
    m.month_start,
    d.account_key,
    COUNT(DISTINCT user_id) AS active_users
  FROM months AS m
  JOIN enr.account_usage_daily AS d
    ON d.activity_date BETWEEN m.window_start AND m.window_end
  CROSS JOIN UNNEST(d.active_user_ids) AS user_id
  GROUP BY m.month_start, d.account_key
),

feature_days AS (
  -- The distinct days each user used each feature in the window. A feature event is a tracked action,
  -- so its user is one of the account's active users.
  SELECT
    m.month_start,
    f.account_key,
    f.feature_name,
    f.user_email,
    COUNT(DISTINCT f.event_date) AS use_days
  FROM months AS m
  JOIN core.feature_adoption_events AS f
    ON f.event_date BETWEEN m.window_start AND m.window_end
  WHERE NOT f.is_internal
    AND f.account_key IS NOT NULL
    AND f.user_email IS NOT NULL
    AND f.feature_name IS NOT NULL
  GROUP BY m.month_start, f.account_key, f.feature_name, f.user_email
),

account_features AS (
  -- Per account and feature: its users and its habitual users (min_active_days or more), and whether
  -- the habitual users reach min_user_share of the account's active users.
  SELECT
    u.month_start,
    u.account_key,
    u.feature_name,
    u.feature_users,
    u.habitual_users,
    u.habitual_users > 0
    AND CAST(u.habitual_users AS NUMERIC) >= p.min_user_share * CAST(a.active_users AS NUMERIC) AS is_adopted
  FROM (
    SELECT
      fd.month_start,
      fd.account_key,
      fd.feature_name,
      COUNT(*) AS feature_users,
      COUNTIF(fd.use_days >= x.min_active_days) AS habitual_users
    FROM feature_days AS fd
    CROSS JOIN params AS x
    GROUP BY fd.month_start, fd.account_key, fd.feature_name
  ) AS u
  CROSS JOIN params AS p
  JOIN active AS a
    ON a.month_start = u.month_start
    AND a.account_key = u.account_key
),

segment_activity AS (
  SELECT
    a.month_start,
    COALESCE(s.segment, 'unknown') AS segment,
    COUNT(*) AS active_accounts,
    SUM(a.active_users) AS active_users
  FROM active AS a
  LEFT JOIN segments AS s
    ON s.account_key = a.account_key
  GROUP BY a.month_start, COALESCE(s.segment, 'unknown')
),

segment_features AS (
  SELECT
    af.month_start,
    af.feature_name,
    COALESCE(s.segment, 'unknown') AS segment,
    COUNT(*) AS using_accounts,
    COUNTIF(af.is_adopted) AS adopting_accounts,
    SUM(af.feature_users) AS feature_users,
    SUM(af.habitual_users) AS habitual_users
  FROM account_features AS af
  LEFT JOIN segments AS s
    ON s.account_key = af.account_key
  GROUP BY af.month_start, af.feature_name, COALESCE(s.segment, 'unknown')
),

grid AS (
  -- Every month x every feature ever used x every segment, so zeros are rows, not gaps.
  SELECT
    m.month_start,
    m.month_end,
    m.window_start,
    m.window_end,
    f.feature_name,
    g.segment
  FROM months AS m
  CROSS JOIN (SELECT DISTINCT feature_name FROM feature_days) AS f
  CROSS JOIN (SELECT DISTINCT segment FROM segments) AS g
)

SELECT
  g.month_start,
  g.month_end,
  g.feature_name,
  g.segment,
  g.window_start,
  g.window_end,
  CAST(COALESCE(sa.active_accounts, 0) AS INT64) AS active_accounts,
  CAST(COALESCE(sf.using_accounts, 0) AS INT64) AS using_accounts,
  CAST(COALESCE(sf.adopting_accounts, 0) AS INT64) AS adopting_accounts,
  CAST(SAFE_DIVIDE(COALESCE(sf.adopting_accounts, 0), sa.active_accounts) AS NUMERIC) AS adoption_rate,
  CAST(COALESCE(sa.active_users, 0) AS INT64) AS active_users,
  CAST(COALESCE(sf.feature_users, 0) AS INT64) AS feature_users,
  CAST(COALESCE(sf.habitual_users, 0) AS INT64) AS habitual_users
FROM grid AS g
LEFT JOIN segment_activity AS sa
  ON sa.month_start = g.month_start
  AND sa.segment = g.segment
LEFT JOIN segment_features AS sf
  ON sf.month_start = g.month_start
  AND sf.feature_name = g.feature_name
  AND sf.segment = g.segment

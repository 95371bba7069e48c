-- marts.product_engagement_daily: DAU, WAU, MAU and stickiness per day and account segment. An active user
-- is an identified user with a tracked action (a usage or feature event) in an account, as
-- enr.account_usage_daily counts them; DAU counts them on the day, WAU over the 7 days ending on it and
-- MAU over the 28 days ending on it (the glossary's windows); stickiness is DAU / MAU.
WITH user_days AS (
  -- One row per active user of an account and day, with the user's next active day in that account.
  SELECT
    d.account_key,
    COALESCE(a.segment, 'unknown') AS segment,
    d.activity_date,
    user_id,
    LEAD(d.activity_date) OVER (PARTITION BY d.account_key, user_id ORDER BY d.activity_date) AS next_active_date
  FROM enr.account_usage_daily AS d
  -- the segment is joined before the UNNEST: DuckDB joins after an UNNEST five times slower
  LEFT JOIN core.accounts AS a
    ON a.account_key = d.account_key
  CROSS JOIN UNNEST(d.active_user_ids) AS user_id
),

changes AS (
  -- A user is in the N-day window of day x when their latest active day up to x is less than N days
  -- before x. From an active day d the user stays in the window until their next active day or until
  -- d + N, whichever comes first: +1 on d, -1 then (the next active day adds its own +1). The running
  -- sum of the changes up to x counts every user in the window of x once, without joining each day to
  -- every day of its window.
  SELECT segment, activity_date AS day, 1 AS dau, 1 AS wau_change, 1 AS mau_change
  FROM user_days
  UNION ALL
  SELECT
    segment,
    LEAST(COALESCE(next_active_date, DATE_ADD(activity_date, INTERVAL 7 DAY)), DATE_ADD(activity_date, INTERVAL 7 DAY))
      AS day,
    0 AS dau,
    -1 AS wau_change,
    0 AS mau_change
  FROM user_days
  UNION ALL
  SELECT
    segment,
    LEAST(COALESCE(next_active_date, DATE_ADD(activity_date, INTERVAL 28 DAY)), DATE_ADD(activity_date, INTERVAL 28 DAY))
      AS day,
    0 AS dau,
    0 AS wau_change,
    -1 AS mau_change
  FROM user_days
),

daily_changes AS (
  SELECT
    segment,
    day,
    SUM(dau) AS dau,
    SUM(wau_change) AS wau_change,
    SUM(mau_change) AS mau_change
  FROM changes
  GROUP BY segment, day
),

grid AS (
  -- Every day from the first to the last day of product activity (from the data) x every segment.
  SELECT
    day,
    g.segment
  FROM UNNEST(GENERATE_DATE_ARRAY(
    (SELECT MIN(activity_date) FROM enr.account_usage_daily),
    (SELECT MAX(activity_date) FROM enr.account_usage_daily),
    INTERVAL 1 DAY
  )) AS day
  CROSS JOIN (SELECT DISTINCT COALESCE(segment, 'unknown') AS segment FROM core.accounts WHERE NOT is_internal) AS g
),

counted AS (
  SELECT
    g.day,
    g.segment,
    COALESCE(c.dau, 0) AS dau,
    SUM(COALESCE(c.wau_change, 0)) OVER (PARTITION BY g.segment ORDER BY g.day ROWS UNBOUNDED PRECEDING) AS wau,
    SUM(COALESCE(c.mau_change, 0)) OVER (PARTITION BY g.segment ORDER BY g.day ROWS UNBOUNDED PRECEDING) AS mau
  FROM grid AS g
  LEFT JOIN daily_changes AS c
    ON c.segment = g.segment
    AND c.day = g.day
)

SELECT
  day AS activity_date,
  segment,
  CAST(dau AS INT64) AS dau,
  CAST(wau AS INT64) AS wau,
  CAST(mau AS INT64) AS mau,
  CAST(SAFE_DIVIDE(dau, mau) AS NUMERIC) AS stickiness
FROM counted

-- enr.pql_accounts: one row per trial of enr.activation with the three PQL conditions (activated,
-- enough active users, enough key features; thresholds in enr.trial_thresholds, features in
-- enr.pql_key_features), the moment each was met within the PQL window, and the PQL moment: when the
-- last of them was met, provided the account was not paying yet. As of the data's last product event.
WITH thresholds AS (
  SELECT
    MAX(IF(threshold = 'pql_window_days', value, NULL)) AS window_days,
    MAX(IF(threshold = 'pql_min_active_users', value, NULL)) AS min_active_users,
    MAX(IF(threshold = 'pql_min_key_features', value, NULL)) AS min_key_features
  FROM enr.trial_thresholds
),

trials AS (
  SELECT
    a.account_key,
    a.signed_up_at,
    a.paying_since,
    a.is_activated,
    a.activated_at,
    a.as_of_at,
    TIMESTAMP_ADD(a.signed_up_at, INTERVAL t.window_days DAY) AS window_ends_at
  FROM enr.activation AS a
  CROSS JOIN thresholds AS t
),

actions AS (
  -- Tracked actions of identified users in [sign-up, sign-up + window): usage and feature events.
  -- A login alone does not make a user active; an anonymous event names no user.
  SELECT t.account_key, e.user_email, e.event_at
  FROM trials AS t
  JOIN core.usage_events AS e
    ON e.account_key = t.account_key
    AND e.event_at >= t.signed_up_at
    AND e.event_at < t.window_ends_at
  WHERE NOT e.is_internal AND e.user_email IS NOT NULL
  UNION ALL
  SELECT t.account_key, f.user_email, f.event_at
  FROM trials AS t
  JOIN core.feature_adoption_events AS f
    ON f.account_key = t.account_key
    AND f.event_at >= t.signed_up_at
    AND f.event_at < t.window_ends_at
  WHERE NOT f.is_internal AND f.user_email IS NOT NULL
),

active_users AS (
  -- Each user's first action, ranked: the minimum is met at the first action of the N-th user.
  SELECT
    account_key,
    first_at,
    ROW_NUMBER() OVER (PARTITION BY account_key ORDER BY first_at, user_email) AS user_rank
  FROM (
    SELECT account_key, user_email, MIN(event_at) AS first_at
    FROM actions
    GROUP BY account_key, user_email
  ) AS u
),

users AS (
  SELECT
    u.account_key,
    COUNT(*) AS active_users,
    MIN(IF(u.user_rank = t.min_active_users, u.first_at, NULL)) AS active_users_met_at
  FROM active_users AS u
  CROSS JOIN thresholds AS t
  GROUP BY u.account_key
),

key_features AS (
  -- Each key feature's first use in the window, ranked: the minimum is met at the first use of the
  -- N-th distinct key feature.
  SELECT
    account_key,
    feature_name,
    first_at,
    ROW_NUMBER() OVER (PARTITION BY account_key ORDER BY first_at, feature_name) AS feature_rank
  FROM (
    SELECT t.account_key, f.feature_name, MIN(f.event_at) AS first_at
    FROM trials AS t
    JOIN core.feature_adoption_events AS f
      ON f.account_key = t.account_key
      AND f.event_at >= t.signed_up_at
      AND f.event_at < t.window_ends_at
    JOIN enr.pql_key_features AS k ON k.feature_name = f.feature_name
    WHERE NOT f.is_internal
    GROUP BY t.account_key, f.feature_name
  ) AS k
),

features AS (
  SELECT
    k.account_key,
    ARRAY_AGG(k.feature_name ORDER BY k.first_at, k.feature_name) AS key_features_used,
    MIN(IF(k.feature_rank = t.min_key_features, k.first_at, NULL)) AS key_features_met_at
  FROM key_features AS k
  CROSS JOIN thresholds AS t
  GROUP BY k.account_key
),

conditions AS (
  SELECT
    t.account_key,
    t.signed_up_at,
    t.window_ends_at,
    t.paying_since,
    t.as_of_at,
    -- activation's own window ends inside the PQL window (a rule of enr.trial_thresholds)
    IF(t.is_activated AND t.activated_at < t.window_ends_at, t.activated_at, NULL) AS activated_at,
    COALESCE(u.active_users, 0) AS active_users,
    u.active_users_met_at,
    COALESCE(f.key_features_used, ARRAY<STRING>[]) AS key_features_used,
    f.key_features_met_at
  FROM trials AS t
  LEFT JOIN users AS u ON u.account_key = t.account_key
  LEFT JOIN features AS f ON f.account_key = t.account_key
),

qualified AS (
  SELECT
    c.*,
    -- null unless all three were met (GREATEST of a null is null)
    GREATEST(c.activated_at, c.active_users_met_at, c.key_features_met_at) AS usage_conditions_met_at
  FROM conditions AS c
),

pql AS (
  SELECT
    q.*,
    -- Paying customers are never PQLs: the conditions must all be met before the first paid day
    -- begins (a trial that pays first and qualifies later, or on the same day, is not a PQL).
    q.usage_conditions_met_at IS NOT NULL
      AND (q.paying_since IS NULL OR q.usage_conditions_met_at < TIMESTAMP(q.paying_since)) AS is_pql
  FROM qualified AS q
)

SELECT
  p.account_key,
  p.signed_up_at,
  p.window_ends_at AS pql_window_ends_at,
  p.paying_since,
  p.activated_at,
  p.active_users,
  p.active_users_met_at,
  p.key_features_used,
  p.key_features_met_at,
  ARRAY_CONCAT(
    IF(p.activated_at IS NOT NULL, ['activated'], ARRAY<STRING>[]),
    IF(p.active_users_met_at IS NOT NULL, ['active_users'], ARRAY<STRING>[]),
    IF(p.key_features_met_at IS NOT NULL, ['key_features'], ARRAY<STRING>[])
  ) AS conditions_met,
  p.usage_conditions_met_at,
  p.is_pql,
  IF(p.is_pql, p.usage_conditions_met_at, NULL) AS pql_at,
  p.as_of_at < p.window_ends_at AS is_window_open,
  p.as_of_at
FROM pql AS p

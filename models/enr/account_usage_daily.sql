-- enr.account_usage_daily: product activity per account and day, from the three Mixpanel event tables of
-- core. Sparse: one row per account and day with at least one event (a day without a row had no
-- activity); internal events and events of no known account are out.
WITH events AS (
  -- active_user: the identified user (the email is the K CRM user id) behind a tracked action, a usage or
  -- feature event; a login alone does not make a user active, and anonymous events have no user.
  -- event_name is kept for usage events only (invitations), feature_name for feature events only.
  SELECT
    account_key, event_date, 'usage' AS category, user_email AS active_user, event_name,
    CAST(NULL AS STRING) AS feature_name
  FROM core.usage_events
  WHERE NOT is_internal AND account_key IS NOT NULL
  UNION ALL
  SELECT
    account_key, event_date, 'login' AS category, CAST(NULL AS STRING) AS active_user,
    CAST(NULL AS STRING) AS event_name, CAST(NULL AS STRING) AS feature_name
  FROM core.login_events
  WHERE NOT is_internal AND account_key IS NOT NULL
  UNION ALL
  SELECT
    account_key, event_date, 'feature' AS category, user_email AS active_user, CAST(NULL AS STRING) AS event_name,
    feature_name
  FROM core.feature_adoption_events
  WHERE NOT is_internal AND account_key IS NOT NULL
),

daily AS (
  -- The day's counts, and apart from them its distinct users and features (each deduplicated before
  -- it is gathered into a list). One GROUP BY with list aggregates of every event ran out of memory
  -- at scale 100 (a list aggregate is held whole; DuckDB cannot spill it) and took 601 s on 30 M
  -- events where this takes 46 s.
  SELECT
    account_key,
    event_date,
    COUNTIF(category = 'login') AS logins,
    COUNTIF(category = 'usage') AS usage_events,
    COUNTIF(category = 'feature') AS feature_events,
    COUNT(*) AS total_events,
    COUNTIF(category = 'usage' AND event_name = 'Invite Sent') AS invites_sent
  FROM events
  GROUP BY account_key, event_date
),

users AS (
  SELECT account_key, event_date, ARRAY_AGG(active_user ORDER BY active_user) AS active_user_ids
  FROM (SELECT DISTINCT account_key, event_date, active_user FROM events WHERE active_user IS NOT NULL)
  GROUP BY account_key, event_date
),

features AS (
  SELECT account_key, event_date, ARRAY_AGG(feature_name ORDER BY feature_name) AS features_used
  FROM (SELECT DISTINCT account_key, event_date, feature_name FROM events WHERE feature_name IS NOT NULL)
  GROUP BY account_key, event_date
)

-- a day with no identified user or no feature event has [] (not NULL), as ARRAY(...) gave before
SELECT
  d.account_key,
  d.event_date AS activity_date,
  COALESCE(ARRAY_LENGTH(u.active_user_ids), 0) AS active_users,
  CAST(d.logins AS INT64) AS logins,
  CAST(d.usage_events AS INT64) AS usage_events,
  CAST(d.feature_events AS INT64) AS feature_events,
  d.total_events,
  CAST(d.invites_sent AS INT64) AS invites_sent,
  COALESCE(f.features_used, []) AS features_used,
  COALESCE(u.active_user_ids, []) AS active_user_ids
FROM daily AS d
LEFT JOIN users AS u
  ON u.account_key = d.account_key AND u.event_date = d.event_date
LEFT JOIN features AS f
  ON f.account_key = d.account_key AND f.event_date = d.event_date

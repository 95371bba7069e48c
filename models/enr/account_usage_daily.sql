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
)

SELECT
  account_key,
  event_date AS activity_date,
  COUNT(DISTINCT active_user) AS active_users,
  CAST(COUNTIF(category = 'login') AS INT64) AS logins,
  CAST(COUNTIF(category = 'usage') AS INT64) AS usage_events,
  CAST(COUNTIF(category = 'feature') AS INT64) AS feature_events,
  COUNT(*) AS total_events,
  CAST(COUNTIF(category = 'usage' AND event_name = 'Invite Sent') AS INT64) AS invites_sent,
  -- distinct values, sorted; [] when there are none. Written as ARRAY(SELECT DISTINCT … UNNEST(ARRAY_AGG(…)))
  -- rather than ARRAY_AGG(DISTINCT … IGNORE NULLS), which the BigQuery emulator cannot run (.ci/BQEMULATOR.md)
  ARRAY(SELECT DISTINCT f FROM UNNEST(ARRAY_AGG(feature_name IGNORE NULLS)) AS f ORDER BY f) AS features_used,
  ARRAY(SELECT DISTINCT u FROM UNNEST(ARRAY_AGG(active_user IGNORE NULLS)) AS u ORDER BY u) AS active_user_ids
FROM events
GROUP BY account_key, event_date

-- core.feature_adoption_events: one row per "Feature Used" event in the K CRM app, tied to the
-- person and the cross-source account key. Row by row (no ranking over the history), so the table is
-- built incrementally: an account's first use of a feature is MIN(event_at) per account_key and feature.
SELECT
  k.event_id,
  k.event_name,
  k.event_at,
  k.event_date,
  k.distinct_id,
  k.user_email,
  k.is_identified,
  k.device_id,
  -- The account whose domain this is (core.accounts computes the key); null when none is.
  acct.account_key,
  k.domain AS account_domain,  -- resolved in stg: the account_domain property, else a work email
  k.domain_source AS account_domain_source,
  k.account_id AS workspace_id,
  k.plan,
  k.feature_name,
  k.browser,
  k.os,
  k.country_code,
  k.sdk_library,
  k.is_internal,
  k.insert_id,
  k.processed_at,
  k.synced_at
FROM stg.mixpanel__events AS k
LEFT JOIN core.accounts AS acct
  ON acct.domain = k.domain
WHERE k.event_category = 'feature_adoption'

-- core.login_events: one row per sign-in / session start in the K CRM app (Mixpanel events of
-- category login), tied to the person and to the cross-source account key.
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
WHERE k.event_category = 'login'

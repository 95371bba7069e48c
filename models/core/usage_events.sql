-- core.usage_events: one row per product usage event (every Mixpanel event that is neither a
-- login nor a feature adoption), tied to the person and to the cross-source account key.
WITH events AS (
  SELECT *
  FROM stg.mixpanel__events
  WHERE event_category = 'usage'
),

with_domain AS (
  SELECT
    e.*,
    -- The account's company domain, normalised like stg `domain` columns (lower case, no
    -- protocol, path, port, www. or trailing dot): the account_domain event property, else the
    -- domain of the user's email unless it is a personal mailbox.
    NULLIF(RTRIM(REGEXP_REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(
      e.account_domain,
      r'^[a-z][a-z0-9+.-]*://', ''),
      r'[/?#:].*$', ''),
      r'^www[0-9]*\.', ''), '.'), '') AS property_domain,
    IF(
      REGEXP_EXTRACT(e.user_email, r'@([^@]+)$') IN (
        'gmail.com', 'googlemail.com', 'outlook.com', 'hotmail.com', 'live.com', 'msn.com',
        'yahoo.com', 'icloud.com', 'me.com', 'aol.com', 'proton.me', 'protonmail.com', 'gmx.com',
        'gmx.de', 'web.de'
      ),
      NULL,
      REGEXP_EXTRACT(e.user_email, r'@([^@]+)$')
    ) AS email_domain
  FROM events AS e
),

keyed AS (
  SELECT
    w.*,
    COALESCE(w.property_domain, w.email_domain) AS resolved_domain,
    CASE
      WHEN w.property_domain IS NOT NULL THEN 'event_property'
      WHEN w.email_domain IS NOT NULL THEN 'user_email'
    END AS account_domain_source
  FROM with_domain AS w
)

SELECT
  k.event_id,
  k.event_name,
  k.event_at,
  k.event_date,
  k.distinct_id,
  k.user_email,
  k.is_identified,
  k.device_id,
  -- The cross-source account key: hex MD5 of the normalised company domain.
  IF(k.resolved_domain IS NULL, NULL, TO_HEX(MD5(k.resolved_domain))) AS account_key,
  k.resolved_domain AS account_domain,
  k.account_domain_source,
  k.account_id AS workspace_id,
  k.plan,
  k.report_type,
  k.seats,
  k.browser,
  k.os,
  k.country_code,
  k.sdk_library,
  k.is_internal,
  k.insert_id,
  k.processed_at,
  k.synced_at
FROM keyed AS k

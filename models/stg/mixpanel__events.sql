-- stg.mixpanel__events: one row per Mixpanel event, without loader re-syncs or SDK duplicates,
-- its time converted to UTC, with the JSON `properties` the business uses extracted into typed
-- columns.
--
-- The Mixpanel project's time zone is America/New_York: raw `time` is that zone's wall-clock time
-- (labelled UTC by the connector) and is converted here, once, for every reader. A local time in
-- the repeated hour of the autumn clock change is ambiguous: it is read as one of its two instants,
-- so such an event can be an hour off.
WITH latest_sync AS (
  -- Fivetran re-exports recent days on every sync: keep the latest copy of each event row (the
  -- connector does not capture deletes, so there is no deletion flag to drop).
  SELECT *
  FROM raw.mixpanel__events
  WHERE TRUE  -- older BigQuery rejects a QUALIFY without WHERE, GROUP BY or HAVING
  QUALIFY ROW_NUMBER() OVER (PARTITION BY _fivetran_id ORDER BY _fivetran_synced DESC) = 1
),

live AS (
  SELECT *
  FROM latest_sync
  WHERE TRUE  -- older BigQuery rejects a QUALIFY without WHERE, GROUP BY or HAVING
  -- Mixpanel's own de-duplication: the SDK retried the same event (same $insert_id, name,
  -- distinct_id and second) and the retry hashed to another _fivetran_id.
  QUALIFY ROW_NUMBER() OVER (
    PARTITION BY name, distinct_id, TIMESTAMP_TRUNC(time, SECOND), COALESCE(insert_id, _fivetran_id)
    ORDER BY _fivetran_synced DESC, _fivetran_id
  ) = 1
),

typed AS (
  SELECT
    _fivetran_id AS event_id,
    NULLIF(TRIM(insert_id), '') AS insert_id,
    TRIM(name) AS event_name,
    -- the project's local wall-clock time (America/New_York) to UTC
    TIMESTAMP(DATETIME(time), 'America/New_York') AS event_at,
    LOWER(TRIM(distinct_id)) AS distinct_id,
    NULLIF(TRIM(device_id), '') AS device_id,
    NULLIF(TRIM(JSON_VALUE(properties, '$.account_id')), '') AS account_id,
    NULLIF(LOWER(TRIM(JSON_VALUE(properties, '$.account_domain'))), '') AS account_domain,
    NULLIF(LOWER(TRIM(JSON_VALUE(properties, '$.plan'))), '') AS plan,
    NULLIF(LOWER(TRIM(JSON_VALUE(properties, '$.feature'))), '') AS feature_name,
    NULLIF(LOWER(TRIM(JSON_VALUE(properties, '$.report_type'))), '') AS report_type,
    SAFE_CAST(JSON_VALUE(properties, '$.seats') AS INT64) AS seats,
    browser,
    os,
    city,
    UPPER(TRIM(mp_country_code)) AS country_code,
    current_url,
    LOWER(TRIM(mp_lib)) AS sdk_library,
    CAST(TIMESTAMP_MILLIS(mp_processing_time_ms) AS TIMESTAMP) AS processed_at,
    _fivetran_synced AS synced_at
  FROM live
),

resolved AS (
  SELECT
    t.*,
    CASE
      WHEN REGEXP_CONTAINS(t.distinct_id, r'^[^@\s]+@[^@\s]+\.[^@\s]+$') THEN t.distinct_id
    END AS user_email,
    -- the account_domain property normalised like every stg `domain` column (lower case, no
    -- protocol, path, port, www. or trailing dot)
    NULLIF(RTRIM(REGEXP_REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(
      t.account_domain,
      r'^[a-z][a-z0-9+.-]*://', ''),
      r'[/?#:].*$', ''),
      r'^www[0-9]*\.', ''), '.'), '') AS property_domain
  FROM typed AS t
),

with_email_domain AS (
  SELECT
    r.*,
    REGEXP_EXTRACT(r.user_email, r'@([^@]+)$') AS user_email_domain,
    -- a personal mailbox says nothing about the company
    IF(
      REGEXP_EXTRACT(r.user_email, r'@([^@]+)$') IN (
        'gmail.com', 'googlemail.com', 'outlook.com', 'hotmail.com', 'live.com', 'msn.com',
        'yahoo.com', 'icloud.com', 'me.com', 'aol.com', 'proton.me', 'protonmail.com', 'gmx.com',
        'gmx.de', 'web.de'
      ),
      NULL,
      REGEXP_EXTRACT(r.user_email, r'@([^@]+)$')
    ) AS email_domain
  FROM resolved AS r
)

SELECT
  event_id,
  insert_id,
  event_name,
  CASE
    WHEN LOWER(event_name) IN ('session start', 'login', 'logged in', 'sign in', 'signed in') THEN 'login'
    WHEN LOWER(event_name) = 'feature used' THEN 'feature_adoption'
    ELSE 'usage'
  END AS event_category,
  event_at,
  DATE(event_at) AS event_date,
  distinct_id,
  user_email,
  user_email IS NOT NULL AS is_identified,
  device_id,
  account_id,
  account_domain,
  -- the company the event belongs to: the account_domain property, else the user's work email
  COALESCE(property_domain, email_domain) AS domain,
  CASE
    WHEN property_domain IS NOT NULL THEN 'event_property'
    WHEN email_domain IS NOT NULL THEN 'user_email'
  END AS domain_source,
  plan,
  feature_name,
  report_type,
  seats,
  browser,
  os,
  city,
  country_code,
  current_url,
  sdk_library,
  -- K CRM staff and test accounts: the user's email domain or the event's account domain is a
  -- domain of stg.reference__internal_domains (kcrm.io, kcrm.com and their subdomains), the list
  -- every stg model uses.
  COALESCE(
    EXISTS (  -- the one internal-domain list, subdomains included where it says so
      SELECT 1
      FROM stg.reference__internal_domains AS internal
      WHERE with_email_domain.user_email_domain = internal.domain  -- qualified: the list has a domain column too
        OR (internal.includes_subdomains AND ENDS_WITH(with_email_domain.user_email_domain, CONCAT('.', internal.domain)))
    )
    OR EXISTS (  -- the one internal-domain list, subdomains included where it says so
      SELECT 1
      FROM stg.reference__internal_domains AS internal
      WHERE with_email_domain.property_domain = internal.domain  -- qualified: the list has a domain column too
        OR (internal.includes_subdomains AND ENDS_WITH(with_email_domain.property_domain, CONCAT('.', internal.domain)))
    ),
    FALSE
  ) AS is_internal,
  processed_at,
  synced_at
FROM with_email_domain

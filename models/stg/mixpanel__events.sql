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

people AS (
  -- One row per distinct_id as Mixpanel sent it: lower-cased, the email it is (if it is one), that
  -- email's domain, and whether that domain is internal. Derived once per person and joined to the
  -- events, not per event: the internal-domain EXISTS, correlated with the events, made DuckDB keep
  -- every event with every column in memory for the whole query (28 GB at scale 100, mostly spilled).
  SELECT
    sent_id,
    distinct_id,
    user_email,
    user_email_domain,
    -- a personal mailbox says nothing about the company
    IF(
      user_email_domain IN (
        'gmail.com', 'googlemail.com', 'outlook.com', 'hotmail.com', 'live.com', 'msn.com',
        'yahoo.com', 'icloud.com', 'me.com', 'aol.com', 'proton.me', 'protonmail.com', 'gmx.com',
        'gmx.de', 'web.de'
      ),
      NULL,
      user_email_domain
    ) AS email_domain,
    EXISTS (  -- the one internal-domain list, subdomains included where it says so
      SELECT 1
      FROM stg.reference__internal_domains AS internal
      WHERE e.user_email_domain = internal.domain
        OR (internal.includes_subdomains AND ENDS_WITH(e.user_email_domain, CONCAT('.', internal.domain)))
    ) AS is_internal
  FROM (
    SELECT
      sent_id,
      distinct_id,
      user_email,
      REGEXP_EXTRACT(user_email, r'@([^@]+)$') AS user_email_domain
    FROM (
      SELECT
        sent_id,
        distinct_id,
        CASE WHEN REGEXP_CONTAINS(distinct_id, r'^[^@\s]+@[^@\s]+\.[^@\s]+$') THEN distinct_id END AS user_email
      FROM (
        SELECT DISTINCT distinct_id AS sent_id, LOWER(TRIM(distinct_id)) AS distinct_id
        FROM raw.mixpanel__events
      ) AS s
    ) AS m
  ) AS e
),

account_domains AS (
  -- One row per account_domain property as sent: lower-cased, normalised like every stg `domain`
  -- column (lower case, no protocol, path, port, www. or trailing dot), and whether it is internal
  -- (once per value, as for people).
  SELECT
    sent_domain,
    account_domain,
    property_domain,
    EXISTS (  -- the one internal-domain list, subdomains included where it says so
      SELECT 1
      FROM stg.reference__internal_domains AS internal
      WHERE n.property_domain = internal.domain
        OR (internal.includes_subdomains AND ENDS_WITH(n.property_domain, CONCAT('.', internal.domain)))
    ) AS is_internal
  FROM (
    SELECT
      sent_domain,
      account_domain,
      NULLIF(RTRIM(REGEXP_REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(
        account_domain,
        r'^[a-z][a-z0-9+.-]*://', ''),
        r'[/?#:].*$', ''),
        r'^www[0-9]*\.', ''), '.'), '') AS property_domain
    FROM (
      SELECT DISTINCT
        JSON_VALUE(properties, '$.account_domain') AS sent_domain,
        NULLIF(LOWER(TRIM(JSON_VALUE(properties, '$.account_domain'))), '') AS account_domain
      FROM raw.mixpanel__events
    ) AS s
  ) AS n
),

typed AS (
  SELECT
    l._fivetran_id AS event_id,
    NULLIF(TRIM(l.insert_id), '') AS insert_id,
    TRIM(l.name) AS event_name,
    -- the project's local wall-clock time (America/New_York) to UTC
    TIMESTAMP(DATETIME(time), 'America/New_York') AS event_at,
    p.distinct_id,
    p.user_email,
    NULLIF(TRIM(l.device_id), '') AS device_id,
    NULLIF(TRIM(JSON_VALUE(l.properties, '$.account_id')), '') AS account_id,
    a.account_domain,
    a.property_domain,
    p.email_domain,
    -- K CRM staff and test accounts: the user's email domain or the event's account domain is a
    -- domain of stg.reference__internal_domains (kcrm.io, kcrm.com and their subdomains), the list
    -- every stg model uses.
    COALESCE(p.is_internal, FALSE) OR COALESCE(a.is_internal, FALSE) AS is_internal,
    NULLIF(LOWER(TRIM(JSON_VALUE(l.properties, '$.plan'))), '') AS plan,
    NULLIF(LOWER(TRIM(JSON_VALUE(l.properties, '$.feature'))), '') AS feature_name,
    NULLIF(LOWER(TRIM(JSON_VALUE(l.properties, '$.report_type'))), '') AS report_type,
    SAFE_CAST(JSON_VALUE(l.properties, '$.seats') AS INT64) AS seats,
    l.browser,
    l.os,
    l.city,
    UPPER(TRIM(l.mp_country_code)) AS country_code,
    l.current_url,
    LOWER(TRIM(l.mp_lib)) AS sdk_library,
    CAST(TIMESTAMP_MILLIS(l.mp_processing_time_ms) AS TIMESTAMP) AS processed_at,
    l._fivetran_synced AS synced_at
  FROM live AS l
  LEFT JOIN people AS p
    ON p.sent_id = l.distinct_id
  LEFT JOIN account_domains AS a
    ON a.sent_domain = JSON_VALUE(l.properties, '$.account_domain')
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
  is_internal,
  processed_at,
  synced_at
FROM typed

-- stg.zendesk__users: one row per live Zendesk user (latest sync, soft deletes removed), emails
-- normalised, roles typed into flags, K CRM staff and test users (kcrm.io, kcrm.com) flagged as internal.
WITH latest_sync AS (
  SELECT *
  FROM raw.zendesk__users
  WHERE TRUE  -- older BigQuery rejects a QUALIFY without WHERE, GROUP BY or HAVING
  QUALIFY ROW_NUMBER() OVER (PARTITION BY id ORDER BY _fivetran_synced DESC) = 1
),

live AS (
  SELECT
    *,
    NULLIF(LOWER(TRIM(email)), '') AS email_clean,
    LOWER(TRIM(role)) AS role_clean
  FROM latest_sync
  WHERE NOT _fivetran_deleted
),

with_domain AS (
  SELECT
    *,
    NULLIF(SPLIT(email_clean, '@')[SAFE_OFFSET(1)], '') AS email_domain
  FROM live
)

SELECT
  id AS user_id,
  TRIM(name) AS full_name,
  email_clean AS email,
  email_domain,
  NULLIF(TRIM(phone), '') AS phone,
  role_clean AS role,
  role_clean IN ('agent', 'admin') AS is_agent,
  organization_id,
  time_zone,
  locale,
  active AS is_active,
  COALESCE(suspended, FALSE) AS is_suspended,
  -- K CRM's own staff and test accounts: an address at a domain of stg.reference__internal_domains
  -- (kcrm.io, kcrm.com and their subdomains), the list every stg model uses.
  COALESCE(
    EXISTS (  -- the one internal-domain list, subdomains included where it says so
      SELECT 1
      FROM stg.reference__internal_domains AS internal
      WHERE with_domain.email_domain = internal.domain  -- qualified: the list has a domain column too
        OR (internal.includes_subdomains AND ENDS_WITH(with_domain.email_domain, CONCAT('.', internal.domain)))
    ),
    FALSE
  ) AS is_internal,
  created_at,
  updated_at,
  last_login_at,
  _fivetran_synced AS synced_at
FROM with_domain

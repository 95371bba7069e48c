-- stg.mixpanel__people: one row per Mixpanel user profile (latest sync), its distinct_id normalised
-- into the user's email and email domain, and K CRM staff and test users flagged as internal.
WITH latest_sync AS (
  SELECT
    *,
    LOWER(TRIM(distinct_id)) AS distinct_id_clean
  FROM raw.mixpanel__people
  WHERE TRUE  -- older BigQuery rejects a QUALIFY without WHERE, GROUP BY or HAVING
  QUALIFY ROW_NUMBER() OVER (PARTITION BY LOWER(TRIM(distinct_id)) ORDER BY _fivetran_synced DESC) = 1
),

identified AS (
  SELECT
    *,
    CASE
      WHEN REGEXP_CONTAINS(distinct_id_clean, r'^[^@\s]+@[^@\s]+\.[^@\s]+$') THEN distinct_id_clean
    END AS user_email
  FROM latest_sync
),

with_domain AS (
  SELECT
    *,
    REGEXP_EXTRACT(user_email, r'@([^@]+)$') AS email_domain
  FROM identified
)

SELECT
  distinct_id_clean AS distinct_id,
  user_email,
  email_domain,
  -- K CRM staff and test users: an address at a domain of stg.reference__internal_domains (kcrm.io,
  -- kcrm.com and their subdomains), the list every stg model uses.
  COALESCE(
    EXISTS (  -- the one internal-domain list, subdomains included where it says so
      SELECT 1
      FROM stg.reference__internal_domains AS internal
      WHERE with_domain.email_domain = internal.domain  -- qualified: the list has a domain column too
        OR (internal.includes_subdomains AND ENDS_WITH(with_domain.email_domain, CONCAT('.', internal.domain)))
    ),
    FALSE
  ) AS is_internal,
  time AS last_seen_at,
  _fivetran_synced AS synced_at
FROM with_domain

-- stg.hubspot__companies: one row per live HubSpot company, latest loader sync only, renamed to
-- domain names, domain normalised for cross-source matching, internal test accounts flagged.
WITH latest AS (
  SELECT *
  FROM raw.hubspot__companies
  -- The loader re-lands a company on every sync that sees a change: keep the newest copy.
  QUALIFY ROW_NUMBER() OVER (PARTITION BY id ORDER BY _fivetran_synced DESC) = 1
),

live AS (
  -- Soft deletes are judged on the latest copy: archived in HubSpot or deleted at the source.
  SELECT *
  FROM latest
  WHERE NOT COALESCE(is_deleted, FALSE)
    AND NOT COALESCE(_fivetran_deleted, FALSE)
),

renamed AS (
  SELECT
    CAST(id AS INT64) AS company_id,
    NULLIF(TRIM(property_name), '') AS company_name,
    -- lower-case, no protocol, no www., no path / port / trailing dot
    NULLIF(RTRIM(REGEXP_REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(
      LOWER(TRIM(property_domain)),
      r'^[a-z][a-z0-9+.-]*://', ''),
      r'[/?#:].*$', ''),
      r'^www[0-9]*\.', ''), '.'), '') AS domain,
    NULLIF(TRIM(property_industry), '') AS industry,
    CAST(property_numberofemployees AS INT64) AS employee_count,
    CAST(property_annualrevenue AS NUMERIC) AS annual_revenue_usd,
    NULLIF(TRIM(property_country), '') AS country,
    NULLIF(TRIM(property_city), '') AS city,
    NULLIF(TRIM(property_phone), '') AS phone,
    NULLIF(LOWER(TRIM(property_lifecyclestage)), '') AS lifecycle_stage,
    CAST(property_hubspot_owner_id AS INT64) AS owner_id,
    CAST(property_createdate AS TIMESTAMP) AS created_at,
    CAST(property_hs_lastmodifieddate AS TIMESTAMP) AS updated_at,
    CAST(_fivetran_synced AS TIMESTAMP) AS synced_at
  FROM live
)

SELECT
  company_id,
  company_name,
  domain,
  industry,
  employee_count,
  annual_revenue_usd,
  country,
  city,
  phone,
  lifecycle_stage,
  owner_id,
  -- K CRM's own QA / demo companies: a domain of stg.reference__internal_domains, or a test-like name.
  COALESCE(
    EXISTS (  -- the one internal-domain list, subdomains included where it says so
      SELECT 1
      FROM stg.reference__internal_domains AS internal
      WHERE renamed.domain = internal.domain  -- qualified: the list has a domain column too
        OR (internal.includes_subdomains AND ENDS_WITH(renamed.domain, CONCAT('.', internal.domain)))
    )
    OR REGEXP_CONTAINS(LOWER(company_name), r'^(test|qa|sandbox|dummy)\b')
    OR REGEXP_CONTAINS(LOWER(company_name), r'\b(test account|demo account|do not use)\b|\(internal\)'),
    FALSE
  ) AS is_internal,
  created_at,
  updated_at,
  synced_at
FROM renamed

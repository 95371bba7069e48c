-- stg.quickbooks__customers: one row per QuickBooks customer, latest loader sync only, billing
-- email normalised and a matching domain derived (website, else the billing email's company domain).
WITH latest AS (
  SELECT *
  FROM raw.quickbooks__customers
  -- The loader re-lands a customer on every sync that sees a change: keep the newest copy.
  QUALIFY ROW_NUMBER() OVER (PARTITION BY id ORDER BY _fivetran_synced DESC) = 1
),

live AS (
  -- QuickBooks never hard-deletes customers (inactive ones stay, is_active false); rows the
  -- loader saw deleted carry _fivetran_deleted on their latest copy.
  SELECT *
  FROM latest
  WHERE NOT COALESCE(_fivetran_deleted, FALSE)
),

renamed AS (
  SELECT
    CAST(id AS STRING) AS customer_id,
    TRIM(display_name) AS display_name,
    NULLIF(TRIM(company_name), '') AS company_name,
    NULLIF(TRIM(given_name), '') AS billing_first_name,
    NULLIF(TRIM(family_name), '') AS billing_last_name,
    NULLIF(LOWER(TRIM(email)), '') AS billing_email,
    NULLIF(TRIM(phone_number), '') AS billing_phone,
    NULLIF(TRIM(website), '') AS website,
    -- lower-case, no protocol, no www., no path / port / trailing dot
    NULLIF(RTRIM(REGEXP_REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(
      LOWER(TRIM(website)),
      r'^[a-z][a-z0-9+.-]*://', ''),
      r'[/?#:].*$', ''),
      r'^www[0-9]*\.', ''), '.'), '') AS website_domain,
    CAST(balance AS NUMERIC) AS balance,
    NULLIF(UPPER(TRIM(currency_id)), '') AS currency_code,
    CAST(active AS BOOL) AS is_active,
    CAST(taxable AS BOOL) AS is_taxable,
    CAST(created_at AS TIMESTAMP) AS created_at,
    CAST(updated_at AS TIMESTAMP) AS updated_at,
    CAST(_fivetran_synced AS TIMESTAMP) AS synced_at
  FROM live
),

with_domain AS (
  SELECT
    *,
    COALESCE(
      website_domain,
      -- a personal mailbox says nothing about the company
      IF(
        REGEXP_EXTRACT(billing_email, r'@([^@]+)$') IN (
          'gmail.com', 'googlemail.com', 'outlook.com', 'hotmail.com', 'live.com', 'msn.com',
          'yahoo.com', 'icloud.com', 'me.com', 'aol.com', 'proton.me', 'protonmail.com', 'gmx.com',
          'gmx.de', 'web.de'
        ),
        NULL,
        REGEXP_EXTRACT(billing_email, r'@([^@]+)$')
      )
    ) AS domain
  FROM renamed
)

SELECT
  customer_id,
  display_name,
  company_name,
  billing_first_name,
  billing_last_name,
  billing_email,
  billing_phone,
  website,
  domain,
  balance,
  currency_code,
  is_active,
  is_taxable,
  -- K CRM's own QA / demo customers: a domain of stg.reference__internal_domains, or a test-like name.
  COALESCE(
    EXISTS (  -- the one internal-domain list, subdomains included where it says so
      SELECT 1
      FROM stg.reference__internal_domains AS internal
      WHERE with_domain.domain = internal.domain  -- qualified: the list has a domain column too
        OR (internal.includes_subdomains AND ENDS_WITH(with_domain.domain, CONCAT('.', internal.domain)))
    )
    OR REGEXP_CONTAINS(LOWER(display_name), r'^(test|qa|sandbox|dummy)\b')
    OR REGEXP_CONTAINS(LOWER(display_name), r'\b(test account|demo account|do not use)\b|\(internal\)'),
    FALSE
  ) AS is_internal,
  created_at,
  updated_at,
  synced_at
FROM with_domain

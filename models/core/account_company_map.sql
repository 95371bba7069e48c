-- core.account_company_map: every HubSpot company of every account, and the one place the
-- cross-source account key is computed. core.accounts reads its spine from here, and every other
-- core table takes the key from core.accounts by domain, so the formula exists once.
WITH companies AS (
  SELECT
    company_id,
    domain,
    lifecycle_stage,
    created_at,
    is_internal,
    -- The normalised domain's hash; a company without a domain can match nothing, so it keys on its
    -- HubSpot id instead (prefixed, so it can never collide with a domain's hash).
    COALESCE(
      TO_HEX(MD5(domain)),
      TO_HEX(MD5(CONCAT('hubspot_company:', CAST(company_id AS STRING))))
    ) AS account_key
  FROM stg.hubspot__companies
)

SELECT
  CAST(account_key AS STRING) AS account_key,
  CAST(company_id AS INT64) AS hubspot_company_id,
  CAST(domain AS STRING) AS domain,
  -- Two HubSpot companies can share a domain (a duplicate created by sales): they are one account,
  -- described by its primary company: the customer record if there is one, else the oldest.
  CAST(
    ROW_NUMBER() OVER (
      PARTITION BY account_key
      ORDER BY IF(lifecycle_stage = 'customer', 0, 1), created_at NULLS LAST, company_id
    ) = 1
    AS BOOL
  ) AS is_primary_company,
  CAST(is_internal AS BOOL) AS is_internal,
  CAST(created_at AS TIMESTAMP) AS created_at
FROM companies

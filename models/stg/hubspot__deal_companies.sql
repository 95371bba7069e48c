-- stg.hubspot__deal_companies: one row per live association of a HubSpot deal and a company, the
-- association types (primary, unlabeled) folded into an is_primary flag.
WITH latest AS (
  SELECT *
  FROM raw.hubspot__deal_companies
  -- The loader re-lands an association on every sync that sees a change: keep the newest copy.
  QUALIFY ROW_NUMBER() OVER (PARTITION BY deal_id, company_id, type_id ORDER BY _fivetran_synced DESC) = 1
)

SELECT
  CAST(deal_id AS INT64) AS deal_id,
  CAST(company_id AS INT64) AS company_id,
  -- HubSpot association type 5 is the deal's primary company.
  CAST(LOGICAL_OR(COALESCE(type_id = 5, FALSE)) AS BOOL) AS is_primary,
  CAST(MAX(_fivetran_synced) AS TIMESTAMP) AS synced_at
FROM latest
WHERE NOT COALESCE(_fivetran_deleted, FALSE)
GROUP BY deal_id, company_id

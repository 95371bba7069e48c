-- stg.zendesk__organizations: one row per live Zendesk organization (latest sync, soft deletes
-- removed), with its email domains split into a clean array and internal test organizations flagged.
WITH latest_sync AS (
  SELECT *
  FROM raw.zendesk__organizations
  WHERE TRUE  -- older BigQuery rejects a QUALIFY without WHERE, GROUP BY or HAVING
  QUALIFY ROW_NUMBER() OVER (PARTITION BY id ORDER BY _fivetran_synced DESC) = 1
),

live AS (
  SELECT *
  FROM latest_sync
  WHERE NOT _fivetran_deleted
),

domains AS (
  SELECT
    *,
    ARRAY(
      SELECT DISTINCT LOWER(TRIM(d)) AS domain_name
      FROM UNNEST(SPLIT(COALESCE(domain_names, ''), ',')) AS d
      WHERE TRIM(d) != ''
      ORDER BY domain_name
    ) AS domain_list,
    -- The first domain as typed by the agent is the organization's main one.
    NULLIF(LOWER(TRIM(SPLIT(COALESCE(domain_names, ''), ',')[SAFE_OFFSET(0)])), '') AS first_domain
  FROM live
)

SELECT
  id AS organization_id,
  TRIM(name) AS organization_name,
  domain_list AS domain_names,
  first_domain AS primary_domain,
  NULLIF(TRIM(external_id), '') AS external_id,
  SAFE_CAST(NULLIF(TRIM(external_id), '') AS INT64) AS hubspot_company_id,
  group_id,
  COALESCE(shared_tickets, FALSE) AS has_shared_tickets,
  details,
  notes,
  COALESCE(
    EXISTS (
      SELECT 1
      FROM UNNEST(domain_list) AS d
      WHERE REGEXP_CONTAINS(d, r'^([a-z0-9-]+\.)*kcrm\.io$')
    ),
    FALSE
  ) AS is_internal,
  created_at,
  updated_at,
  _fivetran_synced AS synced_at
FROM domains

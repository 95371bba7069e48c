-- stg.zendesk__organizations: one row per live Zendesk organization (latest sync, soft deletes
-- removed), with its live domains (raw.zendesk__domain_names) gathered into a clean array and K CRM's
-- own and test organizations flagged.
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

live_domains AS (
  -- one row per organization and position in its domain list; a removed domain keeps a
  -- soft-deleted row
  SELECT
    organization_id,
    index AS domain_index,
    NULLIF(LOWER(TRIM(domain_name)), '') AS domain_name
  FROM raw.zendesk__domain_names
  WHERE TRUE  -- older BigQuery rejects a QUALIFY without WHERE, GROUP BY or HAVING
  QUALIFY ROW_NUMBER() OVER (PARTITION BY organization_id, index ORDER BY _fivetran_synced DESC) = 1
    AND NOT _fivetran_deleted
),

flagged_domains AS (
  SELECT
    *,
    -- K CRM's own and test organizations: a domain of stg.reference__internal_domains (kcrm.io,
    -- kcrm.com and their subdomains), the list every stg model uses.
    EXISTS (  -- the one internal-domain list, subdomains included where it says so
      SELECT 1
      FROM stg.reference__internal_domains AS internal
      WHERE live_domains.domain_name = internal.domain  -- qualified: the list has a domain column too
        OR (internal.includes_subdomains AND ENDS_WITH(live_domains.domain_name, CONCAT('.', internal.domain)))
    ) AS is_internal_domain
  FROM live_domains
),

domain_lists AS (
  SELECT
    organization_id,
    ARRAY_AGG(DISTINCT domain_name ORDER BY domain_name) AS domain_names,
    -- The domain at index 0, the one the agent typed first, is the organization's main one.
    ARRAY_AGG(domain_name ORDER BY domain_index)[SAFE_OFFSET(0)] AS primary_domain,
    LOGICAL_OR(is_internal_domain) AS has_internal_domain
  FROM flagged_domains
  WHERE domain_name IS NOT NULL
  GROUP BY organization_id
)

SELECT
  o.id AS organization_id,
  TRIM(o.name) AS organization_name,
  COALESCE(d.domain_names, ARRAY<STRING>[]) AS domain_names,
  d.primary_domain,
  NULLIF(TRIM(o.external_id), '') AS external_id,
  SAFE_CAST(NULLIF(TRIM(o.external_id), '') AS INT64) AS hubspot_company_id,
  o.group_id,
  COALESCE(o.shared_tickets, FALSE) AS has_shared_tickets,
  o.details,
  o.notes,
  COALESCE(d.has_internal_domain, FALSE) AS is_internal,
  o.created_at,
  o.updated_at,
  o._fivetran_synced AS synced_at
FROM live AS o
LEFT JOIN domain_lists AS d
  ON d.organization_id = o.id

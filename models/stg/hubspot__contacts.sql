-- stg.hubspot__contacts: one row per live HubSpot contact, latest loader sync only, emails
-- normalised, merged-away contact ids parsed, internal test contacts flagged.
WITH latest AS (
  SELECT *
  FROM raw.hubspot__contacts
  -- The loader re-lands a contact on every sync that sees a change: keep the newest copy.
  QUALIFY ROW_NUMBER() OVER (PARTITION BY id ORDER BY _fivetran_synced DESC) = 1
),

live AS (
  -- Fivetran's contact table has no is_deleted: deleted and merged-away contacts carry
  -- _fivetran_deleted on their latest copy.
  SELECT *
  FROM latest
  WHERE NOT COALESCE(_fivetran_deleted, FALSE)
),

renamed AS (
  SELECT
    CAST(id AS INT64) AS contact_id,
    NULLIF(LOWER(TRIM(property_email)), '') AS email,
    NULLIF(TRIM(property_firstname), '') AS first_name,
    NULLIF(TRIM(property_lastname), '') AS last_name,
    NULLIF(TRIM(property_phone), '') AS phone,
    NULLIF(TRIM(property_jobtitle), '') AS job_title,
    NULLIF(TRIM(property_company), '') AS company_name,
    CAST(property_associatedcompanyid AS INT64) AS company_id,
    CAST(property_hubspot_owner_id AS INT64) AS owner_id,
    NULLIF(LOWER(TRIM(property_lifecyclestage)), '') AS lifecycle_stage,
    NULLIF(UPPER(TRIM(property_hs_lead_status)), '') AS lead_status,
    NULLIF(UPPER(TRIM(property_hs_analytics_source)), '') AS original_source,
    -- "id:epoch_ms;id:epoch_ms" -> [id, id]
    ARRAY(
      SELECT CAST(merged_id AS INT64)
      FROM UNNEST(REGEXP_EXTRACT_ALL(property_hs_calculated_merged_vids, r'(?:^|;)\s*([0-9]+)')) AS merged_id
    ) AS merged_contact_ids,
    CAST(property_createdate AS TIMESTAMP) AS created_at,
    CAST(property_lastmodifieddate AS TIMESTAMP) AS updated_at,
    CAST(_fivetran_synced AS TIMESTAMP) AS synced_at
  FROM live
),

with_domain AS (
  SELECT
    *,
    REGEXP_EXTRACT(email, r'@([^@]+)$') AS email_domain
  FROM renamed
)

SELECT
  contact_id,
  email,
  email_domain,
  first_name,
  last_name,
  phone,
  job_title,
  company_name,
  company_id,
  owner_id,
  lifecycle_stage,
  lead_status,
  original_source,
  merged_contact_ids,
  -- K CRM staff and QA test contacts: an address at a domain of stg.reference__internal_domains, a plus-addressed "+test"
  -- mailbox, or a contact literally named Test.
  COALESCE(
    EXISTS (  -- the one internal-domain list, subdomains included where it says so
      SELECT 1
      FROM stg.reference__internal_domains AS internal
      WHERE with_domain.email_domain = internal.domain  -- qualified: the list has a domain column too
        OR (internal.includes_subdomains AND ENDS_WITH(with_domain.email_domain, CONCAT('.', internal.domain)))
    )
    OR REGEXP_CONTAINS(email, r'\+test[^@]*@')
    OR LOWER(first_name) = 'test'
    OR LOWER(last_name) = 'test',
    FALSE
  ) AS is_internal,
  created_at,
  updated_at,
  synced_at
FROM with_domain

-- stg.hubspot__leads: one row per live HubSpot lead, latest loader sync only, picklists
-- normalised to HubSpot's internal values, associations renamed to the stg key names.
WITH latest AS (
  SELECT *
  FROM raw.hubspot__leads
  -- The loader re-lands a lead on every sync that sees a change: keep the newest copy.
  QUALIFY ROW_NUMBER() OVER (PARTITION BY id ORDER BY _fivetran_synced DESC) = 1
),

live AS (
  -- Soft deletes are judged on the latest copy: archived in HubSpot or deleted at the source.
  SELECT *
  FROM latest
  WHERE NOT COALESCE(is_deleted, FALSE)
    AND NOT COALESCE(_fivetran_deleted, FALSE)
)

SELECT
  CAST(id AS INT64) AS lead_id,
  NULLIF(TRIM(property_hs_lead_name), '') AS lead_name,
  NULLIF(UPPER(TRIM(property_hs_lead_status)), '') AS lead_status,
  NULLIF(LOWER(TRIM(property_hs_pipeline_stage)), '') AS pipeline_stage_id,
  NULLIF(UPPER(TRIM(property_hs_lead_type)), '') AS lead_type,
  NULLIF(UPPER(TRIM(property_hs_lead_label)), '') AS lead_label,
  NULLIF(UPPER(TRIM(property_hs_lead_source)), '') AS lead_source,
  CAST(property_hs_associated_contact_id AS INT64) AS contact_id,
  CAST(property_hs_associated_company_id AS INT64) AS company_id,
  CAST(property_hubspot_owner_id AS INT64) AS owner_id,
  CAST(property_createdate AS TIMESTAMP) AS created_at,
  CAST(property_hs_lastmodifieddate AS TIMESTAMP) AS updated_at,
  CAST(_fivetran_synced AS TIMESTAMP) AS synced_at
FROM live

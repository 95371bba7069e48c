-- stg.hubspot__contact_property_history: one row per change of a HubSpot contact property, re-syncs
-- collapsed to the latest copy, changes deleted at the source dropped.
WITH latest AS (
  SELECT *
  FROM raw.hubspot__contact_property_history
  -- The loader re-lands a change on a re-sync: keep the newest copy.
  QUALIFY ROW_NUMBER() OVER (PARTITION BY contact_id, name, `timestamp` ORDER BY _fivetran_synced DESC) = 1
)

SELECT
  CAST(contact_id AS INT64) AS contact_id,
  NULLIF(LOWER(TRIM(name)), '') AS property_name,
  NULLIF(TRIM(value), '') AS property_value,
  CAST(`timestamp` AS TIMESTAMP) AS changed_at,
  NULLIF(TRIM(source), '') AS change_source,
  NULLIF(TRIM(source_id), '') AS change_source_id,
  CAST(_fivetran_synced AS TIMESTAMP) AS synced_at
FROM latest
WHERE NOT COALESCE(_fivetran_deleted, FALSE)

-- stg.hubspot__deal_pipelines: one row per HubSpot deal pipeline, latest loader sync only.
WITH latest AS (
  SELECT *
  FROM raw.hubspot__deal_pipelines
  -- The loader re-lands a pipeline on every sync that sees a change: keep the newest copy.
  QUALIFY ROW_NUMBER() OVER (PARTITION BY pipeline_id ORDER BY _fivetran_synced DESC) = 1
)

SELECT
  CAST(pipeline_id AS STRING) AS pipeline_id,
  NULLIF(TRIM(label), '') AS pipeline_label,
  CAST(display_order AS INT64) AS display_order,
  CAST(active AS BOOL) AS is_active,
  CAST(created_at AS TIMESTAMP) AS created_at,
  CAST(updated_at AS TIMESTAMP) AS updated_at,
  CAST(_fivetran_synced AS TIMESTAMP) AS synced_at
FROM latest
-- Pipelines deleted at the source carry _fivetran_deleted on their latest copy; archived ones stay.
WHERE NOT COALESCE(_fivetran_deleted, FALSE)

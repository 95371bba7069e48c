-- stg.hubspot__deal_stages: one row per HubSpot deal per stage entry (Fivetran deal_stage, History
-- Mode), re-synced versions collapsed, the stage value renamed to stage_id.
WITH latest AS (
  SELECT *
  FROM raw.hubspot__deal_stages
  -- A version is re-landed when it ends (its _fivetran_end and _fivetran_active change): keep the newest copy.
  QUALIFY ROW_NUMBER() OVER (PARTITION BY deal_id, _fivetran_start ORDER BY _fivetran_synced DESC) = 1
)

SELECT
  CAST(deal_id AS INT64) AS deal_id,
  NULLIF(TRIM(value), '') AS stage_id,
  CAST(date_entered AS TIMESTAMP) AS entered_at,
  CAST(_fivetran_active AS BOOL) AS is_current,
  NULLIF(TRIM(source), '') AS change_source,
  NULLIF(TRIM(source_id), '') AS change_source_id,
  CAST(_fivetran_synced AS TIMESTAMP) AS synced_at
FROM latest

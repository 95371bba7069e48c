-- stg.hubspot__deal_pipeline_stages: one row per deal pipeline stage, latest loader sync only,
-- with the closed-won / closed-lost / closed flags the connector does not land derived.
WITH latest AS (
  SELECT *
  FROM raw.hubspot__deal_pipeline_stages
  -- The loader re-lands a stage on every sync that sees a change: keep the newest copy.
  QUALIFY ROW_NUMBER() OVER (PARTITION BY stage_id ORDER BY _fivetran_synced DESC) = 1
),

live AS (
  -- Stages deleted at the source carry _fivetran_deleted on their latest copy. Archived stages
  -- (active false) stay: old deals still point at them.
  SELECT *
  FROM latest
  WHERE NOT COALESCE(_fivetran_deleted, FALSE)
),

renamed AS (
  SELECT
    CAST(stage_id AS STRING) AS stage_id,
    CAST(pipeline_id AS STRING) AS pipeline_id,
    NULLIF(TRIM(label), '') AS stage_label,
    CAST(display_order AS INT64) AS display_order,
    CAST(probability AS FLOAT64) AS probability,
    CAST(closed_won AS BOOL) AS is_closed_won,
    CAST(active AS BOOL) AS is_active,
    CAST(created_at AS TIMESTAMP) AS created_at,
    CAST(updated_at AS TIMESTAMP) AS updated_at,
    CAST(_fivetran_synced AS TIMESTAMP) AS synced_at
  FROM live
)

SELECT
  stage_id,
  pipeline_id,
  stage_label,
  display_order,
  probability,
  is_closed_won,
  -- The connector lands no closed-lost flag: a lost stage is one with 0 probability that is not won.
  COALESCE(probability = 0 AND NOT is_closed_won, FALSE) AS is_closed_lost,
  COALESCE(is_closed_won OR (probability = 0 AND NOT is_closed_won), FALSE) AS is_closed,
  is_active,
  created_at,
  updated_at,
  synced_at
FROM renamed

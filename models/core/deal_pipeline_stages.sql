-- core.deal_pipeline_stages: one row per HubSpot deal pipeline stage with its pipeline's label, board
-- order, configured win probability and closed / won / lost / active flags: the stage settings that
-- marts read (a mart may not read stg), including stages no deal sits in today.
SELECT
  CAST(s.pipeline_id AS STRING) AS pipeline_id,
  CAST(p.pipeline_label AS STRING) AS pipeline_label,
  CAST(s.stage_id AS STRING) AS stage_id,
  CAST(s.stage_label AS STRING) AS stage_label,
  CAST(s.display_order AS INT64) AS stage_display_order,
  CAST(s.probability AS FLOAT64) AS probability,
  CAST(COALESCE(s.is_closed, FALSE) AS BOOL) AS is_closed_stage,
  CAST(COALESCE(s.is_closed_won, FALSE) AS BOOL) AS is_won_stage,
  CAST(COALESCE(s.is_closed_lost, FALSE) AS BOOL) AS is_lost_stage,
  -- A stage whose active flag is unknown is taken as active (HubSpot's default).
  CAST(COALESCE(s.is_active, TRUE) AS BOOL) AS is_active
FROM stg.hubspot__deal_pipeline_stages AS s
LEFT JOIN stg.hubspot__deal_pipelines AS p
  ON p.pipeline_id = s.pipeline_id

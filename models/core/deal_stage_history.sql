-- core.deal_stage_history: one row per stage entry of a live opportunity, in order, with when it
-- entered and left the stage, the stage's label and order, and the time spent in it.
WITH entries AS (
  SELECT
    h.deal_id,
    h.stage_id,
    h.entered_at,
    h.change_source,
    ROW_NUMBER() OVER (PARTITION BY h.deal_id ORDER BY h.entered_at) AS entry_number,
    LEAD(h.entered_at) OVER (PARTITION BY h.deal_id ORDER BY h.entered_at) AS next_entered_at
  FROM stg.hubspot__deal_stages AS h
)

SELECT
  CAST(o.opportunity_id AS INT64) AS opportunity_id,
  CAST(e.entry_number AS INT64) AS entry_number,
  CAST(o.account_key AS STRING) AS account_key,
  CAST(s.pipeline_id AS STRING) AS pipeline_id,
  CAST(e.stage_id AS STRING) AS stage_id,
  CAST(s.stage_label AS STRING) AS stage_label,
  CAST(s.display_order AS INT64) AS stage_display_order,
  CAST(COALESCE(s.is_closed, FALSE) AS BOOL) AS is_closed_stage,
  CAST(COALESCE(s.is_closed_won, FALSE) AS BOOL) AS is_won_stage,
  CAST(e.entered_at AS TIMESTAMP) AS entered_at,
  CAST(e.next_entered_at AS TIMESTAMP) AS exited_at,
  CAST(e.next_entered_at IS NULL AS BOOL) AS is_current,
  -- Time in a stage the deal has left; null for the stage it is in.
  CAST(ROUND(TIMESTAMP_DIFF(e.next_entered_at, e.entered_at, SECOND) / 86400.0, 2) AS FLOAT64) AS days_in_stage,
  CAST(e.change_source AS STRING) AS change_source,
  CAST(o.is_internal AS BOOL) AS is_internal
FROM entries AS e
-- Only live deals: the connector keeps the history of deals deleted since.
INNER JOIN core.opportunities AS o
  ON o.opportunity_id = e.deal_id
LEFT JOIN stg.hubspot__deal_pipeline_stages AS s
  ON s.stage_id = e.stage_id

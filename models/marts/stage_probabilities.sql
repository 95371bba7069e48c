-- marts.stage_probabilities: the win probability of each deal stage of each pipeline. The historical
-- probability of a stage is the share of the deals that were ever in it (core.deal_stage_history) that
-- ended closed won, among those that have closed, as of the data's latest date. It is used once at least
-- min_closed_deals of them have closed (marts.forecast_parameters); below that, and for the closed stages
-- (whose probability is their outcome), the probability configured in HubSpot is used. Both are kept.
WITH params AS (
  -- The minimum is reference data; the as-of date comes from the data, never the wall clock.
  SELECT
    CAST((SELECT MAX(value) FROM marts.forecast_parameters WHERE parameter = 'min_closed_deals') AS INT64)
      AS min_closed_deals,
    CAST(GREATEST(
      (SELECT MAX(entered_at) FROM core.deal_stage_history),
      (SELECT MAX(created_at) FROM core.opportunities)
    ) AS DATE) AS as_of_date
),

entered AS (
  -- Each deal once per stage it was ever in (a deal can re-enter a stage), with its outcome today.
  SELECT DISTINCT
    h.stage_id,
    h.opportunity_id,
    o.is_closed,
    o.is_won
  FROM core.deal_stage_history AS h
  INNER JOIN core.opportunities AS o
    ON o.opportunity_id = h.opportunity_id
  WHERE NOT o.is_internal
),

outcomes AS (
  SELECT
    stage_id,
    COUNT(*) AS deals_entered,
    COUNTIF(is_closed) AS closed_deals,
    COUNTIF(is_won) AS won_deals
  FROM entered
  GROUP BY stage_id
),

stages AS (
  SELECT
    s.pipeline_id,
    s.pipeline_label,
    s.stage_id,
    s.stage_label,
    s.stage_display_order AS display_order,
    s.is_closed_stage,
    s.is_won_stage,
    s.is_active AS is_active_stage,
    ROUND(CAST(s.probability AS NUMERIC), 3) AS configured_probability,
    COALESCE(o.deals_entered, 0) AS deals_entered,
    COALESCE(o.closed_deals, 0) AS closed_deals,
    COALESCE(o.won_deals, 0) AS won_deals,
    -- Rounded to 0.1 %: finer than any forecast needs, and the same on every engine (BigQuery's emulator
    -- keeps 3 decimals of a NUMERIC), so the weighted amounts agree to the cent.
    ROUND(CAST(SAFE_DIVIDE(CAST(o.won_deals AS NUMERIC), CAST(o.closed_deals AS NUMERIC)) AS NUMERIC), 3)
      AS historical_probability
  FROM core.deal_pipeline_stages AS s
  LEFT JOIN outcomes AS o
    ON o.stage_id = s.stage_id
),

chosen AS (
  SELECT
    st.*,
    pa.as_of_date,
    pa.min_closed_deals,
    -- A closed stage's probability is its outcome (1 won, 0 lost); an open stage's history decides once
    -- enough of its deals have closed.
    NOT st.is_closed_stage AND st.closed_deals >= pa.min_closed_deals AS use_historical
  FROM stages AS st
  CROSS JOIN params AS pa
)

SELECT
  CAST(pipeline_id AS STRING) AS pipeline_id,
  CAST(pipeline_label AS STRING) AS pipeline_label,
  CAST(stage_id AS STRING) AS stage_id,
  CAST(stage_label AS STRING) AS stage_label,
  CAST(display_order AS INT64) AS stage_display_order,
  CAST(is_closed_stage AS BOOL) AS is_closed_stage,
  CAST(is_won_stage AS BOOL) AS is_won_stage,
  CAST(is_active_stage AS BOOL) AS is_active_stage,
  CAST(deals_entered AS INT64) AS deals_entered,
  CAST(closed_deals AS INT64) AS closed_deals,
  CAST(won_deals AS INT64) AS won_deals,
  CAST(configured_probability AS NUMERIC) AS configured_probability,
  CAST(historical_probability AS NUMERIC) AS historical_probability,
  CAST(IF(use_historical, historical_probability, configured_probability) AS NUMERIC) AS probability,
  CAST(IF(use_historical, 'historical', 'configured') AS STRING) AS probability_source,
  CAST(min_closed_deals AS INT64) AS min_closed_deals,
  CAST(as_of_date AS DATE) AS as_of_date
FROM chosen

-- core.opportunities: one row per live HubSpot deal (new business, renewal, expansion), with its
-- pipeline stage's label, order, probability and closed / won / lost flags, and its account key.
WITH company_accounts AS (
  -- HubSpot company -> account: the map holds every company of every account.
  SELECT
    m.hubspot_company_id AS company_id,
    a.account_key,
    a.is_internal
  FROM core.account_company_map AS m
  INNER JOIN core.accounts AS a
    ON a.account_key = m.account_key
),

deal_company AS (
  -- The deal's company is its primary association (HubSpot association type 5), else its only one.
  SELECT
    deal_id,
    company_id
  FROM stg.hubspot__deal_companies
  WHERE TRUE  -- older BigQuery rejects a QUALIFY without WHERE, GROUP BY or HAVING
  QUALIFY ROW_NUMBER() OVER (PARTITION BY deal_id ORDER BY is_primary DESC, company_id) = 1
),

deals AS (
  SELECT
    d.*,
    dc.company_id,
    p.pipeline_label,
    s.stage_label,
    s.display_order AS stage_display_order,
    s.probability AS stage_probability,
    -- The stage decides; HubSpot's own calculated flags only where the stage is unknown.
    COALESCE(s.is_closed, d.is_closed, FALSE) AS closed,
    COALESCE(s.is_closed_won, d.is_closed_won, FALSE) AS won
  FROM stg.hubspot__deals AS d
  LEFT JOIN stg.hubspot__deal_pipeline_stages AS s
    ON s.stage_id = d.deal_stage_id
  LEFT JOIN stg.hubspot__deal_pipelines AS p
    ON p.pipeline_id = d.pipeline_id
  LEFT JOIN deal_company AS dc
    ON dc.deal_id = d.deal_id
)

SELECT
  CAST(d.deal_id AS INT64) AS opportunity_id,
  CAST(d.deal_name AS STRING) AS opportunity_name,
  CAST(ca.account_key AS STRING) AS account_key,
  CAST(d.company_id AS INT64) AS hubspot_company_id,
  CAST(d.owner_id AS INT64) AS owner_user_id,
  CAST(d.deal_type AS STRING) AS deal_type,
  CAST(d.pipeline_id AS STRING) AS pipeline_id,
  CAST(d.pipeline_label AS STRING) AS pipeline_label,
  CAST(d.deal_stage_id AS STRING) AS stage_id,
  CAST(d.stage_label AS STRING) AS stage_label,
  CAST(d.stage_display_order AS INT64) AS stage_display_order,
  CAST(d.stage_probability AS FLOAT64) AS stage_probability,
  CAST(d.closed AS BOOL) AS is_closed,
  CAST(d.won AS BOOL) AS is_won,
  CAST(d.closed AND NOT d.won AS BOOL) AS is_lost,
  CAST(d.product_sku AS STRING) AS product_sku,
  CAST(d.amount_usd AS NUMERIC) AS amount_usd,
  CAST(d.mrr_usd AS NUMERIC) AS mrr_usd,
  -- Forecast value: the full amount once won, nothing once lost, amount x stage probability while open.
  CAST(CASE
    WHEN d.won THEN d.amount_usd
    WHEN d.closed THEN 0
    ELSE ROUND(d.amount_usd * CAST(d.stage_probability AS NUMERIC), 2)
  END AS NUMERIC) AS weighted_amount_usd,
  CAST(d.closed_lost_reason AS STRING) AS closed_lost_reason,
  CAST(COALESCE(ca.is_internal, FALSE) AS BOOL) AS is_internal,
  CAST(d.created_at AS TIMESTAMP) AS created_at,
  -- HubSpot's closedate means the expected date while a deal is open and the actual one once closed.
  CAST(IF(d.closed, NULL, d.closed_at) AS TIMESTAMP) AS expected_close_at,
  CAST(IF(d.closed, d.closed_at, NULL) AS TIMESTAMP) AS closed_at,
  CAST(d.updated_at AS TIMESTAMP) AS updated_at
FROM deals AS d
LEFT JOIN company_accounts AS ca
  ON ca.company_id = d.company_id

-- stg.hubspot__deals: one row per live HubSpot deal, latest loader sync only, renamed to the
-- stg key names, product SKU normalised to match stg.hubspot__products.sku.
WITH latest AS (
  SELECT *
  FROM raw.hubspot__deals
  -- The loader re-lands a deal on every sync that sees a change: keep the newest copy.
  QUALIFY ROW_NUMBER() OVER (PARTITION BY deal_id ORDER BY _fivetran_synced DESC) = 1
),

live AS (
  -- Soft deletes are judged on the latest copy: archived in HubSpot or deleted at the source.
  SELECT *
  FROM latest
  WHERE NOT COALESCE(is_deleted, FALSE)
    AND NOT COALESCE(_fivetran_deleted, FALSE)
)

SELECT
  CAST(deal_id AS INT64) AS deal_id,
  NULLIF(TRIM(property_dealname), '') AS deal_name,
  NULLIF(LOWER(TRIM(property_dealtype)), '') AS deal_type,
  NULLIF(TRIM(deal_pipeline_id), '') AS pipeline_id,
  NULLIF(TRIM(deal_pipeline_stage_id), '') AS deal_stage_id,
  CAST(owner_id AS INT64) AS owner_id,
  NULLIF(UPPER(TRIM(property_kcrm_product_sku)), '') AS product_sku,
  CAST(property_amount AS NUMERIC) AS amount_usd,
  CAST(property_hs_mrr AS NUMERIC) AS mrr_usd,
  CAST(property_hs_is_closed AS BOOL) AS is_closed,
  CAST(property_hs_is_closed_won AS BOOL) AS is_closed_won,
  NULLIF(TRIM(property_closed_lost_reason), '') AS closed_lost_reason,
  CAST(property_createdate AS TIMESTAMP) AS created_at,
  CAST(property_closedate AS TIMESTAMP) AS closed_at,
  CAST(property_hs_lastmodifieddate AS TIMESTAMP) AS updated_at,
  CAST(_fivetran_synced AS TIMESTAMP) AS synced_at
FROM live

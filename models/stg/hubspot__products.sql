-- stg.hubspot__products: one row per live item of the HubSpot product library, latest loader
-- sync only, SKU normalised (the key deals and QuickBooks invoice lines carry), term in months.
WITH latest AS (
  SELECT *
  FROM raw.hubspot__products
  -- The loader re-lands a product on every sync that sees a change: keep the newest copy.
  QUALIFY ROW_NUMBER() OVER (PARTITION BY id ORDER BY _fivetran_synced DESC) = 1
),

live AS (
  -- Soft deletes are judged on the latest copy: archived in HubSpot or deleted at the source.
  SELECT *
  FROM latest
  WHERE NOT COALESCE(is_deleted, FALSE)
    AND NOT COALESCE(_fivetran_deleted, FALSE)
),

renamed AS (
  SELECT
    CAST(id AS INT64) AS product_id,
    NULLIF(TRIM(property_name), '') AS product_name,
    NULLIF(UPPER(TRIM(property_hs_sku)), '') AS sku,
    NULLIF(LOWER(TRIM(property_hs_product_type)), '') AS product_type,
    CAST(property_price AS NUMERIC) AS list_price_usd,
    CAST(property_hs_cost_of_goods_sold AS NUMERIC) AS unit_cost_usd,
    NULLIF(LOWER(TRIM(property_recurringbillingfrequency)), '') AS billing_frequency,
    NULLIF(UPPER(TRIM(property_hs_recurring_billing_period)), '') AS billing_period,
    NULLIF(TRIM(property_description), '') AS product_description,
    CAST(property_createdate AS TIMESTAMP) AS created_at,
    CAST(property_hs_lastmodifieddate AS TIMESTAMP) AS updated_at,
    CAST(_fivetran_synced AS TIMESTAMP) AS synced_at
  FROM live
)

SELECT
  product_id,
  product_name,
  sku,
  product_type,
  list_price_usd,
  unit_cost_usd,
  billing_frequency,
  billing_period,
  -- ISO-8601 period to months: P12M -> 12, P1Y -> 12; other shapes (days, weeks) stay null.
  CASE
    WHEN REGEXP_CONTAINS(billing_period, r'^P[0-9]+M$')
      THEN CAST(REGEXP_EXTRACT(billing_period, r'^P([0-9]+)M$') AS INT64)
    WHEN REGEXP_CONTAINS(billing_period, r'^P[0-9]+Y$')
      THEN 12 * CAST(REGEXP_EXTRACT(billing_period, r'^P([0-9]+)Y$') AS INT64)
  END AS term_months,
  product_description,
  created_at,
  updated_at,
  synced_at
FROM renamed

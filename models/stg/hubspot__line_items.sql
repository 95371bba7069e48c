-- stg.hubspot__line_items: one row per live HubSpot line item, latest loader sync only, SKU
-- normalised, the term in months and the line's total discount in money (HubSpot's unit discount or
-- percentage, whichever the rep used).
WITH latest AS (
  SELECT *
  FROM raw.hubspot__line_items
  -- One row per record in soft-delete mode; kept defensive against a re-landed copy.
  QUALIFY ROW_NUMBER() OVER (PARTITION BY id ORDER BY _fivetran_synced DESC) = 1
),

live AS (
  SELECT *
  FROM latest
  WHERE NOT COALESCE(is_deleted, FALSE)
    AND NOT COALESCE(_fivetran_deleted, FALSE)
),

renamed AS (
  SELECT
    CAST(id AS INT64) AS line_item_id,
    CAST(product_id AS INT64) AS product_id,
    NULLIF(TRIM(property_name), '') AS line_name,
    NULLIF(UPPER(TRIM(property_hs_sku)), '') AS sku,
    CAST(property_quantity AS FLOAT64) AS quantity,
    CAST(property_price AS NUMERIC) AS unit_price,
    CAST(property_discount AS NUMERIC) AS unit_discount,
    CAST(property_hs_discount_percentage AS FLOAT64) AS discount_percentage,
    NULLIF(LOWER(TRIM(property_recurringbillingfrequency)), '') AS billing_frequency,
    NULLIF(UPPER(TRIM(property_hs_recurring_billing_period)), '') AS billing_period,
    CAST(property_hs_recurring_billing_start_date AS TIMESTAMP) AS billing_start_at,
    -- An unset line currency is the portal's currency (USD).
    COALESCE(NULLIF(UPPER(TRIM(property_hs_line_item_currency_code)), ''), 'USD') AS currency_code,
    CAST(property_hs_position_on_quote AS INT64) AS position_on_quote,
    CAST(property_createdate AS TIMESTAMP) AS created_at,
    CAST(property_hs_lastmodifieddate AS TIMESTAMP) AS updated_at,
    CAST(_fivetran_synced AS TIMESTAMP) AS synced_at
  FROM live
)

SELECT
  line_item_id,
  product_id,
  line_name,
  sku,
  quantity,
  unit_price,
  unit_discount,
  discount_percentage,
  -- The line's total discount: HubSpot's unit discount times the quantity, else the percentage of the gross.
  CAST(ROUND(CASE
    WHEN unit_discount IS NOT NULL THEN CAST(quantity AS NUMERIC) * unit_discount
    WHEN discount_percentage IS NOT NULL
      THEN CAST(quantity AS NUMERIC) * unit_price * CAST(discount_percentage AS NUMERIC) / 100
    ELSE 0
  END, 2) AS NUMERIC) AS discount_amount,
  billing_frequency,
  billing_period,
  -- ISO-8601 period to months: P12M -> 12, P1Y -> 12; other shapes (days, weeks) stay null.
  CASE
    WHEN REGEXP_CONTAINS(billing_period, r'^P[0-9]+M$')
      THEN CAST(REGEXP_EXTRACT(billing_period, r'^P([0-9]+)M$') AS INT64)
    WHEN REGEXP_CONTAINS(billing_period, r'^P[0-9]+Y$')
      THEN 12 * CAST(REGEXP_EXTRACT(billing_period, r'^P([0-9]+)Y$') AS INT64)
  END AS term_months,
  billing_start_at,
  currency_code,
  position_on_quote,
  created_at,
  updated_at,
  synced_at
FROM renamed

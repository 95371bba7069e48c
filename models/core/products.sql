-- core.products: one row per SKU of K CRM's product library (seat plans, add-ons, one-off
-- packages), with the plan family, billing period and monthly list price derived from it.
WITH products AS (
  SELECT
    *,
    REGEXP_EXTRACT(sku, r'^(STARTER|GROWTH|PRO|ENTERPRISE)-SEAT\b') AS seat_plan
  FROM stg.hubspot__products
  -- A product without a SKU cannot be referenced by deals or invoice lines.
  WHERE sku IS NOT NULL
  -- Two library items with one SKU: the most recently changed one describes it.
  QUALIFY ROW_NUMBER() OVER (PARTITION BY sku ORDER BY updated_at DESC NULLS LAST, product_id DESC) = 1
)

SELECT
  CAST(sku AS STRING) AS product_sku,
  CAST(product_id AS INT64) AS hubspot_product_id,
  CAST(product_name AS STRING) AS product_name,
  CAST(CASE
    WHEN seat_plan IS NOT NULL THEN LOWER(seat_plan)
    WHEN STARTS_WITH(sku, 'ADDON-') THEN 'add_on'
    ELSE 'services'
  END AS STRING) AS plan_family,
  CAST(CASE seat_plan
    WHEN 'STARTER' THEN 1
    WHEN 'GROWTH' THEN 2
    WHEN 'PRO' THEN 3
    WHEN 'ENTERPRISE' THEN 4
  END AS INT64) AS plan_tier,
  CAST(CASE
    WHEN billing_frequency = 'monthly' THEN 'monthly'
    WHEN billing_frequency = 'annually' THEN 'annual'
    WHEN term_months = 1 THEN 'monthly'
    WHEN term_months = 12 THEN 'annual'
    WHEN billing_frequency IS NULL AND term_months IS NULL THEN 'one_time'
  END AS STRING) AS billing_period,
  CAST(term_months AS INT64) AS term_months,
  CAST(list_price_usd AS NUMERIC) AS list_price_usd,
  -- The list price spread over the term: what one unit adds to MRR at list price.
  CAST(ROUND(SAFE_DIVIDE(list_price_usd, term_months), 2) AS NUMERIC) AS monthly_list_price_usd,
  CAST(unit_cost_usd AS NUMERIC) AS unit_cost_usd,
  CAST(seat_plan IS NOT NULL AS BOOL) AS is_seat_based,
  CAST(STARTS_WITH(sku, 'ADDON-') AS BOOL) AS is_add_on,
  CAST(COALESCE(term_months IS NOT NULL, FALSE) AS BOOL) AS is_recurring,
  CAST(product_type AS STRING) AS product_type,
  CAST(product_description AS STRING) AS product_description,
  CAST(created_at AS TIMESTAMP) AS created_at,
  CAST(updated_at AS TIMESTAMP) AS updated_at
FROM products

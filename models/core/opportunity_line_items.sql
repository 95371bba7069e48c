-- core.opportunity_line_items: one row per live HubSpot line item of a live opportunity
-- (opportunity x product), with quantity, unit price, total discount, amount and the MRR it adds.
WITH lines AS (
  SELECT
    l.*,
    ld.deal_id
  FROM stg.hubspot__line_items AS l
  INNER JOIN stg.hubspot__line_item_deals AS ld
    ON ld.line_item_id = l.line_item_id
)

SELECT
  CAST(l.line_item_id AS INT64) AS line_item_id,
  CAST(o.opportunity_id AS INT64) AS opportunity_id,
  CAST(o.account_key AS STRING) AS account_key,
  -- The library item's SKU when the line still names one, else the SKU copied onto the line.
  CAST(COALESCE(p.product_sku, l.sku) AS STRING) AS product_sku,
  CAST(l.product_id AS INT64) AS hubspot_product_id,
  CAST(COALESCE(l.line_name, p.product_name) AS STRING) AS line_name,
  CAST(p.plan_family AS STRING) AS plan_family,
  CAST(COALESCE(p.is_seat_based, FALSE) AND COALESCE(p.product_sku, l.sku) = o.product_sku AS BOOL)
    AS is_deal_seat_plan,
  CAST(l.quantity AS FLOAT64) AS quantity,
  CAST(l.unit_price AS NUMERIC) AS unit_price_usd,
  CAST(l.discount_amount AS NUMERIC) AS discount_usd,
  CAST(ROUND(CAST(l.quantity AS NUMERIC) * l.unit_price, 2) - l.discount_amount AS NUMERIC) AS amount_usd,
  CAST(l.term_months IS NOT NULL AS BOOL) AS is_recurring,
  CAST(l.billing_frequency AS STRING) AS billing_frequency,
  CAST(l.term_months AS INT64) AS term_months,
  -- A recurring line's amount is per billing period: spread over the term it is the MRR it adds.
  CAST(ROUND(SAFE_DIVIDE(ROUND(CAST(l.quantity AS NUMERIC) * l.unit_price, 2) - l.discount_amount,
                         l.term_months), 2) AS NUMERIC) AS mrr_usd,
  CAST(l.currency_code AS STRING) AS currency_code,
  CAST(l.position_on_quote AS INT64) AS position_on_quote,
  CAST(l.billing_start_at AS TIMESTAMP) AS billing_start_at,
  CAST(o.is_internal AS BOOL) AS is_internal,
  CAST(l.created_at AS TIMESTAMP) AS created_at,
  CAST(l.updated_at AS TIMESTAMP) AS updated_at,
  CAST(l.synced_at AS TIMESTAMP) AS synced_at
FROM lines AS l
INNER JOIN core.opportunities AS o
  ON o.opportunity_id = l.deal_id
LEFT JOIN core.products AS p
  ON p.hubspot_product_id = l.product_id

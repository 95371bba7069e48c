-- stg.quickbooks__items: one row per live QuickBooks item (the products K CRM bills), keyed by SKU.
SELECT
  CAST(id AS STRING) AS item_id,
  NULLIF(UPPER(TRIM(stock_keeping_unit)), '') AS sku,
  TRIM(name) AS item_name,
  NULLIF(TRIM(description), '') AS item_description,
  NULLIF(TRIM(type), '') AS item_type,
  CAST(unit_price AS NUMERIC) AS unit_price_usd,
  COALESCE(CAST(active AS BOOL), TRUE) AS is_active,
  CAST(created_at AS TIMESTAMP) AS created_at,
  CAST(updated_at AS TIMESTAMP) AS updated_at,
  CAST(_fivetran_synced AS TIMESTAMP) AS synced_at
FROM raw.quickbooks__items
-- Items are made inactive rather than deleted; a row the loader saw deleted is dropped.
WHERE NOT COALESCE(_fivetran_deleted, FALSE)

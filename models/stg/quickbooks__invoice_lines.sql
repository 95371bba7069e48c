-- stg.quickbooks__invoice_lines: the billable lines (sales items and discounts) of each live
-- QuickBooks invoice, latest loader sync of each line, with the invoice's currency beside the
-- amounts; sub-total lines and lines of deleted invoices dropped.
WITH latest AS (
  SELECT *
  FROM raw.quickbooks__invoice_lines
  -- A line has no id of its own: the connector keys it by invoice and position. The loader
  -- re-lands a line on every sync that sees a change: keep the newest copy per position.
  QUALIFY ROW_NUMBER() OVER (PARTITION BY invoice_id, index ORDER BY _fivetran_synced DESC) = 1
),

live AS (
  -- The connector captures no deletes for this child table: the lines of a deleted invoice stay
  -- as last landed and go with their invoice below. Sub-total lines repeat the sum of the lines
  -- above them.
  SELECT *
  FROM latest
  WHERE detail_type IN ('SalesItemLineDetail', 'DiscountLineDetail')
),

live_invoices AS (
  -- The parent invoice as stg.quickbooks__invoices keeps it: latest copy, not deleted. Lines of
  -- a deleted invoice go with it, and each line gets the invoice's currency.
  SELECT
    id,
    currency_id,
    _fivetran_deleted
  FROM raw.quickbooks__invoices
  QUALIFY ROW_NUMBER() OVER (PARTITION BY id ORDER BY _fivetran_synced DESC) = 1
)

SELECT
  CAST(live.invoice_id AS STRING) AS invoice_id,
  CAST(live.index AS INT64) AS line_index,
  CASE live.detail_type
    WHEN 'SalesItemLineDetail' THEN 'sales_item'
    WHEN 'DiscountLineDetail' THEN 'discount'
  END AS line_type,
  NULLIF(TRIM(live.description), '') AS line_description,
  NULLIF(UPPER(TRIM(live.sales_item_item_id)), '') AS item_id,
  CAST(live.sales_item_quantity AS NUMERIC) AS quantity,
  CAST(live.sales_item_unit_price AS NUMERIC) AS unit_price,
  CAST(live.amount AS NUMERIC) AS amount,
  UPPER(TRIM(live_invoices.currency_id)) AS currency_code,
  CAST(live.sales_item_service_date AS DATE) AS service_date,
  NULLIF(UPPER(TRIM(live.sales_item_tax_code_id)), '') AS tax_code,
  CAST(live._fivetran_synced AS TIMESTAMP) AS synced_at
FROM live
INNER JOIN live_invoices
  ON live_invoices.id = live.invoice_id
WHERE NOT COALESCE(live_invoices._fivetran_deleted, FALSE)

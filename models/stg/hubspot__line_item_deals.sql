-- stg.hubspot__line_item_deals: each HubSpot line item's deal, one row per line item.
SELECT
  CAST(line_item_id AS INT64) AS line_item_id,
  CAST(deal_id AS INT64) AS deal_id,
  CAST(_fivetran_synced AS TIMESTAMP) AS synced_at
FROM raw.hubspot__line_item_deals
-- A line item belongs to one deal; the evidenced columns carry no delete flag, so the newest
-- association synced wins (ties broken by deal id).
WHERE TRUE  -- older BigQuery rejects a QUALIFY without WHERE, GROUP BY or HAVING
QUALIFY ROW_NUMBER() OVER (PARTITION BY line_item_id ORDER BY _fivetran_synced DESC, deal_id DESC) = 1

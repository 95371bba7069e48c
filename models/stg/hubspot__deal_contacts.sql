-- stg.hubspot__deal_contacts: one row per live association of a HubSpot deal and a contact.
WITH latest AS (
  SELECT *
  FROM raw.hubspot__deal_contacts
  -- The loader re-lands an association on every sync that sees a change: keep the newest copy.
  QUALIFY ROW_NUMBER() OVER (PARTITION BY deal_id, contact_id, type_id ORDER BY _fivetran_synced DESC) = 1
)

SELECT
  CAST(deal_id AS INT64) AS deal_id,
  CAST(contact_id AS INT64) AS contact_id,
  CAST(MAX(_fivetran_synced) AS TIMESTAMP) AS synced_at
FROM latest
WHERE NOT COALESCE(_fivetran_deleted, FALSE)
GROUP BY deal_id, contact_id

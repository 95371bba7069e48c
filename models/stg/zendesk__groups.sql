-- stg.zendesk__groups: one row per live Zendesk support group (latest sync, soft deletes removed),
-- renamed to name the group_id of tickets, organizations and CSAT ratings.
WITH latest_sync AS (
  SELECT *
  FROM raw.zendesk__groups
  WHERE TRUE  -- older BigQuery rejects a QUALIFY without WHERE, GROUP BY or HAVING
  QUALIFY ROW_NUMBER() OVER (PARTITION BY id ORDER BY _fivetran_synced DESC) = 1
)

SELECT
  id AS group_id,
  TRIM(name) AS group_name,
  NULLIF(TRIM(description), '') AS description,
  COALESCE(is_public, TRUE) AS is_public,
  created_at,
  updated_at,
  _fivetran_synced AS synced_at
FROM latest_sync
WHERE NOT _fivetran_deleted

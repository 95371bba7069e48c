-- stg.hubspot__teams: one row per live HubSpot team, latest loader sync only.
WITH latest AS (
  SELECT *
  FROM raw.hubspot__teams
  -- The loader re-lands a team on every sync that sees a change: keep the newest copy.
  QUALIFY ROW_NUMBER() OVER (PARTITION BY id ORDER BY _fivetran_synced DESC) = 1
)

SELECT
  CAST(id AS INT64) AS team_id,
  NULLIF(TRIM(name), '') AS team_name,
  CAST(_fivetran_synced AS TIMESTAMP) AS synced_at
FROM latest
WHERE NOT COALESCE(_fivetran_deleted, FALSE)

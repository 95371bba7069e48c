-- stg.hubspot__owner_teams: one row per live membership of a HubSpot owner in a team.
WITH latest AS (
  SELECT *
  FROM raw.hubspot__owner_teams
  -- The loader re-lands a membership on every sync that sees a change: keep the newest copy.
  QUALIFY ROW_NUMBER() OVER (PARTITION BY owner_id, team_id ORDER BY _fivetran_synced DESC) = 1
)

SELECT
  CAST(owner_id AS INT64) AS owner_id,
  CAST(team_id AS INT64) AS team_id,
  CAST(COALESCE(is_team_primary, FALSE) AS BOOL) AS is_primary,
  CAST(_fivetran_synced AS TIMESTAMP) AS synced_at
FROM latest
WHERE NOT COALESCE(_fivetran_deleted, FALSE)

-- stg.hubspot__owners: one row per HubSpot owner (K CRM employee) still known to HubSpot,
-- latest loader sync only, emails normalised, with the name of the owner's primary team.
-- Deactivated owners are kept (is_active false).
WITH latest AS (
  SELECT *
  FROM raw.hubspot__owners
  -- The loader re-lands an owner on every sync that sees a change: keep the newest copy.
  QUALIFY ROW_NUMBER() OVER (PARTITION BY owner_id ORDER BY _fivetran_synced DESC) = 1
),

live AS (
  -- Owners removed at the source carry _fivetran_deleted on their latest copy; deactivated
  -- users are not removed (their records keep the owner id), so they stay.
  SELECT *
  FROM latest
  WHERE NOT COALESCE(_fivetran_deleted, FALSE)
),

teams AS (
  SELECT
    id AS team_id,
    name AS team_name
  FROM raw.hubspot__teams
  WHERE TRUE  -- older BigQuery rejects a QUALIFY without WHERE, GROUP BY or HAVING
  QUALIFY ROW_NUMBER() OVER (PARTITION BY id ORDER BY _fivetran_synced DESC) = 1
    AND NOT COALESCE(_fivetran_deleted, FALSE)
),

memberships AS (
  -- Teams live in the owner_team association, not on the owner row: keep each membership's latest
  -- copy, drop removed ones.
  SELECT
    owner_id,
    team_id,
    is_team_primary
  FROM raw.hubspot__owner_teams
  WHERE TRUE  -- older BigQuery rejects a QUALIFY without WHERE, GROUP BY or HAVING
  QUALIFY ROW_NUMBER() OVER (PARTITION BY owner_id, team_id ORDER BY _fivetran_synced DESC) = 1
    AND NOT COALESCE(_fivetran_deleted, FALSE)
),

primary_team AS (
  -- One team per owner: the primary membership, else the lowest team id.
  SELECT
    m.owner_id,
    t.team_name
  FROM memberships AS m
  INNER JOIN teams AS t
    ON t.team_id = m.team_id
  WHERE TRUE  -- older BigQuery rejects a QUALIFY without WHERE, GROUP BY or HAVING
  QUALIFY ROW_NUMBER() OVER (
    PARTITION BY m.owner_id ORDER BY COALESCE(m.is_team_primary, FALSE) DESC, m.team_id
  ) = 1
)

SELECT
  CAST(o.owner_id AS INT64) AS owner_id,
  -- HubSpot clears active_user_id when a user is deactivated; the user id survives in user_id_including_inactive.
  CAST(COALESCE(o.active_user_id, o.user_id_including_inactive) AS INT64) AS user_id,
  NULLIF(LOWER(TRIM(o.email)), '') AS email,
  NULLIF(TRIM(o.first_name), '') AS first_name,
  NULLIF(TRIM(o.last_name), '') AS last_name,
  NULLIF(TRIM(pt.team_name), '') AS team_name,
  CAST(o.is_active AS BOOL) AS is_active,
  CAST(o.created_at AS TIMESTAMP) AS created_at,
  CAST(o.updated_at AS TIMESTAMP) AS updated_at,
  CAST(o._fivetran_synced AS TIMESTAMP) AS synced_at
FROM live AS o
LEFT JOIN primary_team AS pt
  ON pt.owner_id = o.owner_id

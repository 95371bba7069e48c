-- stg.hubspot__owners: one row per HubSpot owner (K CRM employee) still known to HubSpot,
-- latest loader sync only, emails normalised. Deactivated owners are kept (is_active false).
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
)

SELECT
  CAST(owner_id AS INT64) AS owner_id,
  CAST(user_id AS INT64) AS user_id,
  NULLIF(LOWER(TRIM(email)), '') AS email,
  NULLIF(TRIM(first_name), '') AS first_name,
  NULLIF(TRIM(last_name), '') AS last_name,
  NULLIF(TRIM(team_name), '') AS team_name,
  CAST(is_active AS BOOL) AS is_active,
  CAST(created_at AS TIMESTAMP) AS created_at,
  CAST(updated_at AS TIMESTAMP) AS updated_at,
  CAST(_fivetran_synced AS TIMESTAMP) AS synced_at
FROM live

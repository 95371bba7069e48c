-- stg.zendesk__tickets: one row per live Zendesk ticket (latest sync; tickets deleted in Zendesk
-- or removed by the loader dropped), with renamed columns and the tag string split into an array.
WITH latest_sync AS (
  SELECT *
  FROM raw.zendesk__tickets
  WHERE TRUE  -- older BigQuery rejects a QUALIFY without WHERE, GROUP BY or HAVING
  QUALIFY ROW_NUMBER() OVER (PARTITION BY id ORDER BY _fivetran_synced DESC) = 1
),

live AS (
  SELECT
    *,
    LOWER(TRIM(status)) AS status_clean
  FROM latest_sync
  -- Zendesk never hard-deletes tickets: a deleted ticket keeps its row with status `deleted`.
  WHERE NOT _fivetran_deleted
    AND LOWER(TRIM(status)) != 'deleted'
)

SELECT
  id AS ticket_id,
  created_at,
  updated_at,
  subject,
  description,
  status_clean AS status,
  status_clean IN ('solved', 'closed') AS is_solved,
  NULLIF(LOWER(TRIM(priority)), '') AS priority,
  NULLIF(LOWER(TRIM(type)), '') AS ticket_type,
  requester_id,
  assignee_id,
  group_id,
  organization_id,
  NULLIF(LOWER(TRIM(via_channel)), '') AS channel,
  ARRAY(
    SELECT DISTINCT LOWER(TRIM(t)) AS tag
    FROM UNNEST(SPLIT(COALESCE(tags, ''), ',')) AS t
    WHERE TRIM(t) != ''
    ORDER BY tag
  ) AS tags,
  _fivetran_synced AS synced_at
FROM live

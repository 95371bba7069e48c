-- stg.zendesk__tickets: one row per live Zendesk ticket (latest sync; tickets deleted in Zendesk
-- or removed by the loader dropped), with renamed columns and its live tags (raw.zendesk__ticket_tags)
-- gathered into an array.
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
),

live_tags AS (
  -- one row per ticket and tag; a tag removed from the ticket keeps a soft-deleted row
  SELECT *
  FROM raw.zendesk__ticket_tags
  WHERE TRUE  -- older BigQuery rejects a QUALIFY without WHERE, GROUP BY or HAVING
  QUALIFY ROW_NUMBER() OVER (PARTITION BY ticket_id, tag ORDER BY _fivetran_synced DESC) = 1
),

tag_lists AS (
  SELECT
    ticket_id,
    ARRAY_AGG(DISTINCT LOWER(TRIM(tag)) ORDER BY LOWER(TRIM(tag))) AS tags
  FROM live_tags
  WHERE NOT _fivetran_deleted
    AND TRIM(tag) != ''
  GROUP BY ticket_id
)

SELECT
  l.id AS ticket_id,
  l.created_at,
  l.updated_at,
  l.subject,
  l.description,
  l.status_clean AS status,
  l.status_clean IN ('solved', 'closed') AS is_solved,
  NULLIF(LOWER(TRIM(l.priority)), '') AS priority,
  NULLIF(LOWER(TRIM(l.type)), '') AS ticket_type,
  l.requester_id,
  l.assignee_id,
  l.group_id,
  l.organization_id,
  NULLIF(LOWER(TRIM(l.via_channel)), '') AS channel,
  COALESCE(t.tags, ARRAY<STRING>[]) AS tags,
  l._fivetran_synced AS synced_at
FROM live AS l
LEFT JOIN tag_lists AS t
  ON t.ticket_id = l.id

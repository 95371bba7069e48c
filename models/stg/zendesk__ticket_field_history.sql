-- stg.zendesk__ticket_field_history: one row per live change of a tracked Zendesk ticket field
-- (status, priority, group_id, assignee_id), values typed and lower-cased, with the time the value
-- held until (the field's next change) so durations in a status can be summed.
WITH latest_sync AS (
  SELECT *
  FROM raw.zendesk__ticket_field_history
  WHERE TRUE  -- older BigQuery rejects a QUALIFY without WHERE, GROUP BY or HAVING
  QUALIFY ROW_NUMBER() OVER (PARTITION BY ticket_id, field_name, updated ORDER BY _fivetran_synced DESC) = 1
),

live AS (
  SELECT
    *,
    LOWER(TRIM(field_name)) AS field_clean
  FROM latest_sync
  WHERE NOT _fivetran_deleted
)

SELECT
  ticket_id,
  field_clean AS field_name,
  updated AS changed_at,
  -- statuses and priorities are picklist values: lower-cased; ids and custom fields kept as typed
  CASE
    WHEN field_clean IN ('status', 'priority') THEN NULLIF(LOWER(TRIM(value)), '')
    ELSE NULLIF(TRIM(value), '')
  END AS value,
  user_id AS changed_by_user_id,
  NULLIF(LOWER(TRIM(via_channel)), '') AS channel,
  LEAD(updated) OVER (PARTITION BY ticket_id, field_clean ORDER BY updated) AS valid_until,
  LEAD(updated) OVER (PARTITION BY ticket_id, field_clean ORDER BY updated) IS NULL AS is_current,
  _fivetran_synced AS synced_at
FROM live

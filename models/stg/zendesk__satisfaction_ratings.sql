-- stg.zendesk__satisfaction_ratings: one row per answered CSAT rating (latest sync, soft deletes
-- and unanswered `offered` surveys removed), with the score typed into a flag.
WITH latest_sync AS (
  SELECT *
  FROM raw.zendesk__satisfaction_ratings
  WHERE TRUE  -- older BigQuery rejects a QUALIFY without WHERE, GROUP BY or HAVING
  QUALIFY ROW_NUMBER() OVER (PARTITION BY id ORDER BY _fivetran_synced DESC) = 1
),

answered AS (
  SELECT
    *,
    LOWER(TRIM(score)) AS score_clean
  FROM latest_sync
  WHERE NOT _fivetran_deleted
    -- `offered` (survey sent, no answer yet) and any other state is not a CSAT answer.
    AND LOWER(TRIM(score)) IN ('good', 'bad')
)

SELECT
  id AS rating_id,
  ticket_id,
  requester_id,
  assignee_id,
  group_id,
  score_clean AS score,
  score_clean = 'good' AS is_satisfied,
  NULLIF(TRIM(comment), '') AS comment,
  NULLIF(TRIM(reason), '') AS reason,
  created_at AS offered_at,
  updated_at AS rated_at,
  _fivetran_synced AS synced_at
FROM answered

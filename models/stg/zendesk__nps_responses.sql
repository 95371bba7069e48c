-- stg.zendesk__nps_responses: one row per live NPS response (latest sync, soft deletes removed),
-- recipient emails normalised, scores bucketed into promoter / passive / detractor.
WITH latest_sync AS (
  SELECT *
  FROM raw.zendesk__nps_responses
  WHERE TRUE  -- older BigQuery rejects a QUALIFY without WHERE, GROUP BY or HAVING
  QUALIFY ROW_NUMBER() OVER (PARTITION BY id ORDER BY _fivetran_synced DESC) = 1
),

live AS (
  SELECT
    *,
    LOWER(TRIM(recipient_email)) AS email_clean
  FROM latest_sync
  WHERE NOT _fivetran_deleted
)

SELECT
  id AS response_id,
  survey_id,
  user_id,
  email_clean AS recipient_email,
  NULLIF(SPLIT(email_clean, '@')[SAFE_OFFSET(1)], '') AS recipient_domain,
  score,
  CASE
    WHEN score >= 9 THEN 'promoter'
    WHEN score >= 7 THEN 'passive'
    ELSE 'detractor'
  END AS nps_category,
  NULLIF(TRIM(comment), '') AS comment,
  COALESCE(REGEXP_CONTAINS(email_clean, r'@([a-z0-9-]+\.)*kcrm\.io$'), FALSE) AS is_internal,
  created_at AS responded_at,
  updated_at,
  _fivetran_synced AS synced_at
FROM live

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
    LOWER(TRIM(recipient_email)) AS email_clean,
    NULLIF(SPLIT(LOWER(TRIM(recipient_email)), '@')[SAFE_OFFSET(1)], '') AS domain_clean
  FROM latest_sync
  WHERE NOT _fivetran_deleted
)

SELECT
  id AS response_id,
  survey_id,
  user_id,
  email_clean AS recipient_email,
  domain_clean AS recipient_domain,
  score,
  CASE
    WHEN score >= 9 THEN 'promoter'
    WHEN score >= 7 THEN 'passive'
    ELSE 'detractor'
  END AS nps_category,
  NULLIF(TRIM(comment), '') AS comment,
  -- K CRM staff and test accounts: an address at kcrm.io or kcrm.com or one of their subdomains
  -- (the rule every stg model uses).
  COALESCE(
    domain_clean IN ('kcrm.io', 'kcrm.com')
    OR ENDS_WITH(domain_clean, '.kcrm.io')
    OR ENDS_WITH(domain_clean, '.kcrm.com'),
    FALSE
  ) AS is_internal,
  created_at AS responded_at,
  updated_at,
  _fivetran_synced AS synced_at
FROM live

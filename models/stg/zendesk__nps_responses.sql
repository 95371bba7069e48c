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
  -- K CRM staff and test accounts: an address at a domain of stg.reference__internal_domains
  -- (kcrm.io, kcrm.com and their subdomains), the list every stg model uses.
  COALESCE(
    EXISTS (  -- the one internal-domain list, subdomains included where it says so
      SELECT 1
      FROM stg.reference__internal_domains AS internal
      WHERE live.domain_clean = internal.domain  -- qualified: the list has a domain column too
        OR (internal.includes_subdomains AND ENDS_WITH(live.domain_clean, CONCAT('.', internal.domain)))
    ),
    FALSE
  ) AS is_internal,
  created_at AS responded_at,
  updated_at,
  _fivetran_synced AS synced_at
FROM live

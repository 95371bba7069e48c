-- stg.cs__churn_events: one row per live churn event logged by Customer Success, latest loader
-- sync only, the hand-typed account domain normalised for matching to HubSpot companies.
WITH latest AS (
  SELECT *
  FROM raw.cs__churn_events
  -- The loader re-lands an event on every sync that sees an edit: keep the newest copy.
  QUALIFY ROW_NUMBER() OVER (PARTITION BY churn_event_id ORDER BY _fivetran_synced DESC) = 1
),

live AS (
  -- Events removed in the CS tool carry _fivetran_deleted on their latest copy.
  SELECT *
  FROM latest
  WHERE NOT COALESCE(_fivetran_deleted, FALSE)
),

renamed AS (
  SELECT
    CAST(churn_event_id AS STRING) AS churn_event_id,
    -- lower-case, no protocol, no www., no path / port / trailing dot
    NULLIF(RTRIM(REGEXP_REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(
      LOWER(TRIM(company_domain)),
      r'^[a-z][a-z0-9+.-]*://', ''),
      r'[/?#:].*$', ''),
      r'^www[0-9]*\.', ''), '.'), '') AS domain,
    NULLIF(TRIM(company_name), '') AS company_name,
    CAST(churned_at AS TIMESTAMP) AS churned_at,
    NULLIF(LOWER(TRIM(churn_type)), '') AS churn_type,
    NULLIF(LOWER(TRIM(churn_reason)), '') AS churn_reason,
    NULLIF(TRIM(competitor_name), '') AS competitor_name,
    NULLIF(TRIM(reason_detail), '') AS reason_detail,
    CAST(lost_mrr AS NUMERIC) AS lost_mrr_usd,
    NULLIF(LOWER(TRIM(recorded_by)), '') AS recorded_by_email,
    CAST(recorded_at AS TIMESTAMP) AS recorded_at,
    CAST(updated_at AS TIMESTAMP) AS updated_at,
    CAST(_fivetran_synced AS TIMESTAMP) AS synced_at
  FROM live
)

SELECT
  churn_event_id,
  domain,
  company_name,
  churned_at,
  churn_type,
  churn_reason,
  competitor_name,
  reason_detail,
  lost_mrr_usd,
  recorded_by_email,
  -- Events logged against K CRM's own QA / demo accounts (a domain of stg.reference__internal_domains).
  COALESCE(
    EXISTS (  -- the one internal-domain list, subdomains included where it says so
      SELECT 1
      FROM stg.reference__internal_domains AS internal
      WHERE renamed.domain = internal.domain  -- qualified: the list has a domain column too
        OR (internal.includes_subdomains AND ENDS_WITH(renamed.domain, CONCAT('.', internal.domain)))
    )
    OR REGEXP_CONTAINS(LOWER(company_name), r'^(test|qa|sandbox|dummy)\b'),
    FALSE
  ) AS is_internal,
  recorded_at,
  updated_at,
  synced_at
FROM renamed

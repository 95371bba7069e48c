-- stg.cs__cs_notes: one row per live Customer Success note, latest loader sync (so the latest
-- edit of the text) only, account domain normalised. Restricted: it carries the note body.
WITH latest AS (
  SELECT *
  FROM raw.cs__cs_notes
  -- An edited note is re-landed with its new body: keep the newest copy.
  QUALIFY ROW_NUMBER() OVER (PARTITION BY note_id ORDER BY _fivetran_synced DESC) = 1
),

live AS (
  -- Notes deleted in the CS tool carry _fivetran_deleted on their latest copy.
  SELECT *
  FROM latest
  WHERE NOT COALESCE(_fivetran_deleted, FALSE)
),

renamed AS (
  SELECT
    CAST(note_id AS STRING) AS note_id,
    -- lower-case, no protocol, no www., no path / port / trailing dot
    NULLIF(RTRIM(REGEXP_REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(
      LOWER(TRIM(company_domain)),
      r'^[a-z][a-z0-9+.-]*://', ''),
      r'[/?#:].*$', ''),
      r'^www[0-9]*\.', ''), '.'), '') AS domain,
    NULLIF(LOWER(TRIM(author_email)), '') AS author_email,
    NULLIF(LOWER(TRIM(note_type)), '') AS note_type,
    NULLIF(TRIM(subject), '') AS subject,
    NULLIF(TRIM(body), '') AS body,
    NULLIF(LOWER(TRIM(sentiment)), '') AS sentiment,
    NULLIF(TRIM(related_churn_event_id), '') AS churn_event_id,
    CAST(created_at AS TIMESTAMP) AS created_at,
    CAST(updated_at AS TIMESTAMP) AS updated_at,
    CAST(_fivetran_synced AS TIMESTAMP) AS synced_at
  FROM live
)

SELECT
  note_id,
  domain,
  author_email,
  note_type,
  subject,
  body,
  sentiment,
  churn_event_id,
  -- Notes about K CRM's own QA / demo accounts (a domain of stg.reference__internal_domains).
  COALESCE(
    EXISTS (  -- the one internal-domain list, subdomains included where it says so
      SELECT 1
      FROM stg.reference__internal_domains AS internal
      WHERE renamed.domain = internal.domain  -- qualified: the list has a domain column too
        OR (internal.includes_subdomains AND ENDS_WITH(renamed.domain, CONCAT('.', internal.domain)))
    ),
    FALSE
  ) AS is_internal,
  created_at,
  updated_at,
  synced_at
FROM renamed

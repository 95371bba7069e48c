-- stg.hubspot__contact_form_submissions: one row per HubSpot form submission, latest loader copy,
-- with the page split into host and path so it can be matched to the GA4 form_submit event.
WITH latest AS (
  SELECT *
  FROM raw.hubspot__contact_form_submissions
  -- A submission re-read by the loader is updated in place; keep the newest copy should two land.
  QUALIFY ROW_NUMBER() OVER (PARTITION BY conversion_id ORDER BY _fivetran_synced DESC, contact_id) = 1
)

SELECT
  CAST(conversion_id AS STRING) AS conversion_id,
  CAST(contact_id AS INT64) AS contact_id,
  LOWER(TRIM(form_id)) AS form_id,
  CAST(timestamp AS TIMESTAMP) AS submitted_at,
  CAST(page_id AS INT64) AS page_id,
  NULLIF(TRIM(page_url), '') AS page_url,
  NULLIF(LOWER(REGEXP_EXTRACT(page_url, r'^[A-Za-z][A-Za-z0-9+.-]*://([^/?#:]*)')), '') AS page_host,
  CASE
    WHEN page_url IS NOT NULL
      THEN COALESCE(NULLIF(REGEXP_EXTRACT(page_url, r'^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*([^?#]*)'), ''), '/')
  END AS page_path,
  NULLIF(TRIM(title), '') AS page_title,
  CAST(_fivetran_synced AS TIMESTAMP) AS synced_at
FROM latest
